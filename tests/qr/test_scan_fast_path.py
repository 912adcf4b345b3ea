"""The scan fast path keeps every promise of a scan: the public answer comes from the Redis cache, but
a revocation, a reissue, an alarm, a transfer, a deregistration or an edit is seen by the very next scan;
staff answers are never cached; scan records are written in batches and none is lost on a clean stop;
an address and an account are rate limited in one round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.roles import Role
from qr import scancache, scanning, service
from qr.models import Credential, ScanEvent
from qr.scanlog import ScanLog
from server.ratelimit import Rate, RateLimiter
from server.settings import Settings
from tests.factories import auth, make_account, token_for
from tests.miniapp_api.ebikes.conftest import register, registration, user


@pytest.fixture
def app(notify_settings: object) -> Sanic:
    from tests.support.notify_fixtures import app_with_channels

    return app_with_channels(notify_settings)  # type: ignore[arg-type]


async def scan(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await client.post("/api/v1/scan", json={"payload": url}, headers=headers or {})


async def cached(audience: str, public_id: str) -> bool:
    lookup = await scancache.get(audience, public_id)
    return lookup is not None and lookup.entry is not None


async def warm(client: httpx.AsyncClient, url: str, public_id: str) -> dict[str, Any]:
    first = await scan(client, url)
    assert first.status_code == 200, first.text
    assert await cached("anonymous", public_id)  # the next scan is served from the cache
    second = await scan(client, url)
    assert second.json() == first.json()
    body: dict[str, Any] = second.json()
    return body


async def test_what_changes_a_bike_is_seen_by_the_next_scan(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner)
    url, code = bike["credential"]["url"], bike["credential"]["id"]
    assert (await warm(client, url, code))["view"]["colour"] == "白色"

    edited = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"colour": "黑色"}, headers=owner.headers)
    assert edited.status_code == 200, edited.text
    assert (await scan(client, url)).json()["view"]["colour"] == "黑色"

    await warm(client, url, code)
    lost = {"lost_at": "2026-11-25T21:30:00+08:00", "location": "光明大街"}
    alarm = await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=lost, headers=owner.headers)
    assert alarm.status_code in (200, 201), alarm.text
    stolen = (await scan(client, url)).json()
    assert stolen["alert"] == "stolen" and stolen["view"]["stolen"] is True

    await warm(client, url, code)
    found = await client.delete(f"/api/v1/ebikes/{bike['id']}/alarm", headers=owner.headers)
    assert found.status_code == 200, found.text
    assert (await scan(client, url)).json()["alert"] is None

    await warm(client, url, code)
    gone = await client.delete(f"/api/v1/ebikes/{bike['id']}", headers=owner.headers)
    assert gone.status_code == 200, gone.text
    refused = await scan(client, url)
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "revoked"


async def test_a_transfer_supersedes_the_old_code_at_once(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller)
    old_url, code = bike["credential"]["url"], bike["credential"]["id"]
    await warm(client, old_url, code)
    started = await client.post(f"/api/v1/ebikes/{bike['id']}/transfer", headers=seller.headers)
    assert started.status_code in (200, 201), started.text
    accept = {"code": started.json()["code"], "owner": registration(2)["owner"]}
    taken = await client.post("/api/v1/ebikes/transfers/accept", json=accept, headers=buyer.headers)
    assert taken.status_code == 200, taken.text
    old = await scan(client, old_url)
    assert old.status_code == 410 and old.json()["error"]["code"] == "superseded"
    assert await cached("anonymous", code)  # the refusal is cached too, and answers no newer code
    new = await scan(client, taken.json()["credential"]["url"])
    assert new.status_code == 200 and new.json()["view"]["registered"] is True


async def test_an_admins_revoke_and_reissue_are_seen_by_the_next_scan(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    admin = auth(await token_for(app, await make_account(Role.ADMIN, node="GM")))
    first = await register(client, owner, 1)
    body = registration(2, owner=registration(1)["owner"])  # the same owner's second bike
    made = await client.post("/api/v1/ebikes", json=body, headers=owner.headers)
    assert made.status_code == 201, made.text
    second = made.json()
    await warm(client, first["credential"]["url"], first["credential"]["id"])
    await warm(client, second["credential"]["url"], second["credential"]["id"])
    reissued = await client.post(f"/api/v1/credentials/{first['credential']['id']}/reissue", headers=admin)
    assert reissued.status_code == 200, reissued.text
    assert (await scan(client, first["credential"]["url"])).json()["error"]["code"] == "superseded"
    revoked = await client.post(
        f"/api/v1/credentials/{second['credential']['id']}/revoke", json={"reason": "stolen_sticker"}, headers=admin
    )
    assert revoked.status_code == 200, revoked.text
    assert (await scan(client, second["credential"]["url"])).json()["error"]["code"] == "revoked"


async def test_an_edited_building_and_board_are_seen_by_the_next_scan(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    from miniapp_api.buildings.models import Building
    from tests.miniapp_api.buildings.conftest import import_rows, row

    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    await import_rows(tmp_path, [row(1)])
    building = await Building.get(code="GM0101010001")
    credential = await Credential.get(public_id=building.credential_id)
    url = f"https://eid.example.cn/q/{credential.token}"
    await warm(client, url, credential.public_id)
    patched = await client.patch(f"/api/v1/buildings/{building.code}", json={"address": "光明区新地址1号"},
                                 headers=grid.headers)  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert (await scan(client, url)).json()["view"]["address"] == "光明区新地址1号"

    board = {"code": "BD-FAST-1", "title": "第一网格党员亮相牌", "node": "GM010101",
             "members": [{"name": "李四", "duty": "消防安全"}]}  # fmt: skip
    made = await client.put("/api/v1/boards", json=board, headers=grid.headers)
    assert made.status_code == 200, made.text
    board_url, board_code = made.json()["url"], made.json()["credential"]
    await warm(client, board_url, board_code)
    renamed = await client.put("/api/v1/boards", json={**board, "title": "第一网格党员服务牌"}, headers=grid.headers)
    assert renamed.status_code == 200, renamed.text
    assert (await scan(client, board_url)).json()["view"]["title"] == "第一网格党员服务牌"


async def test_staff_answers_are_never_served_from_the_cache(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    officer = await user(app, Role.OFFICER, node="GM")
    bike = await register(client, owner)
    url = bike["credential"]["url"]
    await warm(client, url, bike["credential"]["id"])
    staff = await scan(client, url, officer.headers)
    assert staff.status_code == 200 and staff.json()["view"]["frame_no"]  # the officer's own view
    assert not await cached("officer", bike["credential"]["id"])


async def test_an_entry_made_from_a_read_that_raced_a_change_is_never_used(redis_url: str, running: object) -> None:
    public_id = "RACEDRACEDRAC"
    before = await scancache.get("anonymous", public_id)
    assert before is not None and before.entry is None
    await scancache.changed(public_id)  # a change commits while that scan was reading the database
    entry = scancache.Entry("ebike", "active", 1, None, {"kind": "ebike", "stolen": False})
    await scancache.put("anonymous", public_id, before.version, entry)  # the stale read is stored late
    after = await scancache.get("anonymous", public_id)
    assert after is not None and after.entry is None  # ... and never used


async def test_scans_go_on_from_the_database_when_redis_is_away(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner)
    away = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    scancache.set_client(away)
    try:
        answer = await scan(client, bike["credential"]["url"])
        assert answer.status_code == 200 and answer.json()["view"]["registered"] is True
    finally:
        scancache.set_client(app.ctx.redis)
        await away.aclose()


async def test_scan_records_are_batched_and_all_written_at_a_clean_stop(running: object) -> None:
    log = ScanLog(interval=3600, batch=10_000)  # nothing would be written before the stop
    log.start()
    for n in range(25):
        log.add(actor="", audience="anonymous", public_id=f"ID{n:011d}", kind="ebike", result="ok")
    assert await ScanEvent.all().count() == 0
    await log.close()
    assert await ScanEvent.filter(public_id__startswith="ID").count() == 25


async def test_a_scan_is_recorded_without_waiting_for_its_row(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner)
    await scan(client, bike["credential"]["url"])
    await scanning.flush_scan_log()
    [event] = await ScanEvent.filter(public_id=bike["credential"]["id"])
    assert (event.result, event.audience, event.kind) == ("ok", "anonymous", "ebike")


async def test_an_address_and_an_account_are_limited_in_one_round_trip(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        limiter = RateLimiter(client)
        tight, loose = Rate.parse("2/minute"), Rate.parse("100/minute")
        checks = [("ip:test", loose), ("acct:test", tight)]
        assert (await limiter.hit_all(checks))[1].allowed
        assert (await limiter.hit_all(checks))[1].allowed
        refusing, decision = await limiter.hit_all(checks)
        assert not decision.allowed and refusing == 1 and decision.retry_after > 0
        # The refused request spent nothing of the address's budget: 98 more for it alone.
        for _ in range(98):
            assert (await limiter.hit("ip:test", loose)).allowed
        assert not (await limiter.hit("ip:test", loose)).allowed
    finally:
        await client.aclose()


async def test_the_limit_still_counts_after_redis_forgot_its_script(redis_url: str) -> None:
    """A Redis that restarted knows no script: the limiter loads it again and counts on (no request
    slips through, none fails)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        limiter = RateLimiter(client)
        rate = Rate.parse("2/minute")
        assert (await limiter.hit("ip:forgot", rate)).allowed
        await client.script_flush()
        assert (await limiter.hit("ip:forgot", rate)).allowed
        await client.script_flush()
        assert not (await limiter.hit("ip:forgot", rate)).allowed
    finally:
        await client.aclose()


