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
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _devices_fleet import GATEWAY_SIZE, Plan
from _devices_measure import Latency, Storm, latencies, storm
from _devices_seed import seed
from _devices_send import Minute, http_minute, minute_batches, mqtt_minute
from _harness import GMID, HOST, Workspace, free_port, gmid_env, require_gmid, run, run_plain, server_env
from _load import percentile

from server import db
from server.cli import init_keys
from server.settings import Settings

RATE_TARGET = 3300.0  # readings/s: twice real time for 100,000 devices a minute on this machine
P99_GOAL_S = 1.0


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
