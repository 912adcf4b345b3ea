"""The scan page: camera (Chromium's fake camera fed a video of a real code), photo upload, and the
offline verdicts from the signed verifier bundle with the network cut."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, Playwright, expect

from identity.roles import Role
from qr import render
from tests.console.conftest import (
    CHROMIUM_ARGS,
    DESK,
    PHONE,
    chromium_path,
    http_sign_in,
    screenshot,
    sign_in,
    staff,
)
from tests.console.y4m import framed_code, write_y4m
from tests.factories import auth, id_number, make_account, token_for
from tests.support.app_server import RunningApp

INJECTION = "<img src=x onerror=alert(1)>"


async def register_bike(running: RunningApp, client: httpx.AsyncClient, n: int, **changes: Any) -> dict[str, Any]:
    """A resident registers an e-bike through the API; the answer carries its code's URL."""
    owner = await make_account(Role.RESIDENT)
    body: dict[str, Any] = {
        "owner": {"name": "张三", "id_number": id_number(n), "phone": f"1391234{n:04d}"},
        "brand": "雅迪",
        "model": "DE2",
        "colour": "白色",
        "frame_no": f"scan-2026 {n:06d}",
        "motor_no": f"M{n:08d}",
        "node": "GM010101",
    }
    body.update(changes)
    made = await client.post("/api/v1/ebikes", json=body, headers=auth(await token_for(running.app, owner)))
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


def code_png(path: Path, text: str) -> Path:
    path.write_bytes(render.png(text, size=480))
    return path


