"""Sign-in over real HTTP: WeChat login against the loopback fake, staff passwords with lockout,
rotating refresh tokens with reuse detection, and what disabling an account does to its sessions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity import tokens
from identity.models import Account, RefreshToken
from identity.passwords import hash_password_async
from identity.roles import Role
from server.app import create_app
from server.settings import Settings
from tests.factories import auth, make_account, make_staff_with_password, token_for
from tests.support.app_server import RunningApp
from tests.support.wechat_fake import WeChatFake

CODE2SESSION = "/sns/jscode2session"
PASSWORD = "Correct-horse-9"


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Sanic, httpx.AsyncClient]]:
    """The real app built from ``settings``, on a loopback port, with an HTTP client pointed at it."""
    app = create_app(settings)
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield app, http


@pytest.fixture
def wx() -> Iterator[WeChatFake]:
    with WeChatFake() as fake:
        yield fake


@pytest.fixture
async def wx_client(settings: Settings, wx: WeChatFake) -> AsyncIterator[httpx.AsyncClient]:
    wired = settings.replace(wechat_appid=wx.appid, wechat_secret=wx.secret, wechat_api_base_url=wx.base_url)
    async with serve(wired) as (_, http):
        yield http


@pytest.fixture
async def strict_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a low lockout threshold: three failed sign-ins."""
    async with serve(settings.replace(login_max_failures=3, login_max_failures_per_address=3)) as (_, http):
        yield http


