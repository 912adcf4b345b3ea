"""The police owner lookup page and the audit log page: a lookup is refused without a reason by the form
and by the API (a form bypassed), answered with one, and found by an administrator on the audit page;
roles that may not have neither page."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Page, expect
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from tests.console.conftest import PHONE, http_sign_in, screenshot, sign_in, staff
from tests.factories import id_number
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
