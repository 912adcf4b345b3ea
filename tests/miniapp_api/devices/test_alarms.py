"""Alarms from readings over HTTP: hysteresis, severity within one alarm, one open alarm under
concurrent ingest, who hears of it (household, WeChat and SMS), who may see, acknowledge and clear it."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices import notices
from miniapp_api.devices.models import AlarmEvent, Device, DeviceAlarm
from miniapp_api.devices.notices import NoticeFlusher
from notify.models import Notification
from tests.miniapp_api.devices.conftest import (
    Registered,
    User,
    at,
    bound_resident,
    buildings,
    gas,
    register,
    send,
    user,
)


async def scene(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> tuple[User, Registered, User]:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101", openid="o_grid_staff")
    device = await register(client, staff, "GD-2001")
    resident = await bound_resident(app, client, device, phone="13900002001", openid="o_household_1")
    return staff, device, resident


async def alarms_of(device: Registered) -> list[DeviceAlarm]:
    row = await Device.get(public_id=device.id)
    return list(await DeviceAlarm.filter(device_id=row.id).order_by("id"))


async def test_a_leak_rises_to_critical_in_one_alarm_and_clears_without_flapping(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, resident = await scene(app, client, tmp_path)
    serial = device.serial
    raised = (await send(client, device, [gas(serial, 12.0, 60)])).json()["alarms"]
    assert [(a["change"], a["severity"]) for a in raised] == [("raise", "warning")]
    # Between the clear point and the set point: no new alarm, no clear.
    for n, value in enumerate([9.0, 11.0, 9.0, 10.5, 8.5]):
        answer = (await send(client, device, [gas(serial, value, 50 - n)])).json()
        assert answer["alarms"] == [], (value, answer)
    rose = (await send(client, device, [gas(serial, 25.0, 40)])).json()["alarms"]
    assert [(a["change"], a["severity"], a["id"]) for a in rose] == [("severity", "critical", raised[0]["id"])]
    fell = (await send(client, device, [gas(serial, 12.0, 30)])).json()["alarms"]
    assert [(a["change"], a["severity"]) for a in fell] == [("severity", "warning")]
    cleared = (await send(client, device, [gas(serial, 2.0, 20)])).json()["alarms"]
    assert [(a["change"], a["state"]) for a in cleared] == [("clear", "cleared_unack")]
    [alarm] = await alarms_of(device)
    history = [e.action for e in await AlarmEvent.filter(alarm_id=alarm.id).order_by("id")]
    assert history == ["raise", "severity", "severity", "clear"]
    # A late reading from before the clear changes nothing.
    late = (await send(client, device, [gas(serial, 30.0, 25)])).json()
    assert late["accepted"] == 1 and late["alarms"] == []
    # The household heard at once: the raise (any channel), the rise to critical by WeChat AND SMS (a leak
    # does not wait for the grouping window the warning opened), the clear; no summary is left to send.
    rows = await Notification.filter(account_id=resident.account.id).order_by("id")
    assert [(r.template, r.channels) for r in rows] == [
        ("device.alarm", "wechat,sms"),
        ("device.alarm", "wechat"),
        ("device.alarm", "sms"),
        ("device.alarm_cleared", "wechat,sms"),
    ]
    assert await NoticeFlusher().run_once(now=dt.datetime.now(dt.UTC) + notices.window()) == 0
    # Staff are not the household: nothing was queued for them.
    assert not await Notification.filter(account_id=staff.account.id).exists()
    detail = (await client.get(f"/api/v1/device-alarms/{alarm.public_id}", headers=resident.headers)).json()
    assert [h["action"] for h in detail["history"]] == history
    assert detail["history"][1]["readings"][0]["value"] == 25.0


async def test_concurrent_batches_open_one_alarm(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, device, resident = await scene(app, client, tmp_path)
    answers = await asyncio.gather(*(send(client, device, [gas(device.serial, 30.0, 30 - n)]) for n in range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    alarms = await alarms_of(device)
    assert len(alarms) == 1 and alarms[0].cleared_at is None and alarms[0].severity == "critical"
    raises = await AlarmEvent.filter(alarm_id=alarms[0].id, action="raise").count()
    assert raises == 1
    sent = await Notification.filter(account_id=resident.account.id, template="device.alarm").count()
    assert sent == 2  # one WeChat and one SMS, not one pair per batch


async def test_who_may_see_acknowledge_and_clear(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    staff, device, resident = await scene(app, client, tmp_path)
    other_staff = await user(app, Role.GRID_STAFF, node="GM010102")
    stranger = await user(app, Role.RESIDENT)
    street_officer = await user(app, Role.OFFICER, node="GM01")
    await send(client, device, [gas(device.serial, 22.0)])
    [alarm] = await alarms_of(device)
    path = f"/api/v1/device-alarms/{alarm.public_id}"
    for caller in (other_staff, stranger):
        assert (await client.get(path, headers=caller.headers)).status_code == 404
        assert (await client.post(f"{path}/ack", json={}, headers=caller.headers)).status_code == 404
    assert (await client.get("/api/v1/device-alarms", headers=other_staff.headers)).json()["items"] == []
    assert (await client.get("/api/v1/me/device-alarms", headers=stranger.headers)).json()["items"] == []
    assert (await client.post(f"{path}/clear", json={"note": "x"}, headers=other_staff.headers)).status_code == 404
    # The household acknowledges; it may not clear (staff check first).
    acked = await client.post(f"{path}/ack", json={"note": "已开窗"}, headers=resident.headers)
    assert acked.status_code == 200 and acked.json()["state"] == "active_ack"
    assert (await client.post(f"{path}/ack", json={}, headers=staff.headers)).status_code == 409
    assert (await client.post(f"{path}/clear", json={"note": "x"}, headers=resident.headers)).status_code == 403
    listed = (await client.get("/api/v1/device-alarms", headers=street_officer.headers)).json()["items"]
    assert [a["id"] for a in listed] == [alarm.public_id]
    no_note = await client.post(f"{path}/clear", json={"note": "  "}, headers=staff.headers)
    assert no_note.status_code == 422
    cleared = await client.post(f"{path}/clear", json={"note": "阀门已关，通风后复测正常"}, headers=staff.headers)
    assert cleared.status_code == 200 and cleared.json()["state"] == "cleared_ack"
    assert (await client.post(f"{path}/clear", json={"note": "again"}, headers=staff.headers)).status_code == 409
    # The household sees that staff acted, not who; staff see the account.
    seen_by_household = (await client.get(path, headers=resident.headers)).json()["history"]
    seen_by_staff = (await client.get(path, headers=staff.headers)).json()["history"]
    assert [h["by"] for h in seen_by_household] == ["device", "household", "staff"]
    assert seen_by_staff[2]["by"] == staff.account.public_id
    assert staff.account.public_id not in str(seen_by_household)


async def test_a_leak_that_lasts_after_staff_clear_it_raises_again(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, _ = await scene(app, client, tmp_path)
    await send(client, device, [gas(device.serial, 15.0, 30)])
    [first] = await alarms_of(device)
    cleared = await client.post(
        f"/api/v1/device-alarms/{first.public_id}/clear", json={"note": "误报？"}, headers=staff.headers
    )
    assert cleared.status_code == 200
    again = (await send(client, device, [gas(device.serial, 15.0, 20)])).json()["alarms"]
    assert [(a["change"], a["severity"]) for a in again] == [("raise", "warning")]
    assert again[0]["id"] != first.public_id
    open_alarms = await DeviceAlarm.filter(cleared_at=None).count()
    assert open_alarms == 1


async def test_device_events_raise_their_own_alarms(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, device, resident = await scene(app, client, tmp_path)
    answer = (
        await send(
            client,
            device,
            [
                {"device": device.serial, "event": "tamper", "at": at(2)},
                {"device": device.serial, "event": "self_test", "at": at(1)},
            ],
        )
    ).json()
    assert [(a["type"], a["severity"]) for a in answer["alarms"]] == [("tamper", "major")]
    mine = (await client.get("/api/v1/me/device-alarms", headers=resident.headers)).json()["items"]
    assert [(a["type"], a["device"]) for a in mine] == [("tamper", device.serial)]


async def test_notes_on_an_alarm_hold_no_personal_numbers(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # An alarm's notes are read by the household, the grid's staff and officers above them.
    staff, device, resident = await scene(app, client, tmp_path)
    await send(client, device, [gas(device.serial, 22.0)])
    [alarm] = await alarms_of(device)
    path = f"/api/v1/device-alarms/{alarm.public_id}"
    for note in ("请联系房东 13912345678", "租户身份证 440306199001011234"):
        acked = await client.post(f"{path}/ack", json={"note": note}, headers=resident.headers)
        assert acked.status_code == 422 and acked.json()["error"]["code"] == "personal_number", acked.text
        assert "13912345678" not in acked.text and "440306199001011234" not in acked.text
        cleared = await client.post(f"{path}/clear", json={"note": note}, headers=staff.headers)
        assert cleared.status_code == 422 and cleared.json()["error"]["code"] == "personal_number", cleared.text
    row = await DeviceAlarm.get(id=alarm.id)
    assert (row.state, row.acked_at, row.cleared_at) == ("active_unack", None, None)
    assert [e.action for e in await AlarmEvent.filter(alarm_id=alarm.id)] == ["raise"]
