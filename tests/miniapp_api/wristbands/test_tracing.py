"""Tracing over real HTTP: health staff and police of the area only, with a reason and a case number,
audited, counted against the person-lookup budget; answers hold people, checkpoints and times only."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.wristbands import sealed
from miniapp_api.wristbands.models import Checkin, Checkpoint, Wristband
from server.ratelimit import RateLimiter
from server.settings import Settings
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.wristbands import seed
from tests.support.notify_fixtures import app_with_channels

WHY = {"reason": "密接排查，追踪同行人员", "case_no": "GMJK-2026-0042"}
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
RANGE = {"from": "2026-11-20T00:00:00+08:00", "until": "2026-11-21T00:00:00+08:00"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def checkin(
    point: Checkpoint, band: Wristband | None, at: dt.datetime, *, temp: str = "38.4", stop: bool = True
) -> Checkin:
    """A check-in as the gate would have written it (temperature and reasons sealed)."""
    return await Checkin.create(
        client_id=secrets.token_hex(8),
        checkpoint_id=point.id,
        staff_account_id=0,
        band_id=band.id if band else None,
        account_id=band.account_id if band else None,
        at=at,
        received_at=at,
        temperature_enc=sealed.seal(temp, field=sealed.TEMPERATURE),
        decision="stop" if stop else "pass",
        reasons_enc=sealed.seal_json(["temperature"], field=sealed.REASONS),
        request_hash="0" * 64,
        node_path=point.node_path,
    )


@dataclass
class Scene:
    health: User
    police: User
    gate: Checkpoint
    elsewhere: Checkpoint
    subject: User
    band: Wristband
    contact: User
    contact_band: Wristband
    stranger: User


async def scene(app: Sanic) -> Scene:
    health = await user(app, Role.HEALTH_STAFF)  # GM0101
    police = await user(app, Role.POLICE)  # GM01
    gate = await seed.checkpoint(node="GM010101", name="一号门")
    elsewhere = await seed.checkpoint(node="GM0201", name="公明门")
    subject = await user(app, Role.RESIDENT, phone="13912340001")
    contact = await user(app, Role.RESIDENT, phone="13912340002")
    stranger = await user(app, Role.RESIDENT, phone="13912340003")
    band, _ = await seed.band(wearer=subject.account)
    contact_band, _ = await seed.band(wearer=contact.account)
    stranger_band, _ = await seed.band(node="GM0201", wearer=stranger.account, home="GM0201")
    await checkin(gate, band, T0)
    await checkin(gate, contact_band, T0 + dt.timedelta(minutes=10), temp="36.5", stop=False)
    await checkin(gate, stranger_band, T0 + dt.timedelta(minutes=45), temp="36.6", stop=False)
    await checkin(gate, band, T0 + dt.timedelta(days=3))  # outside the range
    await checkin(elsewhere, band, T0 + dt.timedelta(hours=2))  # another street's gate
    await checkin(elsewhere, stranger_band, T0 + dt.timedelta(hours=2, minutes=1))
    return Scene(health, police, gate, elsewhere, subject, band, contact, contact_band, stranger)


async def trace(client: httpx.AsyncClient, who: User, kind: str, **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/tracing/{kind}", json=body, headers=who.headers)


async def entries() -> list[AuditEntry]:
    return list(await AuditEntry.filter(action__startswith="trace.").order_by("seq"))


def as_text(entry: AuditEntry) -> str:
    return json.dumps([entry.target, entry.reason, entry.details], ensure_ascii=False)


HEALTH_WORDS = ("38.4", "36.5", "temperature", "stop", "pass", "close_contact", "red")


def assert_no_health_data(response: httpx.Response) -> None:
    for item in response.json()["items"]:
        assert set(item) == {"account", "name", "phone", "band", "checkpoint", "checkpoint_name", "at"}
    for word in HEALTH_WORDS:
        assert word not in response.text.replace("/tracing/", ""), word


# Attackers first --------------------------------------------------------------------------------------


async def test_no_reason_or_case_number_is_422_audited_and_spends_nothing(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    s = await scene(app)
    for body in ({}, {"reason": "查"}, {"reason": WHY["reason"]}, {"case_no": WHY["case_no"]}, {**WHY, "case_no": "-"}):
        r = await trace(client, s.health, "checkpoint", checkpoint=s.gate.public_id, **RANGE, **body)
        assert r.status_code == 422, r.text
        assert error_of(r)["code"] == "reason_required"
        assert "张" not in r.text and "1391234" not in r.text
    audited = await entries()
    assert [e.details["outcome"] for e in audited] == ["refused_no_reason"] * 5
    assert all(e.details["result_count"] == 0 for e in audited)


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.PARTY_MEMBER, Role.GRID_STAFF, Role.OFFICER, Role.ADMIN])
async def test_other_roles_may_not_trace(app: Sanic, client: httpx.AsyncClient, role: Role) -> None:
    s = await scene(app)
    other = await user(app, role)
    for kind, body in (
        ("checkpoint", {"checkpoint": s.gate.public_id}),
        ("band", {"band": s.band.public_id}),
        ("contacts", {"person": s.subject.account.public_id, "minutes": 15}),
    ):
        r = await trace(client, other, kind, **body, **RANGE, **WHY)
        assert r.status_code == 403, r.text
        assert "1391234" not in r.text
    anonymous = await client.post("/api/v1/tracing/checkpoint", json={"checkpoint": s.gate.public_id, **RANGE, **WHY})
    assert anonymous.status_code == 401
    assert await entries() == []


async def test_checkpoints_bands_and_people_outside_the_area_are_404_like_missing_ones(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    s = await scene(app)
    other_health = await user(app, Role.HEALTH_STAFF, node="GM0102")  # a neighbouring community
    # A checkpoint of another street, and one that does not exist, answer alike.
    for who in (s.health, s.police):
        for point in (s.elsewhere.public_id, "cp_nosuchpoint"):
            r = await trace(client, who, "checkpoint", checkpoint=point, **RANGE, **WHY)
            assert r.status_code == 404 and error_of(r)["code"] == "checkpoint_not_found", r.text
    # The stranger lives in GM0201 and was seen here: visible. Nobody at all is seen in GM0102.
    for kind, body, code in (
        ("checkpoint", {"checkpoint": s.gate.public_id}, "checkpoint_not_found"),
        ("band", {"band": s.band.public_id}, "band_not_found"),
        ("band", {"ble_id": s.band.ble_id}, "band_not_found"),
        ("band", {"band": "wb_nosuchband0"}, "band_not_found"),
        ("contacts", {"person": s.subject.account.public_id, "minutes": 5}, "person_not_found"),
        ("contacts", {"person": "no-such-account", "minutes": 5}, "person_not_found"),
    ):
        r = await trace(client, other_health, kind, **body, **RANGE, **WHY)
        assert r.status_code == 404 and error_of(r)["code"] == code, (kind, body, r.text)
        assert "1391234" not in r.text
    # An id with something after a real one names nothing (never the real one, cut short).
    for kind, body, code in (
        ("checkpoint", {"checkpoint": s.gate.public_id + "x" * 10}, "checkpoint_not_found"),
        ("band", {"band": s.band.public_id + "x" * 10}, "band_not_found"),
        ("contacts", {"person": s.subject.account.public_id + "x" * 40, "minutes": 5}, "person_not_found"),
    ):
        r = await trace(client, s.health, kind, **body, **RANGE, **WHY)
        assert r.status_code == 404 and error_of(r)["code"] == code, (kind, body, r.text)
    outcomes = [e.details["outcome"] for e in await entries()]
    assert outcomes == ["not_found"] * 13


async def test_time_ranges_are_bounded_and_bodies_checked(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app)
    point = {"checkpoint": s.gate.public_id, **WHY}
    for times in (
        {"from": "2026-11-20T00:00:00+08:00", "until": "2026-11-20T00:00:00+08:00"},  # empty
        {"from": "2026-11-21T00:00:00+08:00", "until": "2026-11-20T00:00:00+08:00"},  # backwards
        {"from": "2026-11-01T00:00:00+08:00", "until": "2026-11-15T00:00:01+08:00"},  # over 14 days
    ):
        r = await trace(client, s.police, "checkpoint", **point, **times)
        assert r.status_code == 422 and error_of(r)["code"] == "bad_time_range", r.text
    for body in (
        {**point, "from": "2026-11-20T00:00:00", "until": RANGE["until"]},  # no offset
        {**point, **RANGE, "extra": 1},
        {**point, **RANGE, "checkpoint": ["x"]},
        {**point, **RANGE, "checkpoint": "x" * 65},
        {**point, **RANGE, "reason": "长" * 1001},
    ):
        r = await trace(client, s.police, "checkpoint", **body)
        assert r.status_code == 422, r.text
    both = {"band": s.band.public_id, "ble_id": s.band.ble_id, **RANGE, **WHY}
    for body in (both, {**RANGE, **WHY}, {"ble_id": "not-hex", **RANGE, **WHY}):
        r = await trace(client, s.police, "band", **body)
        assert r.status_code == 422, r.text
    for minutes in (0, 61, "ten", 10**20):
        r = await trace(
            client, s.police, "contacts", person=s.subject.account.public_id, minutes=minutes, **RANGE, **WHY
        )
        assert r.status_code == 422, r.text
    assert await Checkin.all().count() == 6


class TestBudget:
    @pytest.fixture
    def app(self, notify_settings: Settings) -> Sanic:
        return app_with_channels(notify_settings.replace(police_lookup_rate="3/hour"))

    async def test_traces_spend_the_person_lookup_budget_429_past_it(
        self, app: Sanic, client: httpx.AsyncClient
    ) -> None:
        s = await scene(app)
        for who in (s.health, s.police):
            for kind, body in (
                ("checkpoint", {"checkpoint": s.gate.public_id}),
                ("band", {"band": s.band.public_id}),
                ("contacts", {"person": s.subject.account.public_id, "minutes": 15}),
            ):
                assert (await trace(client, who, kind, **body, **RANGE, **WHY)).status_code == 200
            refused = await trace(client, who, "checkpoint", checkpoint=s.gate.public_id, **RANGE, **WHY)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
            assert "1391234" not in refused.text
        outcomes = [e.details["outcome"] for e in await entries()]
        assert outcomes == (["ok"] * 3 + ["refused_rate_limit"]) * 2

    async def test_the_budget_is_the_one_the_police_owner_lookup_spends(
        self, app: Sanic, client: httpx.AsyncClient
    ) -> None:
        s = await scene(app)
        for _ in range(3):
            r = await client.get("/api/v1/police/ebikes", params={"plate": "粤B12345", **WHY}, headers=s.police.headers)
            assert r.status_code == 200, r.text
        r = await trace(client, s.police, "checkpoint", checkpoint=s.gate.public_id, **RANGE, **WHY)
        assert r.status_code == 429


async def test_a_budget_that_cannot_be_checked_is_503_and_nothing_is_shown(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    s = await scene(app)
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    working, app.ctx.rate_limiter = app.ctx.rate_limiter, RateLimiter(dead)
    try:
        r = await trace(client, s.health, "checkpoint", checkpoint=s.gate.public_id, **RANGE, **WHY)
    finally:
        app.ctx.rate_limiter = working
        await dead.aclose()
    assert r.status_code == 503 and error_of(r)["code"] == "lookup_limit_unavailable", r.text
    assert "1391234" not in r.text
    assert [e.details["outcome"] for e in await entries()] == ["refused_limit_unavailable"]


# What the answers hold ---------------------------------------------------------------------------------


async def test_who_passed_a_checkpoint_masked_for_health_staff_in_full_for_police(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    s = await scene(app)
    health = await trace(client, s.health, "checkpoint", checkpoint=s.gate.public_id, **RANGE, **WHY)
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["count"] == 3 and body["truncated"] is False
    assert [i["account"] for i in body["items"]] == [
        s.subject.account.public_id,
        s.contact.account.public_id,
        s.stranger.account.public_id,
    ]
    assert [i["phone"] for i in body["items"]] == ["139****0001", "139****0002", "139****0003"]
    assert {i["checkpoint"] for i in body["items"]} == {s.gate.public_id}
    assert body["items"][0]["at"].startswith("2026-11-20T")
    assert_no_health_data(health)
    police = await trace(client, s.police, "checkpoint", checkpoint=s.gate.public_id, **RANGE, **WHY)
    assert [i["phone"] for i in police.json()["items"]] == ["13912340001", "13912340002", "13912340003"]
    assert_no_health_data(police)
    # The audit holds the query and the count, never who was found.
    first, second = await entries()
    assert first.action == "trace.checkpoint" and first.actor == s.health.account.public_id
    assert first.target == s.gate.public_id and first.reason == WHY["reason"]
    assert first.details["case_no"] == WHY["case_no"] and first.details["result_count"] == 3
    assert first.details["from"] == "2026-11-19T16:00:00+00:00" and first.details["kind"] == "checkpoint"
    assert first.scope == s.gate.node_path and body["audit_seq"] == first.seq
    for entry in (first, second):
        text = as_text(entry)
        assert s.subject.account.public_id not in text and "0001" not in text and "38.4" not in text


async def test_where_a_band_was_seen_by_public_id_or_ble_id_only_in_the_area(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    s = await scene(app)
    wide = {"from": "2026-11-18T00:00:00+08:00", "until": "2026-11-30T00:00:00+08:00"}
    by_id = await trace(client, s.police, "band", band=s.band.public_id, **wide, **WHY)
    by_ble = await trace(client, s.police, "band", ble_id=s.band.ble_id.lower(), **wide, **WHY)
    assert by_id.status_code == 200 and by_ble.status_code == 200, by_ble.text
    assert by_id.json()["items"] == by_ble.json()["items"]
    # Two passages at the gate; the one at another street's gate stays out of GM01's answer.
    assert [i["checkpoint"] for i in by_id.json()["items"]] == [s.gate.public_id] * 2
    assert_no_health_data(by_id)
    [first, second] = await entries()
    assert first.target == s.band.public_id and second.target == s.band.public_id
    assert second.details["result_count"] == 2


async def test_contacts_within_n_minutes_of_a_person(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app)
    person = s.subject.account.public_id
    near = await trace(client, s.health, "contacts", person=person, minutes=15, **RANGE, **WHY)
    assert near.status_code == 200, near.text
    assert [i["account"] for i in near.json()["items"]] == [s.contact.account.public_id]
    assert near.json()["items"][0]["name"] is None or "*" in near.json()["items"][0]["name"]
    assert_no_health_data(near)
    wider = await trace(client, s.police, "contacts", person=person, minutes=60, **RANGE, **WHY)
    # The stranger passed 45 minutes later at the gate; at the other street's gate, not GM01's business.
    assert [i["account"] for i in wider.json()["items"]] == [s.contact.account.public_id, s.stranger.account.public_id]
    entry = (await entries())[-1]
    assert entry.action == "trace.contacts" and entry.details["minutes"] == 60 and entry.target == person
    assert s.contact.account.public_id not in as_text(entry)


async def test_a_visitor_seen_at_a_gate_of_the_area_can_be_traced_there(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app)
    r = await trace(client, s.health, "contacts", person=s.stranger.account.public_id, minutes=60, **RANGE, **WHY)
    assert r.status_code == 200, r.text
    assert [i["account"] for i in r.json()["items"]] == [s.subject.account.public_id, s.contact.account.public_id]
