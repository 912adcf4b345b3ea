"""`POST /api/v1/buildings/import`: the district administration uploads a CSV or XLSX file and gets the
report (what was imported, the refused rows by line, column and reason); nobody else may."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import openpyxl
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.buildings.models import Building
from tests.factories import auth, load_demo_hierarchy, make_account, token_for
from tests.miniapp_api.buildings.conftest import HEADER, NAME, row, write_csv

IMPORT = "/api/v1/buildings/import"
CSV = {"Content-Type": "text/csv"}


async def test_only_the_district_administration_imports(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await load_demo_hierarchy()
    body = write_csv(tmp_path / "b.csv", [row(1)]).read_bytes()
    for role, node, status in ((Role.OFFICER, None, 403), (Role.GRID_STAFF, None, 403), (Role.ADMIN, "GM01", 403)):
        headers = auth(await token_for(app, await make_account(role, node=node))) | CSV
        answer = await client.post(IMPORT, content=body, headers=headers)
        assert answer.status_code == status, answer.text
    assert (await client.post(IMPORT, content=body, headers=CSV)).status_code == 401
    assert not await Building.exists()


async def test_the_report_names_refused_rows_never_their_values(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await load_demo_hierarchy()
    headers = auth(await token_for(app, await make_account(Role.ADMIN)))
    bad_phone = row(3, landlord_phone="12345")
    body = write_csv(tmp_path / "b.csv", [row(1), row(2), bad_phone, row(4, grid="GM999999")]).read_bytes()
    answer = await client.post(IMPORT, content=body, headers=headers | CSV)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["rows"], report["imported"], report["created"], report["rejected_lines"]) == (4, 2, 2, 2)
    assert {(r["line"], r["column"]) for r in report["rejected"]} == {(4, "landlord_phone"), (5, "grid")}
    assert "12345" not in answer.text and NAME not in answer.text
    assert await Building.filter(code__in=["GM0101010001", "GM0101010002"]).count() == 2
    entry = await AuditEntry.get(action="buildings.import")
    assert entry.details["created"] == 2

    # XLSX too; a re-import updates in place.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    sheet.append([row(1, floors="7").get(c, "") for c in HEADER])
    data = io.BytesIO()
    book.save(data)
    xlsx = {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    answer = await client.post(IMPORT, content=data.getvalue(), headers=headers | xlsx)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["updated"], answer.json()["created"]) == (1, 0)
    assert (await Building.get(code="GM0101010001")).floors == 7


async def test_files_that_cannot_be_used_are_refused_whole(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    headers = auth(await token_for(app, await make_account(Role.ADMIN)))
    for content, kind, status in (
        (b"code,address\n1,x\n", CSV, 422),  # required columns missing
        (b"\x00\x01binary", CSV, 422),
        (
            b"PK\x03\x04not really a workbook",
            {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
            422,
        ),
        (b"code\n", {"Content-Type": "application/json"}, 415),
        (b"x" * (2 * 1024 * 1024), CSV, 413),
    ):
        answer = await client.post(IMPORT, content=content, headers=headers | kind)
        assert answer.status_code == status, (content[:20], answer.text[:200])
    assert not await Building.exists()
