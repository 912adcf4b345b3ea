"""The police owner lookup over HTTP: each search key, the full identity in the answer, the audit entry
for every attempt (refused ones included, ID numbers masked), who may look, and the hourly limit."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.audit import AuditEntry
from identity.pii import mask_id_number
from identity.roles import Role
from miniapp_api.ebikes.models import EBike
from notify.dispatcher import Dispatcher
from notify.models import Notification
from server.ratelimit import RateLimiter
from server.redis_pipe import RedisPipe
from server.settings import Settings
from tests.factories import id_number
from tests.miniapp_api.ebikes.conftest import User, register, registration, user
from tests.support.notify_fixtures import app_with_channels
from tests.support.sms_fake import SmsFake

LOOKUP = "/api/v1/police/ebikes"
WHY = {"reason": "盗窃案件侦查", "case_no": "GM2026-1125-01"}
ACTION = "police.ebike_lookup"


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@dataclass
class Scene:
    owner: User
    bikes: list[dict[str, Any]]  # two bikes, the first with a plate
    police: User


async def scene(app: Sanic, client: httpx.AsyncClient) -> Scene:
    owner = await user(app, Role.RESIDENT)
    first = await register(client, owner, 7, frame_no="lyd 2026-0007 x", plate="粤B·12345")
    second = await register(client, owner, 7, frame_no="LYD20260008")
    neighbour = await user(app, Role.RESIDENT)
    await register(client, neighbour, 8, frame_no="NEIGHBOUR01", plate="粤B99999")
    police = await user(app, Role.POLICE, node="GM01")
    return Scene(owner, [first, second], police)


async def lookup(client: httpx.AsyncClient, who: User, **params: str) -> httpx.Response:
    """GET with a query, as before; an ID number goes in the body of POST .../lookup (never in an address)."""
    if "owner_id_number" in params:
        return await client.post(f"{LOOKUP}/lookup", json=params, headers=who.headers)
    return await client.get(LOOKUP, params=params, headers=who.headers)


async def entries(actor: User) -> list[AuditEntry]:
    return list(await AuditEntry.filter(action=ACTION, actor=actor.account.public_id).order_by("seq"))


def entry_text(entry: AuditEntry) -> str:
    return json.dumps([entry.target, entry.reason, entry.details, entry.actor, entry.request_id], ensure_ascii=False)


def assert_found(response: httpx.Response, s: Scene, bike_ids: list[str]) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["cache-control"]
    body: dict[str, Any] = response.json()
    assert body["count"] == len(bike_ids)
    [result] = body["results"]
    assert result["owner"] == {
        "account": s.owner.account.public_id,
        "name": "张三",
        "id_number": id_number(7),
        "phone": "13912340007",
        "address": None,
    }
    assert [b["bike"]["id"] for b in result["bikes"]] == bike_ids
    return body


async def assert_audited(
    s: Scene, body: dict[str, Any], by: str, query: str, bike_ids: list[str], response: httpx.Response
) -> None:
    entry = await AuditEntry.get(seq=body["audit_seq"])
    assert (entry.action, entry.actor, entry.role, entry.reason) == (
        ACTION,
        s.police.account.public_id,
        "police",
        WHY["reason"],
    )
    assert entry.details == {
        "case_no": WHY["case_no"],
        "by": by,
        "query": query,
        "result_count": len(bike_ids),
        "outcome": "ok",
    }
    assert entry.target == ",".join(bike_ids)
    assert entry.request_id == response.headers["x-request-id"]
    assert id_number(7) not in entry_text(entry)


# Each search key --------------------------------------------------------------------------------------


async def test_lookup_by_frame_number_written_any_way(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    for written in ("LYD20260007X", " lyd-2026 0007x ", "lyd.2026.0007.X"):
        response = await lookup(client, s.police, frame_no=written, **WHY)
        body = assert_found(response, s, [s.bikes[0]["id"]])
        await assert_audited(s, body, "frame_no", written.strip(), [s.bikes[0]["id"]], response)
    assert len(await entries(s.police)) == 3


async def test_lookup_by_plate(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    response = await lookup(client, s.police, plate="粤b 12345", **WHY)
    body = assert_found(response, s, [s.bikes[0]["id"]])
    assert body["results"][0]["bikes"][0]["bike"]["plate"] == "粤B12345"
    await assert_audited(s, body, "plate", "粤b 12345", [s.bikes[0]["id"]], response)


async def test_lookup_by_scanned_code(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    url = s.bikes[1]["credential"]["url"]
    response = await lookup(client, s.police, qr=url, **WHY)
    body = assert_found(response, s, [s.bikes[1]["id"]])
    await assert_audited(s, body, "qr", url[:64], [s.bikes[1]["id"]], response)
    token = url.rsplit("/", 1)[1]
    assert_found(await lookup(client, s.police, qr=token, **WHY), s, [s.bikes[1]["id"]])


async def test_an_old_code_still_finds_the_bike_after_a_transfer(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    old_url = s.bikes[0]["credential"]["url"]
    code = (await client.post(f"/api/v1/ebikes/{s.bikes[0]['id']}/transfer", headers=s.owner.headers)).json()["code"]
    buyer = await user(app, Role.RESIDENT)
    owner = {**registration(9)["owner"], "name": "王五"}
    accepted = await client.post(
        "/api/v1/ebikes/transfers/accept", json={"code": code, "owner": owner}, headers=buyer.headers
    )
    assert accepted.status_code == 200, accepted.text

    response = await lookup(client, s.police, qr=old_url, **WHY)
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert (result["owner"]["account"], result["owner"]["name"], result["owner"]["id_number"]) == (
        buyer.account.public_id,
        "王五",
        id_number(9),
    )
    assert [b["bike"]["id"] for b in result["bikes"]] == [s.bikes[0]["id"]]
    # A deregistered bike's revoked code names it too.
    assert (await client.delete(f"/api/v1/ebikes/{s.bikes[1]['id']}", headers=s.owner.headers)).status_code == 200
    revoked = await lookup(client, s.police, qr=s.bikes[1]["credential"]["url"], **WHY)
    assert revoked.status_code == 200 and revoked.json()["count"] == 1


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_a_forged_code_finds_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    url = s.bikes[0]["credential"]["url"]
    base, token = url.rsplit("/", 1)
    header, payload, _ = token.split(".")
    forgeries = [
        f"{base}/{header}.{payload}.{_b64(bytes(64))}",  # the real record, a made-up signature
        f"{base}/{header}.{payload}.",
        f"{base}/{token[:-3]}AAA",
        f"https://evil.example.com/q/{token}",  # a genuine token on another site
        "not a code at all",
    ]
    for forged in forgeries:
        response = await lookup(client, s.police, qr=forged, **WHY)
        assert response.status_code == 200, (forged, response.text)
        assert (response.json()["count"], response.json()["results"]) == (0, []), forged
    audited = await entries(s.police)
    assert [e.details["result_count"] for e in audited] == [0] * len(forgeries)
    assert all(e.details["outcome"] == "ok" and e.target == "" for e in audited)


async def test_lookup_by_owner_id_number_returns_all_their_bikes(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    for written in (id_number(7), id_number(7).lower()):  # ends in X
        response = await lookup(client, s.police, owner_id_number=written, **WHY)
        body = assert_found(response, s, [s.bikes[0]["id"], s.bikes[1]["id"]])
        await assert_audited(s, body, "owner_id_number", mask_id_number(written), [b["id"] for b in s.bikes], response)
    for entry in await entries(s.police):
        assert entry.details["query"] == "440***********007X" or entry.details["query"] == "440***********007x"
        assert id_number(7)[3:14] not in entry_text(entry)


async def test_a_lookup_that_finds_nothing_is_audited(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    for key, value in (("frame_no", "NOSUCHFRAME1"), ("plate", "粤B00000"), ("owner_id_number", id_number(20))):
        response = await lookup(client, s.police, **{key: value}, **WHY)
        assert response.status_code == 200, response.text
        assert "no-store" in response.headers["cache-control"]
        assert (response.json()["count"], response.json()["results"]) == (0, [])
        entry = await AuditEntry.get(seq=response.json()["audit_seq"])
        assert (entry.details["by"], entry.details["result_count"], entry.details["outcome"]) == (key, 0, "ok")
        assert id_number(20) not in entry_text(entry)


# Refused lookups are audited too ------------------------------------------------------------------------


async def _refused(client: httpx.AsyncClient, s: Scene, params: dict[str, str]) -> tuple[httpx.Response, AuditEntry]:
    before = len(await entries(s.police))
    response = await lookup(client, s.police, **params)
    after = await entries(s.police)
    assert len(after) == before + 1, f"not audited: {params}"
    assert response.status_code == 422, (params, response.text)
    assert "results" not in response.text
    return response, after[-1]


async def test_without_reason_or_case_number_is_refused_and_audited(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    cases = [
        {"frame_no": "LYD20260007X"},
        {"frame_no": "LYD20260007X", "case_no": "GM-1"},
        {"frame_no": "LYD20260007X", "reason": "查案"},
        {"frame_no": "LYD20260007X", "reason": "查", "case_no": "GM-1"},
        {"frame_no": "LYD20260007X", "reason": "   ", "case_no": "GM-1"},
        {"frame_no": "LYD20260007X", "reason": "查案", "case_no": "  "},
        {"owner_id_number": id_number(7)},
    ]
    for params in cases:
        response, entry = await _refused(client, s, params)
        assert error_of(response)["code"] == "reason_required", params
        assert entry.details["outcome"] == "refused_no_reason"
        assert entry.details["result_count"] == 0 and entry.target == ""
        assert id_number(7) not in entry_text(entry)
        assert id_number(7) not in response.text


async def test_exactly_one_search_key(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    for params in (
        dict(WHY),
        {"frame_no": "LYD20260007X", "plate": "粤B12345", **WHY},
        {"frame_no": "LYD20260007X", "owner_id_number": id_number(7), **WHY},
        {"frame_no": "", "plate": "", **WHY},
    ):
        response, entry = await _refused(client, s, params)
        assert error_of(response)["code"] == "one_search_key_required", params
        assert entry.details["outcome"] == "refused_search_key"
        assert id_number(7) not in entry_text(entry)


async def test_an_unknown_query_parameter_is_refused_and_audited(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    for params, field in (
        ({"frame_no": "LYD20260007X", "limit": "1000", **WHY}, "limit"),
        ({"id_number": id_number(7), **WHY}, "id_number"),  # a misspelt key with an ID number in it
        ({"frame_no": "F" * 41, **WHY}, "frame_no"),
    ):
        response, entry = await _refused(client, s, params)
        assert field in [f["field"] for f in error_of(response)["details"]["fields"]], response.text
        assert id_number(7) not in response.text
        assert entry.details["outcome"] == "invalid_query"
        assert id_number(7) not in entry_text(entry)


async def test_a_query_the_server_cannot_read_is_refused_and_audited(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    before = len(await entries(s.police))
    response = await client.get(f"{LOOKUP}?frame_no=LYD20260007X%00&reason=xx&case_no=1", headers=s.police.headers)
    assert response.status_code in (400, 422) and "error" in response.json()
    after = await entries(s.police)
    assert len(after) == before + 1
    assert after[-1].details["outcome"] == "invalid_query"


async def test_an_invalid_value_is_refused_and_audited(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    bad_id = id_number(7)[:-1] + "1"
    for params in ({"frame_no": "ab", **WHY}, {"plate": "<script>", **WHY}, {"owner_id_number": bad_id, **WHY}):
        response, entry = await _refused(client, s, params)
        assert entry.details["outcome"] == "invalid_value", params
        assert bad_id not in entry_text(entry) and bad_id not in response.text


async def test_only_police_may_look(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    for role in (Role.OFFICER, Role.GRID_STAFF, Role.RESIDENT, Role.PARTY_MEMBER, Role.ADMIN):
        someone = await user(app, role)
        response = await lookup(client, someone, frame_no="LYD20260007X", **WHY)
        assert response.status_code == 403, (role, response.text)
        assert "张三" not in response.text
        # The attempt is in the audit log too: who tried, as what, for what.
        [entry] = await entries(someone)
        assert (entry.role, entry.details["outcome"], entry.details["by"]) == (role.value, "refused_role", "frame_no")
        assert (entry.details["query"], entry.details["case_no"], entry.reason) == (
            "LYD20260007X",
            WHY["case_no"],
            WHY["reason"],
        )
    tried = await user(app, Role.OFFICER)
    assert (await lookup(client, tried, owner_id_number=id_number(7), **WHY)).status_code == 403
    [entry] = await entries(tried)
    assert entry.details["query"] == mask_id_number(id_number(7)) and id_number(7) not in entry_text(entry)
    assert (await lookup(client, s.owner, owner_id_number=id_number(7), **WHY)).status_code == 403
    anonymous = await client.get(LOOKUP, params={"frame_no": "LYD20260007X", **WHY})
    assert anonymous.status_code == 401
    assert "张三" not in anonymous.text
    assert await EBike.all().count() == 3


@pytest.mark.parametrize("way", ["pipelined", "pool"])
async def test_a_budget_that_cannot_be_checked_is_503_audited_and_shows_nobody(
    app: Sanic, client: httpx.AsyncClient, way: str
) -> None:
    # Redis away: the lookup fails closed, whichever way the limiter reaches Redis (the app uses its
    # pipelined connection; the pool is the fallback).
    s = await scene(app, client)
    dead_url = "redis://127.0.0.1:1/0"
    dead = aioredis.Redis.from_url(dead_url, socket_connect_timeout=0.2)
    pipe = RedisPipe.from_url(dead_url, timeout=0.5) if way == "pipelined" else None
    working, app.ctx.rate_limiter = app.ctx.rate_limiter, RateLimiter(dead, pipe=pipe)
    try:
        r = await lookup(client, s.police, frame_no="LYD20260008", **WHY)
    finally:
        app.ctx.rate_limiter = working
        if pipe is not None:
            await pipe.close()
        await dead.aclose()
    assert r.status_code == 503 and error_of(r)["code"] == "lookup_limit_unavailable", r.text
    assert "LYD20260008" not in r.text and s.owner.account.public_id not in r.text
    assert [e.details["outcome"] for e in await entries(s.police)] == ["refused_limit_unavailable"]


# The hourly limit ----------------------------------------------------------------------------------------


class TestHourlyLimit:
    @pytest.fixture
    def app(self, notify_settings: Settings) -> Sanic:
        return app_with_channels(notify_settings.replace(police_lookup_rate="3/hour"))

    async def test_the_fourth_lookup_in_an_hour_is_refused_and_admins_are_told_once(
        self, app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
    ) -> None:
        s = await scene(app, client)
        await user(app, Role.ADMIN, node="GM", phone="13800000001")  # the district admin: told
        await user(app, Role.ADMIN, node="GM01", phone="13800000002")  # a street admin: not told
        await user(app, Role.ADMIN, node="GM")  # no contact: skipped, breaks nothing
        colleague = await user(app, Role.POLICE, node="GM02")

        for _ in range(3):
            assert (await lookup(client, s.police, frame_no="LYD20260007X", **WHY)).status_code == 200
        for attempt in range(3):
            refused = await lookup(client, s.police, owner_id_number=id_number(7), **WHY)
            assert refused.status_code == 429, refused.text
            assert error_of(refused)["code"] == "rate_limited"
            assert int(refused.headers["retry-after"]) >= 1
            assert "张三" not in refused.text and id_number(7) not in refused.text
            told = await Notification.filter(template="police.lookup_limit")
            assert len(told) == 1, attempt  # once an hour, however often the officer tries

        audited = await entries(s.police)
        assert [e.details["outcome"] for e in audited] == ["ok"] * 3 + ["refused_rate_limit"] * 3
        assert all(e.details["query"] == mask_id_number(id_number(7)) for e in audited[3:])
        assert all(id_number(7) not in entry_text(e) for e in audited)

        # Another officer has a budget of their own.
        assert (await lookup(client, colleague, plate="粤B12345", **WHY)).status_code == 200

        await dispatcher.run_once()
        assert [m.phone for m in sms.sent] == ["+8613800000001"]
        assert sms.sent[0].params[:2] == [s.police.account.public_id, "3"]

    async def test_the_limit_holds_in_any_hour_not_only_the_first_burst(
        self, app: Sanic, client: httpx.AsyncClient
    ) -> None:
        # "3 an hour" is 3 in any hour: no fourth once a third of the hour has passed (a token bucket
        # would give one back every 20 minutes, nearly twice the budget in the first hour).
        s = await scene(app, client)
        for _ in range(3):
            assert (await lookup(client, s.police, frame_no="LYD20260007X", **WHY)).status_code == 200
        redis = app.ctx.redis
        [key] = [k async for k in redis.scan_iter(match=f"*police-lookup:{s.police.account.public_id}*")]
        # Move the three lookups 21 minutes into the past, as if the officer had paced them.
        for member, score in await redis.zrange(key, 0, -1, withscores=True):
            await redis.zadd(key, {member: score - 21 * 60 * 1000})
        refused = await lookup(client, s.police, frame_no="LYD20260007X", **WHY)
        assert refused.status_code == 429
        assert 38 * 60 <= int(refused.headers["retry-after"]) <= 40 * 60  # when the oldest leaves the hour

    async def test_refusals_before_the_limit_do_not_use_it_up(self, app: Sanic, client: httpx.AsyncClient) -> None:
        s = await scene(app, client)
        for _ in range(5):
            assert (await lookup(client, s.police, frame_no="LYD20260007X")).status_code == 422  # no reason
        for _ in range(3):
            assert (await lookup(client, s.police, frame_no="LYD20260007X", **WHY)).status_code == 200
        assert (await lookup(client, s.police, frame_no="LYD20260007X", **WHY)).status_code == 429


async def test_an_id_number_typed_under_another_key_is_masked_in_the_audit(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    s = await scene(app, client)
    response = await lookup(client, s.police, frame_no=id_number(7), **WHY)
    assert response.status_code == 200 and response.json()["count"] == 0
    [entry] = await entries(s.police)
    assert entry.details["query"] == mask_id_number(id_number(7))
    assert id_number(7) not in entry_text(entry)


async def test_an_id_number_in_the_address_is_refused_and_audited_without_it(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    # An ID number in a URL would stand in proxy logs and browser history: refused, whatever else is
    # right, and the attempt is audited without it.
    s = await scene(app, client)
    before = len(await entries(s.police))
    response = await client.get(LOOKUP, params={"owner_id_number": id_number(7), **WHY}, headers=s.police.headers)
    assert response.status_code == 400 and error_of(response)["code"] == "id_number_in_url"
    assert "POST /api/v1/police/ebikes/lookup" in response.json()["error"]["message"]
    assert id_number(7) not in response.text
    after = await entries(s.police)
    assert len(after) == before + 1
    assert (after[-1].details["outcome"], after[-1].details["by"]) == ("refused_id_in_url", "owner_id_number")
    assert id_number(7) not in entry_text(after[-1])
    # The body is the way: the same lookup answers there.
    assert (await lookup(client, s.police, owner_id_number=id_number(7), **WHY)).status_code == 200
    # Someone who is not police is refused as before (403), audited as a refused role.
    officer = await user(app, Role.OFFICER)
    refused = await client.get(LOOKUP, params={"owner_id_number": id_number(7), **WHY}, headers=officer.headers)
    assert refused.status_code == 403
