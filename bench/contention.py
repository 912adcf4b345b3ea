"""Measured rates of the single points of contention several instances share through one database.

Each operation is called through our own service functions, in its own transaction, as the app calls it:

- ``audit.record``: one entry appended to the audit hash chain (``identity.audit.record``). Every append
  updates the one ``audit_head`` row first: the chain's lock, held until commit. (Inside a request the
  caller's transaction holds it longer: ``record_change(..., conn)`` runs beside the action's own writes.)
- ``qr.reissue``: a new code for a credential (``qr.service.reissue``): the credential's row lock, then the
  next number of the revocation feed's counter (the one ``qr_revocation_head`` row) and the Redis
  scan-cache bump. Each task reissues credentials of its own: only the feed counter is shared. Revoking
  takes the same counter. There is no QR serial counter shared by all credentials: a code's serial is
  per credential (1 at issue, + 1 on each reissue), so issuing takes no shared lock at all;
- ``qr.issue``: a new credential (``qr.service.issue``), for comparison: no shared row;
- ``outbox.claim``: one claim of up to 10 due notifications (``notify.dispatcher.leases.Leases.claim``,
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite), timed; then each row claimed is
  released back to due through ``Leases.save`` (untimed, but inside the loop: ``ops/s`` is the whole
  cycle's rate, ``rows/s`` the rows claimed). 2,000 rows are queued first; each task is a dispatcher.

from 1, 4 and 16 concurrent tasks in one process, and (PostgreSQL; the audit chain, the reissue and the
claim) from 2 processes at once (``2x1``, ``2x8``: processes x tasks), as two instances would, each for
``--seconds``. Prints per operation and concurrency: operations per second, p50 and p99 in ms, and the
errors seen (by exception type). Then checks that the audit chain verifies and the feed counter has no gap.

PostgreSQL and Redis: ``--database-url`` (a fresh database ``gmid_contention`` is made on that server and
dropped afterwards) and ``--redis-url``; without them a throw-away PostgreSQL (``initdb``/``pg_ctl``, fsync
off) and ``redis-server`` are started on free ports as ``bench/drill.py`` does. Then the same on a SQLite
file (one process: SQLite is the single-instance deployment), unless ``--no-sqlite``.

    make bench-contention                          # about 2 minutes
    .venv/bin/python bench/contention.py --seconds 5 --no-sqlite

mypy's configuration does not cover bench/: ``.venv/bin/mypy --follow-imports=silent bench/contention.py``
(silent: bench/drill.py, imported for its PostgreSQL and Redis starters, has findings of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _harness, drill
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's packages


from _drill_pieces import Postgres, redis_argv, wait_redis
from _harness import HOST, Workspace, free_port, run, run_async
from _load import percentile
from _seeding import bench_database

from identity import audit, pii
from notify import outbox
from notify.dispatcher.leases import Leases, utcnow
from notify.dispatcher.policy import Policy
from notify.models import Notification, Status
from qr import scancache
from qr import service as qr_service
from qr.keys import KeyringCache
from qr.models import RevocationEntry, RevocationHead
from server import db
from server import redis as gmid_redis
from server.cli import init_keys
from server.settings import Settings

OUTBOX_ROWS = 2000
CLAIM_LIMIT = 10
START_MARGIN = 1.0  # seconds between asking the workers to start and the start: their set-up happens in it

# (operation, processes, tasks per process): the plan per backend.
LOCAL = [(1, 1), (1, 4), (1, 16)]
CROSS = [(2, 1), (2, 8)]
PLAN: dict[str, list[tuple[str, int, int]]] = {
    "PostgreSQL": [
        *[("audit.record", p, t) for p, t in LOCAL + CROSS],
        *[("qr.reissue", p, t) for p, t in LOCAL + CROSS],
        *[("qr.issue", p, t) for p, t in [(1, 1), (1, 16)]],
        *[("outbox.claim", p, t) for p, t in [*LOCAL, (2, 8)]],
    ],
    "SQLite": [
        *[("audit.record", p, t) for p, t in LOCAL],
        *[("qr.reissue", p, t) for p, t in LOCAL],
        *[("qr.issue", p, t) for p, t in [(1, 1), (1, 16)]],
        *[("outbox.claim", p, t) for p, t in LOCAL],
    ],
}


# In a worker process ------------------------------------------------------------------------------------


class Task:
    """One task's operation: ``timed`` is measured (it returns how many rows it handled), ``after`` is
    not (what the caller does next, before the next operation)."""

    async def timed(self) -> int:
        raise NotImplementedError

    async def after(self) -> None:
        return None


class Append(Task):
    def __init__(self, tag: str) -> None:
        self.tag, self.n = tag, 0

    async def timed(self) -> int:
        self.n += 1
        await audit.record(actor="bench", role="system", action="bench.contention", target=f"{self.tag}-{self.n}")
        return 1


class Issue(Task):
    def __init__(self, tag: str) -> None:
        self.tag, self.n = tag, 0

    async def timed(self) -> int:
        self.n += 1
        await qr_service.issue(kind="ebike", subject_id=f"bench-{self.tag}-{self.n}", label="bench")
        return 1


class Reissue(Task):
    """Reissues its own two credentials in turn: no row lock shared with another task."""

    def __init__(self, public_ids: list[str]) -> None:
        self.public_ids, self.n = public_ids, 0

    async def timed(self) -> int:
        self.n += 1
        await qr_service.reissue(public_id=self.public_ids[self.n % len(self.public_ids)], reason="bench")
        return 1


class Claim(Task):
    """A dispatcher: claims up to CLAIM_LIMIT due rows, then writes each back as due (its lease released)."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self.claimed: list[Notification] = []

    async def timed(self) -> int:
        self.claimed, _ = await self.leases.claim(CLAIM_LIMIT)
        return len(self.claimed)

    async def after(self) -> None:
        for row in self.claimed:  # back to due: the next claim (of any task or process) may take it again
            await self.leases.save(row, status=Status.PENDING, next_attempt_at=utcnow())
        self.claimed = []


