"""Sensor devices at scale: one simulated minute of readings over HTTP and MQTT, alarm latency, an alarm storm.

Seeds N registered devices (default 100,000: gas detectors mostly, some smoke, water and noise devices)
behind gateways of 500 straight into the database (PostgreSQL ``COPY``; SQLite ``executemany``), each
with its signing secret encrypted by the PII vault (``identity.pii``), so the ingest verifies real
HMAC signatures; 1 % of the devices get a household (a resident with a WeChat openid and a phone).
Then starts ``gmid serve`` and ``gmid worker --job devices.mqtt --job devices.notices`` (and, when
``mosquitto`` is installed, a Mosquitto on a free loopback port, ``GMID_MQTT_URL`` for the worker):

1. HTTP: one simulated minute (one reading per device, their times spread over the last minute) in
   gateway batches of 500, each signed by its gateway, from ``--concurrency`` keep-alive raw HTTP/1.1
   connections (several gateways at once): readings/s, target >= 3,300 (twice real time);
2. MQTT: the next minute (another 1 % crossing; the HTTP minute's alarming devices stay at their values,
   so each minute has the same 1 % of alarm changes), the same way, published (QoS 1) with aiomqtt on
   each gateway's up topic, the answers counted on the down topics: readings/s from the first publish
   to the last answer;
3. in each minute 1 % of the devices (gas detectors outside the storm building) cross a threshold
   (12 %LEL: warning; every third 25 %LEL: critical): from the send of the request (or publish) that
   carried the reading to the alarm row's ``started_at`` and, for the HTTP minute's devices (those with
   a household), to the household's ``notify_notification.created_at``: p50 and p99 (goal p99 < 1 s);
4. an alarm storm: every device of one building (5,000 by default, 10 gateways) alarms within
   ``--storm-seconds``; ten households there have five devices each. Messages per recipient per group
   window (``device_alarm_notice``) are counted once the windows ended and were flushed: a message is
   one idempotency key without its channel (a critical gas alarm goes by WeChat AND SMS: two rows, one
   message). The first alarm of a window is told at once, the rest in one summary at the window's end:
   at most 2. By design the first critical gas (or smoke) alarm of a window is told at once too when
   the window was opened by a lesser alarm: it is counted apart ("urgent extra").

    .venv/bin/python bench/devices_bench.py --devices 5000 --storm-devices 1000   # quick: SQLite, embedded Redis
    createdb -h 127.0.0.1 -p 55432 -U gmid devbench_x
    .venv/bin/python bench/devices_bench.py --database-url postgres://gmid@127.0.0.1:55432/devbench_x \\
        --redis-url redis://127.0.0.1:56379/46                    # the real figures: 100,000 devices

The database must be empty (a fresh ``CREATE DATABASE``; drop it afterwards). The Redis database is
flushed first (FLUSHDB on the given one only). Escalation to staff is not run (its first step is
minutes later); notifications are not delivered (only queued: their rows are what is counted). The
client, the servers, Redis, Mosquitto and the database share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import (
    GMID,
    HOST,
    RawConnection,
    RawError,
    Workspace,
    asyncpg_dsn,
    free_port,
    gmid_env,
    percentile,
    require_gmid,
    run,
    run_plain,
    server_env,
)

from identity import hierarchy
from identity import service as identity_service
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from server import db
from server.cli import init_keys
from server.settings import Settings

READINGS_PATH = "/api/v1/devices/readings"
GATEWAY_SIZE = 500
RATE_TARGET = 3300.0  # readings/s: twice real time for 100,000 devices a minute on this machine
P99_GOAL_S = 1.0
SECRET_FIELD = "device.secret"  # noqa: S105 - miniapp_api.devices.registry.SECRET_FIELD, a field name
HOUSEHOLD_DEVICES = 5  # devices of one storm household
STORM_HOUSEHOLDS = 10


# The fleet: everything follows from the device's index i ----------------------------------------


def device_type(i: int) -> str:
    r = i % 20
    return "gas" if r < 14 else "smoke" if r < 17 else "water" if r < 19 else "noise"


def serial(i: int) -> str:
    return f"BENCH-D{i:07d}"


def gateway_serial(g: int) -> str:
    return f"BENCH-GW{g:05d}"


def secret_for(serial_: str) -> str:
    """Known to the client without storing it; kept encrypted by the vault in the registry."""
    return hashlib.sha256(f"devices-bench:{serial_}".encode()).hexdigest()


@dataclass(frozen=True)
class Plan:
    devices: int
    storm: int  # devices 0 .. storm-1 are in the storm building

    @property
    def gateways(self) -> int:
        return -(-self.devices // GATEWAY_SIZE)

    def gateway_of(self, i: int) -> int:
        return i // GATEWAY_SIZE

    def building_of_gateway(self, g: int) -> int:
        storm_gateways = -(-self.storm // GATEWAY_SIZE)
        return 0 if g < storm_gateways else 1 + g - storm_gateways

    @property
    def buildings(self) -> int:
        return self.building_of_gateway(self.gateways - 1) + 1

    def crosses(self, i: int, offset: int) -> bool:
        """1 % of the devices, gas detectors outside the storm building (offset 0: HTTP, 50: MQTT)."""
        return i >= self.storm and i % 100 == offset

    def household_of(self, i: int) -> int | None:
        """The household (an index) of device i, if any: the HTTP minute's crossing devices, one each;
        in the storm building, ten households of five devices."""
        if self.crosses(i, 0):
            return i
        block = self.storm // STORM_HOUSEHOLDS
        if i < self.storm and block and i % block < HOUSEHOLD_DEVICES and i // block < STORM_HOUSEHOLDS:
            return -1 - i // block
        return None


def normal_reading(i: int, at: str) -> dict[str, Any]:
    kind = device_type(i)
    metric, value = {
        "gas": ("gas_lel_pct", float(i % 3)),
        "smoke": ("smoke", 0.0),
        "water": ("ph", 7.2),
        "noise": ("noise_dba", 42.0),
    }[kind]
    return {"device": serial(i), "metric": metric, "value": value, "at": at}


def alarm_reading(i: int, at: str) -> dict[str, Any]:
    kind = device_type(i)
    if kind == "gas":
        return {"device": serial(i), "metric": "gas_lel_pct", "value": 25.0 if i % 3 == 0 else 12.0, "at": at}
    if kind == "smoke":
        return {"device": serial(i), "metric": "smoke", "value": 1.0, "at": at}
    return {"device": serial(i), "event": "tamper", "at": at}  # water, noise: a major alarm at once


# Seeding --------------------------------------------------------------------------------------------

DEVICE_COLUMNS = (
    "id",
    "public_id",
    "serial",
    "type",
    "model",
    "firmware",
    "building_id",
    "node_path",
    "place",
    "gateway_id",
    "rules",
    "auto_shutoff",
    "secret_enc",
    "secret_rotated_at",
    "binding_failures",
    "active",
    "created_at",
    "updated_at",
)


@dataclass
class Seeded:
    seconds: float
    building_ids: list[int]
    storm_building_id: int
    device_ids: dict[int, int]  # index -> id
    storm_accounts: list[int]
    households: int
    household_devices: int


async def prepare(settings: Settings, plan: Plan) -> tuple[list[tuple[int, str]], list[str]]:
    """The hierarchy and the buildings (through the importer); (building id, node path) in order."""
    from identity import pii
    from miniapp_api.buildings import importer
    from miniapp_api.devices.models import Device
    from qr import service as qr_service
    from qr.keys import KeyringCache

    await db.open_db(settings)
    pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))  # the importer signs each building's code
    qr_service.set_keyring(KeyringCache(settings.keys_path))
    try:
        if await Device.all().count() or await Account.all().count():
            raise RuntimeError("the database is not empty: give a freshly created one (it is filled with devices)")
        if not await Node.exists(code="GM"):
            await hierarchy.load_file(hierarchy.demo_file())
        grids = await Node.filter(level=NodeLevel.GRID).order_by("code").values_list("code", flat=True)
        header = ["code", "address", "grid", "floor_area", "floors", "households", "residents"]
        rows = []
        for b in range(plan.buildings):
            grid = str(grids[b % len(grids)])
            rows.append(
                (b + 2, [f"{grid}{8000 + b:04d}", f"光明区设备压测楼栋{b}号", grid, "5000", "30", "400", "1000"])
            )
        result = await importer.import_table(importer.Table(header, rows))
        if result.rejected:
            raise RuntimeError(f"a bench building was refused: {result.rejected[0]}")
        from miniapp_api.buildings.models import Building

        codes = [row[1][0] for row in rows]
        found = {
            code: (bid, path)
            for code, bid, path in await Building.filter(code__in=codes).values_list("code", "id", "node_path")
        }
        return [found[code] for code in codes], [str(g) for g in grids]
    finally:
        qr_service.set_keyring(None)
        pii.set_vault(None)
        await db.close_db()


def device_rows(settings: Settings, plan: Plan, buildings: list[tuple[int, str]]) -> list[tuple[Any, ...]]:
    from identity import pii
    from miniapp_api.devices.registry import new_public_id

    vault = pii.Vault(pii.PiiKeyRing.from_settings(settings))
    now = dt.datetime.now(dt.UTC)
    rows: list[tuple[Any, ...]] = []
    for g in range(plan.gateways):
        bid, path = buildings[plan.building_of_gateway(g)]
        s = gateway_serial(g)
        enc = vault.encrypt(secret_for(s), field=SECRET_FIELD)
        rows.append(
            (
                g + 1,
                new_public_id(),
                s,
                "gateway",
                "BENCH-GW",
                "1.0",
                bid,
                path,
                "",
                None,
                "[]",
                True,
                enc,
                now,
                0,
                True,
                now,
                now,
            )
        )
    for i in range(plan.devices):
        g = plan.gateway_of(i)
        bid, path = buildings[plan.building_of_gateway(g)]
        s = serial(i)
        enc = vault.encrypt(secret_for(s), field=SECRET_FIELD)
        kind = device_type(i)
        rows.append(
            (
                plan.gateways + 1 + i,
                new_public_id(),
                s,
                kind,
                "BENCH",
                "1.0",
                bid,
                path,
                "厨房" if kind == "gas" else "",
                g + 1,
                "[]",
                True,
                enc,
                now,
                0,
                True,
                now,
                now,
            )
        )
    return rows


async def seed(settings: Settings, plan: Plan) -> Seeded:
    from identity import pii
    from miniapp_api.devices.models import DeviceMember

    started = time.perf_counter()
    buildings, _ = await prepare(settings, plan)
    rows = device_rows(settings, plan, buildings)
    url = settings.effective_database_url
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url[len("sqlite://") :].split("?", 1)[0], isolation_level=None)
        try:
            marks = ", ".join("?" * len(DEVICE_COLUMNS))
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO device ({', '.join(DEVICE_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - our names
                ([v.isoformat(" ") if isinstance(v, dt.datetime) else v for v in row] for row in rows),
            )
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        finally:
            conn.close()
    else:
        import asyncpg

        pg = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await pg.copy_records_to_table("device", records=rows, columns=DEVICE_COLUMNS)
            await pg.execute("SELECT setval(pg_get_serial_sequence('device', 'id'), (SELECT MAX(id) FROM device))")
            await pg.execute("ANALYZE device")
        finally:
            await pg.close()
    # Households: a resident (WeChat openid and phone) per household, members of its devices.
    vault = pii.Vault(pii.PiiKeyRing.from_settings(settings))
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(plan.devices):
        h = plan.household_of(i)
        if h is not None:
            members[h].append(i)
    await db.open_db(settings)
    try:
        accounts = []
        for n in range(len(members)):
            phone = f"139{n:08d}"
            accounts.append(
                Account(
                    public_id=identity_service.new_public_id(),
                    role=Role.RESIDENT,
                    wechat_openid=f"oGMDEVBENCH{n:017d}",
                    phone_enc=vault.encrypt(phone, field=identity_service.PHONE_FIELD),
                    phone_bidx=vault.blind_index(phone, field=identity_service.PHONE_FIELD),
                )
            )
        await Account.bulk_create(accounts, batch_size=1000)
        ids = (
            await Account.filter(wechat_openid__startswith="oGMDEVBENCH")
            .order_by("wechat_openid")
            .values_list("id", flat=True)
        )
        now = dt.datetime.now(dt.UTC)
        storm_accounts = []
        member_rows = []
        for account_id, h in zip(ids, sorted(members), strict=True):
            if h < 0:
                storm_accounts.append(int(str(account_id)))
            for i in members[h]:
                member_rows.append(
                    DeviceMember(device_id=plan.gateways + 1 + i, account_id=account_id, added_at=now, added_by="bench")
                )
        await DeviceMember.bulk_create(member_rows, batch_size=1000)
    finally:
        await db.close_db()
    return Seeded(
        time.perf_counter() - started,
        [b for b, _ in buildings],
        buildings[0][0],
        {i: plan.gateways + 1 + i for i in range(plan.devices)},
        storm_accounts,
        len(members),
        sum(len(devices) for devices in members.values()),
    )


# Sending ---------------------------------------------------------------------------------------------


def batch_body(readings: list[dict[str, Any]]) -> bytes:
    # As RawConnection serialises its json argument: the bytes signed are the bytes sent.
    return json.dumps({"readings": readings}, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Minute:
    name: str
    readings: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sent_at: dict[int, float] = field(default_factory=dict)  # gateway -> wall-clock time of its send
    latency_ms: list[float] = field(default_factory=list)  # per request (HTTP) or answer (MQTT)

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


def minute_batches(
    plan: Plan, start: dt.datetime, offset: int, still: Sequence[int] = ()
) -> list[list[dict[str, Any]]]:
    """One reading per device, their times spread over the minute from ``start``; 1 % crossing (and the
    devices that crossed in an earlier minute, ``still``, at the same value: no change, no clear)."""
    batches: list[list[dict[str, Any]]] = [[] for _ in range(plan.gateways)]
    for i in range(plan.devices):
        at = (start + dt.timedelta(seconds=60 * i / plan.devices)).isoformat()
        alarming = plan.crosses(i, offset) or any(plan.crosses(i, o) for o in still)
        reading = alarm_reading(i, at) if alarming else normal_reading(i, at)
        batches[plan.gateway_of(i)].append(reading)
    return batches


async def http_minute(base_url: str, batches: list[list[dict[str, Any]]], concurrency: int, name: str) -> Minute:
    from miniapp_api.devices import signing

    minute = Minute(name)
    todo = iter(range(len(batches)))

    async def lane() -> None:
        conn = RawConnection(base_url)
        try:
            for g in todo:
                readings = batches[g]
                if not readings:
                    continue
                body = batch_body(readings)
                s = gateway_serial(g)
                headers = signing.headers(s, secret_for(s), READINGS_PATH, body)
                headers.pop("Content-Type")
                minute.sent_at[g] = time.time()
                started = time.perf_counter()
                try:
                    answer = await conn.request("POST", READINGS_PATH, json={"readings": readings}, headers=headers)
                except RawError as exc:
                    minute.failures[f"exception {exc}"] += 1
                    continue
                minute.latency_ms.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    minute.failures[f"{answer.status_code}"] += 1
                    continue
                accepted = answer.json().get("accepted", 0)
                minute.readings += accepted
                if accepted != len(readings):
                    minute.failures["readings not accepted"] += len(readings) - accepted
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    minute.seconds = time.perf_counter() - started
    return minute


async def mqtt_minute(port: int, batches: list[list[dict[str, Any]]], concurrency: int, name: str) -> Minute:
    import aiomqtt

    from miniapp_api.devices.mqtt import down_topic, envelope, up_topic

    minute = Minute(name)
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[bytes]] = {}
    async with aiomqtt.Client(HOST, port, identifier=f"devbench-{os.getpid()}") as client:
        await client.subscribe("gmid/devices/+/down", qos=1)

        async def answers() -> None:
            async for message in client.messages:
                future = waiting.get(str(message.topic.value).split("/")[2])
                if future is not None and not future.done():
                    payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                    future.set_result(payload)

        reader = asyncio.create_task(answers())
        todo = iter(range(len(batches)))

        async def lane() -> None:
            for g in todo:
                readings = batches[g]
                if not readings:
                    continue
                s = gateway_serial(g)
                future: asyncio.Future[bytes] = loop.create_future()
                waiting[s] = future
                minute.sent_at[g] = time.time()
                started = time.perf_counter()
                await client.publish(up_topic(s), envelope(s, secret_for(s), batch_body(readings)), qos=1)
                try:
                    payload = await asyncio.wait_for(future, timeout=120)
                except TimeoutError:
                    minute.failures["no answer on the down topic in 120 s"] += 1
                    continue
                minute.latency_ms.append((time.perf_counter() - started) * 1000)
                answer = json.loads(payload)
                accepted = answer.get("accepted", 0) if "error" not in answer else 0
                minute.readings += accepted
                if accepted != len(readings):
                    minute.failures[answer.get("error", {}).get("code", "readings not accepted")] += 1
                assert down_topic(s)

        started = time.perf_counter()
        try:
            await asyncio.gather(*(lane() for _ in range(concurrency)))
            minute.seconds = time.perf_counter() - started
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader
    return minute


# Measuring ------------------------------------------------------------------------------------------


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


# Running -------------------------------------------------------------------------------------------


def start_mosquitto(work: Workspace) -> int | None:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        return None
    port = free_port()
    conf = work.path / "mosquitto.conf"
    conf.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\n")
    process = work.start("mosquitto", [binary, "-c", str(conf)], env=dict(os.environ))
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        if process.exited():
            raise RuntimeError(f"mosquitto exited:\n{process.log_tail()}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return port
        time.sleep(0.1)
    raise RuntimeError("mosquitto did not listen within 10 s")


def flush_redis(url: str | None) -> None:
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def quoted_command(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/devices_bench.py", *argv])


def ms_figures(values: list[float]) -> str:
    if not values:
        return "p50 -, p99 -"
    return f"p50 {percentile(values, 0.5):,.0f} ms, p99 {percentile(values, 0.99):,.0f} ms, max {values[-1]:,.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="an EMPTY database (default: a temporary SQLite file)")
    parser.add_argument("--redis-url", help="default: the embedded Redis in the temporary folder (FLUSHDB first)")
    parser.add_argument("--devices", type=int, default=100_000, help="devices to seed (default 100,000)")
    parser.add_argument("--storm-devices", type=int, default=5000, help="devices of the storm building (default 5,000)")
    parser.add_argument("--storm-seconds", type=float, default=30.0, help="the storm's spread (default 30 s)")
    parser.add_argument("--concurrency", type=int, default=4, help="gateways sending at once (default 4)")
    parser.add_argument("--workers", type=int, default=1, help="gmid serve worker processes (default 1)")
    parser.add_argument("--no-mqtt", action="store_true", help="skip the MQTT minute even if mosquitto is installed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs, keys)")
    args = parser.parse_args(argv)
    if not 1000 <= args.devices <= 1_000_000 or not 0 <= args.storm_devices <= args.devices // 2:
        parser.error("--devices from 1,000 to 1,000,000; --storm-devices at most half of them")
    if not 1 <= args.concurrency <= 64 or not 1 <= args.workers <= 16 or not 1 <= args.storm_seconds <= 600:
        parser.error("--concurrency 1-64, --workers 1-16, --storm-seconds 1-600")
    require_gmid(parser)
    command = quoted_command(sys.argv[1:] if argv is None else argv)
    return run("devices_bench", lambda work: bench(args, work, command), prefix="gmiddv-", keep=args.keep)


def bench(args: argparse.Namespace, work: Workspace, command: str) -> int:
    at_start = os.getloadavg()[0]
    settings = Settings(
        var_dir=str(work.var_dir), database_url=args.database_url, redis_url=args.redis_url, log_level="WARNING"
    )
    plan = Plan(args.devices, args.storm_devices)
    init_keys(settings)
    run_plain(lambda: db.migrate(settings))
    flush_redis(args.redis_url)
    print(f"seeding {plan.devices:,} devices behind {plan.gateways} gateways ...", file=sys.stderr, flush=True)
    seeded = run_plain(lambda: seed(settings, plan))
    mqtt_port = None if args.no_mqtt else start_mosquitto(work)
    port = free_port()
    env = server_env(settings, port, args.workers, lifted_routes=("devices.readings",))
    server = work.start_server(
        "gmid serve", [str(GMID), "serve", "--workers", str(args.workers), "--port", str(port)], env=env, port=port
    )
    server.wait_ready()  # the embedded Redis is started by the server; the worker uses it after
    extra = {"GMID_NOTIFY_WORKER": "false"}
    if mqtt_port is not None:
        extra["GMID_MQTT_URL"] = f"mqtt://{HOST}:{mqtt_port}"
    worker = work.start(
        "gmid worker",
        [str(GMID), "worker", "--job", "devices.notices", *(["--job", "devices.mqtt"] if mqtt_port else [])],
        env=gmid_env(settings, **extra),
    )
    base_url = f"http://{HOST}:{port}"
    group_seconds = settings.device_group_seconds
    before = os.getloadavg()[0]

    async def load() -> tuple[Minute, Minute | None, Latency, Latency | None, Storm]:
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
        print("HTTP minute ...", file=sys.stderr, flush=True)
        http = await http_minute(base_url, minute_batches(plan, start, 0), args.concurrency, "HTTP")
        await asyncio.sleep(1)
        http_latency = await latencies(settings, plan, seeded, http, 0)
        mqtt = mqtt_latency = None
        if mqtt_port is not None:
            if worker.exited():
                raise RuntimeError(f"gmid worker exited:\n{worker.log_tail()}")
            await asyncio.sleep(3)  # the worker's subscription
            print("MQTT minute ...", file=sys.stderr, flush=True)
            batches = minute_batches(plan, start + dt.timedelta(seconds=60), 50, still=(0,))
            mqtt = await mqtt_minute(mqtt_port, batches, args.concurrency, "MQTT")
            await asyncio.sleep(1)
            mqtt_latency = await latencies(settings, plan, seeded, mqtt, 50)
        print(f"alarm storm over {args.storm_seconds:g} s, then the {group_seconds} s windows ...", file=sys.stderr)
        storm_figures = await storm(base_url, settings, plan, seeded, args.storm_seconds, group_seconds)
        return http, mqtt, http_latency, mqtt_latency, storm_figures

    http, mqtt, http_latency, mqtt_latency, storm_figures = asyncio.run(load())
    after = os.getloadavg()[0]
    backend = "SQLite" if settings.effective_database_url.startswith("sqlite://") else "PostgreSQL"
    print(f"$ {command}")
    print(
        f"{backend}, {'Redis server' if args.redis_url else 'embedded Redis'}; gmid serve with {args.workers} "
        f"worker(s), gmid worker (devices.notices{', devices.mqtt' if mqtt_port else ''}); {os.cpu_count()} CPU cores "
        f"shared by all; load average {at_start:.2f} at the start, {before:.2f} before the load, {after:.2f} after"
    )
    print(
        f"seeded {plan.devices:,} devices behind {plan.gateways} gateways of {GATEWAY_SIZE} in "
        f"{len(seeded.building_ids)} buildings, {seeded.household_devices:,} devices with a household "
        f"({seeded.households:,} residents), in {seeded.seconds:.1f} s"
    )
    failed = False
    for minute, latency in ((http, http_latency), (mqtt, mqtt_latency)):
        if minute is None or latency is None:
            if minute is http or not args.no_mqtt:
                print("MQTT: skipped (mosquitto is not installed)" if minute is None else "")
            continue
        met = "met" if minute.rate >= RATE_TARGET else "NOT met"
        print(
            f"{minute.name}: {minute.readings:,} readings in {minute.seconds:.1f} s = {minute.rate:,.0f} readings/s "
            f"({args.concurrency} gateways at once; batch answered {ms_figures(sorted(minute.latency_ms))}); "
            f">= {RATE_TARGET:,.0f}/s: {met}"
        )
        goal = "met" if latency.alarms_ms and percentile(latency.alarms_ms, 0.99) < P99_GOAL_S * 1000 else "NOT met"
        print(
            f"  {latency.expected} devices crossing: {len(latency.alarms_ms)} alarms stored, send -> started_at "
            f"{ms_figures(latency.alarms_ms)} (p99 < 1 s: {goal})"
        )
        if latency.notified_ms:
            goal = "met" if percentile(latency.notified_ms, 0.99) < P99_GOAL_S * 1000 else "NOT met"
            print(
                f"  {len(latency.notified_ms)} households told: send -> notify_notification.created_at "
                f"{ms_figures(latency.notified_ms)} (p99 < 1 s: {goal})"
            )
        elif minute is mqtt:
            print("  (these devices have no household: alarms only)")
        for why, count in minute.failures.items():
            print(f"  {count:,} x {why}", file=sys.stderr)
            failed = True
        failed = failed or len(latency.alarms_ms) != latency.expected
    s = storm_figures
    met = "met" if s.max_messages <= 2 and s.flushed else "NOT met"
    print(
        f"alarm storm: {s.devices:,} devices of one building in {s.seconds:.0f} s -> {s.alarms:,} alarms; "
        f"{s.recipients} recipients, {s.windows} group windows of {group_seconds} s: at most {s.max_messages} "
        f"messages per recipient per window (first at once + summary; <= 2: {met}); first critical alarm told "
        f"at once besides: at most {s.max_urgent_extra} per window; at most {s.max_rows} notification rows per "
        f"window (a critical gas alarm is a WeChat and an SMS row){'' if s.flushed else '; windows NOT all flushed'}"
    )
    return 1 if failed or met != "met" else 0


if __name__ == "__main__":
    sys.exit(main())