def forged(url: str) -> str:
    """The same code with one character of its signature changed."""
    head, _, signature = url.rpartition(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"


# Who may open it, and what the worker file is ---------------------------------------------------------


async def test_scan_page_needs_a_staff_session_and_its_worker_is_ours(client: httpx.AsyncClient) -> None:
    page = await client.get("/console/scan", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/console/login?next=/console/scan"
    worker = await client.get("/console/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "'unsafe-inline'" not in worker.headers["content-security-policy"]
    # The worker keeps the page and exactly the versioned files it loads (a new file, a new worker).
    assets = re.search(r"const ASSETS = (\[.*?\]);", worker.text)
    assert assets and '"/console/scan"' in assets.group(1)
    assert re.search(r"/console/static/js/verify\.js\?v=[0-9a-f]{12}", assets.group(1))
    assert re.search(r"/console/static/vendor/jsqr/jsQR\.js\?v=[0-9a-f]{12}", assets.group(1))


async def test_a_scan_from_the_console_needs_its_csrf_token_and_a_cross_site_one_sees_the_public_view(
    running: RunningApp, client: httpx.AsyncClient
) -> None:
    bike = await register_bike(running, client, 31)
    token = await http_sign_in(client, await staff(Role.OFFICER, "officer.csrf"))
    body = {"payload": bike["credential"]["url"]}
    for headers in ({}, {"X-CSRF-Token": "x" * 32}, {"X-CSRF-Token": token, "Origin": "https://evil.example"}):
        refused = await client.post("/api/v1/scan", json=body, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed", refused.text
    # A cross-site request is never signed in by the cookie: the public view, nothing about the owner.
    public_view = await client.post("/api/v1/scan", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert public_view.status_code == 200 and "owner" not in public_view.json()["view"]
    officer_view = await client.post("/api/v1/scan", json=body, headers={"X-CSRF-Token": token})
    assert officer_view.status_code == 200 and officer_view.json()["view"]["owner"]["name"] == "张*"


# Photo upload: the role view, user text shown as text --------------------------------------------------


async def test_photo_upload_shows_the_officers_view_with_text_as_text(
    page: Page, running: RunningApp, client: httpx.AsyncClient, tmp_path: Path, shots: Path
) -> None:
    bike = await register_bike(running, client, 11, model=INJECTION, colour="蓝色")
    officer = await staff(Role.OFFICER, "officer.photo")
    await sign_in(page, officer, next_path="/console/scan")
    await expect(page.get_by_role("heading", name="扫码核验")).to_be_visible()
    await page.locator("#photo").set_input_files(str(code_png(tmp_path / "bike.png", bike["credential"]["url"])))
    result = page.locator("#result")
    await expect(result.locator(".verdict")).to_have_text("✓ 有效的光明区电动单车电子身份证")
    await expect(result).to_contain_text("蓝色")
    await expect(result).to_contain_text("车架号")
    # The officer's view: the owner masked, never in full.
    await expect(result).to_contain_text("张*")
    await expect(result.get_by_text(INJECTION, exact=True)).to_be_visible()
    assert await result.locator("img").count() == 0
    await screenshot(page, shots, "scan-desk")
    await page.set_viewport_size(PHONE)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await screenshot(page, shots, "scan-phone")
    # A photo with no code in it says so.
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (200, 200), "white").save(blank)
    await page.locator("#photo").set_input_files(str(blank))
    await expect(result.locator(".verdict")).to_have_text("图片中未找到二维码，请对准二维码重新拍照。")
    await page.set_viewport_size(DESK)


# The fake camera --------------------------------------------------------------------------------------


async def test_the_camera_reads_a_real_code_and_shows_the_bikes_role_view(
    playwright: Playwright, running: RunningApp, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    bike = await register_bike(running, client, 12, brand="爱玛", colour="红色")
    video = write_y4m(framed_code(render.png(bike["credential"]["url"], size=480)), tmp_path / "code.y4m")
    officer = await staff(Role.OFFICER, "officer.camera")
    camera_browser = await playwright.chromium.launch(
        executable_path=chromium_path(),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        context = await camera_browser.new_context(base_url=running.base_url, viewport=DESK, locale="zh-CN")
        context.set_default_timeout(10_000)
        await context.grant_permissions(["camera"], origin=running.base_url)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        scans: list[str] = []
        page.on("request", lambda r: scans.append(r.url) if r.url.endswith("/api/v1/scan") else None)
        await sign_in(page, officer, next_path="/console/scan")
        await page.get_by_role("button", name="打开摄像头").click()
        result = page.locator("#result")
        await expect(result.locator(".verdict")).to_have_text("✓ 有效的光明区电动单车电子身份证")
        await expect(result).to_contain_text("爱玛")
        await expect(result).to_contain_text("红色")
        await expect(result).to_contain_text("车主")
        # The camera keeps reading the same code: it is not sent again within a few seconds.
        await expect(page.locator("#camera-state")).to_contain_text("5 秒内不重复提交")
        assert len(scans) == 1, scans
        await page.get_by_role("button", name="关闭摄像头").click()
        await expect(page.locator("#camera-state")).to_have_text("摄像头已关闭。")
        assert not errors, errors
    finally:
        await camera_browser.close()


# Offline at a gate ---------------------------------------------------------------------------------------


async def test_offline_the_page_still_tells_genuine_revoked_and_forged_codes_apart(
    page: Page, running: RunningApp, client: httpx.AsyncClient, tmp_path: Path, shots: Path
) -> None:
    genuine = await register_bike(running, client, 21)
    revoked = await register_bike(running, client, 22)
    admin = await make_account(Role.ADMIN)
    done = await client.post(
        f"/api/v1/credentials/{revoked['credential']['id']}/revoke",
        json={"reason": "stolen_sticker"},
        headers=auth(await token_for(running.app, admin)),
    )
    assert done.status_code == 200, done.text
    replaced = await register_bike(running, client, 23)
    done = await client.post(
        f"/api/v1/credentials/{replaced['credential']['id']}/reissue", headers=auth(await token_for(running.app, admin))
    )
    assert done.status_code == 200, done.text
    officer = await staff(Role.OFFICER, "officer.offline")
    await sign_in(page, officer, next_path="/console/scan")
    await expect(page.locator("#offline-state")).to_contain_text("离线核验已就绪")
    await expect(page.locator("#offline-state")).to_contain_text("记录 2 条")

    # The network is cut (the browser's and its service worker's), and the server is gone too.
    context = page.context
    await context.set_offline(True)
    await running.stop()
    result = page.locator("#result")
    verdict = result.locator(".verdict")
    photo = page.locator("#photo")
    await photo.set_input_files(str(code_png(tmp_path / "genuine.png", genuine["credential"]["url"])))
    await expect(verdict).to_have_text("✓ 真码：签名有效，未在注销名单中。")
    await expect(result).to_contain_text("离线核验结果")
    facts = result.locator("dl.facts")
    await expect(facts).to_contain_text("序号1")
    for personal in ("车主", "张", "车架号"):  # nothing personal offline: the bundle has none
        await expect(facts).not_to_contain_text(personal)
    # The page itself opens from the service worker.
    await page.reload()
    assert await page.evaluate("navigator.serviceWorker.controller !== null")
    await expect(page.get_by_role("heading", name="扫码核验")).to_be_visible()
    await expect(page.locator("#offline-state")).to_contain_text("离线核验已就绪")
    await photo.set_input_files(str(code_png(tmp_path / "revoked.png", revoked["credential"]["url"])))
    await expect(verdict).to_have_text("✗ 此码已注销，不再有效。")
    await screenshot(page, shots, "scan-offline-desk")
    await photo.set_input_files(str(code_png(tmp_path / "forged.png", forged(genuine["credential"]["url"]))))
    await expect(verdict).to_have_text("✗ 此码无法验证，可能是伪造的。请勿信任。")
    await photo.set_input_files(str(code_png(tmp_path / "old.png", replaced["credential"]["url"])))
    await expect(verdict).to_have_text("✗ 此码已被新码替换，不再有效。")


# The verifier's own checks, run in the browser ---------------------------------------------------------


async def test_the_offline_verifier_refuses_forged_documents_and_resyncs_when_the_feed_starts_over(
    page: Page, running: RunningApp, client: httpx.AsyncClient
) -> None:
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from playwright.async_api import Route

    from qr import feed, service

    bike = await register_bike(running, client, 41)
    revoked = await register_bike(running, client, 42)
    admin = await make_account(Role.ADMIN)
    done = await client.post(
        f"/api/v1/credentials/{revoked['credential']['id']}/revoke",
        json={"reason": "lost"},
        headers=auth(await token_for(running.app, admin)),
    )
    assert done.status_code == 200, done.text
    kid = service.keyring().active_kid
    now = int(time.time())
    document = {"iss": running.app.ctx.settings.public_base_url, "iat": now, "kinds": {}, "jwks": {"keys": []}}
    bundle_typ = "gmid-verifier-bundle+jwt"
    stranger = Ed25519PrivateKey.generate()
    none_header = jwt.utils.base64url_encode(f'{{"alg":"none","kid":"{kid}","typ":"{bundle_typ}"}}'.encode())
    documents = {
        "genuine": feed.sign_document(document, typ=bundle_typ),
        "foreign_key": jwt.encode(
            {**document, "exp": now + 60}, stranger, algorithm="EdDSA", headers={"kid": kid, "typ": bundle_typ}
        ),
        "wrong_typ": feed.sign_document(document, typ="gmid-revocations+jwt"),
        "expired": feed.sign_document({**document, "iat": now - 90_000}, typ=bundle_typ),
        "alg_none": f"{none_header.decode()}.{jwt.utils.base64url_encode(b'{}').decode()}.",
    }
    token = bike["credential"]["url"].rpartition("/q/")[2]
    officer = await staff(Role.OFFICER, "officer.verifier")
    await sign_in(page, officer, next_path="/console/scan")
    await expect(page.locator("#offline-state")).to_contain_text("离线核验已就绪")
    answers = await page.evaluate(
        """async ([documents, token, issuer]) => {
          const v = await import("/console/static/js/verify.js");
          const keys = (await (await fetch("/.well-known/jwks.json")).json()).keys;
          const why = async (work) => { try { await work(); return "accepted"; } catch (e) { return e.code; } };
          const out = {};
          for (const [name, jws] of Object.entries(documents)) {
            out[name] = await why(() => v.verifyDocument(jws, keys, "gmid-verifier-bundle+jwt"));
          }
          out.foreign_url = await why(() => v.tokenFromPayload(`https://evil.example/q/${token}`, issuer));
          out.own_url = await why(() => v.tokenFromPayload(`${issuer}/q/${token}`, issuer));
          const [h, p, s] = token.split(".");
          const typ = v.b64urlEncode(new TextEncoder().encode(JSON.stringify({ ...JSON.parse(atob(h)), typ: "JWT" })));
          out.extra_header = await why(() => v.verifyToken(`${typ}.${p}.${s}`, keys));
          out.genuine_code = await why(() => v.verifyToken(token, keys));
          return out;
        }""",
        [documents, token, running.app.ctx.settings.public_base_url],
    )
    assert answers == {
        "genuine": "accepted",
        "foreign_key": "bad_signature",
        "wrong_typ": "wrong_typ",
        "expired": "expired",
        "alg_none": "algorithm_not_allowed",
        "foreign_url": "foreign_url",
        "own_url": "accepted",
        "extra_header": "malformed",
        "genuine_code": "accepted",
    }

    # The feed's head is below where this browser stands (the list started over): resync from zero.
    fake_used: list[str] = []

    async def restarted_feed(route: Route) -> None:
        if fake_used:
            await route.fallback()
            return
        fake_used.append(route.request.url)
        restart = {"iss": document["iss"], "iat": now, "since": 1, "until": 0, "head": 0, "more": False, "entries": []}
        body = feed.sign_document(restart, typ="gmid-revocations+jwt")
        await route.fulfill(status=200, body=body, headers={"Content-Type": "application/jose"})

    await page.route("**/api/v1/qr/revocations*", restarted_feed)
    async with page.expect_request("**/api/v1/qr/verifier-bundle") as bundle_again:
        await page.evaluate("window.dispatchEvent(new Event('online'))")
    assert (await bundle_again.value).url.endswith("/api/v1/qr/verifier-bundle")
    assert fake_used and "since=" in fake_used[0]
    await expect(page.locator("#offline-state")).to_contain_text("记录 1 条")

    # A restored database announces a new epoch: the browser, asking with its old one, resyncs from zero.
    old_epoch = (await feed.head_and_epoch())[1]
    await feed.new_epoch()
    async with (
        page.expect_request("**/api/v1/qr/verifier-bundle") as after_restore,
        page.expect_request(f"**/api/v1/qr/revocations?since=*&epoch={old_epoch}"),
    ):
        await page.evaluate("window.dispatchEvent(new Event('online'))")
    assert (await after_restore.value).url.endswith("/api/v1/qr/verifier-bundle")
    await expect(page.locator("#offline-state")).to_contain_text("记录 1 条")
    # Signing out forgets the page the service worker kept (it carries the session's menu and token).
    assert await page.evaluate("async () => !!(await caches.match('/console/scan'))")
    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(re.compile(r"/console/login$"))
    gone = await page.evaluate(
        """async () => {
          for (let tries = 0; tries < 100; tries++) {  // the worker deletes it while the sign-out goes on
            if (!(await caches.match("/console/scan"))) return true;
            await new Promise((done) => setTimeout(done, 50));
          }
          return false;
        }"""
    )
    assert gone
