"""Wristband check-ins at a large industrial park's shift change: decisions at a fixed arrival rate.

Seeds N bound bands (default 100,000: a resident account, a wearer's home community and an active band
each) straight into the database, with the facts the rules read: 1 % of the wearers red or yellow,
0.5 % in home quarantine, 1 % back from a key area within its window (their trip places sealed by the
PII vault like every other health fact), 0.5 % revoked bands; 20 checkpoints with an account each.
Then starts ``gmid serve`` (no background jobs beside it) and:

1. drives ``POST /api/v1/checkins`` at a fixed arrival rate (default 300 a second) for ``--seconds``
   (default 60), each request sent at its scheduled moment whatever the earlier ones are doing (an open
   loop, as people walk up to the gate: a slow answer does not hold the next person back), from a pool of
   keep-alive connections; 1 % of the temperatures are a fever, 0.5 % of the bands unknown. The decision
   time is the round trip from the scheduled send to the answer: p50 and p99 (goal p99 < 20 ms);
2. steps the rate up (``--steps``, each ``--step-seconds`` long) and prints each step's p50/p99 and the
   rate it kept, up to the first step whose p99 passes 50 ms: the highest rate before that is the
   highest sustained rate.

    .venv/bin/python bench/checkins_bench.py --bands 10000 --seconds 20      # quick: SQLite, embedded Redis
    .venv/bin/python bench/checkins_bench.py --database-url postgres://gmid@127.0.0.1:55432/postgres \\
        --redis-url redis://127.0.0.1:56379/47          # the real figures: PostgreSQL, a Redis server

With ``--database-url`` a fresh database ``checkins_bench`` is created on that server (and dropped at the
end unless ``--keep``); the Redis database is flushed first (FLUSHDB on the given one only). The client,
the server, Redis and the database share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import secrets
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import GMID, HOST, Workspace, free_port, require_gmid, run, run_plain, server_env
from _load import RawConnection, RawError, percentile
from _seeding import bench_database
from tortoise import connections

from identity import hierarchy, pii, tokens
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from miniapp_api.wristbands import codes, sealed
from miniapp_api.wristbands.models import (
    BandState,
    Checkpoint,
    CheckpointStaff,
    HealthStatus,
    KeyArea,
    QuarantineOrder,
    Trip,
    Wristband,
    WristbandPerson,
)
from server import db
from server.app import load_access_token_secret
from server.cli.keys import init_keys
from server.settings import Settings

CHECKPOINTS = 20
P99_GOAL_MS = 20.0
SUSTAINED_LIMIT_MS = 50.0
BATCH = 5000
IDLE_SECONDS = 10.0  # below the server's 15 s keep-alive timeout


@dataclass
class Seeded:
    ble_ids: list[str]
    checkpoints: list[str]
    tokens: list[str]
    seconds: float
    stops_seeded: Counter[str] = field(default_factory=Counter)


def ble_id(i: int) -> str:
    return f"C0FFEE{i:06X}"


async def seed(settings: Settings, bands: int) -> Seeded:
    """Accounts, wearers, bands and facts, in batches (Tortoise ``bulk_create``)."""
    started = time.perf_counter()
    vault = pii.Vault(pii.PiiKeyRing.from_settings(settings))
    pii.set_vault(vault)
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    stops: Counter[str] = Counter()
    await db.open_db(settings)
    try:
        if not await Node.exists(level=NodeLevel.GRID):
            await hierarchy.load_file(hierarchy.demo_file())  # the demo grids under the official communities
        communities = await Node.filter(level=NodeLevel.COMMUNITY).order_by("code")
        grids = await Node.filter(level=NodeLevel.GRID).order_by("code")
        if not communities or not grids:
            raise RuntimeError("the hierarchy has no communities or grids: run gmid migrate")
        await KeyArea.create(
            public_id="ka_bench_0001",
            area_code="420100",
            name="武汉市",
            risk_level="high",
            from_date=today - dt.timedelta(days=10),
            until_date=None,
            source="bench",
            created_at=now,
            updated_at=now,
            updated_by="bench",
        )
        code_hash_stub = codes.code_hash
        for start in range(0, bands, BATCH):
            stop = min(bands, start + BATCH)
            await Account.bulk_create(
                [
                    Account(public_id=f"acc_bench{i:010d}", role=Role.RESIDENT, wechat_openid=f"oGMCKBENCH{i:018d}")
                    for i in range(start, stop)
                ],
                batch_size=1000,
            )
            ids = dict(
                await Account.filter(wechat_openid__startswith="oGMCKBENCH", public_id__gte=f"acc_bench{start:010d}")
                .filter(public_id__lt=f"acc_bench{stop:010d}")
                .values_list("public_id", "id")
            )
            people, wristbands, statuses, orders, trips = [], [], [], [], []
            for i in range(start, stop):
                account_id = ids[f"acc_bench{i:010d}"]
                home = communities[i % len(communities)]
                people.append(
                    WristbandPerson(
                        account_id=account_id,
                        home_node_path=home.path,
                        created_at=now,
                        updated_at=now,
                        updated_by="bench",
                    )
                )
                revoked = i % 200 == 7
                wristbands.append(
                    Wristband(
                        public_id=f"wb_bench{i:08d}",
                        ble_id=ble_id(i),
                        code_hash=code_hash_stub(f"BENCH{i:010d}"),
                        node_path=home.path,
                        state=(BandState.REVOKED if revoked else BandState.ACTIVE).value,
                        account_id=account_id,
                        bound_at=now,
                        bound_by="bench",
                        revoked_at=now if revoked else None,
                        revoke_reason="lost" if revoked else "",
                        created_at=now,
                        updated_at=now,
                    )
                )
                if revoked:
                    stops["revoked band"] += 1
                if i % 100 == 3:
                    statuses.append(
                        HealthStatus(
                            account_id=account_id,
                            status_enc=vault.encrypt("red" if i % 200 == 3 else "yellow", field=sealed.STATUS),
                            reason_enc=vault.encrypt("close_contact", field=sealed.STATUS_REASON),
                            set_at=now - dt.timedelta(days=1),
                            expires_at=now + dt.timedelta(days=7),
                            set_by="bench",
                        )
                    )
                    stops["red or yellow"] += 1
                if i % 200 == 5:
                    orders.append(
                        QuarantineOrder(
                            public_id=f"qo_bench{i:08d}",
                            account_id=account_id,
                            starts_at=now - dt.timedelta(days=2),
                            ends_at=now + dt.timedelta(days=5),
                            reason_enc=vault.encrypt("close_contact", field=sealed.QUARANTINE_REASON),
                            created_at=now,
                            created_by="bench",
                        )
                    )
                    stops["quarantine"] += 1
                if i % 100 == 9:
                    trips.append(
                        Trip(
                            public_id=f"tr_bench{i:08d}",
                            account_id=account_id,
                            place_enc=vault.encrypt("420106", field=sealed.TRIP_PLACE),
                            from_date=today - dt.timedelta(days=6),
                            until_date=today - dt.timedelta(days=3),
                            declared_at=now,
                        )
                    )
                    stops["key-area trip"] += 1
            await WristbandPerson.bulk_create(people, batch_size=1000)
            await Wristband.bulk_create(wristbands, batch_size=1000)
            await HealthStatus.bulk_create(statuses, batch_size=1000)
            await QuarantineOrder.bulk_create(orders, batch_size=1000)
            await Trip.bulk_create(trips, batch_size=1000)
            print(f"  {stop:,} bands", file=sys.stderr, flush=True)
        staff_tokens, checkpoint_ids = [], []
        secret = load_access_token_secret(settings)
        for c in range(CHECKPOINTS):
            grid = grids[c % len(grids)]
            staff = await Account.create(
                public_id=f"acc_gate{c:08d}", role=Role.GRID_STAFF, node=grid, username=f"gate.bench.{c}"
            )
            point = await Checkpoint.create(
                public_id=f"cp_bench{c:04d}",
                name=f"园区{c + 1}号门",
                kind="gate",
                node_path=grid.path,
                created_at=now,
                created_by="bench",
            )
            await CheckpointStaff.create(
                checkpoint_id=point.id, account_id=staff.id, assigned_at=now, assigned_by="bench"
            )
            token, _ = tokens.issue_access_token(
                secret=secret, account_id=staff.public_id, role=Role.GRID_STAFF, node_path=grid.path, ttl=4 * 3600
            )
            staff_tokens.append(token)
            checkpoint_ids.append(point.public_id)
        if not settings.effective_database_url.startswith("sqlite://"):
            conn = connections.get("default")
            for table in (
                "account",
                "wristband",
                "wristband_person",
                "health_status",
                "health_quarantine",
                "health_trip",
            ):
                await conn.execute_script(f"ANALYZE {table}")
    finally:
        await db.close_db()
    return Seeded([ble_id(i) for i in range(bands)], checkpoint_ids, staff_tokens, time.perf_counter() - started, stops)


# The load ---------------------------------------------------------------------------------------------------


@dataclass
class Step:
    rate: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    def p(self, fraction: float) -> float:
        return percentile(sorted(self.latencies_ms), fraction)

    @property
    def kept(self) -> float:
        return len(self.latencies_ms) / self.elapsed if self.elapsed else 0.0


def body(seeded: Seeded, n: int, gate: int) -> dict[str, object]:
    """The n-th person at the gate: a random band (0.5 % unknown), a temperature (1 % a fever)."""
    if n % 200 == 11:
        band = f"DEAD{secrets.token_hex(4).upper()}"
    else:
        band = seeded.ble_ids[secrets.randbelow(len(seeded.ble_ids))]
    temperature = 38.1 if n % 100 == 17 else 36.2 + secrets.randbelow(9) / 10
    return {
        "id": str(uuid.uuid4()),
        "checkpoint": seeded.checkpoints[gate],
        "ble_id": band,
        "temperature": temperature,
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }


async def drive(base_url: str, seeded: Seeded, step: Step, max_connections: int) -> Step:
    idle: list[tuple[RawConnection, float]] = []
    opened = 0
    total = int(step.rate * step.seconds)
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def one(n: int, scheduled: float) -> None:
        nonlocal opened
        gate = n % len(seeded.checkpoints)
        while idle and loop.time() - idle[-1][1] > IDLE_SECONDS:
            idle.pop()[0].close()  # the server's keep-alive would close it under us
            opened -= 1
        if idle:
            conn = idle.pop()[0]
        elif opened < max_connections:
            opened += 1
            conn = RawConnection(base_url)
        else:
            step.failures["no free connection (client saturated)"] += 1
            return
        try:
            answer = await conn.request(
                "POST",
                "/api/v1/checkins",
                json=body(seeded, n, gate),
                headers={"Authorization": f"Bearer {seeded.tokens[gate]}"},
            )
        except RawError as exc:
            step.failures[f"connection: {exc}"] += 1
            conn.close()
            opened -= 1
            return
        idle.append((conn, loop.time()))
        step.latencies_ms.append((loop.time() - scheduled) * 1000)
        if answer.status_code in (200, 201):
            step.outcomes[str(answer.json().get("decision"))] += 1
        else:
            step.failures[f"HTTP {answer.status_code}"] += 1

    for n in range(total):
        scheduled = t0 + n / step.rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n, scheduled)))
    await asyncio.gather(*tasks)
    step.elapsed = loop.time() - t0
    for conn, _ in idle:
        conn.close()
    return step


def figures(step: Step) -> str:
    stops = step.outcomes.get("stop", 0)
    done = len(step.latencies_ms)
    return (
        f"{step.rate:>5}/s for {step.seconds:.0f} s: {done:,} answered ({step.kept:,.0f}/s kept), "
        f"p50 {step.p(0.5):.1f} ms, p99 {step.p(0.99):.1f} ms, max {max(step.latencies_ms, default=0):.1f} ms; "
        f"{stops / done * 100 if done else 0:.1f} % stops"
        + ("; failures: " + ", ".join(f"{c:,} x {w}" for w, c in step.failures.items()) if step.failures else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="a PostgreSQL server (a fresh database is made on it); default SQLite")
    parser.add_argument("--redis-url", help="default: the embedded Redis in the temporary folder (FLUSHDB first)")
    parser.add_argument("--bands", type=int, default=100_000, help="bound bands to seed (default 100,000)")
    parser.add_argument("--rate", type=int, default=300, help="check-ins a second (default 300)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long at --rate (default 60)")
    parser.add_argument("--steps", default="450,600,800,1000,1300,1600", help="rates to step up through")
    parser.add_argument("--step-seconds", type=float, default=15.0, help="seconds per step (default 15)")
    parser.add_argument("--workers", type=int, default=1, help="gmid serve worker processes (default 1)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections at most (default 64)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and the database")
    args = parser.parse_args(argv)
    if not 1000 <= args.bands <= 1_000_000 or not 1 <= args.rate <= 10_000 or not 1 <= args.seconds <= 600:
        parser.error("--bands 1,000-1,000,000, --rate 1-10,000, --seconds 1-600")
    try:
        steps = [int(s) for s in args.steps.split(",") if s.strip()]
    except ValueError:
        parser.error("--steps: rates separated by commas")
    require_gmid(parser)
    command = " ".join(["bench/checkins_bench.py", *(sys.argv[1:] if argv is None else argv)])
    return run("checkins_bench", lambda work: bench(args, steps, work, command), prefix="gmidck-", keep=args.keep)


def bench(args: argparse.Namespace, steps: list[int], work: Workspace, command: str) -> int:
    database_url = None
    if args.database_url:
        database_url = bench_database(args.database_url, "checkins_bench", work, keep=args.keep)
    settings = Settings(
        var_dir=str(work.var_dir), database_url=database_url, redis_url=args.redis_url, log_level="WARNING"
    )
    init_keys(settings)
    run_plain(lambda: db.migrate(settings))
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    print(f"seeding {args.bands:,} bound bands ...", file=sys.stderr, flush=True)
    seeded = run_plain(lambda: seed(settings, args.bands))
    port = free_port()
    env = server_env(settings, port, args.workers, lifted_routes=("wristband_checkins.checkin",))
    server = work.start_server(
        "gmid serve", [str(GMID), "serve", "--workers", str(args.workers), "--port", str(port)], env=env, port=port
    )
    server.wait_ready()
    base_url = f"http://{HOST}:{port}"

    async def load() -> tuple[Step, list[Step]]:
        await drive(base_url, seeded, Step(50, 3.0), args.connections)  # warm up: connections, caches
        print(f"{args.rate}/s for {args.seconds:g} s ...", file=sys.stderr, flush=True)
        main_step = await drive(base_url, seeded, Step(args.rate, args.seconds), args.connections)
        done: list[Step] = []
        for rate in steps:
            print(f"{rate}/s for {args.step_seconds:g} s ...", file=sys.stderr, flush=True)
            step = await drive(base_url, seeded, Step(rate, args.step_seconds), args.connections)
            done.append(step)
            if step.p(0.99) > SUSTAINED_LIMIT_MS or step.kept < 0.95 * rate:
                break
        return main_step, done

    main_step, stepped = asyncio.run(load())
    backend = "SQLite" if settings.effective_database_url.startswith("sqlite://") else "PostgreSQL"
    print(f"$ .venv/bin/python {command}")
    print(
        f"{backend}, {'Redis server' if args.redis_url else 'embedded Redis'}; gmid serve with {args.workers} "
        f"worker(s); {os.cpu_count()} CPU cores shared by the client, the server, Redis and the database; "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    seeded_stops = ", ".join(f"{c:,} {w}" for w, c in seeded.stops_seeded.items())
    print(f"seeded {args.bands:,} bound bands ({seeded_stops}) and {CHECKPOINTS} checkpoints in {seeded.seconds:.1f} s")
    goal = "met" if main_step.latencies_ms and main_step.p(0.99) < P99_GOAL_MS else "NOT met"
    print(f"decision time (scheduled send -> answer), fixed arrival rate: {figures(main_step)}; p99 < 20 ms: {goal}")
    sustained = 0
    for step in stepped:
        print("  step " + figures(step))
        if step.p(0.99) <= SUSTAINED_LIMIT_MS and step.kept >= 0.95 * step.rate:
            sustained = step.rate
    if main_step.p(0.99) <= SUSTAINED_LIMIT_MS and sustained == 0:
        sustained = args.rate
    last = stepped[-1] if stepped else None
    ceiling = "" if last is None or last.rate == sustained else f" (the next step, {last.rate}/s, did not keep it)"
    print(f"highest sustained rate with p99 <= {SUSTAINED_LIMIT_MS:.0f} ms: {sustained:,}/s{ceiling}")
    failed = bool(main_step.failures) or any(s.failures.get("HTTP 500") for s in stepped)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
