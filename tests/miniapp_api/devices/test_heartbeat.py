"""Heartbeats: silent devices go offline (one alarm, the household told), heard again they clear; a
gateway's outage inhibits the offline alarms of the devices behind it; last_seen_at follows the ZSET."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices.heartbeat import Heartbeats, intervals_from
from miniapp_api.devices.ingest import HEARTBEAT_KEY
from miniapp_api.devices.jobs import HEARTBEAT_JOB, jobs
from miniapp_api.devices.models import AlarmEvent, Device, DeviceAlarm
from miniapp_api.devices.rules import DeviceType
from notify.models import Notification
from server.jobs import JobContext
from server.settings import Settings, SettingsError
from tests.miniapp_api.devices.conftest import Registered, at, bound_resident, buildings, gas, register, send, user


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def row_of(device: Registered) -> Device:
    return await Device.get(public_id=device.id)


async def registered_ago(seconds: float, *devices: Registered) -> None:
    """As if the devices had been registered (and not heard since) ``seconds`` ago."""
    ids = [(await row_of(d)).id for d in devices]
    await Device.filter(id__in=ids).update(created_at=now() - dt.timedelta(seconds=seconds))


async def heard_ago(redis: aioredis.Redis, seconds: float, *devices: Registered) -> None:
    """As if the devices had last been heard ``seconds`` ago (the ZSET and the stored last_seen_at)."""
    then = now() - dt.timedelta(seconds=seconds)
    for device in devices:
        row = await row_of(device)
        await redis.zadd(HEARTBEAT_KEY, {str(row.id): then.timestamp()})
        await Device.filter(id=row.id).update(last_seen_at=then)


async def offline_alarms(device: Registered) -> list[DeviceAlarm]:
    row = await row_of(device)
    return list(await DeviceAlarm.filter(device_id=row.id, alarm_type="offline").order_by("id"))


async def test_a_silent_detector_goes_offline_once_and_clears_when_heard(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, redis: aioredis.Redis
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    detector = await register(client, staff, "GD-HB01")
    fresh = await register(client, staff, "GD-HB02")
    resident = await bound_resident(app, client, detector, phone="13900003001", openid="o_hb_1")
    beats = Heartbeats(redis)
    # Never heard since registration: counted from created_at (just now: not offline yet).
    assert (await beats.run_once()).raised == 0
    await registered_ago(3700, detector, fresh)
    await send(client, fresh, [gas(fresh.serial, 1.0)])
    outcome = await beats.run_once()
    assert outcome.raised == 1
    [alarm] = await offline_alarms(detector)
    assert (alarm.severity, alarm.state) == ("major", "active_unack")
    # Nobody's reading raised it: the history names the service, not the device.
    assert [e.actor for e in await AlarmEvent.filter(alarm_id=alarm.id)] == ["system"]
    assert await offline_alarms(fresh) == []
    # Judged again: still one alarm, the household told once.
    assert (await beats.run_once()).raised == 0
    assert len(await offline_alarms(detector)) == 1
    told = await Notification.filter(account_id=resident.account.id).order_by("id")
    assert [n.template for n in told] == ["device.alarm"]
    # Staff see it in their list.
    listed = (await client.get("/api/v1/device-alarms", headers=staff.headers)).json()["items"]
    assert [(a["id"], a["type"]) for a in listed] == [(alarm.public_id, "offline")]
    # Heard again: the next run clears it, and the household hears of that too.
    await send(client, detector, [gas(detector.serial, 1.0)])
    assert (await beats.run_once()).cleared == 1
    [alarm] = await offline_alarms(detector)
    assert alarm.state == "cleared_unack" and alarm.cleared_at is not None
    assert [e.action for e in await AlarmEvent.filter(alarm_id=alarm.id).order_by("id")] == ["raise", "clear"]
    told = await Notification.filter(account_id=resident.account.id).order_by("id")
    assert [n.template for n in told] == ["device.alarm", "device.alarm_cleared"]
    # Silent again later: a new alarm (the old one stays cleared in the history).
    await heard_ago(redis, 3700, detector)
    assert (await beats.run_once()).raised == 1
    assert [a.cleared_at is None for a in await offline_alarms(detector)] == [False, True]


async def test_last_seen_at_follows_the_heartbeats(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    devices = [await register(client, staff, f"GD-LS{n:02d}") for n in range(3)]
    for device in devices[:2]:
        await send(client, device, [gas(device.serial, 1.0)])
    before = now()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        outcome = await Heartbeats(redis).run_once()
    assert outcome.seen_updated == 2
    updates = [r.getMessage() for r in caplog.records if 'UPDATE "device"' in r.getMessage()]
    assert len(updates) == 1, updates  # one statement for the batch, not one per device
    seen = [(await row_of(d)).last_seen_at for d in devices]
    assert seen[0] is not None and seen[1] is not None and seen[2] is None
    assert before - dt.timedelta(seconds=60) < seen[0] <= before
    shown = (await client.get(f"/api/v1/devices/{devices[0].id}", headers=staff.headers)).json()
    assert shown["last_seen_at"] is not None
    # Nothing newer: no row rewritten.
    assert (await Heartbeats(redis).run_once()).seen_updated == 0
    # Redis lost its ZSET: the stored last_seen_at keeps the device from looking silent since registration.
    await registered_ago(3700, *devices[:2])
    await redis.delete(HEARTBEAT_KEY)
    assert (await Heartbeats(redis).run_once()).raised == 0


async def test_a_gateway_outage_inhibits_the_devices_behind_it(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, redis: aioredis.Redis
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    gateway = await register(client, staff, "GW-HB01", "gateway")
    behind = await register(client, staff, "GD-HB11", gateway=gateway.serial)
    resident = await bound_resident(app, client, behind, phone="13900003011", openid="o_hb_11")
    beats = Heartbeats(redis)
    await registered_ago(5000, gateway, behind)
    outcome = await beats.run_once()
    # Only the gateway's alarm: the detector behind it is inhibited (silent 5000 s > 3600 s).
    assert (outcome.raised, outcome.inhibited) == (1, 1)
    assert len(await offline_alarms(gateway)) == 1 and await offline_alarms(behind) == []
    assert not await Notification.filter(account_id=resident.account.id).exists()
    # The gateway is back (a signed request of its own, even one that only carries its signal):
    # its alarm clears, and the detector is judged again from the gateway's return: not offline yet.
    answer = await send(client, gateway, [{"device": gateway.serial, "metric": "signal_dbm", "value": -70, "at": at()}])
    assert answer.status_code == 200, answer.text
    outcome = await beats.run_once()
    assert (outcome.cleared, outcome.raised) == (1, 0)
    assert (await offline_alarms(gateway))[0].cleared_at is not None
    assert await offline_alarms(behind) == []
    # The gateway has been back for longer than the detector's interval and it still says nothing:
    # now the detector is offline in its own right.
    [gateway_alarm] = await offline_alarms(gateway)
    gateway_alarm.cleared_at = now() - dt.timedelta(seconds=3700)
    await gateway_alarm.save(update_fields=["cleared_at"])
    outcome = await beats.run_once()
    assert outcome.raised == 1
    assert len(await offline_alarms(behind)) == 1
    told = await Notification.filter(account_id=resident.account.id).values_list("template", flat=True)
    assert list(told) == ["device.alarm"]


async def test_a_gateway_that_forwards_its_devices_readings_is_heard(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, redis: aioredis.Redis
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    gateway = await register(client, staff, "GW-HB21", "gateway")
    behind = await register(client, staff, "GD-HB21", gateway=gateway.serial)
    await registered_ago(5000, gateway, behind)
    answer = await send(client, gateway, [gas(behind.serial, 1.0)])
    assert answer.status_code == 200, answer.text
    outcome = await Heartbeats(redis).run_once()
    assert outcome.raised == 0
    assert await offline_alarms(gateway) == [] and await offline_alarms(behind) == []


async def test_retired_devices_are_not_judged(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, redis: aioredis.Redis
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-HB31")
    retired = await client.patch(f"/api/v1/devices/{device.id}", json={"active": False}, headers=staff.headers)
    assert retired.status_code == 200, retired.text
    await registered_ago(90000, device)
    assert (await Heartbeats(redis).run_once()).raised == 0


async def test_the_setting_overrides_the_interval_per_type(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, redis: aioredis.Redis, settings: Settings
) -> None:
    assert intervals_from("gas=600")[DeviceType.GAS] == 600
    assert intervals_from("gas=600")[DeviceType.GATEWAY] == 300
    for bad in ("gas", "pump=600", "gas=10", "gas=six", "gas=9999999"):
        with pytest.raises(SettingsError, match="GMID_DEVICE_HEARTBEATS"):
            Settings.from_env({"GMID_DEVICE_HEARTBEATS": bad})
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-HB41")
    await registered_ago(700, device)
    # The default (3600 s): not offline; the job of settings with gas=600: offline.
    assert (await Heartbeats(redis).run_once()).raised == 0
    configured = Settings.from_env({"GMID_DEVICE_HEARTBEATS": "gas=600, gateway=300"})
    [job] = [j for j in jobs(configured) if j.name == HEARTBEAT_JOB]
    assert job.exclusive and job.every == 30.0
    assert job.run is not None
    assert await job.run(JobContext(settings=settings, redis=redis, redis_url="")) >= 1
    assert len(await offline_alarms(device)) == 1
