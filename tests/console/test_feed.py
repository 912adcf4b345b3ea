"""The grid feed and the report page of the console: what an attacker would try first (another grid's
report by its address, a role that may not, a state change without the page's token, script in a
report's text), then a grid worker's day in a real browser: a report arrives live, is handled, and its
history shows each step."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from playwright.async_api import Page, expect
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports.models import Report
from miniapp_api.reports.states import State
from tests.console.conftest import PHONE, http_sign_in, screenshot, sign_in, staff
from tests.factories import auth, make_account, token_for
from tests.miniapp_api.buildings.conftest import import_rows, row

HTML = {"Accept": "text/html"}
SCRIPT_TEXT = '路灯不亮 <img src=x onerror=alert(1)><script>alert("x")</script> 请尽快处理'


async def file_report(
    client: httpx.AsyncClient, app: Sanic, *, node: str = "GM010101", photo: bool = False, **changes: Any
) -> dict[str, Any]:
    """A resident files a report through the API, as the mini-program does (with a photo if asked)."""
    resident = auth(await token_for(app, await make_account(Role.RESIDENT)))
    body = {"category": "urban_construction", "text": "楼道灯坏了一个星期，晚上很黑", "node": node, **changes}
    answer = await client.post("/api/v1/reports", json=body, headers=resident)
    assert answer.status_code == 201, answer.text
    filed: dict[str, Any] = answer.json()
    if photo:
        picture = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 30, 30)).save(picture, "JPEG")
        uploaded = await client.post(
            f"/api/v1/reports/{filed['id']}/photos",
            content=picture.getvalue(),
            headers={**resident, "Content-Type": "image/jpeg"},
        )
        assert uploaded.status_code == 201, uploaded.text
    return filed


def role_may(page_html: str) -> set[str]:
    found = re.search(r'data-role-may="([^"]*)"', page_html)
    assert found, page_html[:300]
    return set(found.group(1).split())


async def test_another_grids_report_is_a_404_page_with_nothing_of_it(client: httpx.AsyncClient, app: Sanic) -> None:
    theirs = await file_report(client, app, node="GM010102", text="隔壁网格的秘密诉求内容")
    mine = await file_report(client, app)
    await http_sign_in(client, await staff(Role.GRID_STAFF, "grid.scope"))
    ok = await client.get(f"/console/reports/{mine['id']}", headers=HTML)
    assert ok.status_code == 200 and mine["report_no"] in ok.text
    for address in (
        f"/console/reports/{theirs['id']}",
        "/console/reports/rp_doesnotexist",
        "/console/reports/" + "x" * 400,
        "/console/reports/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ):
        answer = await client.get(address, headers=HTML)
        assert answer.status_code == 404, (address, answer.status_code)
        assert "页面不存在" in answer.text
        assert theirs["report_no"] not in answer.text and "秘密" not in answer.text and theirs["id"] not in answer.text
        assert "<script>alert" not in answer.text
    # The API the page would call says the same.
    assert (await client.get(f"/api/v1/reports/{theirs['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/clinic/reports/{theirs['id']}/insight")).status_code == 404


async def test_a_party_member_cannot_open_a_police_matter_of_their_grid(client: httpx.AsyncClient, app: Sanic) -> None:
    police_matter = await file_report(client, app, category="public_order", text="有人在楼下聚众赌博")
    ordinary = await file_report(client, app)
    await http_sign_in(client, await staff(Role.PARTY_MEMBER, "party.feed"))
    assert (await client.get("/console/feed", headers=HTML)).status_code == 200
    readable = await client.get(f"/console/reports/{ordinary['id']}", headers=HTML)
    assert readable.status_code == 200 and role_may(readable.text) == set()  # a volunteer reads, never handles
    answer = await client.get(f"/console/reports/{police_matter['id']}", headers=HTML)
    assert answer.status_code == 404 and "赌博" not in answer.text


async def test_the_filer_of_a_report_is_offered_no_handling_of_it(client: httpx.AsyncClient, app: Sanic) -> None:
    worker = await staff(Role.GRID_STAFF, "grid.filer")
    token = await http_sign_in(client, worker)
    filed = await client.post(
        "/api/v1/reports",
        json={"category": "environment", "text": "河道有垃圾漂浮", "node": "GM010101"},
        headers={"X-CSRF-Token": token},
    )
    assert filed.status_code == 201, filed.text
    own = await client.get(f"/console/reports/{filed.json()['id']}", headers=HTML)
    assert own.status_code == 200
    assert role_may(own.text) == {"resubmit", "reopen"}  # never accept, dispatch, resolve, close, merge
    assert 'data-set-category=""' in own.text
    someone_elses = await file_report(client, app)
    other = await client.get(f"/console/reports/{someone_elses['id']}", headers=HTML)
    assert {"accept", "dispatch", "start", "resolve", "close", "merge"} <= role_may(other.text)
    assert "confirm" not in role_may(other.text) and 'data-set-category="1"' in other.text


async def test_roles_without_the_feed_get_a_chinese_403_page(client: httpx.AsyncClient, app: Sanic) -> None:
    report = await file_report(client, app)
    await http_sign_in(client, await staff(Role.POLICE, "police.feed"))
    for address in ("/console/feed", f"/console/reports/{report['id']}"):
        answer = await client.get(address, headers=HTML)
        assert answer.status_code == 403 and "无权打开此页面" in answer.text
        assert report["report_no"] not in answer.text
    home = await client.get("/console/", headers=HTML)
    assert "/console/feed" not in home.text  # not in the police menu


async def test_acting_on_a_report_needs_the_pages_token(client: httpx.AsyncClient, app: Sanic) -> None:
    report = await file_report(client, app)
    token = await http_sign_in(client, await staff(Role.GRID_STAFF, "grid.csrf"))
    path = f"/api/v1/reports/{report['id']}/transitions"
    for headers in ({}, {"X-CSRF-Token": "forged" * 6}, {"X-CSRF-Token": token, "Origin": "https://evil.example"}):
        refused = await client.post(path, json={"action": "accept"}, headers=headers)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    refused = await client.put(f"/api/v1/reports/{report['id']}/category", json={"category": "environment"})
    assert refused.status_code == 403
    stored = await Report.get(public_id=report["id"])
    assert stored.state is State.SUBMITTED
    done = await client.post(path, json={"action": "accept"}, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and done.json()["state"] == "accepted"


async def test_a_report_arrives_live_is_handled_and_its_history_shows(
    page: Page, client: httpx.AsyncClient, app: Sanic, shots: Path
) -> None:
    # An overdue report is already waiting: it is listed first, in red.
    late = await file_report(client, app, text="垃圾堆放三天没人清理")
    await Report.filter(public_id=late["id"]).update(
        overdue=True, due_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    )
    theirs = await file_report(client, app, node="GM010102", text="隔壁网格的诉求")
    worker = await staff(Role.GRID_STAFF, "grid.live")
    await sign_in(page, worker, next_path="/console/feed")
    rows = page.locator("#rows tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".due")).to_have_class(re.compile(r"\boverdue\b"))
    await expect(rows.first.locator(".due")).to_have_text(re.compile("已超时"))
    await expect(page.locator("#live")).to_have_text("实时更新中")

    # A resident files a report in this grid: it appears without a reload, its text as text.
    fresh = await file_report(client, app, text=SCRIPT_TEXT, photo=True)
    await expect(rows).to_have_count(2)
    row = page.locator(f'#rows tr[data-id="{fresh["id"]}"]')
    await expect(row.locator(".report-text")).to_have_text(SCRIPT_TEXT)
    await expect(row.locator(".due")).to_have_text(re.compile(r"^还剩 "))
    await expect(rows.first).to_have_attribute("data-id", late["id"])  # overdue first
    assert await page.locator("#rows img, #rows script").count() == 0
    assert theirs["report_no"] not in await page.locator("#rows").inner_text()
    await screenshot(page, shots, "feed-desk")

    # Open it and handle it: accept, dispatch (to the department routing suggests), start, resolve.
    await row.get_by_role("link", name=fresh["report_no"]).click()
    await expect(page.locator("#text")).to_have_text(SCRIPT_TEXT)
    await expect(page.locator("#state")).to_have_text("已提交")
    photo = page.get_by_role("img", name="现场照片 1")
    await expect(photo).to_be_visible()
    # Visible is not loaded: wait for the picture itself (a loaded CI machine decodes it later).
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await photo.element_handle())
    assert await photo.evaluate("img => img.naturalWidth") == 64
    await expect(page.locator("#actions form")).to_have_count(3)  # accept, return, merge
    await page.locator('form[data-action="accept"]').get_by_role("button", name="受理").click()
    await expect(page.locator("#state")).to_have_text("已受理")
    dispatch = page.locator('form[data-action="dispatch"]')
    # Departments by name: the routing rule's choice is named, another may be chosen.
    chooser = dispatch.get_by_label("承办部门")
    await expect(chooser).to_have_value("")
    await expect(chooser.locator("option").first).to_have_text("按派单规则（光明区住房和建设局）")
    await chooser.select_option(label="街道办事处（党群服务中心）")
    await dispatch.get_by_role("button", name="派单").click()
    await expect(page.locator("#state")).to_have_text("已派单")
    await expect(page.locator("#facts")).to_contain_text("街道办事处（党群服务中心）")
    await page.locator('form[data-action="start"]').get_by_role("button", name="开始处理").click()
    await expect(page.locator("#state")).to_have_text("处理中")
    # A reason the state table asks for is asked for before anything is sent.
    reject = page.locator('form[data-action="reject"]')
    await reject.get_by_role("button", name="退单").click()
    await expect(page.locator("#state")).to_have_text("处理中")
    resolve = page.locator('form[data-action="resolve"]')
    await resolve.get_by_label("备注（选填）").fill("已更换灯泡")
    await resolve.get_by_role("button", name="办结").click()
    await expect(page.locator("#state")).to_have_text("已办结")
    history = page.locator("#history-rows tr")
    await expect(history).to_have_count(5)
    await expect(history.nth(4)).to_contain_text("办结")
    await expect(history.nth(4)).to_contain_text("已更换灯泡")
    await expect(history.nth(4)).to_contain_text("处理中 → 已办结")
    await expect(page.locator('form[data-action="close"]')).to_be_visible()
    stored = await Report.get(public_id=fresh["id"])
    assert stored.state is State.RESOLVED
    await screenshot(page, shots, "report-desk")
    await page.set_viewport_size(PHONE)
    await expect(page.locator("#state")).to_be_visible()
    await screenshot(page, shots, "report-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Back to the feed on the phone; a filter stays in the address across a reload.
    await page.goto("/console/feed")
    await expect(page.locator("#rows tr")).to_have_count(2)
    await screenshot(page, shots, "feed-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.get_by_label("时限").select_option("true")
    await expect(page).to_have_url(re.compile(r"\?overdue=true$"))
    await expect(page.locator("#rows tr")).to_have_count(1)
    await page.reload()
    await expect(page.get_by_label("时限")).to_have_value("true")
    await expect(page.locator("#rows tr")).to_have_count(1)
    await page.get_by_label("类别").select_option("environment")
    await expect(page.locator("#empty")).to_be_visible()

    # Another grid's report by its address: a 404 page in Chinese, nothing of the report on it.
    await page.goto(f"/console/reports/{theirs['id']}")
    await expect(page.get_by_role("alert")).to_have_text("页面不存在，或您无权查看。")
    content = await page.content()
    assert theirs["report_no"] not in content and "隔壁网格" not in content


async def test_correct_the_category_and_merge_a_duplicate(page: Page, client: httpx.AsyncClient, app: Sanic) -> None:
    main = await file_report(client, app, text="小区门口的路灯坏了，晚上很黑")
    duplicate = await file_report(client, app, category="other", text="小区门口路灯坏了好几天")
    await sign_in(page, await staff(Role.GRID_STAFF, "grid.merge"), next_path=f"/console/reports/{duplicate['id']}")
    await expect(page.locator("#state")).to_have_text("已提交")
    category = page.locator('form[data-action="set-category"]')
    await category.get_by_label("类别").select_option("urban_construction")
    await category.get_by_label("说明（选填）").fill("应为城乡建设")
    await category.get_by_role("button", name="保存类别").click()
    await expect(page.locator("#facts")).to_contain_text("城乡建设")
    await expect(page.locator("#history-rows")).to_contain_text("更正类别")
    merge = page.locator('form[data-action="merge"]')
    await merge.get_by_label("合并到（主诉求）").fill("rp_nosuchreport")
    await merge.get_by_role("button", name="合并").click()
    await expect(page.locator("#toast")).to_have_text("没有找到该主诉求，或它不在您的辖区。")
    await merge.get_by_label("合并到（主诉求）").fill(main["id"])
    await merge.get_by_role("button", name="合并").click()
    await expect(page.locator("#state")).to_have_text("已合并")
    await expect(page.locator("#facts")).to_contain_text(main["id"])
    await expect(page.locator("#actions")).to_have_text("当前状态下您没有可执行的操作。")
    stored = await Report.get(public_id=duplicate["id"]).prefetch_related("category")
    assert stored.state is State.MERGED and stored.category.key == "urban_construction"


async def test_a_board_message_shows_its_building_and_board(
    page: Page, client: httpx.AsyncClient, app: Sanic, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    grid_token = auth(await token_for(app, await make_account(Role.GRID_STAFF, node="GM010101")))
    board = {
        "code": "GM010101-B09",
        "title": "光明社区第一网格党员亮相牌",
        "node": "GM010101",
        "building": "GM0101010001",
        "members": [{"name": "李红", "duty": "消防安全"}],
    }
    assert (await client.put("/api/v1/boards", json=board, headers=grid_token)).status_code == 200
    resident = auth(await token_for(app, await make_account(Role.RESIDENT)))
    sent = await client.post(
        "/api/v1/boards/GM010101-B09/messages", json={"text": "楼下电动车乱停放，堵住消防通道"}, headers=resident
    )
    assert sent.status_code == 201, sent.text
    await sign_in(
        page, await staff(Role.GRID_STAFF, "grid.board"), next_path=f"/console/reports/{sent.json()['report']}"
    )
    place = page.locator("#place")
    await expect(place).to_contain_text("深圳市光明区光明街道光明社区华夏路1号")
    await expect(place).to_contain_text("光明社区第一网格党员亮相牌（GM010101-B09）")
    await expect(page.locator("#facts")).to_contain_text("匿名")
    await expect(page.locator("#facts")).to_contain_text("党员联系牌")


async def test_the_report_page_follows_changes_made_elsewhere(
    page: Page, client: httpx.AsyncClient, app: Sanic
) -> None:
    filed = await file_report(client, app, text="电梯坏了三天，老人上下楼很困难")
    await sign_in(page, await staff(Role.GRID_STAFF, "grid.follow"), next_path=f"/console/reports/{filed['id']}")
    await expect(page.locator("#state")).to_have_text("已提交")
    await expect(page.locator("#live")).to_have_text("实时更新中")
    # A colleague accepts it from their phone: this page shows it without a reload.
    colleague = auth(await token_for(app, await make_account(Role.GRID_STAFF, node="GM010101")))
    url = f"/api/v1/reports/{filed['id']}/transitions"
    assert (await client.post(url, json={"action": "accept"}, headers=colleague)).status_code == 200
    await expect(page.locator("#state")).to_have_text("已受理")
    await expect(page.locator("#history-rows tr")).to_have_count(2)
    # While a note is being typed the page is not redrawn under it: it says there is news instead.
    note = page.locator('form[data-action="dispatch"] textarea')
    await note.fill("请物业配合维修")
    assert (await client.post(url, json={"action": "dispatch"}, headers=colleague)).status_code == 200
    await expect(page.locator("#changed")).to_be_visible()
    await expect(page.locator("#state")).to_have_text("已受理")
    await expect(note).to_have_value("请物业配合维修")
    await page.get_by_role("button", name="刷新查看").click()
    await expect(page.locator("#state")).to_have_text("已派单")
    await expect(page.locator("#changed")).to_be_hidden()
