"""Health staff over HTTP: find a person of their communities, set and clear a status, order and lift
home quarantine. Other communities' staff, wrong roles and residents get 404 or 403 and change
nothing; statuses and reasons are sealed and never reach the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity import service as identity_service
from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.wristbands import sealed
from miniapp_api.wristbands.models import HealthStatus, QuarantineOrder
from server.ratelimit import RateLimiter
from server.settings import Settings
from tests.factories import id_number, load_demo_hierarchy
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.test_tracing import RANGE, WHY, trace
from tests.support.notify_fixtures import app_with_channels

PEOPLE = "/api/v1/health/people"
PHONE = "13800138021"


def later(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat()


def status(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "red", "reason_code": "close_contact", "expires_at": later(days=3)}
    body.update(changes)
    return body


def order(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"starts_at": later(hours=-1), "ends_at": later(days=7), "reason_code": "close_contact"}
    body.update(changes)
    return body


async def wearer(app: Sanic, home: str = "GM0101", n: int = 21) -> User:
    person = await user(app, Role.RESIDENT, phone=f"138001380{n:02d}")
    await identity_service.update_profile(account=person.account, name="赵六", phone=None, id_number=id_number(n))
    await seed.band(wearer=person.account, home=home)
    return person


async def test_outsiders_get_404_or_403_and_change_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    person = await wearer(app)
    far = await user(app, Role.HEALTH_STAFF, node="GM0201")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    police = await user(app, Role.POLICE, node="GM")
    own = f"{PEOPLE}/{person.account.public_id}"
    attempts = [
        ("GET", PEOPLE, {"params": {"id_number": id_number(21)}}),
        ("GET", PEOPLE, {"params": {"phone": PHONE}}),
        ("PUT", f"{own}/status", {"json": status()}),
        ("DELETE", f"{own}/status", {}),
        ("POST", f"{own}/quarantines", {"json": order()}),
        ("PUT", f"{PEOPLE}/{'a' * 200}/status", {"json": status()}),
    ]
    for method, path, kwargs in attempts:
        answer = await client.request(method, path, headers=far.headers, **kwargs)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "person_not_found"
        for caller in (grid, police, person):
            assert (await client.request(method, path, headers=caller.headers, **kwargs)).status_code == 403
    # Someone without a band (no home community) is not found either, even by the district's admin.
    stranger = await user(app, Role.RESIDENT, phone="13800138099")
    admin = await user(app, Role.ADMIN, node="GM")
    missing = await client.put(f"{PEOPLE}/{stranger.account.public_id}/status", json=status(), headers=admin.headers)
    assert missing.status_code == 404
    assert not await HealthStatus.exists() and not await QuarantineOrder.exists()
    lookups = await AuditEntry.filter(action="health.person_lookup")
    assert len(lookups) == 2 and not any(e.details["found"] for e in lookups)
    assert not await AuditEntry.filter(action__in=["health.status_set", "health.quarantine_ordered"]).exists()


async def test_find_set_and_clear_a_status_audited_without_the_value(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    person = await wearer(app)
    staff = await user(app, Role.HEALTH_STAFF, node="GM0101")
    found = await client.get(PEOPLE, params={"id_number": id_number(21)}, headers=staff.headers)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["id"] == person.account.public_id and body["community"] == "GM0101"
    assert body["phone"] != PHONE and body["phone"].endswith(PHONE[-4:]) and body["name"] != "赵六"
    assert body["band"]["state"] == "active" and body["status"] is None
    by_phone = await client.get(PEOPLE, params={"phone": PHONE}, headers=staff.headers)
    assert by_phone.json()["id"] == person.account.public_id
    for params, code in (
        ({}, "search_key"),
        ({"id_number": "123"}, "invalid_id_number"),
        ({"phone": "1"}, "invalid_phone"),
    ):
        bad = await client.get(PEOPLE, params=params, headers=staff.headers)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == code, bad.text
    path = f"{PEOPLE}/{person.account.public_id}/status"
    for bad_body, code in (
        (status(status="purple"), "validation_failed"),
        (status(reason_code="gossip"), "unknown_reason"),
        (status(expires_at=later(minutes=-5)), "status_expiry"),
        (status(expires_at=later(days=29)), "status_expiry"),
        (status(expires_at="2026-12-05T10:00:00"), "validation_failed"),
        ({**status(), "note": {"a": [1]}}, "validation_failed"),
    ):
        answer = await client.put(path, json=bad_body, headers=staff.headers)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == code, (bad_body, answer.text)
    assert not await HealthStatus.exists()
    put = await client.put(path, json=status(), headers=staff.headers)
    assert put.status_code == 200, put.text
    assert put.json()["status"]["status"] == "red" and put.json()["status"]["reason"] == "密切接触者"
    row = await HealthStatus.get(account_id=person.account.id)
    assert "red" not in row.status_enc and sealed.unseal(row.status_enc, field=sealed.STATUS) == "red"
    again = await client.put(path, json=status(status="yellow", reason_code="fever"), headers=staff.headers)
    assert again.json()["status"]["status"] == "yellow" and await HealthStatus.all().count() == 1
    # The district's admin may too; then it is cleared, and clearing twice is 404.
    admin = await user(app, Role.ADMIN, node="GM")
    assert (await client.delete(path, headers=admin.headers)).json()["status"] is None
    assert (await client.delete(path, headers=staff.headers)).status_code == 404
    entries = await AuditEntry.filter(action__startswith="health.").order_by("seq")
    assert [e.action for e in entries].count("health.person_lookup") == 2  # refused input is no search
    changes = [e for e in entries if e.action != "health.person_lookup"]
    assert [e.action for e in changes] == ["health.status_set", "health.status_set", "health.status_cleared"]
    assert all(e.target == person.account.public_id for e in changes)
    dumped = json.dumps([[e.details, e.reason, e.target] for e in entries], ensure_ascii=False)
    for secret in ("red", "yellow", "close_contact", "fever", "密切", PHONE, id_number(21)):
        assert secret not in dumped


async def test_quarantine_ordered_and_lifted(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    person = await wearer(app)
    staff = await user(app, Role.HEALTH_STAFF, node="GM0101")
    far = await user(app, Role.HEALTH_STAFF, node="GM0201")
    path = f"{PEOPLE}/{person.account.public_id}/quarantines"
    for bad_body in (
        order(ends_at=later(hours=-2)),
        order(starts_at=later(days=8)),
        order(ends_at=later(days=40)),
        order(starts_at=later(days=-40)),
        order(reason_code="other_thing"),
    ):
        answer = await client.post(path, json=bad_body, headers=staff.headers)
        assert answer.status_code == 422, (bad_body, answer.text)
    made = await client.post(path, json=order(), headers=staff.headers)
    assert made.status_code == 201, made.text
    assert made.json()["active"] and made.json()["reason_code"] == "close_contact"
    order_id = made.json()["id"]
    shown = (await client.get(PEOPLE, params={"phone": PHONE}, headers=staff.headers)).json()
    assert [q["id"] for q in shown["quarantines"]] == [order_id]
    # Lifting: the order must be this person's, in the caller's area, and still in force.
    other = await wearer(app, n=22)
    assert (
        await client.post(f"{PEOPLE}/{other.account.public_id}/quarantines/{order_id}/lift", headers=staff.headers)
    ).status_code == 404
    assert (await client.post(f"{path}/{order_id}/lift", headers=far.headers)).status_code == 404
    assert (await client.post(f"{path}/{'q' * 100}/lift", headers=staff.headers)).status_code == 404
    lifted = await client.post(f"{path}/{order_id}/lift", headers=staff.headers)
    assert lifted.status_code == 200 and not lifted.json()["active"] and lifted.json()["lifted_at"]
    assert (await client.post(f"{path}/{order_id}/lift", headers=staff.headers)).status_code == 409
    entries = await AuditEntry.filter(action__startswith="health.quarantine").order_by("seq")
    assert [(e.action, e.details["order"]) for e in entries] == [
        ("health.quarantine_ordered", order_id),
        ("health.quarantine_lifted", order_id),
    ]
    assert "close_contact" not in json.dumps([e.details for e in entries])


async def test_a_phone_shared_by_several_accounts_finds_the_one_in_scope(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    person = await wearer(app)
    await user(app, Role.RESIDENT, phone=PHONE)  # the same phone on another account, wearing no band
    elsewhere = await user(app, Role.RESIDENT, phone=PHONE)
    await seed.band(wearer=elsewhere.account, home="GM0201")
    staff = await user(app, Role.HEALTH_STAFF, node="GM0101")
    found = await client.get(PEOPLE, params={"phone": PHONE}, headers=staff.headers)
    assert found.status_code == 200, found.text
    assert found.json()["id"] == person.account.public_id
    # Two of the caller's own people share it: ask for the ID number instead.
    third = await user(app, Role.RESIDENT, phone=PHONE)
    await seed.band(wearer=third.account, home="GM0101")
    several = await client.get(PEOPLE, params={"phone": PHONE}, headers=staff.headers)
    assert several.status_code == 409 and several.json()["error"]["code"] == "several_people", several.text
    admin = await user(app, Role.ADMIN, node="GM")
    assert (await client.get(PEOPLE, params={"phone": PHONE}, headers=admin.headers)).status_code == 409


class TestLookupBudget:
    """A person search tells whether a phone or ID number is one of the caller's people: like a trace,
    it spends one lookup of GMID_POLICE_LOOKUP_RATE (one budget for every person lookup), found or not;
    past it 429 (audited), and a budget that cannot be checked is 503."""

    @pytest.fixture
    def app(self, notify_settings: Settings) -> Sanic:
        return app_with_channels(notify_settings.replace(police_lookup_rate="3/hour"))

    async def test_searches_spend_the_person_lookup_budget(self, app: Sanic, client: httpx.AsyncClient) -> None:
        await load_demo_hierarchy()
        person = await wearer(app)
        staff = await user(app, Role.HEALTH_STAFF, node="GM0101")
        for params in ({"id_number": id_number(21)}, {"phone": "13900000001"}, {"phone": "13900000002"}):
            assert (await client.get(PEOPLE, params=params, headers=staff.headers)).status_code in (200, 404)
        refused = await client.get(PEOPLE, params={"id_number": id_number(21)}, headers=staff.headers)
        assert refused.status_code == 429, refused.text
        assert person.account.public_id not in refused.text and "赵六" not in refused.text
        outcomes = [e.details.get("outcome") for e in await AuditEntry.filter(action="health.person_lookup")]
        assert outcomes == ["ok", "not_found", "not_found", "refused_rate_limit"]
        # The same budget as a trace's.
        gate = await seed.checkpoint()
        r = await trace(client, staff, "checkpoint", checkpoint=gate.public_id, **RANGE, **WHY)
        assert r.status_code == 429, r.text

    async def test_a_budget_that_cannot_be_checked_is_503(self, app: Sanic, client: httpx.AsyncClient) -> None:
        await load_demo_hierarchy()
        await wearer(app)
        staff = await user(app, Role.HEALTH_STAFF, node="GM0101")
        dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        working, app.ctx.rate_limiter = app.ctx.rate_limiter, RateLimiter(dead)
        try:
            r = await client.get(PEOPLE, params={"id_number": id_number(21)}, headers=staff.headers)
        finally:
            app.ctx.rate_limiter = working
            await dead.aclose()
        assert r.status_code == 503 and r.json()["error"]["code"] == "lookup_limit_unavailable", r.text
        assert "赵六" not in r.text


async def test_racing_status_changes_for_one_person_never_fail(app: Sanic, client: httpx.AsyncClient) -> None:
    """Two health workers set a first status for the same person at once: both succeed (one wins),
    never a 500 from the one-status-per-person index."""
    await load_demo_hierarchy()
    staff = [await user(app, Role.HEALTH_STAFF, node="GM0101") for _ in range(2)]
    for n in range(3):
        person = await wearer(app, n=30 + n)
        path = f"{PEOPLE}/{person.account.public_id}/status"
        answers = await asyncio.gather(
            client.put(path, json=status(status="red"), headers=staff[0].headers),
            client.put(path, json=status(status="yellow"), headers=staff[1].headers),
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assert await HealthStatus.filter(account_id=person.account.id).count() == 1
