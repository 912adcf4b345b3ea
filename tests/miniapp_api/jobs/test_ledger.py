"""The employment service's ledger over HTTP: scoped to the caller's area (staff of another street see none of
these rows), by node one level below, occupation middle group and month; CSV and XLSX with formulas inert."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
from openpyxl import load_workbook
from sanic import Sanic

from identity.models import Node
from identity.roles import Role
from miniapp_api.jobs.candidates import candidate_id
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import PUBLIC
from tests.miniapp_api.jobs.test_applications import EMP, MINE, seeker

TENCENT = "91440300708461136T"
LEDGER = "/api/v1/jobs/ledger"


def window() -> dict[str, str]:
    today = seed.beijing_today()
    return {"from": (today - dt.timedelta(days=3)).isoformat(), "to": (today + dt.timedelta(days=1)).isoformat()}


async def busy_posting(app: Sanic, client: httpx.AsyncClient) -> seed.Firm:
    """A posting in GM0101 (6-18-02) with one application, one invitation accepted and hired."""
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    a, b = await seeker(app, 1), await seeker(app, 2)
    assert (await client.post(f"{PUBLIC}/{pid}/apply", headers=a.user.headers)).status_code == 201
    body = {"candidate": candidate_id(pid, b.account_id)}
    iid = (await client.post(f"{EMP}/postings/{pid}/invitations", json=body, headers=firm.employer)).json()["id"]
    assert (await client.post(f"{MINE}/{iid}/accept", headers=b.user.headers)).status_code == 200
    assert (await client.post(f"{EMP}/applications/{iid}/hire", headers=firm.employer)).status_code == 200
    return firm


async def test_staff_of_another_street_read_none_of_these_rows(app: Sanic, client: httpx.AsyncClient) -> None:
    await busy_posting(app, client)
    other = await seed.staff(app, "GM02")
    r = await client.get(LEDGER, params=window(), headers=other.headers)
    assert r.status_code == 200 and r.json()["items"] == []
    csv_text = (await client.get(LEDGER, params=window() | {"format": "csv"}, headers=other.headers)).text
    assert len(csv_text.strip().splitlines()) == 1  # the headings only
    for role in (Role.RESIDENT, Role.GRID_STAFF, Role.EMPLOYER):
        caller = await user(app, role, node="GM01" if role is Role.GRID_STAFF else None)
        assert (await client.get(LEDGER, params=window(), headers=caller.headers)).status_code == 403
    assert (await client.get(LEDGER, params=window())).status_code == 401


async def test_rows_by_node_occupation_and_month(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await busy_posting(app, client)
    month = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m")
    r = await client.get(LEDGER, params=window(), headers=firm.staff.headers)  # street GM01: by community
    assert r.status_code == 200, r.text
    [row] = r.json()["items"]
    assert row == {
        "month": month,
        "node": "GM0101",
        "node_name": row["node_name"],
        "occupation": "6-18",
        "occupation_name": row["occupation_name"],
        "postings": 1,
        "openings": 3,
        "applications": 1,
        "invitations": 1,
        "hires": 1,
    }
    assert row["occupation_name"]
    admin = await user(app, Role.ADMIN, node="GM")
    [by_street] = (await client.get(LEDGER, params=window(), headers=admin.headers)).json()["items"]
    assert (by_street["node"], by_street["hires"]) == ("GM01", 1)
    # Before the window: nothing.
    old = {"from": "2025-01-01", "to": "2025-02-01"}
    assert (await client.get(LEDGER, params=old, headers=firm.staff.headers)).json()["items"] == []


async def test_bad_ranges_are_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    officer = await seed.staff(app, "GM01")
    for params in (
        {"from": "2026-05-02", "to": "2026-05-01"},
        {"from": "2024-01-01", "to": "2026-01-01"},
        {"from": "2026-05-01"},
        {"from": "yesterday", "to": "2026-05-01"},
        {"from": "2026-05-01", "to": "2026-05-02", "format": "pdf"},
        {"from": "2026-05-01", "to": "2026-05-02", "node": "GM02"},
    ):
        r = await client.get(LEDGER, params=params, headers=officer.headers)
        assert r.status_code == 422, (params, r.text)


async def test_csv_and_xlsx_keep_formulas_inert(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await busy_posting(app, client)
    await Node.filter(code="GM0101").update(name='=HYPERLINK("http://evil.example","点我")')
    r = await client.get(LEDGER, params=window() | {"format": "csv"}, headers=firm.staff.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["月份", "节点编码", "节点"]
    assert rows[1][2].startswith("'=") and rows[1][-1] == "1"
    x = await client.get(LEDGER, params=window() | {"format": "xlsx"}, headers=firm.staff.headers)
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[1][2].startswith("'=") and cells[1][9] == 1  # type: ignore[union-attr]
