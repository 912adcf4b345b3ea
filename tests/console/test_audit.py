"""The audit log page: administrators page through GET /api/v1/admin/audit with its filters, and the
district administration sees whether the hash chain holds (GET /api/v1/admin/audit/verify)."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
from playwright.async_api import Page, expect

from identity.audit import AuditEntry
from identity.roles import Role
from tests.console.conftest import http_sign_in, sign_in, staff
from tests.identity.test_audit import drop_append_only_triggers

HTML = {"Accept": "text/html"}
ACTION = "police.ebike_lookup"


async def lookups_by(account_id: str) -> list[AuditEntry]:
    return list(await AuditEntry.filter(action=ACTION, actor=account_id).order_by("seq"))


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
