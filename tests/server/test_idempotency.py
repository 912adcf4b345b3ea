"""``Idempotency-Key`` on POST: a retry gets the first answer instead of acting twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from server.app import create_app
from server.settings import Settings
from tests.factories import auth, make_account, make_staff_with_password, token_for
from tests.support.app_server import RunningApp
from tests.support.wechat_fake import WeChatFake

PASSWORD = "Idem-pass-2024!"


def staff_body(username: str, node: str = "GM010101") -> dict[str, str]:
    return {"username": username, "role": "grid_staff", "node": node, "password": PASSWORD}


@pytest.fixture
async def admin_headers(app: Sanic, client: httpx.AsyncClient) -> dict[str, str]:
    admin = await make_account(Role.ADMIN)
    return auth(await token_for(app, admin))


async def create(client: httpx.AsyncClient, headers: dict[str, str], key: str, body: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/accounts", json=body, headers={**headers, "Idempotency-Key": key})


async def test_retry_with_same_key_replays_the_first_answer(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    first = await create(client, admin_headers, "create-anna-1", staff_body("anna"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers

    second = await create(client, admin_headers, "create-anna-1", staff_body("anna"))
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert second.headers["content-type"].startswith("application/json")
    assert second.headers["x-request-id"] != first.headers["x-request-id"]
    assert await Account.filter(username="anna").count() == 1

    # Without the key the same request acts again (and is refused: the username is taken).
    third = await client.post("/api/v1/accounts", json=staff_body("anna"), headers=admin_headers)
    assert third.status_code == 409
    assert third.json()["error"]["code"] == "username_taken"


async def test_same_key_with_another_body_is_refused(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    assert (await create(client, admin_headers, "key-7", staff_body("bert"))).status_code == 201
    r = await create(client, admin_headers, "key-7", staff_body("carl"))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["message"]
    assert not await Account.exists(username="carl")
    # The stored answer is still the first one.
    again = await create(client, admin_headers, "key-7", staff_body("bert"))
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"


async def test_concurrent_duplicates_act_once(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    answers = await asyncio.gather(*(create(client, admin_headers, "race-1", staff_body("dora")) for _ in range(2)))
    fresh = [r for r in answers if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1, [(r.status_code, r.text) for r in answers]
    (other,) = [r for r in answers if r is not fresh[0]]
    if other.status_code == 201:
        assert other.headers["idempotent-replayed"] == "true"
        assert other.content == fresh[0].content
    else:
        assert other.status_code == 409, other.text
        assert other.json()["error"]["code"] == "idempotency_in_progress"
        assert int(other.headers["retry-after"]) >= 1
    assert await Account.filter(username="dora").count() == 1
    # Once the first has finished, a retry gets its answer.
    late = await create(client, admin_headers, "race-1", staff_body("dora"))
    assert late.status_code == 201 and late.headers["idempotent-replayed"] == "true"
    assert late.content == fresh[0].content


async def test_an_unauthorized_answer_is_not_kept(client: httpx.AsyncClient) -> None:
    body = {"username": "late.starter", "password": PASSWORD}
    headers = {"Idempotency-Key": "login-1"}
    r = await client.post("/api/v1/auth/login", json=body, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"
    await make_staff_with_password("late.starter", Role.GRID_STAFF, PASSWORD)
    # The retry runs again, and now succeeds.
    r = await client.post("/api/v1/auth/login", json=body, headers=headers)
    assert r.status_code == 200, r.text
    assert "idempotent-replayed" not in r.headers
    assert r.json()["account"]["username"] == "late.starter"


@pytest.fixture
def wechat() -> Iterator[WeChatFake]:
    with WeChatFake() as fake:
        yield fake


@pytest.fixture
async def wechat_client(settings: Settings, wechat: WeChatFake) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.replace(wechat_appid=wechat.appid, wechat_secret=wechat.secret, wechat_api_base_url=wechat.base_url)
    )
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield http


async def test_a_server_error_is_not_kept(wechat_client: httpx.AsyncClient, wechat: WeChatFake) -> None:
    wechat.add_login_code("code-42", openid="o_idem_42")
    wechat.fail_next_http("/sns/jscode2session", 502)
    headers = {"Idempotency-Key": "wx-login-42"}
    r = await wechat_client.post("/api/v1/auth/wechat", json={"code": "code-42"}, headers=headers)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "wechat_unavailable"
    assert not await Account.exists(wechat_openid="o_idem_42")
    # The retry with the same key reaches WeChat again and signs in.
    r = await wechat_client.post("/api/v1/auth/wechat", json={"code": "code-42"}, headers=headers)
    assert r.status_code == 200, r.text
    assert "idempotent-replayed" not in r.headers
    assert await Account.filter(wechat_openid="o_idem_42").count() == 1
    assert len(wechat.calls_to("/sns/jscode2session")) == 2


@pytest.mark.parametrize(
    "key",
    [
        "k" * 256,  # too long
        "tab\there",  # a control character
        "with space",
        "",
    ],
    ids=["too-long", "tab", "space", "empty"],
)
async def test_invalid_keys_are_refused(client: httpx.AsyncClient, admin_headers: dict[str, str], key: str) -> None:
    r = await create(client, admin_headers, key, staff_body("erin"))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_idempotency_key"
    assert error["message"]
    assert not await Account.exists(username="erin")


async def test_raw_control_characters_in_the_key_are_refused(
    running: RunningApp, admin_headers: dict[str, str]
) -> None:
    # httpx will not send these bytes; write the request by hand.
    payload = b'{"username":"fred","role":"grid_staff","node":"GM010101","password":"Idem-pass-2024!"}'
    for bad in (b"abc\x01def", b"abc\x7fdef"):
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        head = (
            b"POST /api/v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\n"
            + f"Authorization: {admin_headers['Authorization']}\r\n".encode()
            + b"Idempotency-Key: "
            + bad
            + b"\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        )
        writer.write(head + payload)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        await writer.wait_closed()
        status_line = answer.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 400"), answer[:300]
    assert not await Account.exists(username="fred")


async def test_a_long_valid_key_is_accepted(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    key = "~!" + "k" * 253  # 255 visible ASCII characters
    r = await create(client, admin_headers, key, staff_body("gina"))
    assert r.status_code == 201, r.text
    r = await create(client, admin_headers, key, staff_body("gina"))
    assert r.headers["idempotent-replayed"] == "true"


async def test_keys_are_scoped_to_the_account(app: Sanic, client: httpx.AsyncClient) -> None:
    one = auth(await token_for(app, await make_account(Role.ADMIN)))
    two = auth(await token_for(app, await make_account(Role.ADMIN, node="GM01")))
    r1 = await create(client, one, "shared-key", staff_body("hank"))
    r2 = await create(client, two, "shared-key", staff_body("ivan"))
    assert r1.status_code == 201, r1.text
    assert r2.status_code == 201, r2.text
    assert "idempotent-replayed" not in r2.headers
    assert r2.json()["username"] == "ivan"
    assert await Account.exists(username="hank")
    assert await Account.exists(username="ivan")
    # Each account's key replays its own answer.
    again = await create(client, two, "shared-key", staff_body("ivan"))
    assert again.headers["idempotent-replayed"] == "true" and again.content == r2.content


async def test_key_is_ignored_on_other_methods(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    target = await make_account(Role.GRID_STAFF)
    headers = {**admin_headers, "Idempotency-Key": "patch-1"}
    r1 = await client.patch(f"/api/v1/accounts/{target.public_id}", json={"is_active": False}, headers=headers)
    r2 = await client.patch(f"/api/v1/accounts/{target.public_id}", json={"is_active": True}, headers=headers)
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert "idempotent-replayed" not in r2.headers
    assert r2.json()["is_active"] is True


async def test_the_media_type_is_part_of_the_request(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> None:
    raw = json.dumps(staff_body("jack")).encode()
    headers = {**admin_headers, "Idempotency-Key": "typed-1"}
    r = await client.post("/api/v1/accounts", content=raw, headers={**headers, "Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    # The same bytes labelled as JSON are another request: not the kept 415 replayed.
    r = await client.post("/api/v1/accounts", content=raw, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert not await Account.exists(username="jack")
    # Parameters and letter case do not make it another request.
    r = await client.post(
        "/api/v1/accounts", content=raw, headers={**headers, "Content-Type": "TEXT/plain; charset=utf-8"}
    )
    assert r.status_code == 415 and r.headers["idempotent-replayed"] == "true"


async def test_a_refused_body_does_not_answer_for_the_corrected_one(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "fix-me-1", "Content-Type": "application/json"}
    broken = await client.post("/api/v1/accounts", content=b'{"username": "kim",', headers=headers)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "malformed_json"
    invalid = await client.post("/api/v1/accounts", json={**staff_body("kim"), "role": "emperor"}, headers=headers)
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "idempotency_key_reused"
    fixed = await client.post("/api/v1/accounts", json=staff_body("kim"), headers=headers)
    assert fixed.status_code == 422 and fixed.json()["error"]["code"] == "idempotency_key_reused"
    assert not await Account.exists(username="kim")
    # A new key for the corrected request.
    fixed = await client.post(
        "/api/v1/accounts", json=staff_body("kim"), headers={**headers, "Idempotency-Key": "fix-me-2"}
    )
    assert fixed.status_code == 201, fixed.text


async def test_refusals_before_the_handler_keep_nothing(
    app: Sanic, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "early-1"}
    # Too large for the app's body limit: refused while reading, before any handler or middleware.
    huge = b'{"username": "' + b"x" * app.ctx.settings.max_body_bytes + b'"}'
    r = await client.post("/api/v1/accounts", content=huge, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    # No such route, and a method the route does not take.
    r = await client.post("/api/v1/no-such-thing", json={}, headers=headers)
    assert r.status_code == 404, r.text
    assert (await client.post("/healthz", json={}, headers=headers)).status_code in (404, 405)
    # A bad token: 401, not kept.
    bad = {"Authorization": "Bearer nope", "Idempotency-Key": "early-1"}
    assert (await client.post("/api/v1/accounts", json=staff_body("lena"), headers=bad)).status_code == 401
    # The key is still free for the real request.
    r = await create(client, admin_headers, "early-1", staff_body("lena"))
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers


async def rewrite_as_previous_version(app: Sanic, before: set[bytes], fingerprint: str) -> None:
    """Turn the one record made since ``before`` into what the previous version wrote: the same record
    with the old fingerprint (method, path, query and body; no media type, no version prefix)."""
    redis = app.ctx.redis
    (key,) = {k async for k in redis.scan_iter(match="idem:*")} - before
    record = json.loads(await redis.get(key))
    record["fingerprint"] = fingerprint
    await redis.set(key, json.dumps(record), ex=3600)


def previous_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b"\0" + path.encode() + b"\0\0" + body).hexdigest()


async def test_records_of_the_previous_version_are_still_honoured(
    app: Sanic, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    before = {k async for k in app.ctx.redis.scan_iter(match="idem:*")}
    first = await create(client, admin_headers, "upgrade-1", staff_body("mona"))
    assert first.status_code == 201, first.text
    raw = first.request.content  # the bytes httpx sent
    await rewrite_as_previous_version(app, before, previous_fingerprint("POST", "/api/v1/accounts", raw))

    again = await create(client, admin_headers, "upgrade-1", staff_body("mona"))
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    other = await create(client, admin_headers, "upgrade-1", staff_body("nina"))
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert await Account.filter(username="mona").count() == 1
    assert not await Account.exists(username="nina")
