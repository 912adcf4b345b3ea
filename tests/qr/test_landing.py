"""The /q/ page a phone camera opens, beside POST /api/v1/scan: for every status of a code the page
tells an anonymous finder what the scan API tells them, and the page is locked down (strict CSP, no
framing, no Referer, everything escaped)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from qr import codec, kinds, service
from qr.kinds import KindSpec, ScanContext
from qr.models import Credential
from tests.factories import auth, make_account, token_for
from tests.miniapp_api.ebikes.conftest import register, user

HOSTILE = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>"


def csp_of(response: httpx.Response) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        policy[name] = values
    return policy


def assert_locked_down(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = csp_of(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'none'"]
    assert "script-src" not in policy  # default-src 'none': no script at all
    assert not any("unsafe" in v or v in ("*", "data:", "'self'") for values in policy.values() for v in values)
    page = response.text
    assert "<script" not in page.lower()
    assert not re.search(r"<[^>]+\son\w+\s*=", page), "no event handler attributes"
    assert not re.search(r"<[^>]+\sstyle\s*=", page), "no style attributes (the CSP would drop them)"
    # The one <style> element is exactly what the CSP's hash allows.
    [style] = re.findall(r"<style>(.*?)</style>", page, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == [f"'sha256-{digest}'"]


def notice_of(api: httpx.Response) -> str:
    body = api.json()
    text: str = body["message"] if api.status_code == 200 else body["error"]["details"]["notice"]
    return text


async def side_by_side(client: httpx.AsyncClient, token: str) -> tuple[httpx.Response, httpx.Response]:
    api = await client.post("/api/v1/scan", json={"payload": token})
    page = await client.get(f"/q/{token}")
    assert page.status_code == api.status_code, (api.text, page.text)
    assert_locked_down(page)
    assert html.escape(notice_of(api)) in page.text, (notice_of(api), page.text)
    return api, page


async def test_each_status_reads_the_same_on_the_page_and_in_the_scan_api(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    owners = [await user(app, Role.RESIDENT) for _ in range(4)]
    valid_bike, stolen_bike, gone_bike, sold_bike = [await register(client, o, n) for n, o in enumerate(owners, 1)]
    token_of = {b["id"]: b["credential"]["url"].rsplit("/q/", 1)[1] for b in (valid_bike, stolen_bike, gone_bike)}
    old_sold_token = sold_bike["credential"]["url"].rsplit("/q/", 1)[1]

    raised = await client.post(
        f"/api/v1/ebikes/{stolen_bike['id']}/alarm",
        json={"lost_at": "2026-11-25T09:30:00+08:00", "location": "光明大街", "description": "锁在楼下"},
        headers=owners[1].headers,
    )
    assert raised.status_code == 201, raised.text
    assert (await client.delete(f"/api/v1/ebikes/{gone_bike['id']}", headers=owners[2].headers)).status_code == 200
    await service.reissue(public_id=sold_bike["credential"]["id"])
    orphan = await service.issue(kind="building", subject_id="no-such-building")  # its subject is gone
    genuine_unknown = codec.sign(codec.Claims(1, codec.new_public_id(), 1, 1_767_225_600), service.keyring())
    forged = token_of[valid_bike["id"]][:-5] + (
        "AAAAA" if not token_of[valid_bike["id"]].endswith("AAAAA") else "BBBBB"
    )

    # Valid: green, the bike's kind and its number.
    api, page = await side_by_side(client, token_of[valid_bike["id"]])
    assert (api.status_code, api.json()["alert"]) == (200, None)
    assert 'class="ok"' in page.text and "✓" in page.text and 'role="alert"' not in page.text

    # Stolen: the page says so in red first, tells the finder to call the police, and names no one.
    api, page = await side_by_side(client, token_of[stolen_bike["id"]])
    body = api.json()
    assert (api.status_code, body["valid"], body["alert"]) == (200, True, "stolen")
    assert body["message"] == body["view"]["message"] and "110" in body["message"]
    assert 'role="alert"' in page.text and "110" in page.text
    assert "✓" not in page.text and "有效" not in page.text
    for private in ("张三", "13912340002", "锁在楼下", "光明大街", stolen_bike["frame_no"]):
        assert private not in page.text and private not in api.text

    # Deregistered (revoked), replaced (superseded), not in the register, forged, junk.
    for token, status, code in (
        (token_of[gone_bike["id"]], 410, "revoked"),
        (old_sold_token, 410, "superseded"),
        (genuine_unknown, 404, "not_found"),
        (forged, 422, "bad_signature"),
        ("not-a-code", 400, "malformed"),
    ):
        api, page = await side_by_side(client, token)
        assert (api.status_code, api.json()["error"]["code"]) == (status, code)
        assert 'class="bad"' in page.text and "✓" not in page.text and 'class="ok"' not in page.text

    # A genuine code whose subject left the register: not "valid and registered" on either side.
    api, page = await side_by_side(client, orphan.token)
    assert (api.status_code, api.json()["alert"]) == (200, "not_registered")
    assert 'role="alert"' in page.text and "✓" not in page.text


@pytest.fixture
def hostile_kind() -> Iterator[KindSpec]:
    """A kind whose every printed text is markup, and whose view raises an alert in markup."""

    async def view(credential: Credential, context: ScanContext) -> dict[str, Any]:
        return {"alert": "stolen", "message": HOSTILE, "kind": "hostile"}

    spec = kinds.register(KindSpec("hostile", 250, HOSTILE, HOSTILE, resolver=view), replace=True)
    yield spec
    kinds.unregister("hostile")


async def test_the_page_escapes_everything_it_prints(client: httpx.AsyncClient, hostile_kind: KindSpec) -> None:
    credential = await service.issue(kind="hostile", subject_id="x")
    api, page = await side_by_side(client, credential.token)
    assert api.json()["message"] == HOSTILE
    assert "<script>" not in page.text and "<img" not in page.text
    assert html.escape(HOSTILE) in page.text
    # A token in the address that is markup itself is not echoed.
    response = await client.get("/q/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert response.status_code == 400
    assert_locked_down(response)
    assert "alert(1)" not in response.text


# Every HTML page the app serves ------------------------------------------------------------------------


async def test_every_html_page_the_app_documents_cannot_be_framed(app: Sanic, client: httpx.AsyncClient) -> None:
    # Asked for as a browser by a district administrator, so the console's pages answer as pages (a page
    # the role may not open answers its HTML error page, which must not be framed either).
    admin = await make_account(Role.ADMIN, node="GM")
    as_browser = {**auth(await token_for(app, admin)), "Accept": "text/html"}
    document = (await client.get("/docs/openapi.json")).json()
    pages = [
        path
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if method == "get"
        and any("text/html" in (r.get("content") or {}) for r in operation.get("responses", {}).values())
    ]
    assert {"/q/{token}", "/docs"} <= set(pages) or {"/q/{token}", "/docs/"} <= set(pages), pages
    for path in pages:
        response = await client.get(re.sub(r"\{[^}]+\}", "x", path), headers=as_browser)
        assert response.headers["content-type"].startswith("text/html"), path
        assert response.headers["x-frame-options"] == "DENY", path
        assert csp_of(response)["frame-ancestors"] == ["'none'"], path
        assert "<script" not in response.text.lower() or "script-src" in csp_of(response), path


async def test_the_docs_page_allows_only_what_swagger_ui_needs(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    policy = csp_of(response)
    assert policy["default-src"] == ["'none'"]
    assert response.headers["referrer-policy"] == "no-referrer"
    # Scripts: the CDN's Swagger UI bundle, and the one inline script by its hash (no 'unsafe-inline').
    inline = re.findall(r"<script>(.*?)</script>", response.text, flags=re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert sorted(policy["script-src"]) == sorted(["https://unpkg.com", f"'sha256-{digest}'"])
    external = re.findall(r'<script src="([^"]+)"', response.text) + re.findall(
        r'<link[^>]+href="([^"]+)"', response.text
    )
    assert external and all(url.startswith("https://unpkg.com/") for url in external)
    assert policy["connect-src"] == ["'self'"]  # the document, and "Try it out"
    assert policy["base-uri"] == policy["form-action"] == policy["frame-ancestors"] == ["'none'"]


async def test_an_html_answer_without_its_own_policy_still_cannot_be_framed(settings: Any) -> None:
    """The app's response middleware: any text/html answer gets frame protection by default."""
    from sanic.response import html as html_response

    from server.app import create_app
    from server.auth import public, token_ignored
    from tests.support.app_server import RunningApp

    app = create_app(settings)

    @public
    @token_ignored
    async def bare_page(request: object) -> Any:
        return html_response("<p>a page written without any headers</p>")

    app.add_route(bare_page, "/test-bare-page", name="test_bare_page")
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.get("/test-bare-page")
        assert response.status_code == 200
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
        api = await http.get("/healthz")
        assert "x-frame-options" not in api.headers  # JSON answers are not pages
