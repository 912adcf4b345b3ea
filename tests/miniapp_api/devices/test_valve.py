"""The gas valve over HTTP: a critical gas alarm shuts the paired valve (delivered in the valve's next
ingest answer, confirmed by its command id), a command left unconfirmed fails loudly, and only a person
reopens a valve, after the alarm is cleared, audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.devices import valve
from miniapp_api.devices.models import AlarmEvent, Device, DeviceAlarm, DeviceCommand
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


async def scene(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, **detector: Any
) -> tuple[User, Registered, Registered, User]:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101", openid="o_grid_staff")
    shutoff = await register(client, staff, "VL-3001", "valve")
    detector_device = await register(client, staff, "GD-3001", valve=shutoff.serial, **detector)
    resident = await bound_resident(app, client, detector_device, phone="13900003001", openid="o_household_3")
    return staff, detector_device, shutoff, resident


def state(serial: str, value: float, seconds_ago: float = 0.0) -> dict[str, Any]:
    return {"device": serial, "metric": "valve_state", "value": value, "at": at(seconds_ago)}


async def test_a_critical_leak_shuts_the_valve_and_the_valve_confirms(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, detector, shutoff, _ = await scene(app, client, tmp_path)
    warning = (await send(client, detector, [gas(detector.serial, 12.0, 30)])).json()
    assert warning["commands"] == [] and not await DeviceCommand.exists()  # a warning shuts nothing
    await send(client, detector, [gas(detector.serial, 25.0, 20)])
    polled = (await send(client, shutoff, [state(shutoff.serial, 1, 10)])).json()
    [command] = polled["commands"]
    assert (command["device"], command["action"]) == (shutoff.serial, "close")
    # Not handed out again before the retry interval.
    assert (await send(client, shutoff, [state(shutoff.serial, 1, 9)])).json()["commands"] == []
    answer = {"device": shutoff.serial, "command": command["id"], "result": "done", "at": at(5)}
    confirmed = await send(client, shutoff, [answer, state(shutoff.serial, 0, 5)])
    assert confirmed.status_code == 200 and confirmed.json()["refused"] == []
    row = await DeviceCommand.get(public_id=command["id"])
    assert (row.state, row.attempts) == ("confirmed", 1)
    [alarm] = await DeviceAlarm.filter(alarm_type="gas")
    notes = [e.note for e in await AlarmEvent.filter(alarm_id=alarm.id, action="command").order_by("id")]
    assert notes == [
        f"valve VL-3001 close commanded ({command['id']})",
        f"valve VL-3001 confirmed close ({command['id']})",
    ]
    # A second critical reading does not command the valve again while its command stands.
    await send(client, detector, [gas(detector.serial, 28.0, 4)])
    assert await DeviceCommand.all().count() == 1


async def test_the_household_may_keep_its_valve_open(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, detector, _, _ = await scene(app, client, tmp_path, auto_shutoff=False)
    await send(client, detector, [gas(detector.serial, 40.0)])
    assert await DeviceAlarm.filter(alarm_type="gas", severity="critical").exists()
    assert not await DeviceCommand.exists()


async def test_an_unconfirmed_close_fails_and_raises_valve_failed(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, detector, shutoff, resident = await scene(app, client, tmp_path)
    await send(client, detector, [gas(detector.serial, 25.0, 20)])
    command = await DeviceCommand.get()
    # Delivered at most max_attempts times, then nothing until it fails.
    later = dt.datetime.now(dt.UTC)
    for n in range(valve.MAX_ATTEMPTS + 1):
        handed = await valve.due_for(await Device.get(serial="VL-3001"), later + dt.timedelta(seconds=31 * n))
        assert len(handed) == (1 if n < valve.MAX_ATTEMPTS else 0)
    assert await valve.expire_due(now=later + valve.TTL / 2) == 0
    assert await valve.expire_due(now=later + valve.TTL + dt.timedelta(seconds=1)) == 1
    assert (await DeviceCommand.get(id=command.id)).state == "failed"
    [failed] = await DeviceAlarm.filter(alarm_type="valve_failed")
    assert failed.severity == "critical" and failed.device_id == (await Device.get(serial="GD-3001")).id
    assert [e.actor for e in await AlarmEvent.filter(alarm_id=failed.id)] == ["system"]
    household = await Notification.filter(account_id=resident.account.id, template="device.alarm").order_by("id")
    channels = [r.channels for r in household]
    assert channels[-2:] == ["wechat", "sms"]  # valve_failed: WeChat AND SMS
    assert await Notification.filter(account_id=staff.account.id, template="device.alarm").count() == 1
    # A late confirmation of a failed command is refused, and nothing is reopened.
    late = {"device": shutoff.serial, "command": command.public_id, "result": "done", "at": at()}
    refused = await send(client, shutoff, [late])
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["refused"][0]["code"] == "command_closed"


async def test_only_a_person_reopens_after_the_alarm_is_cleared(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, detector, shutoff, resident = await scene(app, client, tmp_path)
    other_staff = await user(app, Role.GRID_STAFF, node="GM010102")
    stranger = await user(app, Role.RESIDENT)
    await send(client, detector, [gas(detector.serial, 25.0, 30)])
    [command] = (await send(client, shutoff, [state(shutoff.serial, 1, 25)])).json()["commands"]
    await send(client, shutoff, [{"device": shutoff.serial, "command": command["id"], "result": "done", "at": at(20)}])
    # The gas falls: the alarm clears itself, and the valve stays shut.
    cleared = (await send(client, detector, [gas(detector.serial, 1.0, 10)])).json()["alarms"]
    assert [a["change"] for a in cleared] == ["clear"]
    assert await DeviceCommand.filter(action="open").count() == 0
    path = f"/api/v1/devices/{shutoff.id}/open"
    for caller in (other_staff, stranger):
        assert (await client.post(path, json={"confirm": True}, headers=caller.headers)).status_code == 404
    assert (await client.post(path, json={"confirm": False}, headers=resident.headers)).status_code == 422
    assert (await client.post(path, json={}, headers=resident.headers)).status_code == 422
    opened = await client.post(path, json={"confirm": True}, headers=resident.headers)
    assert opened.status_code == 202, opened.text
    assert opened.json()["action"] == "open" and opened.json()["state"] == "pending"
    again = await client.post(path, json={"confirm": True}, headers=staff.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "command_pending"
    entry = await AuditEntry.filter(action="device.valve_open").first()
    assert entry is not None and entry.actor == resident.account.public_id and entry.target == shutoff.id
    listed = (await client.get(f"/api/v1/devices/{shutoff.id}/commands", headers=resident.headers)).json()["items"]
    assert [(c["action"], c["state"]) for c in listed] == [("open", "pending"), ("close", "confirmed")]


async def test_no_reopening_while_the_gas_alarm_is_open(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    staff, detector, shutoff, resident = await scene(app, client, tmp_path)
    await send(client, detector, [gas(detector.serial, 25.0, 30)])
    [command] = (await send(client, shutoff, [state(shutoff.serial, 1, 25)])).json()["commands"]
    await send(client, shutoff, [{"device": shutoff.serial, "command": command["id"], "result": "done", "at": at(20)}])
    for caller in (resident, staff):
        refused = await client.post(
            f"/api/v1/devices/{shutoff.id}/open", json={"confirm": True}, headers=caller.headers
        )
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "alarm_open"
    assert await DeviceCommand.filter(action="open").count() == 0
    # Another valve's command id, or a detector answering: refused by index.
    other = {"device": detector.serial, "command": command["id"], "result": "done", "at": at()}
    assert (await send(client, detector, [other])).json()["error"]["details"]["refused"][0]["code"] == "unknown_command"
    bad = {"device": shutoff.serial, "command": "not-an-id", "result": "maybe", "at": at()}
    assert (await send(client, shutoff, [bad])).json()["error"]["details"]["refused"][0]["code"] == "bad_command_answer"


async def test_a_failed_close_on_a_silenced_detector_messages_nobody(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # The silence's promise holds for the valve's failure too: recorded and listed, nobody messaged.
    staff, detector, _, resident = await scene(app, client, tmp_path)
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    body = {"device": detector.id, "ends_at": ends, "reason": "设备检修期间暂停报警通知"}
    assert (await client.post("/api/v1/device-silences", json=body, headers=staff.headers)).status_code == 201
    await send(client, detector, [gas(detector.serial, 25.0, 20)])
    later = dt.datetime.now(dt.UTC) + valve.TTL + dt.timedelta(seconds=1)
    assert await valve.expire_due(now=later) == 1
    assert await DeviceAlarm.filter(alarm_type="valve_failed").exists()
    for who in (staff, resident):
        assert not await Notification.filter(account_id=who.account.id, template="device.alarm").exists()
