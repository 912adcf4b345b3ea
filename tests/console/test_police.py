"""The police owner lookup page and the audit log page: a lookup is refused without a reason by the form
and by the API (a form bypassed), answered with one, and found by an administrator on the audit page;
roles that may not have neither page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import httpx
from playwright.async_api import Page, expect
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from tests.console.conftest import PHONE, http_sign_in, screenshot, sign_in, staff
from tests.factories import id_number
from tests.identity.test_audit import drop_append_only_triggers
from tests.miniapp_api.ebikes.conftest import registration, user

HTML = {"Accept": "text/html"}
ACTION = "police.ebike_lookup"
XSS = "<img src=x onerror=alert(1)>"


async def lookups_by(account_id: str) -> list[AuditEntry]:
    return list(await AuditEntry.filter(action=ACTION, actor=account_id).order_by("seq"))


async def fits_a_phone(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_lookup_refused_without_a_reason_answered_with_one_and_audited(
    app: Sanic, client: httpx.AsyncClient, page: Page, shots: Path
) -> None:
    owner = await user(app, Role.RESIDENT)
    body = registration(31, plate="粤B·31031", frame_no="LYD2026003131")
    body["owner"]["name"] = XSS
    made = await client.post("/api/v1/ebikes", json=body, headers=owner.headers)
    assert made.status_code == 201, made.text
    police = await staff(Role.POLICE, "police.lookup")
    await sign_in(page, police, next_path="/console/police")
    await expect(page.get_by_role("heading", name="车主查询")).to_be_visible()

    # The form refuses without a reason: nothing reaches the API, nothing is audited.
    await page.get_by_label("查询内容").fill("粤B·31031")
    await page.get_by_label("案件编号").fill("GM2026-1205-07")
    await page.get_by_role("button", name="查询").click()
    await expect(page.get_by_role("alert")).to_have_text("无法查询：必须填写查询事由。")
    assert await lookups_by(police.account.public_id) == []

    # The API refuses too when the form is bypassed (a call of its own, or a "reason" with no words).
    bypass = await page.evaluate(
        """async () => { const r = await fetch('/api/v1/police/ebikes?plate=' + encodeURIComponent('粤B·31031'));
        return [r.status, (await r.json()).error.code]; }"""
    )
    assert bypass == [422, "reason_required"]
    await page.get_by_label("查询事由").fill("。。")
    await page.get_by_role("button", name="查询").click()
    await expect(page.get_by_role("alert")).to_contain_text("查询被拒绝：必须填写查询事由")
    await expect(page.locator(".owner")).to_have_count(0)

    # With a reason (HTML in it is only text), the owner as the API shows police.
    await page.get_by_label("查询事由").fill(f"盗窃案件侦查 {XSS}")
    await page.get_by_role("button", name="查询").click()
    owner_card = page.locator(".owner")
    await expect(owner_card.locator("dd").first).to_have_text(XSS)  # the name, shown as text
    await expect(owner_card).to_contain_text(id_number(31))
    await expect(owner_card).to_contain_text("13912340031")
    await expect(owner_card.locator(".bike")).to_contain_text("LYD2026003131")
    await expect(page.locator("img")).to_have_count(0)
    entries = await lookups_by(police.account.public_id)
    assert [e.details.get("outcome") for e in entries] == ["refused_no_reason", "refused_no_reason", "ok"]
    await expect(page.locator("#audit-note")).to_have_text(f"本次查询已记入审计日志（编号 {entries[-1].seq}）。")
    await screenshot(page, shots, "police-desk")
    await page.set_viewport_size(PHONE)
    await screenshot(page, shots, "police-phone")
    await fits_a_phone(page)

    # An administrator finds the three attempts on the audit page, filtered on this officer's lookups.
    await page.get_by_role("button", name="退出").click()
    await page.set_viewport_size({"width": 1280, "height": 800})
    admin = await staff(Role.ADMIN, "admin.audit")
    await sign_in(page, admin, next_path="/console/audit")
    await page.get_by_label("操作人账号").fill(police.account.public_id)
    await page.get_by_label("操作类型").select_option(ACTION)
    await page.get_by_role("button", name="筛选").click()
    rows = page.locator("#entries tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("拒绝：无事由")
    await expect(rows.nth(2)).to_contain_text("已查询")
    await expect(rows.nth(2)).to_contain_text(f"盗窃案件侦查 {XSS}")
    await expect(rows.nth(2)).to_contain_text("民警查询车主")
    await expect(page.locator("#entries img")).to_have_count(0)
    assert f"actor={police.account.public_id}" in page.url  # the filter is in the address, to share
    await screenshot(page, shots, "audit-desk")
    await page.set_viewport_size(PHONE)
    await screenshot(page, shots, "audit-phone")
    await fits_a_phone(page)


async def test_audit_page_pages_through_the_log(page: Page) -> None:
    admin = await staff(Role.ADMIN, "admin.pages")
    await sign_in(page, admin)
    statuses = await page.evaluate(
        """async () => { const out = [];
        for (let n = 0; n < 12; n += 1) out.push((await fetch('/api/v1/police/ebikes?plate=B' + n)).status);
        return out; }"""
    )
    assert statuses == [403] * 12  # refused, and each attempt audited
    await page.goto("/console/audit?" + urlencode({"actor": admin.account.public_id, "action": ACTION}))
    rows = page.locator("#entries tbody tr")
    await expect(rows).to_have_count(12)
    await page.get_by_label("每页条数").select_option("10")
    await page.get_by_role("button", name="筛选").click()
    await expect(rows).to_have_count(10)
    await expect(page.locator("#status")).to_have_text("第 1 页，共 10 条")
    await page.get_by_role("button", name="下一页").click()
    await expect(rows).to_have_count(2)
    await expect(page.get_by_role("button", name="下一页")).to_be_disabled()
    await page.get_by_role("button", name="上一页").click()
    await expect(rows).to_have_count(10)
    await expect(rows.first).to_contain_text("拒绝：无权查询")
    # A time range after the attempts: nothing (the page sends Beijing time with its offset).
    await page.get_by_label("开始时间（北京时间）").fill("2099-01-01T08:00")
    await page.get_by_role("button", name="筛选").click()
    await expect(page.locator("#status")).to_have_text("没有符合条件的记录。")
    await expect(rows).to_have_count(0)
    assert "since=2099-01-01T08%3A00%3A00%2B08%3A00" in page.url


async def test_roles_without_the_api_have_no_police_or_audit_page(page: Page, client: httpx.AsyncClient) -> None:
    worker = await staff(Role.GRID_STAFF, "grid.nopolice")
    await sign_in(page, worker)
    await expect(page.get_by_role("link", name="车主查询")).to_have_count(0)
    await expect(page.get_by_role("link", name="审计日志")).to_have_count(0)
    for path in ("/console/police", "/console/audit"):
        answer = await page.goto(path)
        assert answer is not None and answer.status == 403
        await expect(page.get_by_text("您的账号无权打开此页面。")).to_be_visible()
    # Over HTTP: the police have no audit page, an administrator no lookup, a worker no lookup API
    # (and the attempt is audited, as the API does for any refused role).
    police = await staff(Role.POLICE, "police.noaudit")
    await http_sign_in(client, police)
    assert (await client.get("/console/audit", headers=HTML)).status_code == 403
    assert (await client.get("/api/v1/admin/audit")).status_code == 403
    client.cookies.clear()
    await http_sign_in(client, worker)
    refused = await client.get("/api/v1/police/ebikes", params={"plate": "粤B1", "reason": "查案", "case_no": "A-1"})
    assert refused.status_code == 403
    [entry] = await lookups_by(worker.account.public_id)
    assert entry.details.get("outcome") == "refused_role"


async def test_the_district_administration_sees_whether_the_chain_holds(page: Page, client: httpx.AsyncClient) -> None:
    admin = await staff(Role.ADMIN, "admin.chain")
    await sign_in(page, admin, next_path="/console/audit")
    statuses = await page.evaluate(
        """async () => { const out = [];
        for (let n = 0; n < 3; n += 1) out.push((await fetch('/api/v1/police/ebikes?plate=C' + n)).status);
        return out; }"""
    )
    assert statuses == [403] * 3
    await page.get_by_role("button", name="校验哈希链").click()
    checked = await AuditEntry.all().count()
    await expect(page.locator("#chain")).to_have_text(f"哈希链完整：已校验全部 {checked} 条记录。")
    # Someone edits an entry in the database: the page says where the chain breaks.
    tampered = (await lookups_by(admin.account.public_id))[1]
    await drop_append_only_triggers()  # as someone with the database's keys would
    await AuditEntry.filter(seq=tampered.seq).update(reason="nothing happened")
    await page.get_by_role("button", name="校验哈希链").click()
    await expect(page.locator("#chain")).to_contain_text(f"哈希链已断开：第 {tampered.seq} 条记录被改动或缺失")

    # A street administrator has the log of their street, but neither the button nor the chain's state.
    street = await staff(Role.ADMIN, "admin.street", "GM01")
    await http_sign_in(client, street)
    assert "校验哈希链" not in (await client.get("/console/audit", headers=HTML)).text
    refused = await client.get("/api/v1/admin/audit/verify")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "district_only"
    # Walking the whole chain costs: a few times a minute per account at most.
    client.cookies.clear()
    await http_sign_in(client, admin)
    statuses = [(await client.get("/api/v1/admin/audit/verify")).status_code for _ in range(5)]
    assert statuses[:3] == [200] * 3 and statuses[-1] == 429
