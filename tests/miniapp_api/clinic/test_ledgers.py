"""Ledgers (台账) over HTTP: by week or month × node × category, with the figures the district follows
(count, open, breached, completion and 退单 rates, handling time, satisfaction), as JSON, CSV and XLSX,
scoped by the caller's node."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import httpx
from openpyxl import load_workbook
from sanic import Sanic

from identity.models import Node
from identity.roles import Role
from miniapp_api.reports.models import Report, ReportEvent
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_closed_loop import move, submit

BEIJING = dt.timezone(dt.timedelta(hours=8))
MONDAY = dt.datetime(2026, 11, 16, 10, 0, tzinfo=BEIJING)  # ISO week 2026-W47


async def filed(client: httpx.AsyncClient, who: User, at: dt.datetime, **changes: Any) -> dict[str, Any]:
    report = await submit(client, who, **changes)
    await Report.filter(public_id=report["id"]).update(created_at=at)
    return report


async def resolve(client: httpx.AsyncClient, grid: User, report_id: str, *, hours: float) -> None:
    for action, body in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": "办结"})):
        assert (await move(client, grid, report_id, action=action, **body)).status_code == 200
    stored = await Report.get(public_id=report_id)
    await ReportEvent.filter(report_id=stored.id, action="resolve").update(
        at=stored.created_at + dt.timedelta(hours=hours)
    )


async def test_a_weekly_ledger_by_grid_and_category_with_its_figures(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM0101")  # the community: both its grids
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")

    # Grid 1, urban construction, week 47: four reports.
    done_fast = await filed(client, resident, MONDAY)
    done_slow = await filed(client, resident, MONDAY + dt.timedelta(days=1))
    rejected = await filed(client, resident, MONDAY + dt.timedelta(days=2))
    still_open = await filed(client, resident, MONDAY + dt.timedelta(days=3))
    await resolve(client, grid, done_fast["id"], hours=2)
    await resolve(client, grid, done_slow["id"], hours=30)
    assert (await move(client, resident, done_fast["id"], action="confirm", satisfaction=5)).status_code == 200
    assert (await move(client, resident, done_slow["id"], action="confirm", satisfaction=2)).status_code == 200
    for action, body in (("accept", {}), ("dispatch", {}), ("reject", {"note": "不属于本部门"})):
        assert (await move(client, grid, rejected["id"], action=action, **body)).status_code == 200
    stored = await Report.get(public_id=still_open["id"])
    await ReportEvent.create(
        report_id=stored.id, at=stored.created_at, actor="system", role="system", action="escalate",
        from_state="submitted", to_state="submitted",
    )  # fmt: skip
    # A duplicate merged into another counts as filed, not as work of its own.
    duplicate = await filed(client, resident, MONDAY + dt.timedelta(days=3))
    assert (await move(client, grid, duplicate["id"], action="merge", merge_into=still_open["id"])).status_code == 200
    # Grid 2, environment, the next week; and one outside the range.
    await filed(client, resident, MONDAY + dt.timedelta(days=8), category="environment", node="GM010102")
    await filed(client, resident, MONDAY - dt.timedelta(days=30))

    response = await client.get(
        "/api/v1/clinic/ledger", params={"since": "2026-11-16", "until": "2026-11-29"}, headers=grid.headers
    )
    assert response.status_code == 200, response.text
    rows = {(r["period"], r["node"], r["category"]): r for r in response.json()["items"]}
    assert set(rows) == {("2026-W47", "GM010101", "urban_construction"), ("2026-W48", "GM010102", "environment")}
    week = rows["2026-W47", "GM010101", "urban_construction"]
    assert week["node_name"] and week["category_name"] == "城乡建设"
    assert (week["count"], week["open"], week["overdue"], week["completed"], week["rejected"]) == (5, 2, 1, 2, 1)
    assert week["completion_rate"] == 0.5 and week["rejection_rate"] == 0.25
    assert week["avg_handling_hours"] == 16.0 and week["p90_handling_hours"] == 30.0
    assert (week["avg_satisfaction"], week["rated"]) == (3.5, 2)
    assert rows["2026-W48", "GM010102", "environment"]["count"] == 1

    # By month, as CSV (Excel reads the BOM) and as XLSX: the same figures.
    params = {"since": "2026-11-01", "until": "2026-11-30", "period": "month"}
    as_csv = await client.get("/api/v1/clinic/ledger", params={**params, "format": "csv"}, headers=grid.headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert lines[0][:6] == ["周期", "节点编码", "节点", "类别编码", "类别", "诉求数"]
    assert [(line[0], line[1], line[3], line[5]) for line in lines[1:]] == [
        ("2026-11", "GM010101", "urban_construction", "5"),
        ("2026-11", "GM010102", "environment", "1"),
    ]
    as_xlsx = await client.get("/api/v1/clinic/ledger", params={**params, "format": "xlsx"}, headers=grid.headers)
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "周期" and values[1][:6] == (
        "2026-11",
        "GM010101",
        values[1][2],
        "urban_construction",
        "城乡建设",
        5,
    )

    # The other grid's staff see their own grid only; the level can be chosen (not above your own).
    theirs = await client.get("/api/v1/clinic/ledger", params=params, headers=other_grid.headers)
    assert [(r["node"], r["count"]) for r in theirs.json()["items"]] == [("GM010102", 1)]
    by_community = await client.get(
        "/api/v1/clinic/ledger", params={**params, "level": "community"}, headers=grid.headers
    )
    assert [(r["node"], r["category"], r["count"]) for r in by_community.json()["items"]] == [
        ("GM0101", "environment", 1),
        ("GM0101", "urban_construction", 5),
    ]


async def test_ledger_refusals(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    ok = {"since": "2026-11-01", "until": "2026-11-30"}
    assert (await client.get("/api/v1/clinic/ledger", params=ok, headers=resident.headers)).status_code == 403
    assert (await client.get("/api/v1/clinic/ledger", params=ok)).status_code == 401
    for params in (
        {"since": "2026-11-30", "until": "2026-11-01"},
        {"since": "2020-01-01", "until": "2026-11-01"},
        {**ok, "period": "day"},
        {**ok, "level": "street"},  # above a grid worker's own level
        {**ok, "category": "nope"},
        {**ok, "format": "pdf"},
        {"since": "yesterday", "until": "2026-11-01"},
        {"until": "2026-11-01"},
        {"since": "9999-12-31", "until": "9999-12-31"},  # off the calendar's end, not a 500
        {"since": "0001-01-01", "until": "0001-01-02"},
    ):
        response = await client.get("/api/v1/clinic/ledger", params=params, headers=grid.headers)
        assert response.status_code == 422, (params, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}


async def test_a_name_that_looks_like_a_formula_is_exported_as_text(app: Sanic, client: httpx.AsyncClient) -> None:
    # Node and category names come from import files: a cell starting with = + - @ must not run in Excel.
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    await filed(client, resident, MONDAY)
    formula = '=HYPERLINK("http://evil.example","x")'
    await Node.filter(code="GM010101").update(name=formula)
    params = {"since": "2026-11-16", "until": "2026-11-22"}
    as_csv = await client.get("/api/v1/clinic/ledger", params={**params, "format": "csv"}, headers=grid.headers)
    [row] = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))[1:]
    assert row[2] == "'" + formula
    as_xlsx = await client.get("/api/v1/clinic/ledger", params={**params, "format": "xlsx"}, headers=grid.headers)
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    cell = sheet.cell(row=2, column=3)
    assert (cell.value, cell.data_type) == ("'" + formula, "s")
