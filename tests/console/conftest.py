"""The console's tests: HTTP-level checks with httpx, and end-to-end tests in Debian's Chromium driven by
Playwright (its async API, in the same event loop as the app under test).

Chromium is started once per test process and every test gets a fresh browser context (its own
cookies, storage and service workers). Console tests share one event loop per process for that reason.
When Chromium cannot start, the tests fail and say so: they never skip.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from tests.factories import make_staff_with_password
from tests.support.app_server import RunningApp

PASSWORD = "Console-pass-2026!"
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Where the tests write their screenshots: GMID_TEST_SCREENSHOTS, or the run's own temporary folder.
SHOTS_ENV = "GMID_TEST_SCREENSHOTS"
# Chromium as this machine's probe starts it: no sandbox as root, and no calls home (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]


def chromium_path() -> str:
    found = os.environ.get("GMID_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: the console's browser tests need it (apt-get install chromium)")
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as driver:
        yield driver


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    try:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:  # the suite says why and fails; it never skips
        pytest.fail(f"Chromium could not start for the console's browser tests: {exc}")
    yield launched
    await launched.close()


# The app and its HTTP client, in the console tests' shared event loop.
@pytest_asyncio.fixture(loop_scope="session")
async def running(app: Sanic) -> AsyncIterator[RunningApp]:
    async with RunningApp(app) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def client(running: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser, running: RunningApp) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(
        base_url=running.base_url, viewport=DESK, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    made.set_default_timeout(10_000)
    try:
        yield made
    finally:
        await made.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield opened
    # A script error or a refused resource (CSP) on a console page is a bug.
    unexpected = [e for e in errors if not _expected_console_error(e)]
    assert not unexpected, f"errors in the browser console: {unexpected}"


_EXPECTED = (
    re.compile(r"Failed to load resource: the server responded with a status of (401|403|404|409|422|429)"),
    re.compile(r"net::ERR_"),  # requests cut on purpose (offline tests, a closed stream)
)


def _expected_console_error(text: str) -> bool:
    return any(pattern.search(text) for pattern in _EXPECTED)


@dataclass
class Staff:
    account: Account
    username: str
    password: str = PASSWORD


async def staff(role: Role, username: str, node: str | None = None) -> Staff:
    account = await make_staff_with_password(username, role, PASSWORD, node)
    return Staff(account, username)


async def sign_in(page: Page, who: Staff, *, next_path: str = "/console/") -> None:
    """Sign in through the form, as a person would."""
    await page.goto(f"/console/login?next={quote(next_path, safe='/')}")
    await page.get_by_label("用户名").fill(who.username)
    await page.get_by_label("密码").fill(who.password)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(re.compile(re.escape(next_path.split("?")[0]) + r"(\?.*)?$"))


async def http_sign_in(client: httpx.AsyncClient, who: Staff) -> str:
    """Sign a plain HTTP client in through the form; returns the page's CSRF token."""
    form = await client.get("/console/login")
    pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert pre, form.text[:300]
    done = await client.post(
        "/console/login",
        data={"csrf": pre.group(1), "username": who.username, "password": who.password, "next": "/console/"},
    )
    assert done.status_code == 303, done.text[:300]
    home = await client.get("/console/", headers={"Accept": "text/html"})
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
    assert token, home.text[:300]
    return token.group(1)


def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get(SHOTS_ENV)
    folder = Path(configured) if configured else tmp_path_factory.getbasetemp() / "console-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def screenshot(page: Page, folder: Path, name: str) -> Path:
    """The page as it shows now, as a small PNG (64 colours: the README shows some of them)."""
    from io import BytesIO

    from PIL import Image

    target = folder / f"{name}.png"
    shot = Image.open(BytesIO(await page.screenshot(full_page=False))).convert("RGB")
    shot.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    return target


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shots_dir(tmp_path_factory)
