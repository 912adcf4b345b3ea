"""The ledgers page (台账统计): its charts and tables show the ledger API's figures for the signed-in
account's scope, its downloads are the API's CSV and XLSX with the same filters, and names from import
files show as text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

import httpx
from openpyxl import load_workbook
from playwright.async_api import Page, expect
from sanic import Sanic

from identity.models import Node
from identity.roles import Role
from miniapp_api.reports.models import Category
from tests.console.conftest import PHONE, Staff, http_sign_in, screenshot, sign_in, staff
from tests.miniapp_api.clinic.test_ledgers import filed, resolve
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.jobs.test_ledger import busy_posting
from tests.miniapp_api.reports.test_closed_loop import move

BEIJING = dt.timezone(dt.timedelta(hours=8))
MONDAY = dt.datetime(2026, 11, 16, 10, 0, tzinfo=BEIJING)  # ISO week 2026-W47
RANGE = "since=2026-11-16&until=2026-11-29"
CATEGORY_NAME = "<script>pwned=1</script>城建"
NODE_NAME = "<img src=x onerror=window.pwned=2>一格"
HTML = {"Accept": "text/html"}


async def seed(app: Sanic, client: httpx.AsyncClient) -> None:
    """Two grids of community GM0101 over two weeks: resolved, rated, merged, breached and open reports."""
    resident = await user(app, Role.RESIDENT)
    community = await user(app, Role.GRID_STAFF, node="GM0101")
    first = await filed(client, resident, MONDAY)
    second = await filed(client, resident, MONDAY + dt.timedelta(days=1))
    await filed(client, resident, MONDAY + dt.timedelta(days=2), category="environment")
    duplicate = await filed(client, resident, MONDAY + dt.timedelta(days=2))
    assert (await move(client, community, duplicate["id"], action="merge", merge_into=second["id"])).status_code == 200
    await rated(client, community, resident, first["id"], hours=3, score=4)
    other = await filed(client, resident, MONDAY + dt.timedelta(days=8), category="environment", node="GM010102")
    await filed(client, resident, MONDAY + dt.timedelta(days=9), node="GM010102")
    await rated(client, community, resident, other["id"], hours=20, score=5)
    await escalated(second["id"])
    # Names come from import files: markup in them must show as text.
    await Category.filter(key="urban_construction").update(name=CATEGORY_NAME)
    await Node.filter(code="GM010101").update(name=NODE_NAME)


async def rated(
    client: httpx.AsyncClient, grid: User, resident: User, report_id: str, *, hours: float, score: int
) -> None:
    await resolve(client, grid, report_id, hours=hours)
    assert (await move(client, resident, report_id, action="confirm", satisfaction=score)).status_code == 200


async def escalated(report_id: str) -> None:
    from miniapp_api.reports.models import Report, ReportEvent

    stored = await Report.get(public_id=report_id)
    await ReportEvent.create(
        report_id=stored.id, at=stored.created_at, actor="system", role="system", action="escalate",
        from_state="submitted", to_state="submitted",
    )  # fmt: skip


def sums(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The API's rows added up the way the page says it does (rates from the summed counts)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        g = out.setdefault(row[key], dict.fromkeys(("count", "kept", "completed", "overdue", "rated", "points"), 0))
        for name in ("count", "kept", "completed", "overdue", "rated"):
            g[name] += row[name]
        g["points"] += row["satisfaction_points"]
    for g in out.values():
        g["completion"] = round(g["completed"] / g["kept"] * 100, 1) if g["kept"] else None
        g["on_time"] = round((g["kept"] - g["overdue"]) / g["kept"] * 100, 1) if g["kept"] else None
        g["satisfaction"] = round(g["points"] / g["rated"], 2) if g["rated"] else None
    return out


def label(period: str) -> str:
    """A ledger period as the page names it: 2026-W47 is 2026年第47周, 2026-11 is 2026年11月."""
    year, _, rest = period.partition("-")
    return f"{year}年第{int(rest[1:])}周" if rest.startswith("W") else f"{year}年{int(rest)}月"


async def option(page: Page, chart: str) -> dict[str, Any]:
    found: dict[str, Any] = await page.evaluate(
        "id => { const o = echarts.getInstanceByDom(document.getElementById(id)).getOption();"
        " return { x: o.xAxis[0].data, y: o.yAxis[0].data, series: o.series.map(s => [s.name, s.data]) }; }",
        f"chart-{chart}",
    )
    return found


async def loaded(page: Page, query: str) -> None:
    await page.goto(f"/console/ledger?{query}")
    await expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(re.escape(query)))


async def api_rows(page: Page, query: str) -> list[dict[str, Any]]:
    body = await page.evaluate("q => fetch('/api/v1/clinic/ledger?' + q).then(r => r.json())", query)
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_charts_tables_and_downloads_show_the_api_figures(
    app: Sanic, client: httpx.AsyncClient, page: Page, shots: Any
) -> None:
    await seed(app, client)
    community: Staff = await staff(Role.GRID_STAFF, "grid.ledger.community", node="GM0101")
    await sign_in(page, community, next_path="/console/ledger")
    await loaded(page, RANGE)
    rows = await api_rows(page, RANGE)
    assert {r["node"] for r in rows} == {"GM010101", "GM010102"}

    # By category and by node: bars of the counts and completions, largest first, the same in the tables.
    by_category = sums(rows, "category_name")
    shown = await option(page, "category")
    assert dict(zip(shown["y"], shown["series"][0][1], strict=True)) == {k: g["count"] for k, g in by_category.items()}
    assert dict(zip(shown["y"], shown["series"][1][1], strict=True)) == {
        k: g["completed"] for k, g in by_category.items()
    }
    by_node = sums(rows, "node")
    names = {r["node"]: r["node_name"] for r in rows}
    shown = await option(page, "node")
    assert dict(zip(shown["y"], shown["series"][0][1], strict=True)) == {
        names[k]: g["count"] for k, g in by_node.items()
    }
    # Trend, rates and satisfaction by week.
    by_week = sums(rows, "period")
    weeks = sorted(by_week)
    assert weeks == ["2026-W47", "2026-W48"]
    trend, rates, satisfaction = [await option(page, name) for name in ("trend", "rates", "satisfaction")]
    assert trend["x"] == [label(w) for w in weeks] == ["2026年第47周", "2026年第48周"]
    assert trend["series"][0][1] == [by_week[w]["count"] for w in weeks]
    assert rates["series"] == [
        ["办结率", [by_week[w]["completion"] for w in weeks]],
        ["按时率", [by_week[w]["on_time"] for w in weeks]],
    ]
    assert satisfaction["series"][0][1] == [by_week[w]["satisfaction"] for w in weeks] == [4.0, 5.0]
    # The tables under the charts carry the same numbers (a screen reader's or a zoomed reader's view).
    week_table = page.locator("#table-rates tbody tr")
    await expect(week_table).to_have_count(2)
    await expect(week_table.nth(0).locator("td")).to_have_text(
        ["2026年第47周", str(by_week["2026-W47"]["kept"]), f"{by_week['2026-W47']['completion']}%",
         f"{by_week['2026-W47']['on_time']}%"]
    )  # fmt: skip
    total = sum(r["count"] for r in rows)
    await expect(page.locator("#totals dd").first).to_have_text(str(total))
    # Markup in a category or node name is text: in the tables, the menus and the charts alike.
    await expect(page.locator("#table-category tbody td", has_text="城建")).to_have_text(CATEGORY_NAME)
    await expect(page.locator("#table-node tbody td", has_text="一格")).to_have_text(NODE_NAME)
    assert await page.evaluate("window.pwned") is None
    assert await page.locator("img[src=x]").count() == 0
    # Hot topics: the API's terms for the week of the end date.
    hot = await page.evaluate("() => fetch('/api/v1/clinic/hot?week=2026-11-29').then(r => r.json())")
    shown = await option(page, "hot")
    assert shown["y"] == [t["term"] for t in hot["terms"]]
    await expect(page.locator("#table-hot tbody tr")).to_have_count(max(1, len(hot["terms"])))

    # The downloads are the API's, with the page's filters.
    async with page.expect_download() as csv_download:
        await page.get_by_role("link", name="下载 CSV").click()
    got = await csv_download.value
    lines = list(csv.reader(io.StringIO((await got.path()).read_bytes().decode("utf-8-sig"))))
    assert [(x[0], x[1], x[3], int(x[5])) for x in lines[1:]] == [
        (r["period"], r["node"], r["category"], r["count"]) for r in rows
    ]
    assert CATEGORY_NAME in {x[4] for x in lines[1:]}
    async with page.expect_download() as xlsx_download:
        await page.get_by_role("link", name="下载 Excel").click()
    got = await xlsx_download.value
    assert got.suggested_filename == "ledger-week-2026-11-16-2026-11-29.xlsx"
    sheet = load_workbook(io.BytesIO((await got.path()).read_bytes())).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert [(c[0], c[1], c[3], c[5], c[8]) for c in cells[1:]] == [
        (r["period"], r["node"], r["category"], r["count"], r["completed"]) for r in rows
    ]

    await screenshot(page, shots, "ledger-desk")
    # Filters: one grid and one category, by month; the address and the downloads carry them.
    await page.get_by_label("统计周期").select_option("month")
    await page.get_by_label("辖区节点").select_option("GM010102")
    await page.get_by_label("诉求类别").select_option("environment")
    await page.get_by_role("button", name="查询").click()
    await expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(r"node=GM010102"))
    query = "period=month&since=2026-11-16&until=2026-11-29&node=GM010102&category=environment"
    await expect(page).to_have_url(re.compile(re.escape(query)))
    await expect(page.get_by_role("link", name="下载 CSV")).to_have_attribute(
        "href", f"/api/v1/clinic/ledger?{query}&format=csv"
    )
    narrowed = await api_rows(page, query)
    assert [(r["period"], r["node"], r["count"]) for r in narrowed] == [("2026-11", "GM010102", 1)]
    shown = await option(page, "trend")
    assert shown["x"] == ["2026年11月"] and shown["series"][0][1] == [1]

    await page.set_viewport_size(PHONE)
    await loaded(page, RANGE)
    await screenshot(page, shots, "ledger-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # A desk screen at 200 % zoom is 640 CSS pixels wide: it reflows, nothing runs off to the side.
    await page.set_viewport_size({"width": 640, "height": 400})
    await expect(page.locator("#table-category tbody tr")).to_have_count(2)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 640


async def test_a_grid_worker_sees_their_grid_only(app: Sanic, client: httpx.AsyncClient, page: Page) -> None:
    await seed(app, client)
    worker = await staff(Role.GRID_STAFF, "grid.ledger.one", node="GM010101")
    await sign_in(page, worker, next_path="/console/ledger")
    await loaded(page, RANGE)
    rows = await api_rows(page, RANGE)
    assert {r["node"] for r in rows} == {"GM010101"}
    own = sum(r["count"] for r in rows)
    assert own == 4  # the other grid's two reports are not counted
    await expect(page.locator("#totals dd").first).to_have_text(str(own))
    shown = await option(page, "node")
    assert shown["y"] == [NODE_NAME]
    # A week without reports of theirs is a zero in the trend, not a gap.
    shown = await option(page, "trend")
    assert shown["x"] == ["2026年第47周", "2026年第48周"] and shown["series"][0][1] == [4, 0]
    # The neighbouring grid is not offered, and asking for it by address shows nothing of it.
    await expect(page.get_by_label("辖区节点").locator("option[value=GM010102]")).to_have_count(0)
    await page.goto(f"/console/ledger?{RANGE}&node=GM010102")
    await expect(page.locator("#status")).to_have_text("所选节点不在您的辖区内。")
    await expect(page.locator("#table-node tbody tr")).to_have_count(0)
    await expect(page.locator("#totals dd")).to_have_count(0)
    # A range the API refuses is explained, not drawn.
    await page.goto("/console/ledger?since=2026-11-29&until=2026-11-16")
    await expect(page.locator("#status")).to_have_text(re.compile("日期范围有误"))


async def test_the_jobs_ledger_tab_shows_the_jobs_ledger_api(
    app: Sanic, client: httpx.AsyncClient, page: Page, shots: Any
) -> None:
    await busy_posting(app, client)  # a posting in GM0101: one application, one invitation, one hire
    admin = await staff(Role.ADMIN, "admin.ledger.jobs")
    await sign_in(page, admin, next_path="/console/ledger")
    await page.get_by_role("navigation", name="台账").get_by_role("link", name="就业台账").click()
    await expect(page.get_by_role("heading", name="就业台账")).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-loaded", re.compile(r"from="))
    query = await page.evaluate("document.body.dataset.loaded")
    body = await page.evaluate("q => fetch('/api/v1/jobs/ledger?' + q).then(r => r.json())", query)
    rows = body["items"]
    assert [(r["node"], r["postings"], r["hires"]) for r in rows] == [("GM01", 1, 1)]
    shown = await option(page, "month")
    assert shown["x"] == [label(rows[0]["month"])]
    assert shown["series"] == [
        ["发布岗位数", [1]],
        ["求职投递", [rows[0]["applications"]]],
        ["企业邀约", [rows[0]["invitations"]]],
        ["录用人数", [1]],
    ]
    shown = await option(page, "occupation")
    assert shown["y"] == [rows[0]["occupation_name"]] and shown["series"][0][1] == [rows[0]["openings"]]
    await expect(page.locator("#totals dd")).to_have_text(
        [str(rows[0][f]) for f in ("postings", "openings", "applications", "invitations", "hires")]
    )
    async with page.expect_download() as download:
        await page.get_by_role("link", name="下载 Excel").click()
    sheet = load_workbook(io.BytesIO((await (await download.value).path()).read_bytes())).active
    assert sheet is not None
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0][0] == "月份" and [c[1] for c in cells[1:]] == ["GM01"] and cells[1][9] == 1
    await screenshot(page, shots, "ledger-jobs-desk")


async def test_who_may_open_the_page(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/console/ledger", headers=HTML)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith(
        "/console/login?next=/console/ledger"
    )
    for role, name in ((Role.POLICE, "police.ledger"), (Role.EMPLOYMENT_STAFF, "jobs.ledger.no")):
        async with httpx.AsyncClient(base_url=str(client.base_url)) as own:
            await http_sign_in(own, await staff(role, name))
            refused = await own.get("/console/ledger", headers=HTML)
            assert refused.status_code == 403 and "无权" in refused.text
            jobs = await own.get("/console/ledger/jobs", headers=HTML)
            assert jobs.status_code == (200 if role is Role.EMPLOYMENT_STAFF else 403)
            assert (await own.get("/api/v1/clinic/ledger?since=2026-11-16&until=2026-11-29")).status_code == 403
            menu = (await own.get("/console/", headers=HTML)).text
            assert ('href="/console/ledger"' in menu) is False
    async with httpx.AsyncClient(base_url=str(client.base_url)) as own:
        await http_sign_in(own, await staff(Role.PARTY_MEMBER, "party.ledger"))
        opened = await own.get("/console/ledger", headers=HTML)
        assert opened.status_code == 200 and "台账统计" in opened.text
        assert "/console/ledger/jobs" not in opened.text  # no tab, no menu entry: not theirs
        assert (await own.get("/console/ledger/jobs", headers=HTML)).status_code == 403
        assert "script-src 'self'" in opened.headers["content-security-policy"]
        # The downloads need the session like every API call: without it, nothing.
    bare = await client.get(f"/api/v1/clinic/ledger?{RANGE}&format=csv")
    assert bare.status_code == 401
    assert json.loads(bare.text)["error"]["code"] == "unauthorized"
