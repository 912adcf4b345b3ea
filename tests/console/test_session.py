"""Signing in to the console, its session cookie, CSRF and the security headers of its pages."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Page, expect

from identity import web_sessions
from identity.models import Account
from identity.roles import Role
from identity.service import new_public_id, prepare_password_account
from server import live_stream
from server.settings import Settings
from tests.console.conftest import PASSWORD, PHONE, http_sign_in, screenshot, sign_in, staff

HTML = {"Accept": "text/html"}


async def test_sign_in_and_out_in_the_browser(page: Page) -> None:
    worker = await staff(Role.GRID_STAFF, "grid.browser")
    await page.goto("/console/")
    await expect(page).to_have_url(re.compile(r"/console/login\?next=/console/"))
    await page.get_by_label("用户名").fill("grid.browser")
    await page.get_by_label("密码").fill("wrong-password")
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("alert")).to_have_text("用户名或密码错误。")
    await sign_in(page, worker)
    await expect(page.get_by_role("heading", name="工作台")).to_be_visible()
    await expect(page.locator(".who .role")).to_have_text("网格员")
    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(re.compile(r"/console/login$"))
    await page.goto("/console/")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))


async def test_session_cookie_is_httponly_strict_and_signs_in_the_api(client: httpx.AsyncClient) -> None:
    worker = await staff(Role.OFFICER, "officer.cookie")
    await http_sign_in(client, worker)
    cookie = next(c for c in client.cookies.jar if c.name == web_sessions.COOKIE)
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert (cookie.get_nonstandard_attr("SameSite") or "").lower() == "strict"
    assert cookie.path == "/"
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["account"]["role"] == "officer"


async def test_pages_send_the_browser_to_sign_in_and_api_callers_get_json(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console/"
    api_like = await client.get("/console/")
    assert api_like.status_code == 401 and api_like.json()["error"]["code"] == "unauthorized"


async def test_state_changes_need_the_csrf_token_and_our_origin(client: httpx.AsyncClient) -> None:
    admin = await staff(Role.ADMIN, "admin.csrf")
    token = await http_sign_in(client, admin)
    body = {"username": "made.by.console", "role": "grid_staff", "node": "GM010101", "password": PASSWORD}
    missing = await client.post("/api/v1/accounts", json=body)
    wrong = await client.post("/api/v1/accounts", json=body, headers={"X-CSRF-Token": "x" * 32})
    foreign = await client.post(
        "/api/v1/accounts", json=body, headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
    )
    for refused in (missing, wrong, foreign):
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed", refused.text
    assert not await Account.filter(username="made.by.console").exists()
    made = await client.post("/api/v1/accounts", json=body, headers={"X-CSRF-Token": token})
    assert made.status_code == 201, made.text
    # A form post on a console page carries the token as a field instead.
    out = await client.post("/console/logout", data={"csrf": "not-it"})
    assert out.status_code == 403
    out = await client.post("/console/logout", data={"csrf": token})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert (await client.get("/api/v1/me")).status_code == 401  # the session is gone


async def test_a_cross_site_request_is_never_signed_in_by_the_cookie(client: httpx.AsyncClient) -> None:
    await http_sign_in(client, await staff(Role.POLICE, "police.xsite"))
    assert (await client.get("/api/v1/me")).status_code == 200
    assert (await client.get("/api/v1/me", headers={"Sec-Fetch-Site": "cross-site"})).status_code == 401


async def test_sign_in_form_needs_its_own_token_and_never_redirects_off_site(client: httpx.AsyncClient) -> None:
    worker = await staff(Role.GRID_STAFF, "grid.forms")
    forged = await client.post("/console/login", data={"username": "grid.forms", "password": PASSWORD, "csrf": "x"})
    assert forged.status_code == 400 and "页面已过期" in forged.text
    assert web_sessions.COOKIE not in client.cookies
    form = await client.get("/console/login")
    pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert pre
    done = await client.post(
        "/console/login",
        data={"csrf": pre.group(1), "username": worker.username, "password": PASSWORD, "next": "//evil.example/x"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/console/"
    form = await client.get("/console/login?next=https://evil.example/")
    assert 'value="/console/"' in form.text


async def test_employers_and_residents_have_no_console(client: httpx.AsyncClient) -> None:
    username, password_hash = await prepare_password_account(username="hr.console", password=PASSWORD)
    await Account.create(public_id=new_public_id(), role=Role.EMPLOYER, username=username, password_hash=password_hash)
    form = await client.get("/console/login")
    pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert pre
    answer = await client.post(
        "/console/login", data={"csrf": pre.group(1), "username": "hr.console", "password": PASSWORD}
    )
    assert answer.status_code == 403 and "不能登录工作台" in answer.text
    assert web_sessions.COOKIE not in client.cookies


async def test_repeated_wrong_passwords_lock_the_form_like_the_api(client: httpx.AsyncClient) -> None:
    await staff(Role.GRID_STAFF, "grid.locked")
    statuses = []
    for _ in range(7):
        form = await client.get("/console/login")
        pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert pre
        answer = await client.post(
            "/console/login", data={"csrf": pre.group(1), "username": "grid.locked", "password": "nope-nope"}
        )
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429
    assert "登录失败次数过多" in answer.text and answer.headers["retry-after"]


async def test_a_disabled_account_loses_its_session_at_once(client: httpx.AsyncClient) -> None:
    worker = await staff(Role.GRID_STAFF, "grid.disabled")
    await http_sign_in(client, worker)
    await Account.filter(id=worker.account.id).update(is_active=False)
    assert (await client.get("/api/v1/me")).status_code == 401
    page = await client.get("/console/", headers=HTML)
    assert page.status_code == 303 and "expired=1" in page.headers["location"]


async def test_sessions_end_when_idle_and_at_their_absolute_end(client: httpx.AsyncClient, settings: Settings) -> None:
    worker = await staff(Role.GRID_STAFF, "grid.idle")
    await http_sign_in(client, worker)
    key = "websess:" + hashlib.sha256(client.cookies[web_sessions.COOKIE].encode()).hexdigest()
    redis = aioredis.Redis.from_url(settings.redis_url or "")
    try:
        assert 0 < await redis.ttl(key) <= settings.console_idle_seconds
        # Its absolute end passed: refused even though the idle clock still runs.
        stored = json.loads(await redis.get(key))
        stored["e"] = stored["t"] - 1
        await redis.set(key, json.dumps(stored), ex=600)
        assert (await client.get("/api/v1/me")).status_code == 401
        assert not await redis.exists(key)
        # Idle: Redis lets the key lapse.
        await http_sign_in(client, worker)
        key = "websess:" + hashlib.sha256(client.cookies[web_sessions.COOKIE].encode()).hexdigest()
        await redis.pexpire(key, 50)
        await asyncio.sleep(0.1)
        assert (await client.get("/api/v1/me")).status_code == 401
    finally:
        await redis.aclose()


async def test_pages_carry_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    await http_sign_in(client, await staff(Role.ADMIN, "admin.headers"))
    for path in ("/console/login", "/console/"):
        answer = await client.get(path, headers=HTML)
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"
        assert "<script>" not in answer.text and " style=" not in answer.text and "onclick" not in answer.text


async def test_static_files_stay_inside_their_folder(client: httpx.AsyncClient) -> None:
    ok = await client.get("/console/static/js/console.js?v=1")
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/javascript")
    assert "immutable" in ok.headers["cache-control"]
    licence = await client.get("/console/static/vendor/echarts/LICENSE")
    assert licence.status_code == 200 and "Apache License" in licence.text
    for bad in (
        "/console/static/../routes.py",
        "/console/static/%2e%2e/routes.py",
        "/console/static/..%2froutes.py",
        "/console/static/templates/base.html",
        "/console/static/.hidden",
        "/console/static/js/",
        "/console/static/" + "a/" * 150,
    ):
        answer = await client.get(bad)
        assert answer.status_code == 404, (bad, answer.status_code)
        assert "import " not in answer.text


async def test_sign_in_page_at_phone_and_desk_sizes(page: Page, shots: Path) -> None:
    await page.goto("/console/login")
    await screenshot(page, shots, "login-desk")
    await page.set_viewport_size(PHONE)
    await expect(page.get_by_role("button", name="登录")).to_be_visible()
    await screenshot(page, shots, "login-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than a phone's screen


async def test_an_open_live_feed_ends_when_its_console_session_does(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_stream, "KEEPALIVE_SECONDS", 0.5)
    token = await http_sign_in(client, await staff(Role.GRID_STAFF, "grid.stream"))
    async with client.stream("GET", "/api/v1/grid/feed/stream") as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert await anext(lines) == ": connected"
        out = await client.post("/console/logout", data={"csrf": token})
        assert out.status_code == 303

        async def drain() -> list[str]:
            return [line async for line in lines]

        rest = await asyncio.wait_for(drain(), timeout=10)
    assert any("session has ended" in line for line in rest), rest