async def make_tasks(name: str, tasks: int, tag: str) -> list[Task]:
    """The tasks of one phase (what they need made first, untimed)."""
    if name == "audit.record":
        return [Append(f"{tag}t{t}") for t in range(tasks)]
    if name == "qr.issue":
        return [Issue(f"{tag}t{t}") for t in range(tasks)]
    if name == "qr.reissue":
        made: list[Task] = []
        for t in range(tasks):
            own = [
                (await qr_service.issue(kind="ebike", subject_id=f"bench-{tag}t{t}-{i}", label="bench")).public_id
                for i in range(2)
            ]
            made.append(Reissue(own))
        return made
    if name == "outbox.claim":
        policy = Policy(batch_size=CLAIM_LIMIT, lease_seconds=60)
        return [Claim(Leases(worker=f"bench-{tag}t{t}", policy=policy)) for t in range(tasks)]
    raise ValueError(name)


@dataclass
class Result:
    latencies_ns: list[int] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    pid: int = 0


async def phase(name: str, tasks: int, seconds: float, start_at: float, tag: str) -> Result:
    made = await make_tasks(name, tasks, tag)
    result = Result(pid=os.getpid())
    await asyncio.sleep(max(0.0, start_at - time.time()))
    started = time.perf_counter()
    deadline = started + seconds

    async def loop(task: Task) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter_ns()
            try:
                handled = await task.timed()
                result.latencies_ns.append(time.perf_counter_ns() - began)
                result.rows += handled
                await task.after()
            except Exception as exc:  # counted by type (never the message), shown in the table
                result.errors[type(exc).__name__] += 1
                await asyncio.sleep(0.01)

    await asyncio.gather(*(loop(task) for task in made))
    result.seconds = time.perf_counter() - started
    return result


async def serve(conn: multiprocessing.connection.Connection, settings: Settings) -> None:
    """Set up as the app does (database, keyring, Redis, PII vault), then run the phases sent until None."""
    pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))
    await db.open_db(settings)
    qr_service.set_keyring(KeyringCache(settings.keys_path))
    client = gmid_redis.make_client(gmid_redis.redis_url_for(settings))
    scancache.set_client(client)
    loop = asyncio.get_running_loop()
    try:
        conn.send("ready")
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command is None:
                return
            conn.send(await phase(*command))
    finally:
        scancache.set_client(None)
        await client.aclose()
        qr_service.set_keyring(None)
        await db.close_db()
        pii.set_vault(None)


def worker_main(conn: multiprocessing.connection.Connection, settings: Settings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    run_async(serve(conn, settings))


# In the bench's process -----------------------------------------------------------------------------------


class Worker:
    """A spawned process (its own event loop and database pool: an instance), phases sent over a pipe."""

    def __init__(self, settings: Settings) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=worker_main, args=(theirs, settings), daemon=True)
        self.process.start()
        theirs.close()

    def receive(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"a worker process did not answer within {timeout:.0f} s")
        try:
            return self.conn.recv()
        except EOFError as exc:
            raise RuntimeError(f"a worker process died (exit code {self.process.exitcode})") from exc

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@dataclass
class Row:
    backend: str
    operation: str
    processes: int
    tasks: int
    result: Result

    @property
    def concurrency(self) -> str:
        return str(self.tasks) if self.processes == 1 else f"{self.processes}x{self.tasks}"


def merge(parts: list[Result]) -> Result:
    if len({part.pid for part in parts}) != len(parts):
        raise RuntimeError("two phases meant for two processes ran in one")
    merged = Result(seconds=max(part.seconds for part in parts))
    for part in parts:
        merged.latencies_ns += part.latencies_ns
        merged.rows += part.rows
        merged.errors.update(part.errors)
    return merged


