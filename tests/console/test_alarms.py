"""The alarm board and a device's page: an alarm raised by a signed device reading appears live, is
acknowledged, silenced and cleared; another grid's alarm is not on the board and its ids give 404."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.async_api import Page, expect
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices import readings_store
from miniapp_api.devices.models import DeviceAlarm, DeviceSilence
from tests.console.conftest import DESK, PHONE, http_sign_in, screenshot, sign_in, staff
from tests.miniapp_api.devices.conftest import buildings, gas, register, send, user

HTML = {"Accept": "text/html"}


async def test_an_alarm_arrives_live_and_is_acknowledged_silenced_and_cleared(
    app: Sanic, client: httpx.AsyncClient, page: Page, tmp_path: Path, shots: Path
) -> None:
    await buildings(tmp_path)
    ours = await user(app, Role.GRID_STAFF, node="GM010101")
    theirs = await user(app, Role.GRID_STAFF, node="GM010102")
    device = await register(client, ours, "GD-C-0001", place="<img src=x onerror=alert(1)>")
    elsewhere = await register(client, theirs, "GD-C-0002", building="GM0101020001")
    # Another grid's leak, before ours: never on our board.
    other = (await send(client, elsewhere, [gas(elsewhere.serial, 30.0, 5)])).json()["alarms"]
    assert [a["change"] for a in other] == ["raise"]

    worker = await staff(Role.GRID_STAFF, "grid.alarms", "GM010101")
    await sign_in(page, worker, next_path="/console/alarms")
    await expect(page.locator("#live")).to_have_text("实时更新中")
    await expect(page.locator("#empty")).to_be_visible()

    # A reading over the threshold raises an alarm; the board shows it without a reload.
    readings = [gas(device.serial, 3.0, 120 - n * 10) for n in range(6)] + [gas(device.serial, 14.0, 30)]
    raised = (await send(client, device, readings)).json()["alarms"]
    assert [(a["change"], a["severity"]) for a in raised] == [("raise", "warning")]
    alarm = page.locator("li.alarm")
    await expect(alarm).to_have_count(1)
    await expect(alarm).to_have_attribute("data-id", raised[0]["id"])
    await expect(page.locator('section[data-severity="warning"] li.alarm')).to_have_count(1)
    await expect(alarm.locator(".what")).to_have_text("燃气浓度超标")
    await expect(alarm.locator(".state")).to_have_text("未确认")
    await expect(alarm).to_contain_text("<img src=x onerror=alert(1)>")  # the place, as text
    await expect(page.locator("#board img")).to_have_count(0)
    await screenshot(page, shots, "alarms-desk")
    await page.set_viewport_size(PHONE)
    await screenshot(page, shots, "alarms-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.set_viewport_size(DESK)

    await alarm.get_by_role("button", name="确认").click()
    await expect(alarm.locator(".state")).to_have_text("已确认")
    await alarm.locator("summary", has_text="静默").click()
    await alarm.get_by_label("静默原因").fill("维修燃气管道，住户已知悉")
    await alarm.get_by_role("button", name="静默此设备").click()
    await expect(page.locator("#toast")).to_contain_text("已静默")
    silence = await DeviceSilence.get()
    assert silence.reason == "维修燃气管道，住户已知悉" and silence.ended_at is None

    await alarm.locator("summary", has_text="解除").click()
    await alarm.get_by_role("button", name="解除报警").click()
    await expect(alarm.get_by_role("alert")).to_have_text("请填写处置情况。")
    await alarm.get_by_label("处置情况").fill("上门检查，阀门已关闭，通风后浓度正常")
    await alarm.get_by_role("button", name="解除报警").click()
    await expect(page.locator("li.alarm")).to_have_count(0)
    await expect(page.locator("#empty")).to_be_visible()
    row = await DeviceAlarm.get(public_id=raised[0]["id"])
    assert row.state == "cleared_ack"

    # The other grid's alarm and device: 404 through the console session, page or API.
    await http_sign_in(client, worker)
    assert (await client.get(f"/api/v1/device-alarms/{other[0]['id']}")).status_code == 404
    cleared = await client.post(f"/api/v1/device-alarms/{other[0]['id']}/clear", json={"note": "x"})
    assert cleared.status_code == 403  # no CSRF token: refused before anything else
    answer = await page.goto(f"/console/devices/{elsewhere.id}")
    assert answer is not None and answer.status == 404
    await expect(page.get_by_text("页面不存在，或您无权查看。")).to_be_visible()


async def test_device_page_charts_its_readings(
    app: Sanic, client: httpx.AsyncClient, page: Page, tmp_path: Path, shots: Path
) -> None:
    await buildings(tmp_path)
    ours = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, ours, "GD-C-0101")
    # Half-hourly readings over the last 12 hours (under the alarm's threshold): 12 or 13 hourly points.
    values = [2.0 + (n % 6) for n in range(24)]
    sent = await send(client, device, [gas(device.serial, v, 12 * 3600 - n * 1800) for n, v in enumerate(values)])
    assert sent.status_code == 200, sent.text
    await readings_store.flush(app.ctx.redis)  # the hourly job: closed hours into the database
    officer = await staff(Role.OFFICER, "officer.device", "GM0101")
    await sign_in(page, officer, next_path=f"/console/devices/{device.id}")
    await expect(page.locator("#facts")).to_contain_text("GD-C-0101")
    await expect(page.locator("#chart")).to_have_attribute("data-points", re.compile(r"^1[23]$"))
    await expect(page.locator("#chart canvas")).to_have_count(1)
    await expect(page.locator("#chart-empty")).to_be_hidden()
    await page.get_by_label("指标").select_option("battery_pct")
    await expect(page.locator("#chart-empty")).to_be_visible()
    await page.get_by_label("指标").select_option("gas_lel_pct")
    await expect(page.locator("#chart")).to_have_attribute("data-points", re.compile(r"^1[23]$"))
    await screenshot(page, shots, "device-desk")
    await page.set_viewport_size(PHONE)
    await screenshot(page, shots, "device-phone")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_the_board_and_device_pages_are_for_the_alarm_api_roles_only(client: httpx.AsyncClient) -> None:
    for role, username in ((Role.POLICE, "police.noboard"), (Role.HEALTH_STAFF, "health.noboard")):
        await http_sign_in(client, await staff(role, username))
        for path in ("/console/alarms", "/console/devices/dev_x"):
            answer = await client.get(path, headers=HTML)
            assert answer.status_code == 403 and "您的账号无权打开此页面。" in answer.text
        assert (await client.get("/api/v1/device-alarms/stream")).status_code == 403
        client.cookies.clear()
    # A made-up or oversized device id is the same 404 as another area's device.
    await http_sign_in(client, await staff(Role.OFFICER, "officer.noid", "GM0101"))
    for device_id in ("dev_nothing", "x" * 5000, "%3Cscript%3E"):
        answer = await client.get(f"/console/devices/{device_id}", headers=HTML)
        assert answer.status_code == 404 and "<script>" not in answer.text
