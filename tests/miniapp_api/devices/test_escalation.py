"""Escalation of unacknowledged alarms: the grid's staff after N minutes, the community's duty staff after
M more; never for an acknowledged or cleared alarm; each step once across restarts and instances."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices import escalation
from miniapp_api.devices.escalation import EscalationScheduler
from miniapp_api.devices.models import AlarmEvent, AlarmTimer, Device, DeviceAlarm
from miniapp_api.devices.rules import Severity
from notify.models import Notification
from server.settings import Settings, SettingsError
from tests.miniapp_api.devices.conftest import Registered, User, bound_resident, buildings, gas, register, send, user

TEMPLATE = "device.alarm_escalated"


def later(minutes: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)


async def escalations_to(account: User) -> list[Notification]:
    return list(await Notification.filter(account_id=account.account.id, template=TEMPLATE).order_by("id"))


async def alarm_of(device: Registered) -> DeviceAlarm:
    row = await Device.get(public_id=device.id)
    alarm = await DeviceAlarm.filter(device_id=row.id).order_by("-id").first()
    assert alarm is not None
    return alarm


async def escalate_notes(alarm: DeviceAlarm) -> list[str]:
    return [e.note for e in await AlarmEvent.filter(alarm_id=alarm.id, action="escalate").order_by("id")]


async def staff_scene(app: Sanic) -> dict[str, User]:
    return {
        "grid": await user(app, Role.GRID_STAFF, node="GM010101", openid="o_esc_grid"),
        "other_grid": await user(app, Role.GRID_STAFF, node="GM010102", openid="o_esc_other"),
        "community_staff": await user(app, Role.GRID_STAFF, node="GM0101", openid="o_esc_comm"),
        "community_officer": await user(app, Role.OFFICER, node="GM0101", phone="13900003001"),
        "street_officer": await user(app, Role.OFFICER, node="GM01", openid="o_esc_street"),
    }


async def test_an_unacknowledged_critical_alarm_reaches_the_grid_then_the_community_once(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await staff_scene(app)
    device = await register(client, staff["grid"], "GE-3001")
    await send(client, device, [gas(device.serial, 30.0)])  # critical: 5 minutes, then 10 more
    alarm = await alarm_of(device)
    assert alarm.severity == "critical"
    assert await EscalationScheduler().run_once(now=later(4)) == 0
    assert await escalations_to(staff["grid"]) == []
    assert await EscalationScheduler().run_once(now=later(6)) == 1
    [told] = await escalations_to(staff["grid"])
    assert told.channels == "wechat"
    for name in ("other_grid", "community_staff", "community_officer", "street_officer"):
        assert await escalations_to(staff[name]) == [], name
    assert await escalate_notes(alarm) == ["step 1: grid staff of GM010101"]
    # A restart (a new scheduler) at the same time, and later ones before step 2: nothing again.
    assert await EscalationScheduler().run_once(now=later(6)) == 0
    assert await EscalationScheduler().run_once(now=later(14)) == 0
    assert await EscalationScheduler().run_once(now=later(16)) == 1
    assert await EscalationScheduler().run_once(now=later(60)) == 0
    assert len(await escalations_to(staff["community_staff"])) == 1
    [by_sms] = await escalations_to(staff["community_officer"])
    assert by_sms.channels == "sms"
    for name in ("grid", "other_grid", "street_officer"):
        assert len(await escalations_to(staff[name])) == (1 if name == "grid" else 0), name
    assert await escalate_notes(alarm) == ["step 1: grid staff of GM010101", "step 2: community duty staff of GM0101"]
    history = (await client.get(f"/api/v1/device-alarms/{alarm.public_id}", headers=staff["grid"].headers)).json()
    assert [h["action"] for h in history["history"]] == ["raise", "escalate", "escalate"]
    assert {h["by"] for h in history["history"][1:]} == {"system"}


async def test_an_acknowledged_or_cleared_alarm_is_not_escalated(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await staff_scene(app)
    acked = await register(client, staff["grid"], "GE-3101")
    cleared = await register(client, staff["grid"], "GE-3102")
    raced = await register(client, staff["grid"], "GE-3103")
    resident = await bound_resident(app, client, acked, phone="13900003101", openid="o_esc_home")
    for device in (acked, cleared, raced):
        await send(client, device, [gas(device.serial, 30.0)])
    ack = await client.post(
        f"/api/v1/device-alarms/{(await alarm_of(acked)).public_id}/ack", json={}, headers=resident.headers
    )
    assert ack.status_code == 200
    clear = await client.post(
        f"/api/v1/device-alarms/{(await alarm_of(cleared)).public_id}/clear",
        json={"note": "误报，已复核"},
        headers=staff["grid"].headers,
    )
    assert clear.status_code == 200
    # Acknowledged after the scheduler claimed the step, before it fired: the fire re-checks the alarm.
    scheduler = EscalationScheduler()
    raced_alarm = await alarm_of(raced)
    claimed = await scheduler.claim(later(6))
    assert len(claimed) == 1
    await DeviceAlarm.filter(id=raced_alarm.id).update(state="active_ack")
    assert await scheduler.fire(claimed[0], later(6)) == 0
    assert await EscalationScheduler().run_once(now=later(60)) == 0
    for device in (acked, cleared, raced):
        alarm = await alarm_of(device)
        assert await escalate_notes(alarm) == []
        assert await AlarmTimer.filter(alarm_id=alarm.id, cancelled=False).count() == 0
    assert not await Notification.filter(template=TEMPLATE).exists()


async def test_two_schedulers_at_once_fire_each_step_once(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await staff_scene(app)
    devices = [await register(client, staff["grid"], f"GE-32{n:02d}") for n in range(6)]
    for device in devices:
        await send(client, device, [gas(device.serial, 30.0)])
    first, second = EscalationScheduler(worker="a", batch=2), EscalationScheduler(worker="b", batch=2)
    for _ in range(4):  # small batches: the two take turns over the rows, concurrently
        await asyncio.gather(first.run_once(now=later(16)), second.run_once(now=later(16)))
    assert first.fired + second.fired == 12
    assert await AlarmTimer.filter(fired_at=None).count() == 0
    for device in devices:
        notes = await escalate_notes(await alarm_of(device))
        assert sorted(notes) == ["step 1: grid staff of GM010101", "step 2: community duty staff of GM0101"]
    # "Restart": new schedulers find nothing left.
    assert await EscalationScheduler(worker="a").run_once(now=later(120)) == 0
    # The grid's staff heard of the first at once, the other five in one summary (test_grouping.py).
    assert len(await escalations_to(staff["grid"])) == 1


async def test_a_device_at_a_community_escalates_to_the_community(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await staff_scene(app)
    device = await register(client, staff["community_staff"], "GE-3301", building=None, node="GM0101")
    await send(client, device, [gas(device.serial, 30.0)])
    assert await EscalationScheduler().run_once(now=later(6)) == 1
    assert len(await escalations_to(staff["community_staff"])) == 1
    assert await escalations_to(staff["grid"]) == []
    assert await escalations_to(staff["community_officer"]) == []  # step 1 is the grid staff only
    assert await EscalationScheduler().run_once(now=later(16)) == 1
    assert len(await escalations_to(staff["community_officer"])) == 1


def test_escalation_minutes_are_read_strictly() -> None:
    settings = Settings.from_env({"GMID_DEVICE_ESCALATION": " critical=2+3 , warning=30+60"}, env_file=None)
    escalation.configure_from(settings.device_escalation)
    try:
        assert escalation.minutes_for(Severity.CRITICAL) == (2, 3)
        assert escalation.minutes_for(Severity.MAJOR) == (15, 30)  # not named: the default
        assert escalation.minutes_for(Severity.WARNING) == (30, 60)
    finally:
        escalation.configure({})
    for bad in ("critical=5", "critical=5+10,critical=1+1", "urgent=5+10", "critical=0+10", "critical=5+x", "5+10"):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({"GMID_DEVICE_ESCALATION": bad}, env_file=None)
        message = str(caught.value)
        assert "GMID_DEVICE_ESCALATION" in message and "\n" not in message, (bad, message)
    with pytest.raises(SettingsError):
        Settings.from_env({"GMID_DEVICE_GROUP_SECONDS": "0"}, env_file=None)


async def test_a_silenced_alarm_is_escalated_to_nobody(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    # A silence means nobody is messaged about the alarm: not the household, not staff by escalation.
    await buildings(tmp_path)
    staff = await staff_scene(app)
    device = await register(client, staff["grid"], "GE-3401")
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    silence = {"device": device.id, "ends_at": ends, "reason": "设备检修期间暂停报警通知"}
    silenced = await client.post("/api/v1/device-silences", json=silence, headers=staff["grid"].headers)
    assert silenced.status_code == 201, silenced.text
    await send(client, device, [gas(device.serial, 30.0)])
    alarm = await alarm_of(device)
    assert await EscalationScheduler().run_once(now=later(6)) == 1
    assert await EscalationScheduler().run_once(now=later(16)) == 1
    for name in staff:
        assert await escalations_to(staff[name]) == [], name
    sid = silenced.json()["id"]
    assert await escalate_notes(alarm) == [f"step 1: silenced by {sid}", f"step 2: silenced by {sid}"]
    # Lifted before a step is due: that step is told.
    lift = await client.post(f"/api/v1/device-silences/{sid}/lift", headers=staff["grid"].headers)
    assert lift.status_code == 200
    other = await register(client, staff["grid"], "GE-3402")
    await send(client, other, [gas(other.serial, 30.0)])
    assert await EscalationScheduler().run_once(now=later(6)) == 1
    assert len(await escalations_to(staff["grid"])) == 1
