"""The bench's measurements: alarm and notification latency of a minute's crossing devices, and the alarm storm."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _devices_fleet import GATEWAY_SIZE, READINGS_PATH, Plan, alarm_reading, gateway_serial, secret_for
from _devices_seed import Seeded
from _devices_send import Minute, batch_body
from _load import RawConnection

from server import db
from server.settings import Settings


@dataclass
class Latency:
    alarms_ms: list[float]
    notified_ms: list[float]
    expected: int


async def latencies(settings: Settings, plan: Plan, seeded: Seeded, minute: Minute, offset: int) -> Latency:
    from miniapp_api.devices.models import DeviceAlarm
    from notify.models import Notification

    crossing = {seeded.device_ids[i]: i for i in range(plan.devices) if plan.crosses(i, offset)}
    await db.open_db(settings)
    try:
        rows = await DeviceAlarm.filter(device_id__in=list(crossing), alarm_type="gas").values_list(
            "public_id", "device_id", "started_at"
        )
        sent = {pid: minute.sent_at[plan.gateway_of(crossing[device_id])] for pid, device_id, _ in rows}
        alarms_ms = [(started.timestamp() - sent[pid]) * 1000 for pid, _, started in rows]
        first_told: dict[str, float] = {}
        for key, created in await Notification.filter(
            template="device.alarm", idempotency_key__startswith="dalarm:"
        ).values_list("idempotency_key", "created_at"):
            pid = str(key).split(":")[1]
            if pid in sent:
                first_told[pid] = min(first_told.get(pid, 1e20), created.timestamp())
        notified_ms = [(t - sent[pid]) * 1000 for pid, t in first_told.items()]
    finally:
        await db.close_db()
    return Latency(sorted(alarms_ms), sorted(notified_ms), len(crossing))


@dataclass
class Storm:
    devices: int
    seconds: float
    alarms: int
    recipients: int
    windows: int
    max_messages: int  # first-of-window + summary, per recipient per window
    max_urgent_extra: int
    max_rows: int  # notification rows (a critical gas alarm: WeChat and SMS rows)
    flushed: bool


async def storm(
    base_url: str, settings: Settings, plan: Plan, seeded: Seeded, storm_seconds: float, group_seconds: int
) -> Storm:
    from miniapp_api.devices import signing
    from miniapp_api.devices.models import AlarmNotice, DeviceAlarm
    from notify.models import Notification

    gateways = sorted({plan.gateway_of(i) for i in range(plan.storm)})
    started_wall = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    conn = RawConnection(base_url)
    try:
        for n, g in enumerate(gateways):
            delay = t0 + n * storm_seconds / max(len(gateways), 1) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            at = dt.datetime.now(dt.UTC).isoformat()
            readings = [alarm_reading(i, at) for i in range(g * GATEWAY_SIZE, min((g + 1) * GATEWAY_SIZE, plan.storm))]
            s = gateway_serial(g)
            headers = signing.headers(s, secret_for(s), READINGS_PATH, batch_body(readings))
            headers.pop("Content-Type")
            answer = await conn.request("POST", READINGS_PATH, json={"readings": readings}, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"the storm's batch was answered {answer.status_code}")
    finally:
        conn.close()
    seconds = time.perf_counter() - t0
    # Wait for the windows to end and their summaries to be flushed (devices.notices, every 5 s).
    await db.open_db(settings)
    try:
        deadline = time.monotonic() + group_seconds + storm_seconds + 60
        flushed = False
        while time.monotonic() < deadline:
            left = await AlarmNotice.filter(account_id__in=seeded.storm_accounts, flushed_at=None).count()
            if not left:
                flushed = True
                break
            await asyncio.sleep(2)
        storm_ids = [seeded.device_ids[i] for i in range(plan.storm)]
        alarms = await DeviceAlarm.filter(device_id__in=storm_ids, started_at__gte=started_wall).count()
        notices = await AlarmNotice.filter(account_id__in=seeded.storm_accounts, window_start__gte=started_wall)
        pids = dict(await DeviceAlarm.filter(device_id__in=storm_ids).values_list("public_id", "id"))
        notes = await Notification.filter(
            account_id__in=seeded.storm_accounts, created_at__gte=started_wall
        ).values_list("account_id", "idempotency_key", "created_at")
    finally:
        await db.close_db()
    max_messages = max_urgent = max_rows = 0
    for notice in notices:
        messages: set[str] = set()
        urgent: set[str] = set()
        rows = 0
        for account_id, key, created in notes:
            key = str(key)
            base = key.rsplit(":", 1)[0]
            if key.startswith(f"dgroup:{notice.id}:"):
                messages.add(base)
                rows += 1
            elif (
                key.startswith("dalarm:")
                and account_id == notice.account_id
                and notice.window_start <= created <= notice.window_end
            ):
                rows += 1
                alarm_id = pids.get(key.split(":")[1])
                (messages if notice.alarm_ids and alarm_id == notice.alarm_ids[0] else urgent).add(base)
        max_messages, max_urgent, max_rows = (
            max(max_messages, len(messages)),
            max(max_urgent, len(urgent)),
            max(max_rows, rows),
        )
    recipients = len({n.account_id for n in notices})
    return Storm(plan.storm, seconds, alarms, recipients, len(notices), max_messages, max_urgent, max_rows, flushed)