async def test_the_limit_still_counts_after_redis_dropped_the_connection(redis_url: str) -> None:
    """Redis closed the limiter's connection (a restart, an idle timeout): the next request is still
    counted, on a new connection, as the client itself would (not waved through unlimited)."""
    client = aioredis.Redis.from_url(redis_url)
    killer = aioredis.Redis.from_url(redis_url)
    try:
        limiter = RateLimiter(client)
        rate = Rate.parse("2/minute")
        assert (await limiter.hit("ip:dropped", rate)).allowed
        connection_id = await client.client_id()  # the pool's one connection, used by the limiter too
        assert await killer.client_kill_filter(_id=connection_id) == 1
        assert (await limiter.hit("ip:dropped", rate)).allowed
        assert not (await limiter.hit("ip:dropped", rate)).allowed
    finally:
        await client.aclose()
        await killer.aclose()


async def test_scans_are_still_rate_limited_by_address(settings: Settings) -> None:
    """The scan route checks its limit itself (with the cache read in the same round trip): still 429."""
    from server.app import create_app
    from tests.support.app_server import RunningApp

    app = create_app(settings.replace(rate_limits="qr.scan=ip:3/minute"), name="gmid_scan_limited")
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        credential = await service.issue(kind="ebike", subject_id="no-such-bike")
        url = f"https://eid.example.cn/q/{credential.token}"
        answers = [await scan(client, url) for _ in range(4)]
        assert [a.status_code for a in answers[:3]] == [200] * 3
        assert answers[3].status_code == 429 and answers[3].json()["error"]["code"] == "rate_limited"
        assert int(answers[3].headers["retry-after"]) >= 1
        junk = await scan(client, "not a code")  # refused codes count too
        assert junk.status_code == 429


async def test_a_code_url_spelt_another_way_gives_the_same_answer(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner)
    url: str = bike["credential"]["url"]
    body = await warm(client, url, bike["credential"]["id"])
    base, _, token = url.rpartition("/q/")
    scheme, _, rest = base.partition("://")
    host, slash, path = rest.partition("/")
    for spelling in (
        f"  {url}\n",
        f"{url}?from=wechat",
        f"{url}#top",
        f"{url}/",
        f"{base}/q/{token[:5]}%{ord(token[5]):02X}{token[6:]}",
        f"{scheme.upper()}://{host.upper()}{slash}{path}/q/{token}",
        token,
    ):
        answer = await scan(client, spelling)
        assert answer.status_code == 200 and answer.json() == body, spelling
    for foreign in (f"{base}x/q/{token}", f"{base}/x/q/{token}", f"{scheme}://evil.example/q/{token}"):
        refused = await scan(client, foreign)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "foreign_url", foreign
