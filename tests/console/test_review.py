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
from identity.roles import Role
from tests.console.conftest import http_sign_in, sign_in, staff
from tests.factories import auth, load_demo_hierarchy, make_account, token_for
from tests.miniapp_api.buildings.conftest import HEADER
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
