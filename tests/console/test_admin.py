"""The administrators' console pages: staff accounts, QR signing keys, notification dead letters.

First what an attacker would try (another role, a street administrator on the district's keys, a
state change without the CSRF token, script in text the page shows, another node's rows), then one
walk per page in the browser, with screenshots at desk and phone sizes."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Page, expect

from identity.models import Account
from identity.roles import Role
from notify import outbox
from notify.models import Notification, Status
from qr import service as qr_service
from tests.console.conftest import PASSWORD, PHONE, http_sign_in, screenshot, sign_in, staff

HTML = {"Accept": "text/html"}
PAGES = ("/console/admin/accounts", "/console/admin/qr-keys", "/console/admin/notifications")
XSS = "<img src=x onerror=alert(1)>"


async def no_wider_than_the_phone(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def dead_letter(username: str, node: str, error: str) -> Notification:
    """A notification for a member of staff at ``node`` that ran out of channels."""
    who = await staff(Role.GRID_STAFF, username, node)
    row = await outbox.enqueue(
        template="sensor.alarm",
        data={"device": "燃气报警器", "place": "凤凰社区12栋", "level": "高", "at": "2026-11-25T02:30:00Z"},
        idempotency_key=f"dead:{username}",
        account=who.account,
        phone="13800000001",
        channels=["sms"],
    )
    await Notification.filter(id=row.id).update(status=Status.DEAD, last_error=error, total_attempts=5)
    return row


async def test_only_admins_open_the_pages_and_only_the_district_the_keys(client: httpx.AsyncClient) -> None:
    grid = await staff(Role.GRID_STAFF, "grid.admin.pages")
    await http_sign_in(client, grid)
    for path in PAGES:
        refused = await client.get(path, headers=HTML)
        assert refused.status_code == 403 and "无权" in refused.text, path
    home = await client.get("/console/", headers=HTML)
    assert "员工账号" not in home.text and "二维码密钥" not in home.text

    street = await staff(Role.ADMIN, "street.admin.pages", "GM01")
    client.cookies.clear()
    token = await http_sign_in(client, street)
    assert (await client.get("/console/admin/accounts", headers=HTML)).status_code == 200
    assert (await client.get("/console/admin/notifications", headers=HTML)).status_code == 200
    keys = await client.get("/console/admin/qr-keys", headers=HTML)
    assert keys.status_code == 403 and "无权" in keys.text
    before = qr_service.keyring().active_kid
    rotate = await client.post("/api/v1/admin/qr/keys/rotate", json={"confirm": True}, headers={"X-CSRF-Token": token})
    assert rotate.status_code == 403 and rotate.json()["error"]["code"] == "district_only"
    assert qr_service.keyring().active_kid == before


async def test_state_changes_from_the_pages_need_the_csrf_token(client: httpx.AsyncClient) -> None:
    admin = await staff(Role.ADMIN, "district.admin.csrf")
    target = await staff(Role.GRID_STAFF, "grid.csrf.target")
    row = await dead_letter("grid.csrf.dead", "GM010101", "sms failed")
    await http_sign_in(client, admin)
    before = qr_service.keyring().active_kid
    for method, url, body in (
        ("PATCH", f"/api/v1/accounts/{target.account.public_id}", {"is_active": False}),
        ("POST", "/api/v1/admin/qr/keys/rotate", {"confirm": True}),
        ("POST", f"/api/v1/admin/qr/keys/{before}/retire", {"confirm_kid": before, "force": True}),
        ("POST", f"/api/v1/admin/notifications/{row.public_id}/retry", None),
    ):
        refused = await client.request(method, url, json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed", url
    assert (await Account.get(id=target.account.id)).is_active
    assert qr_service.keyring().active_kid == before
    assert (await Notification.get(id=row.id)).status is Status.DEAD


async def test_admin_creates_a_staff_account_and_disables_it(page: Page, shots: Path) -> None:
    admin = await staff(Role.ADMIN, "street.admin.accounts", "GM01")
    await staff(Role.GRID_STAFF, "grid.elsewhere", "GM020101")  # another street: never listed
    await sign_in(page, admin, next_path="/console/admin/accounts")
    await expect(page.get_by_role("heading", name="员工账号", exact=True)).to_be_visible()
    rows = page.locator("#accounts tbody tr")
    await expect(rows.filter(has_text="street.admin.accounts")).to_have_count(1)
    await expect(rows.filter(has_text="grid.elsewhere")).to_have_count(0)

    form = page.locator("#create")
    # Outside the admin's street: refused, in Chinese, nothing made.
    await form.get_by_label("用户名").fill("new.grid.worker")
    await form.get_by_label("角色").select_option("grid_staff")
    await form.get_by_label("所属节点编码").fill("GM020101")
    await form.get_by_label("初始密码").fill(PASSWORD)
    await form.get_by_role("button", name="创建").click()
    await expect(page.locator("#toast")).to_have_text("只能管理您所辖范围内的账号或数据。")
    assert not await Account.filter(username="new.grid.worker").exists()

    await form.get_by_label("所属节点编码").fill("GM010101")
    await form.get_by_role("button", name="创建").click()
    await expect(page.locator("#toast")).to_have_text("已创建账号 new.grid.worker")
    made = rows.filter(has_text="new.grid.worker")
    await expect(made).to_contain_text("网格员")
    await expect(made).to_contain_text("GM010101")
    await expect(made.locator(".badge")).to_have_text("启用")
    await screenshot(page, shots, "admin-accounts-desk")

    await made.get_by_role("button", name="停用").click()
    await expect(made.locator(".badge")).to_have_text("已停用")
    assert not (await Account.get(username="new.grid.worker")).is_active
    await made.get_by_role("button", name="启用").click()
    await expect(made.locator(".badge")).to_have_text("启用")

    await page.locator("#filters").get_by_label("角色").select_option("admin")
    await page.locator("#filters").get_by_role("button", name="筛选").click()
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("street.admin.accounts")

    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(rows.first).to_be_visible()
    await no_wider_than_the_phone(page)
    await screenshot(page, shots, "admin-accounts-phone")


async def test_district_admin_rotates_and_retires_a_key(page: Page, shots: Path) -> None:
    admin = await staff(Role.ADMIN, "district.admin.keys")
    old = qr_service.keyring().active_kid
    await sign_in(page, admin, next_path="/console/admin/qr-keys")
    await expect(page.locator("#active-kid")).to_have_text(old)

    await page.get_by_role("button", name="轮换密钥").click()
    await page.get_by_role("button", name="确认轮换").click()
    await expect(page.locator("#active-kid")).not_to_have_text(old)
    new = qr_service.keyring().active_kid
    assert new != old
    await expect(page.locator("#active-kid")).to_have_text(new)
    old_row = page.locator(f'#keys tbody tr[data-kid="{old}"]')
    await expect(old_row.locator(".badge")).to_have_text("仅验证")
    await screenshot(page, shots, "admin-qr-keys-desk")

    # Retiring asks for the kid again; a wrong one is refused and nothing changes.
    await old_row.get_by_role("button", name="退役").click()
    await page.get_by_label("请再次输入密钥编号以确认").fill(new)
    await page.get_by_role("button", name="确认退役").click()
    await expect(page.locator("#toast")).to_have_text("输入的密钥编号与要退役的密钥不一致。")
    await page.get_by_label("请再次输入密钥编号以确认").fill(old)
    await page.get_by_role("button", name="确认退役").click()
    await expect(old_row.locator(".badge")).to_have_text("已退役")
    assert qr_service.keyring().keys[old].status == "retired"

    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(page.locator("#active-kid")).to_have_text(new)
    await no_wider_than_the_phone(page)
    await screenshot(page, shots, "admin-qr-keys-phone")


async def test_admin_retries_a_dead_letter_of_their_street_shown_as_text(page: Page, shots: Path) -> None:
    mine = await dead_letter("grid.dead.mine", "GM010101", XSS)
    other = await dead_letter("grid.dead.other", "GM020101", "sms other street")
    admin = await staff(Role.ADMIN, "street.admin.notify", "GM01")
    await sign_in(page, admin, next_path="/console/admin/notifications")
    rows = page.locator("#notifications tbody tr")
    await expect(rows).to_have_count(1)
    row = page.locator(f'#notifications tbody tr[data-id="{mine.public_id}"]')
    await expect(row).to_contain_text(XSS)  # the text itself, never markup
    assert await page.locator("#notifications img").count() == 0
    await expect(row.locator(".badge")).to_have_text("死信")
    await expect(page.locator("#counts")).to_contain_text("死信 1")
    await screenshot(page, shots, "admin-notifications-desk")

    await row.get_by_role("button", name="重试").click()
    await expect(row.locator(".badge")).to_have_text("待发送")
    assert (await Notification.get(id=mine.id)).status is Status.PENDING
    assert (await Notification.get(id=other.id)).status is Status.DEAD

    await page.set_viewport_size(PHONE)
    await no_wider_than_the_phone(page)
    await screenshot(page, shots, "admin-notifications-phone")


async def test_admin_prints_a_sticker_sheet_and_downloads_it(page: Page, shots: Path, tmp_path: Path) -> None:
    admin = await staff(Role.ADMIN, "street.admin.sheets", "GM01")
    for n in range(3):
        await qr_service.issue(
            kind="building", subject_id=f"bld-sheet-{n}", node_path="/GM/GM01/GM0101/GM010101/", label=f"{n}栋"
        )
    await sign_in(page, admin, next_path="/console/admin/sheets")
    form = page.locator("#start")
    await expect(form.get_by_label("节点编码")).to_have_value("GM01")
    await form.get_by_label("二维码类型").select_option("building")
    # Another street's codes: refused in Chinese.
    await form.get_by_label("节点编码").fill("GM02")
    await form.get_by_role("button", name="开始打印").click()
    await expect(page.locator("#toast")).to_have_text("只能管理您所辖范围内的账号或数据。")

    await form.get_by_label("节点编码").fill("GM0101")
    await form.get_by_role("button", name="开始打印").click()
    await expect(page.locator("#job-state")).to_have_text("已完成", timeout=60_000)
    await expect(page.locator("#job-progress")).to_have_attribute("value", "100")
    await expect(page.locator("#job-text")).to_contain_text("已完成 3 / 3 张（1 页），100%")
    await screenshot(page, shots, "admin-sheets-desk")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="下载 PDF").click()
    download = await info.value
    saved = tmp_path / "sheets.pdf"
    await download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-1.4")

    await page.set_viewport_size(PHONE)
    await page.reload()  # the job's id is in the address: the page finds it again
    await expect(page.locator("#job-state")).to_have_text("已完成")
    await no_wider_than_the_phone(page)
    await screenshot(page, shots, "admin-sheets-phone")


async def test_district_admin_imports_buildings_and_reads_the_report(page: Page, shots: Path, tmp_path: Path) -> None:
    from miniapp_api.buildings.models import Building
    from tests.miniapp_api.buildings.conftest import HEADER, row, write_csv

    admin = await staff(Role.ADMIN, "district.admin.import")
    good = [row(1), row(2)]
    bad = row(3, landlord_phone="12345")
    path = write_csv(tmp_path / "buildings.csv", [*good, bad], header=[*HEADER, XSS])
    await sign_in(page, admin, next_path="/console/admin/buildings")
    await page.get_by_label("导入文件（CSV 或 XLSX，第一行为表头）").set_input_files(str(path))
    await page.get_by_role("button", name="上传并导入").click()
    await expect(page.locator("#r-imported")).to_have_text("2")
    await expect(page.locator("#r-split")).to_have_text("2 / 0 / 0")
    await expect(page.locator("#r-rejected")).to_have_text("1")
    await expect(page.locator("#r-ignored")).to_have_text(XSS)  # a column name from the file: text only
    assert await page.locator("#report img").count() == 0
    problem = page.locator("#rejected tbody tr")
    await expect(problem).to_have_count(1)
    await expect(problem.locator("td").nth(0)).to_have_text("4")
    await expect(problem.locator("td").nth(1)).to_have_text("landlord_phone")
    await expect(page.locator("#rejected")).not_to_contain_text("12345")
    assert await Building.filter(code__in=["GM0101010001", "GM0101010002"]).count() == 2
    await screenshot(page, shots, "admin-buildings-desk")

    await page.set_viewport_size(PHONE)
    await no_wider_than_the_phone(page)
    await screenshot(page, shots, "admin-buildings-phone")


async def test_a_street_admin_may_not_import_buildings(client: httpx.AsyncClient) -> None:
    street = await staff(Role.ADMIN, "street.admin.import", "GM01")
    token = await http_sign_in(client, street)
    refused = await client.get("/console/admin/buildings", headers=HTML)
    assert refused.status_code == 403 and "无权" in refused.text
    answer = await client.post(
        "/api/v1/buildings/import",
        content=b"code\n",
        headers={"Content-Type": "text/csv", "X-CSRF-Token": token},
    )
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "district_only"
    no_csrf = await client.post("/api/v1/buildings/import", content=b"code\n", headers={"Content-Type": "text/csv"})
    assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "csrf_failed"


async def test_the_menu_offers_a_street_admin_only_what_the_api_lets_them_do(client: httpx.AsyncClient) -> None:
    district = await staff(Role.ADMIN, "admin.menu.district", node="GM")
    street = await staff(Role.ADMIN, "admin.menu.street", node="GM01")
    menus = {}
    for who in (district, street):
        client.cookies.clear()
        await http_sign_in(client, who)
        menus[who.username] = (await client.get("/console/", headers={"Accept": "text/html"})).text
    for title, path in (("二维码密钥", "/console/admin/qr-keys"), ("出租屋导入", "/console/admin/buildings")):
        assert f'href="{path}"' in menus["admin.menu.district"], title
        assert f'href="{path}"' not in menus["admin.menu.street"], title
    assert 'href="/console/admin/accounts"' in menus["admin.menu.street"]
