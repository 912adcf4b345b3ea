"""An attacker's review of the staff console (issue 18): each test is a finding, failing before its fix."""

from __future__ import annotations

import io
import re
import time
import zipfile

import httpx
from openpyxl.utils import get_column_letter
from playwright.async_api import Page, expect

from identity import web_sessions
from identity.audit import AuditEntry
from identity.roles import Role
from tests.console.conftest import http_sign_in, sign_in, staff
from tests.factories import auth, id_number, load_demo_hierarchy, make_account, token_for
from tests.miniapp_api.buildings.conftest import HEADER
from tests.miniapp_api.ebikes.conftest import registration, user
from tests.support.app_server import RunningApp

IMPORT = "/api/v1/buildings/import"
XLSX = {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

# A minimal workbook around one sheet's XML ------------------------------------------------------------

_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
        '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
        'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def workbook(*, dimension: str, rows: dict[int, list[str]], filler: str = "") -> bytes:
    """An XLSX whose sheet declares ``dimension`` and holds text cells from column A in the rows given."""
    cells = "".join(
        f'<row r="{n}">' + "".join(_cell(f"{get_column_letter(i)}{n}", t) for i, t in enumerate(texts, 1)) + "</row>"
        for n, texts in sorted(rows.items())
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{filler}{cells}</sheetData></worksheet>'
    )
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in _PARTS.items():
            archive.writestr(name, text)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return data.getvalue()


async def _district_admin(running: RunningApp) -> dict[str, str]:
    await load_demo_hierarchy()
    return auth(await token_for(running.app, await make_account(Role.ADMIN)))


# Finding 1: the building import reads whatever size a file declares ------------------------------------


async def test_a_tiny_xlsx_declaring_a_huge_sheet_is_refused_at_once(
    running: RunningApp, client: httpx.AsyncClient
) -> None:
    headers = await _district_admin(running)
    # 1.5 KB that claims 16,384 columns by a million rows, one cell on the last row: read naively, every
    # row is padded to the claimed width (billions of cells: minutes of CPU and gigabytes in one worker).
    bomb = workbook(dimension="A1:XFD1048576", rows={1: HEADER, 1_048_576: ["x"]})
    assert len(bomb) < 4096
    started = time.monotonic()
    answer = await client.post(IMPORT, content=bomb, headers=headers | XLSX)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "import_file_invalid"
    assert "50000 lines" in answer.json()["error"]["message"]
    assert time.monotonic() - started < 5


async def test_an_xlsx_unpacking_to_more_than_64_mb_is_refused_before_it_is_parsed(
    running: RunningApp, client: httpx.AsyncClient
) -> None:
    headers = await _district_admin(running)
    bomb = workbook(dimension="A1:O2", rows={1: HEADER, 2: ["x"]}, filler=" " * (70 * 1024 * 1024))
    assert len(bomb) < 1024 * 1024  # under the body limit: deflate packs 70 MB of blanks into ~70 KB
    answer = await client.post(IMPORT, content=bomb, headers=headers | XLSX)
    assert answer.status_code == 422, answer.text
    assert "unpacks to more than 64 MB" in answer.json()["error"]["message"]


async def test_a_csv_of_more_lines_than_a_district_has_buildings_is_refused_whole(
    running: RunningApp, client: httpx.AsyncClient
) -> None:
    headers = await _district_admin(running)
    body = (",".join(HEADER) + "\n" + "x\n" * 50_000).encode()
    answer = await client.post(IMPORT, content=body, headers=headers | {"Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.text
    assert "50000 lines" in answer.json()["error"]["message"]


# Finding 2: the scan page the service worker kept outlives its account ----------------------------------

KEPT_PAGE = """async () => {
  const kept = await caches.match("/console/scan");
  return kept ? await kept.text() : "";
}"""


async def test_signing_in_forgets_the_page_the_service_worker_kept_for_the_previous_account(page: Page) -> None:
    first = await staff(Role.OFFICER, "officer.review.first")
    second = await staff(Role.OFFICER, "officer.review.second")
    await sign_in(page, first, next_path="/console/scan")
    await expect(page.locator("#offline-state")).to_contain_text("离线核验已就绪")
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token and token in await page.evaluate(KEPT_PAGE)  # the worker keeps the page with the token
    # The first session ends without the sign-out button (the browser closed, or it idled out), and
    # somebody else signs in on the same browser: what the worker kept of the first must be gone, or it
    # serves the first account's page (menu, CSRF token) to the next one offline or on a 5xx.
    await page.context.clear_cookies()
    await sign_in(page, second)
    assert token not in await page.evaluate(KEPT_PAGE)
    # A sign-out clears what the browser keeps of the console too, whether the worker sees it or not.
    await page.goto("/console/scan")
    await expect(page.locator("#offline-state")).to_contain_text("离线核验已就绪")
    assert await page.evaluate(KEPT_PAGE)
    signed_out = await page.request.post(
        "/console/logout",
        form={"csrf": await page.locator('meta[name="csrf-token"]').get_attribute("content") or ""},
        max_redirects=0,
    )
    assert signed_out.status == 303
    assert signed_out.headers.get("clear-site-data") == '"cache", "storage"'


# Finding 3: signing in over a live session left the old one alive ---------------------------------------


async def test_signing_in_again_ends_the_session_the_browser_had(client: httpx.AsyncClient) -> None:
    first = await staff(Role.OFFICER, "officer.review.over1")
    second = await staff(Role.OFFICER, "officer.review.over2")
    await http_sign_in(client, first)
    old = client.cookies.get(web_sessions.COOKIE)
    assert old
    # The same browser signs in as somebody else (the form posted with the first cookie still sent).
    async with httpx.AsyncClient(base_url=str(client.base_url)) as browser:
        form = await browser.get("/console/login")
        pre = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert pre
        browser.cookies.set(web_sessions.COOKIE, old)
        data = {"csrf": pre.group(1), "username": second.username, "password": second.password, "next": "/console/"}
        done = await browser.post("/console/login", data=data)
        assert done.status_code == 303
        assert f"{web_sessions.COOKIE}=" in done.headers.get("set-cookie", "")
    # Whoever kept a copy of the first cookie holds nothing any more.
    async with httpx.AsyncClient(base_url=str(client.base_url), cookies={web_sessions.COOKIE: old}) as copy:
        answer = await copy.get("/api/v1/me")
        assert answer.status_code == 401, answer.text


# Finding 4: the police lookup sent the owner's ID number in the address ------------------------------

LOOKUP = "/api/v1/police/ebikes/lookup"


async def test_the_lookup_page_never_puts_an_id_number_in_an_address(
    running: RunningApp, client: httpx.AsyncClient, page: Page
) -> None:
    owner = await user(running.app, Role.RESIDENT)
    made = await client.post("/api/v1/ebikes", json=registration(41), headers=owner.headers)
    assert made.status_code == 201, made.text
    police = await staff(Role.POLICE, "police.review.lookup")
    addresses: list[str] = []
    page.on("request", lambda request: addresses.append(request.url))
    await sign_in(page, police, next_path="/console/police")
    await page.get_by_label("查询方式").select_option("owner_id_number")
    await page.get_by_label("查询内容").fill(id_number(41))
    await page.get_by_label("查询事由").fill("盗窃案件侦查")
    await page.get_by_label("案件编号").fill("GM2026-1205-41")
    await page.get_by_role("button", name="查询").click()
    await expect(page.locator(".owner")).to_contain_text("13912340041")
    # The number was sent (the answer came), but in a body: no address, log line or history holds it.
    assert not [address for address in addresses if id_number(41) in address]
    assert any(LOOKUP in address for address in addresses)
    entries = list(await AuditEntry.filter(action="police.ebike_lookup", actor=police.account.public_id))
    assert [(e.details["by"], e.details["outcome"]) for e in entries] == [("owner_id_number", "ok")]


async def test_the_lookup_by_body_keeps_every_check_of_the_lookup_by_query(
    running: RunningApp, client: httpx.AsyncClient
) -> None:
    await load_demo_hierarchy()
    officer = await make_account(Role.OFFICER, node="GM0101")
    police = await make_account(Role.POLICE, node="GM01")
    asked = {"owner_id_number": id_number(42), "reason": "盗窃案件侦查", "case_no": "GM2026-42"}
    # Another role is refused, and the attempt audited (what it asked for, masked).
    refused = await client.post(LOOKUP, json=asked, headers=auth(await token_for(running.app, officer)))
    assert refused.status_code == 403, refused.text
    entry = await AuditEntry.filter(action="police.ebike_lookup", actor=officer.public_id).first()
    assert entry is not None and entry.details["outcome"] == "refused_role"
    assert entry.details["by"] == "owner_id_number" and id_number(42) not in str(entry.details)
    headers = auth(await token_for(running.app, police))
    # No reason: refused as by query. Nested, oversized or unknown fields: refused and audited.
    no_reason = await client.post(LOOKUP, json={"plate": "粤B·42042", "case_no": "GM2026-42"}, headers=headers)
    assert (no_reason.status_code, no_reason.json()["error"]["code"]) == (422, "reason_required")
    for bad in (
        asked | {"owner_id_number": {"$ne": None}},
        asked | {"plate": ["a"] * 10_000},
        asked | {"qr": "x" * 5000},
        asked | {"extra": 1},
    ):
        answer = await client.post(LOOKUP, json=bad, headers=headers)
        assert answer.status_code == 422, answer.text
    not_json = await client.post(LOOKUP, content=b"owner_id_number=1", headers=headers)
    assert not_json.status_code == 415
    outcomes = [
        e.details["outcome"] for e in await AuditEntry.filter(action="police.ebike_lookup", actor=police.public_id)
    ]
    assert outcomes == ["refused_no_reason"] + ["invalid_query"] * 5
    found = await client.post(LOOKUP, json=asked, headers=headers)
    assert found.status_code == 200, found.text
    assert found.headers["cache-control"] == "no-store" and found.json()["count"] == 0


# Finding 5: a sibling site's page could make requests the console cookie signed in ---------------------


async def test_a_same_site_page_cannot_use_the_console_cookie_beyond_a_page_navigation(
    client: httpx.AsyncClient,
) -> None:
    police = await staff(Role.POLICE, "police.review.samesite")
    await http_sign_in(client, police)
    # Another host of the same site (a sibling subdomain, its XSS) embeds the lookup as an image: the
    # SameSite=Strict cookie is sent along. It must not sign the request in: no lookup spent or audited
    # in this officer's name.
    embedded = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    answer = await client.get(
        "/api/v1/police/ebikes",
        params={"owner_id_number": id_number(51), "reason": "盗窃案件侦查", "case_no": "GM2026-51"},
        headers=embedded,
    )
    assert answer.status_code == 401, answer.text
    assert not await AuditEntry.filter(action="police.ebike_lookup", actor=police.account.public_id).exists()
    fetched = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert (await client.get("/api/v1/me", headers=fetched)).status_code == 401
    # A link from there to a console page still opens it signed in (a top-level navigation reads a page).
    followed = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    page = await client.get("/console/police", headers=followed | {"Accept": "text/html"})
    assert page.status_code == 200
    # The console's own requests are signed in as before.
    own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    assert (await client.get("/api/v1/me", headers=own)).status_code == 200