def error_code(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


async def wechat_login(http: httpx.AsyncClient, code: str) -> httpx.Response:
    return await http.post("/api/v1/auth/wechat", json={"code": code})


async def login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/v1/auth/login", json={"username": username, "password": password})


async def refresh(http: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


async def signed_in(http: httpx.AsyncClient, username: str, role: Role = Role.OFFICER) -> dict[str, Any]:
    """Create a staff account and sign it in; the token answer."""
    if not await Account.exists(username=username):
        await make_staff_with_password(username, role, PASSWORD)
    r = await login(http, username, PASSWORD)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# WeChat sign-in -------------------------------------------------------------------------------------


async def test_wechat_login_creates_the_resident_once(wx_client: httpx.AsyncClient, wx: WeChatFake) -> None:
    wx.add_login_code("code-first", openid="o_resident_1")
    first = await wechat_login(wx_client, "code-first")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"]
    assert body["account"]["role"] == "resident"
    assert body["account"]["node"] is None
    assert first.headers["cache-control"] == "no-store"

    # WeChat was really asked, with our appid and the code the mini-program sent.
    calls = wx.calls_to(CODE2SESSION)
    assert len(calls) == 1
    assert calls[0].query["js_code"] == "code-first"
    assert calls[0].query["appid"] == wx.appid
    assert calls[0].errcode == 0

    # A later wx.login() gives another code for the same user: same account, no second one.
    wx.add_login_code("code-second", openid="o_resident_1")
    second = await wechat_login(wx_client, "code-second")
    assert second.status_code == 200, second.text
    assert second.json()["account"]["id"] == body["account"]["id"]
    assert second.json()["refresh_token"] != body["refresh_token"]
    assert await Account.filter(wechat_openid="o_resident_1").count() == 1

    me = await wx_client.get("/api/v1/me", headers=auth(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["account"]["id"] == body["account"]["id"]
    assert me.json()["account"]["role"] == "resident"


async def test_wechat_code_works_once(wx_client: httpx.AsyncClient, wx: WeChatFake) -> None:
    wx.add_login_code("code-once")
    assert (await wechat_login(wx_client, "code-once")).status_code == 200

    reused = await wechat_login(wx_client, "code-once")
    assert reused.status_code == 401
    assert error_code(reused) == "wechat_code_invalid"

    unknown = await wechat_login(wx_client, "never-issued")
    assert unknown.status_code == 401
    assert error_code(unknown) == "wechat_code_invalid"
    assert await Account.filter(role=Role.RESIDENT).count() == 1


@pytest.mark.parametrize("failure", ["system_busy", "http_500"])
async def test_wechat_outage_is_503_and_the_code_can_be_retried(
    wx_client: httpx.AsyncClient, wx: WeChatFake, failure: str
) -> None:
    wx.add_login_code("code-retry", openid="o_retry")
    if failure == "system_busy":
        wx.fail_next(CODE2SESSION, -1, "system busy, please try again")
    else:
        wx.fail_next_http(CODE2SESSION, 500)

    r = await wechat_login(wx_client, "code-retry")
    assert r.status_code == 503, r.text
    assert error_code(r) == "wechat_unavailable"
    assert len(wx.calls_to(CODE2SESSION)) == 1  # it was WeChat that failed, not a call never made
    assert not await Account.exists(wechat_openid="o_retry")

    # WeChat never consumed the code: the mini-program's retry signs in.
    again = await wechat_login(wx_client, "code-retry")
    assert again.status_code == 200, again.text


async def test_wechat_login_without_credentials_is_503(client: httpx.AsyncClient) -> None:
    r = await wechat_login(client, "any-code")
    assert r.status_code == 503
    assert error_code(r) == "wechat_not_configured"
    assert not await Account.exists(role=Role.RESIDENT)


# Staff sign-in ---------------------------------------------------------------------------------------


async def test_staff_login_returns_tokens_with_role_and_node(client: httpx.AsyncClient) -> None:
    await make_staff_with_password("officer.li", Role.OFFICER, PASSWORD, node="GM0102")
    r = await login(client, "officer.li", PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account"]["role"] == "officer"
    assert body["account"]["node"] == "GM0102"
    assert body["account"]["username"] == "officer.li"
    assert body["access_token"] and body["refresh_token"]

    me = await client.get("/api/v1/me", headers=auth(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["account"]["node"] == "GM0102"


async def test_wrong_password_and_unknown_username_look_the_same(client: httpx.AsyncClient) -> None:
    await make_staff_with_password("officer.wang", Role.OFFICER, PASSWORD)
    wrong = await login(client, "officer.wang", PASSWORD + "x")
    unknown = await login(client, "nobody.here", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert error_code(wrong) == error_code(unknown) == "invalid_credentials"
    assert wrong.json() == unknown.json()
    assert "access_token" not in wrong.text


async def test_repeated_failures_lock_the_username(strict_client: httpx.AsyncClient) -> None:
    await make_staff_with_password("grid.zhao", Role.GRID_STAFF, PASSWORD)
    for _ in range(3):
        r = await login(strict_client, "grid.zhao", "not-the-password")
        assert r.status_code == 401
        assert error_code(r) == "invalid_credentials"

    locked = await login(strict_client, "grid.zhao", PASSWORD)  # even the right password
    assert locked.status_code == 429, locked.text
    assert error_code(locked) == "login_locked"
    assert int(locked.headers["retry-after"]) > 0
    assert "access_token" not in locked.text

    # Another spelling of the same username is the same username.
    assert (await login(strict_client, "GRID.ZHAO", PASSWORD)).status_code == 429


async def test_failures_across_usernames_lock_the_address(strict_client: httpx.AsyncClient) -> None:
    await make_staff_with_password("police.sun", Role.POLICE, PASSWORD)
    for name in ("guess.one", "guess.two", "guess.three"):
        assert (await login(strict_client, name, "whatever-password")).status_code == 401

    locked = await login(strict_client, "police.sun", PASSWORD)
    assert locked.status_code == 429, locked.text
    assert error_code(locked) == "login_locked"
    assert "retry-after" in locked.headers


async def test_disabled_account_cannot_sign_in(client: httpx.AsyncClient) -> None:
    account = await make_staff_with_password("officer.off", Role.OFFICER, PASSWORD)
    await Account.filter(id=account.id).update(is_active=False)
    r = await login(client, "officer.off", PASSWORD)
    assert r.status_code == 401
    assert error_code(r) == "invalid_credentials"


async def test_resident_cannot_use_password_login(client: httpx.AsyncClient) -> None:
    resident = await make_account(Role.RESIDENT, username="resident.pw")
    resident.password_hash = await hash_password_async(PASSWORD)
    await resident.save(update_fields=["password_hash"])
    r = await login(client, "resident.pw", PASSWORD)
    assert r.status_code == 401
    assert error_code(r) == "invalid_credentials"


# Refresh tokens ---------------------------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    first = await signed_in(client, "officer.rot")
    rotated = await refresh(client, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    pair = rotated.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert pair["access_token"] != first["access_token"]
    assert pair["account"]["id"] == first["account"]["id"]
    assert (await client.get("/api/v1/me", headers=auth(pair["access_token"]))).status_code == 200

    # The first token is spent; presenting it again (after the grace for a client racing itself)
    # means someone else has it.
    await RefreshToken.filter(used_at__isnull=False).update(used_at=datetime.now(UTC) - timedelta(seconds=60))
    reused = await refresh(client, first["refresh_token"])
    assert reused.status_code == 401
    assert error_code(reused) == "refresh_reused"

    # ... so the newest token of that family is dead too.
    newest = await refresh(client, pair["refresh_token"])
    assert newest.status_code == 401
    assert error_code(newest) == "refresh_revoked"


async def test_parallel_refreshes_of_one_token_let_one_through(client: httpx.AsyncClient) -> None:
    first = await signed_in(client, "officer.race")
    answers = await asyncio.gather(*(refresh(client, first["refresh_token"]) for _ in range(2)))
    assert sorted(r.status_code for r in answers) == [200, 401]
    loser = next(r for r in answers if r.status_code == 401)
    winner = next(r for r in answers if r.status_code == 200)
    # A client racing itself is refused without losing its session: the winner's token still works.
    assert error_code(loser) == "refresh_superseded"
    assert (await refresh(client, winner.json()["refresh_token"])).status_code == 200


async def test_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    r = await refresh(client, "rt_not-a-token-we-issued")
    assert r.status_code == 401
    assert error_code(r) == "refresh_invalid"


async def test_logout_revokes_the_family_only(client: httpx.AsyncClient) -> None:
    phone = await signed_in(client, "officer.out")
    laptop = await signed_in(client, "officer.out")
    rotated = (await refresh(client, phone["refresh_token"])).json()

    out = await client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert out.status_code == 204

    for token in (phone["refresh_token"], rotated["refresh_token"]):
        r = await refresh(client, token)
        assert r.status_code == 401
        assert error_code(r) in {"refresh_revoked", "refresh_reused"}
    # The other session of the same account goes on.
    assert (await refresh(client, laptop["refresh_token"])).status_code == 200


async def test_expired_access_token_is_refused(client: httpx.AsyncClient, app: Sanic) -> None:
    account = await make_staff_with_password("officer.old", Role.OFFICER, PASSWORD)
    stale, _ = tokens.issue_access_token(
        secret=app.ctx.access_token_secret,
        account_id=account.public_id,
        role=account.role,
        node_path="/GM/GM01/GM0101/",
        ttl=600,
        now=time.time() - 3600,
    )
    r = await client.get("/api/v1/me", headers=auth(stale))
    assert r.status_code == 401
    assert error_code(r) == "token_expired"
    assert r.headers["www-authenticate"].startswith("Bearer")

    # The same account with a fresh token gets in: it was the age that was refused.
    fresh = await token_for(app, account)
    assert (await client.get("/api/v1/me", headers=auth(fresh))).status_code == 200


async def test_disabling_an_account_revokes_its_refresh_tokens(client: httpx.AsyncClient, app: Sanic) -> None:
    admin = await make_staff_with_password("district.admin", Role.ADMIN, PASSWORD)
    admin_token = await token_for(app, admin)
    session_a = await signed_in(client, "officer.gone")
    session_b = await signed_in(client, "officer.gone")
    target_id = session_a["account"]["id"]

    r = await client.patch(f"/api/v1/accounts/{target_id}", json={"is_active": False}, headers=auth(admin_token))
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False

    for session in (session_a, session_b):
        refused = await refresh(client, session["refresh_token"])
        assert refused.status_code == 401
        assert error_code(refused) == "refresh_revoked"
    assert not await RefreshToken.filter(account__public_id=target_id, revoked_at__isnull=True).exists()
    assert (await login(client, "officer.gone", PASSWORD)).status_code == 401
    # Access tokens handed out before are refused at once, not when they expire.
    me = await client.get("/api/v1/me", headers=auth(session_a["access_token"]))
    assert me.status_code == 401
    assert error_code(me) == "account_disabled"

    # Enabled again: a new sign-in works and its token is accepted.
    r = await client.patch(f"/api/v1/accounts/{target_id}", json={"is_active": True}, headers=auth(admin_token))
    assert r.status_code == 200
    again = await signed_in(client, "officer.gone")
    assert (await client.get("/api/v1/me", headers=auth(again["access_token"]))).status_code == 200


async def test_guesses_sent_all_at_once_are_counted_one_by_one(strict_client: httpx.AsyncClient) -> None:
    """An attacker firing many guesses in parallel gets no more password checks than the limit."""
    await make_staff_with_password("grid.burst", Role.GRID_STAFF, PASSWORD)
    answers = await asyncio.gather(*(login(strict_client, "grid.burst", f"guess-{n}") for n in range(12)))
    checked = [r for r in answers if r.status_code == 401]
    refused = [r for r in answers if r.status_code == 429]
    assert len(checked) == 3
    assert len(refused) == 9
    assert all(error_code(r) == "login_locked" for r in refused)
