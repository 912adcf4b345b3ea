"""The gate's decision path in process (no HTTP): ``checkin.check_in`` and, for stops, ``alerts.tell`` on
a database seeded with N bound bands (10 % with a red or yellow status, 5 % with a key-area trip), at a
fixed arrival rate. Prints p50, p99 and the worst decision time. The HTTP bench of issue 15
(``bench/checkins_bench.py``) adds the server around it.

    .venv/bin/python bench/checkin_gate_bench.py --database-url postgres://gmid@127.0.0.1:55432/EMPTY_DB \
        --bands 100000 --rate 300 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis
from tortoise import Tortoise

from identity import pii
from identity.models import Account
from identity.pii import PiiKeyRing, Vault
from identity.roles import Role
from miniapp_api.wristbands import alerts, checkin, sealed
from miniapp_api.wristbands.gate_schemas import CheckinIn
from miniapp_api.wristbands.models import (
    Checkpoint,
    CheckpointStaff,
    HealthStatus,
    KeyArea,
    Trip,
    Wristband,
    WristbandPerson,
)
from server.auth import Principal
from server.db import tortoise_config
from tests.factories import load_demo_hierarchy

CHUNK = 5000


async def seed(bands: int) -> tuple[Principal, str, list[str]]:
    await load_demo_hierarchy()
    now = dt.datetime.now(dt.UTC)
    staff = await Account.create(public_id="bench_staff", role=Role.GRID_STAFF)
    checkpoint = await Checkpoint.create(
        public_id="cp_bench",
        name="一号门",
        kind="gate",
        node_path="/GM/GM01/GM0101/GM010101/",
        created_at=now,
        created_by="bench",
    )
    await CheckpointStaff.create(checkpoint_id=checkpoint.id, account_id=staff.id, assigned_at=now, assigned_by="b")
    await KeyArea.create(
        public_id="ka_bench",
        area_code="420100",
        risk_level="high",
        from_date=now.date() - dt.timedelta(days=30),
        until_date=None,
        source="bench",
        created_at=now,
        updated_at=now,
        updated_by="bench",
    )
    ble_ids = []
    for start in range(0, bands, CHUNK):
        count = min(CHUNK, bands - start)
        accounts = [Account(public_id=f"bench{start + i}", role=Role.RESIDENT) for i in range(count)]
        await Account.bulk_create(accounts)
        ids = [a.id for a in await Account.filter(public_id__in=[a.public_id for a in accounts]).only("id")]
        persons, rows, statuses, trips = [], [], [], []
        for n, account_id in enumerate(ids):
            ble = secrets.token_hex(6).upper()
            ble_ids.append(ble)
            persons.append(
                WristbandPerson(
                    account_id=account_id,
                    home_node_path="/GM/GM01/GM0101/",
                    created_at=now,
                    updated_at=now,
                    updated_by="bench",
                )
            )
            rows.append(
                Wristband(
                    public_id=f"wb{start + n}",
                    ble_id=ble,
                    code_hash=secrets.token_hex(32),
                    node_path="/GM/GM01/GM0101/",
                    state="active",
                    account_id=account_id,
                    bound_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            if n % 10 == 0:
                statuses.append(
                    HealthStatus(
                        account_id=account_id,
                        status_enc=sealed.seal(random.choice(["red", "yellow", "green"]), field=sealed.STATUS),
                        reason_enc=sealed.seal("bench", field=sealed.STATUS_REASON),
                        set_at=now - dt.timedelta(hours=1),
                        expires_at=now + dt.timedelta(days=3),
                        set_by="bench",
                    )
                )
            if n % 20 == 1:
                day = now.date() - dt.timedelta(days=5)
                trips.append(
                    Trip(
                        public_id=f"tr{start + n}",
                        account_id=account_id,
                        place_enc=sealed.seal("420106", field=sealed.TRIP_PLACE),
                        from_date=day,
                        until_date=day,
                        declared_at=now,
                    )
                )
        await WristbandPerson.bulk_create(persons)
        await Wristband.bulk_create(rows)
        await HealthStatus.bulk_create(statuses)
        await Trip.bulk_create(trips)
    return Principal("bench_staff", Role.GRID_STAFF, "/GM/GM01/GM0101/GM010101/"), checkpoint.public_id, ble_ids


async def run(args: argparse.Namespace) -> None:
    await Tortoise.init(config=tortoise_config(args.database_url))
    await Tortoise.generate_schemas()
    pii.set_vault(Vault(PiiKeyRing({"k1": os.urandom(32)}, "k1", os.urandom(32))))
    began = time.perf_counter()
    viewer, checkpoint, ble_ids = await seed(args.bands)
    print(f"seeded {args.bands} bound bands in {time.perf_counter() - began:.0f} s")
    timings: list[float] = []
    stops = 0
    redis = aioredis.Redis.from_url(args.redis_url) if args.redis_url else None

    async def one(n: int) -> None:
        nonlocal stops
        data = CheckinIn(
            id=f"bench-{n:08d}",
            ble_id=random.choice(ble_ids),
            checkpoint=checkpoint,
            temperature=round(random.gauss(36.6, 0.4), 1),
            at=dt.datetime.now(dt.UTC),
            offline=False,
        )
        start = time.perf_counter()
        outcome = await checkin.check_in(viewer=viewer, data=data, retention_days=28)
        timings.append((time.perf_counter() - start) * 1000)
        if outcome.stop is not None:
            stops += 1
            if not args.no_alerts:
                await alerts.tell(outcome.stop, redis=redis)

    total = int(args.rate * args.seconds)
    tasks = []
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    timings.sort()
    p = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]  # noqa: E731
    print(
        f"{total} check-ins at {args.rate}/s, {stops} stops: decision p50 {statistics.median(timings):.1f} ms, "
        f"p99 {p(0.99):.1f} ms, max {timings[-1]:.1f} ms"
    )
    await Tortoise.close_connections()
    if redis is not None:
        await redis.flushdb()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="an EMPTY database")
    parser.add_argument("--redis-url", help="for the alerts' once-an-hour keys (FLUSHDB after); default none")
    parser.add_argument("--no-alerts", action="store_true", help="decide only (no stop messages queued)")
    parser.add_argument("--bands", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