async def prepare(settings: Settings) -> None:
    """Migrated, and the outbox holding OUTBOX_ROWS due notifications."""
    await db.migrate(settings)
    pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))
    await db.open_db(settings)
    try:
        rows = [
            outbox.message(
                template="ebike.stolen",
                data={"bike": f"GM{i:07d}", "lost_at": utcnow().isoformat(), "location": "光明区", "alarm_id": f"A{i}"},
                idempotency_key=f"bench-contention-{i}",
                openid=f"obench{i:07d}",
            )
            for i in range(OUTBOX_ROWS)
        ]
        await outbox.enqueue_many(rows)
    finally:
        await db.close_db()
        pii.set_vault(None)


async def checks(settings: Settings) -> list[str]:
    await db.open_db(settings)
    try:
        verified = await audit.verify()
        head = await RevocationHead.get(id=1)
        entries = await RevocationEntry.all().count()
        sending = await Notification.filter(status=Status.SENDING).count()
    finally:
        await db.close_db()
    return [
        f"audit chain: {'verifies' if verified.ok else 'BROKEN at ' + str(verified.broken_seq)} "
        f"({verified.checked:,} entries)",
        f"revocation feed: counter {head.counter:,}, {entries:,} entries "
        f"({'no gap' if head.counter == entries else 'GAP'})",
        f"outbox: {sending} rows left claimed (0 expected)",
    ]


def run_backend(backend: str, settings: Settings, seconds: float) -> tuple[list[Row], list[str]]:
    print(f"{backend}: migrating and queueing {OUTBOX_ROWS:,} notifications", file=sys.stderr, flush=True)
    asyncio.run(prepare(settings))
    plan = PLAN[backend]
    workers = [Worker(settings) for _ in range(max(p for _, p, _ in plan))]
    rows: list[Row] = []
    try:
        for worker in workers:
            if worker.receive(120) != "ready":
                raise RuntimeError("a worker process did not start")
        for operation, processes, tasks in plan:
            label = f"{processes}x{tasks}" if processes > 1 else str(tasks)
            print(f"  {backend} {operation} {label}", file=sys.stderr, flush=True)
            start_at = time.time() + START_MARGIN
            for n, worker in enumerate(workers[:processes]):
                worker.conn.send((operation, tasks, seconds, start_at, f"{backend[:2]}{operation}{label}p{n}"))
            parts = [worker.receive(seconds + 120) for worker in workers[:processes]]
            rows.append(Row(backend, operation, processes, tasks, merge(parts)))
    finally:
        for worker in workers:
            worker.stop()
    return rows, asyncio.run(checks(settings))


def print_table(rows: list[Row]) -> None:
    print(f"{'backend':<11}{'operation':<14}{'tasks':>6}{'ops/s':>10}{'rows/s':>10}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for row in rows:
        r = row.result
        lat = sorted(r.latencies_ns)
        ops = len(lat) / r.seconds if r.seconds else 0.0
        errors = ", ".join(f"{name} {n}" for name, n in sorted(r.errors.items())) or "0"
        print(
            f"{row.backend:<11}{row.operation:<14}{row.concurrency:>6}{ops:>10,.0f}"
            f"{r.rows / r.seconds if r.seconds else 0.0:>10,.0f}"
            f"{percentile(lat, 0.5) / 1e6:>9.2f}{percentile(lat, 0.99) / 1e6:>9.2f}  {errors}"
        )


def bench(args: argparse.Namespace, work: Workspace) -> int:
    redis_url = args.redis_url
    if not redis_url:
        port = free_port()
        redis_url = f"redis://{HOST}:{port}/0"
        work.start("redis-server", redis_argv(port, work.path / "redis"), env=dict(os.environ))
    wait_redis(redis_url)
    if args.database_url:
        database_url = bench_database(args.database_url, "gmid_contention", work)
    else:
        pg = Postgres()
        work.callback(pg.stop)
        database_url = pg.start()
    base = Settings(var_dir=str(work.var_dir), redis_url=redis_url, log_level="WARNING")
    init_keys(base)
    backends = [("PostgreSQL", base.replace(database_url=database_url + "?maxsize=20"))]
    if not args.no_sqlite:
        backends.append(("SQLite", base.replace(database_url=f"sqlite://{work.path / 'contention.sqlite3'}")))
    started = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    for backend, settings in backends:
        got, checked = run_backend(backend, settings, args.seconds)
        rows += got
        notes += [f"{backend} {line}" for line in checked]
    print(f"\n{args.seconds:g} s per line, {os.cpu_count()} CPUs, load average before: {args.load_before}")
    print_table(rows)
    print()
    for line in notes:
        print(line)
    print(f"\n{time.monotonic() - started:.0f} s")
    return 0 if all("BROKEN" not in n and "GAP" not in n for n in notes) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="each line's length (default 3)")
    parser.add_argument("--database-url", help="a PostgreSQL server (postgres://user@host:port/db) to use")
    parser.add_argument("--redis-url", help="a Redis server (redis://host:port/0) to use")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    args.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return run("contention", lambda work: bench(args, work), prefix="gmidct-", keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
