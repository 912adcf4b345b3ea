"""E-bike register at scale: police lookups, registration and scanning over HTTP, on a seeded register.

Seeds N registered bikes (default 1,000,000) with their owners and e-ID codes straight into the
database, then starts ``gmid serve`` (one worker unless ``--workers``) and a bare Sanic hello-world
as subprocesses on 127.0.0.1, and loads them with ``--concurrency`` client tasks (16 by default) of
httpx.AsyncClient, or with ``--client raw`` of a bare keep-alive HTTP/1.1 client:

- police owner lookup by frame number (``GET /api/v1/police/ebikes``) and by owner ID number (``POST
  /api/v1/police/ebikes/lookup``: never in an address), random seeded bikes and owners, with a reason
  and a case number: p50 and p99 (target: p99 under 10 ms),
  and again one client at a time (the service time: at N clients, p50 is about N / throughput);
- the same lookup at fixed arrival rates (``--rates``, default 50, 100 and 200 a second, for
  ``--rate-seconds`` each): an open loop, requests started on a schedule over as many keep-alive
  connections as they need, latency counted from each request's scheduled start so queueing is not
  hidden (target: p99 under 10 ms at 100 a second); how late the client itself started requests is
  printed beside, to show the client kept to the schedule;
- registration (``POST /api/v1/ebikes``): new frame numbers, many residents, each under the limit;
- scan (``POST /api/v1/scan``, anonymous) of seeded bikes' code URLs, beside the hello-world answering
  ``POST /api/v1/scan`` with a small JSON, same client, same concurrency, same count, in this run
  (targets: scan at least 0.25 x the hello-world's rate, under 0.5 ms of server CPU a scan).

httpx costs far more CPU per request than either server: on a small machine it, not the server, sets
the hello-world's rate (about 500 requests/s on 2 cores against about 18,000 with ``--client raw``), which
flatters the scan / hello-world ratio. Use ``--client raw`` for that comparison.

    .venv/bin/python bench/ebike_bench.py --bikes 20000            # quick: SQLite, embedded Redis
    .venv/bin/python bench/ebike_bench.py --database-url postgres://gmid@127.0.0.1:5432/ebike_bench \\
        --redis-url redis://127.0.0.1:6379/5                         # the real figures: 1,000,000 bikes

The database must be empty (a fresh ``CREATE DATABASE``): it is migrated and filled, and keeps the
rows afterwards (drop it when done). Seeding skips the ORM: owners (1, 2 or 3 bikes each, 2 on average),
their vault ciphertexts and blind indexes, and the Ed25519-signed code of every bike are made in
worker processes (``qr.codec.sign`` with the keyring under ``VAR_DIR/keys/qr``, the PII vault of
``identity.pii``), and written in chunks with PostgreSQL ``COPY`` (SQLite: ``executemany``), then
``ANALYZE``. Keys and the SQLite file live in a temporary ``GMID_VAR_DIR`` (``--keep`` keeps it, with
the server logs). The server's database pool is Tortoise's default (at most 5 connections per worker)
unless the URL sets ``?maxsize=``.

Every police lookup appends one entry to the audit log (the product's behaviour: the log grows by one
entry per lookup, warm-up included), and that append takes the hash chain's head-row lock for its
transaction, so lookups are serialised on it: this bounds lookup concurrency whatever the worker
count. The police lookup limit is lifted (``GMID_POLICE_LOOKUP_RATE=3600000/hour``) and so are the
request-rate limits; no background worker runs beside the server. Each scan adds a row to ``qr_scan_event``. The client,
the servers and the database share this machine's CPUs: the figures describe this machine and this
run only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import math
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import (
    GMID,
    HOST,
    Check,
    Figures,
    RawAnswer,
    RawConnection,
    RawError,
    Request,
    Workspace,
    asyncpg_dsn,
    expect,
    free_port,
    generate_in_processes,
    measure,
    percentile,
    require_gmid,
    run,
    run_async,
    run_plain,
    server_env,
)

from identity import hierarchy, tokens
from identity import service as identity_service
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from identity.validators import make_id_number
from miniapp_api.ebikes.models import BikeStatus, EBike
from qr import codec, kinds
from qr.models import CredentialStatus
from server import db
from server.app import load_access_token_secret
from server.cli import init_keys
from server.settings import Settings

BASE_URL = "https://eid.gm.sz.gov.cn/abcdefg"  # as in qr_bench: the size budget's worst case
MAX_BIKES = 5_000_000  # the plate and ID-number schemes below stay unique up to here
CHUNK = 20_004  # a multiple of 6: an owner's bikes never straddle two chunks (see owner_of)
LOOKUP_P99_TARGET_MS = 10.0
PACED_TARGET_RATE = 100.0  # lookups a second at which the p99 target is judged in the open-loop figures
SCAN_RATIO_TARGET = 0.25
SCAN_CPU_TARGET_MS = 0.5  # server CPU per scan
# One lookup a millisecond: a whole number of milliseconds per lookup, which the limiter needs (docstring).
LIFTED_LOOKUP_RATE = "3600000/hour"
PER_RESIDENT = 4  # registrations per bench resident: under the default limit of 5

# The seeded register: everything follows from the bike's index i and the owner's index k ----------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志红玉梅文辉鹏飞宇航晨欣怡子涵浩然"
BRANDS = ("雅迪", "爱玛", "台铃", "小牛", "新日", "绿源", "九号", "立马")
MODELS = ("DE2", "A5", "T9", "G2", "F90", "N1S", "Q7", "")
COLOURS = ("白色", "黑色", "红色", "蓝色", "灰色", "银色", "绿色")
SEED_REGIONS = ("440311", "440306", "440309", "440307")  # Guangming, Bao'an, Longhua, Longgang
BENCH_REGION = "440310"  # residents who register during the bench: never a seeded owner's number


def owner_of(i: int) -> int:
    """Owners hold 1, 2 and 3 bikes in turn: bikes 0 | 1 2 | 3 4 5 belong to owners 0 | 1 | 2, and so on."""
    group, r = divmod(i, 6)
    return 3 * group + (0 if r == 0 else 1 if r < 3 else 2)


def first_bike_of(k: int) -> int:
    group, r = divmod(k, 3)
    return 6 * group + (0, 1, 3)[r]


def frame_no(i: int) -> str:
    return f"LGM{i:011d}"


def plate(i: int) -> str:
    return f"光明{i:07d}"


def owner_id_number(k: int) -> str:
    day, seq = divmod(k, 1000)
    birth = dt.date(1955, 1, 1) + dt.timedelta(days=day)
    return make_id_number(SEED_REGIONS[day % len(SEED_REGIONS)], birth, f"{seq:03d}")


def owner_phone(k: int) -> str:
    return f"139{k:08d}"


def owner_name(k: int) -> str:
    name = SURNAMES[k % len(SURNAMES)] + GIVEN[(k // len(SURNAMES)) % len(GIVEN)]
    return name + GIVEN[k % 7 * 5 % len(GIVEN)] if k % 3 else name


def resident_identity(r: int) -> dict[str, str]:
    """The identity a bench resident registers with (distinct from every seeded owner's)."""
    day, seq = divmod(r, 1000)
    id_number = make_id_number(BENCH_REGION, dt.date(1990, 1, 1) + dt.timedelta(days=day), f"{seq:03d}")
    return {"name": owner_name(r + 7), "id_number": id_number, "phone": f"138{r:08d}"}


# Seeding: rows made in worker processes ------------------------------------------------------------

ACCOUNT_COLUMNS = (
    "id",
    "public_id",
    "role",
    "wechat_openid",
    "name_enc",
    "phone_enc",
    "phone_bidx",
    "id_number_enc",
    "id_number_bidx",
    "is_active",
    "created_at",
    "updated_at",
)
CREDENTIAL_COLUMNS = (
    "kind",
    "public_id",
    "serial",
    "status",
    "subject_id",
    "node_path",
    "label",
    "token",
    "issued_at",
    "created_at",
    "revoke_reason",
)
EBIKE_COLUMNS = (
    "public_id",
    "owner_id",
    "node_path",
    "brand",
    "model",
    "colour",
    "frame_no",
    "motor_no",
    "plate",
    "purchase_date",
    "status",
    "credential_id",
    "registered_at",
    "updated_at",
)
Row = tuple[Any, ...]


@dataclass(frozen=True)
class SeedPlan:
    var_dir: str
    bikes: int
    first_account_id: int  # owner k gets account id first_account_id + k
    node_paths: tuple[str, ...]
    epoch: float  # registration times run from here to about now, in bike order
    step: float


@dataclass
class Chunk:
    accounts: list[Row]
    credentials: list[Row]
    ebikes: list[Row]


class _Worker:
    """What a seeding process loads once: the plan, the PII vault and the QR keyring."""

    plan: SeedPlan
    vault: Any
    ring: Any


_worker = _Worker()


def _init_worker(plan: SeedPlan) -> None:
    from identity import pii
    from qr import keys

    settings = Settings(var_dir=plan.var_dir)
    _worker.plan = plan
    _worker.vault = pii.Vault(pii.PiiKeyRing.from_settings(settings))
    _worker.ring = keys.load(settings.keys_path)


def generate_chunk(start: int, end: int) -> Chunk:
    from miniapp_api.ebikes.service import new_public_id as new_bike_id

    plan, vault, ring = _worker.plan, _worker.vault, _worker.ring
    name_f, phone_f, id_f = identity_service.NAME_FIELD, identity_service.PHONE_FIELD, identity_service.ID_NUMBER_FIELD
    kind = kinds.EBIKE
    utc = dt.UTC
    accounts: list[Row] = []
    for k in range(owner_of(start), owner_of(end - 1) + 1):
        joined = dt.datetime.fromtimestamp(int(plan.epoch + first_bike_of(k) * plan.step), utc)
        id_number, phone = owner_id_number(k), owner_phone(k)
        accounts.append(
            (
                plan.first_account_id + k,
                identity_service.new_public_id(),
                Role.RESIDENT.value,
                f"oGMBENCH{k:020d}",
                vault.encrypt(owner_name(k), field=name_f),
                vault.encrypt(phone, field=phone_f),
                vault.blind_index(phone, field=phone_f),
                vault.encrypt(id_number, field=id_f),
                vault.blind_index(id_number, field=id_f),
                True,
                joined,
                joined,
            )
        )
    credentials: list[Row] = []
    ebikes: list[Row] = []
    for i in range(start, end):
        k = owner_of(i)
        iat = int(plan.epoch + i * plan.step)
        at = dt.datetime.fromtimestamp(iat, utc)
        raw_id = codec.new_public_id()
        credential_id = codec.encode_public_id(raw_id)
        bike_id = new_bike_id("eb_")
        node_path = plan.node_paths[k % len(plan.node_paths)]  # an owner keeps their bikes in one place
        brand, colour = BRANDS[i % len(BRANDS)], COLOURS[(i // 3) % len(COLOURS)]
        token = codec.sign(codec.Claims(kind.code, raw_id, 1, iat), ring)
        credentials.append(
            (
                kind.name,
                credential_id,
                1,
                CredentialStatus.ACTIVE.value,
                bike_id,
                node_path,
                f"{brand} {colour}"[:64],  # service.bike_label: the make and colour, never the owner
                token,
                at,
                at,
                "",
            )
        )
        ebikes.append(
            (
                bike_id,
                plan.first_account_id + k,
                node_path,
                brand,
                MODELS[(i // 7) % len(MODELS)],
                colour,
                frame_no(i),
                f"M{i:011d}",
                plate(i) if i % 5 else None,  # one bike in five has no plate
                at.date() - dt.timedelta(days=i % 90),  # bought in the three months before registration
                BikeStatus.ACTIVE.value,
                credential_id,
                at,
                at,
            )
        )
    return Chunk(accounts, credentials, ebikes)


# Seeding: the writers ------------------------------------------------------------------------------


def sqlite_path(url: str) -> str:
    return url[len("sqlite://") :].split("?", 1)[0]


class PostgresWriter:
    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    async def open(self) -> int:
        import asyncpg

        self.conn = await asyncpg.connect(asyncpg_dsn(self.url))
        return int(await self.conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM account"))

    async def write(self, chunk: Chunk) -> None:
        async with self.conn.transaction():
            # Owners first: ebike.owner_id references account.id.
            await self.conn.copy_records_to_table("account", records=chunk.accounts, columns=ACCOUNT_COLUMNS)
            await self.conn.copy_records_to_table(
                "qr_credential", records=chunk.credentials, columns=CREDENTIAL_COLUMNS
            )
            await self.conn.copy_records_to_table("ebike", records=chunk.ebikes, columns=EBIKE_COLUMNS)

    async def finish(self) -> None:
        # Account ids were given explicitly: move the sequence past them before the server inserts.
        await self.conn.execute("SELECT setval(pg_get_serial_sequence('account', 'id'), (SELECT MAX(id) FROM account))")
        await self.conn.execute("ANALYZE account, ebike, qr_credential")

    async def tokens_of(self, frames: list[str]) -> list[str]:
        rows = await self.conn.fetch(
            "SELECT c.token FROM ebike e JOIN qr_credential c ON c.public_id = e.credential_id "
            "WHERE e.frame_no = ANY($1::text[])",
            frames,
        )
        return [str(r["token"]) for r in rows]

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


def _sqlite_value(value: object) -> object:
    # As Tortoise writes them (tortoise.backends.sqlite.executor's adapters).
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class SqliteWriter:
    def __init__(self, url: str) -> None:
        self.path = sqlite_path(url)
        self.conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        assert self.conn is not None
        return self.conn

    async def open(self) -> int:
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute("PRAGMA busy_timeout=5000")
        (max_id,) = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM account").fetchone()
        return int(max_id)

    async def write(self, chunk: Chunk) -> None:
        conn = self._db()
        conn.execute("BEGIN")
        try:
            for table, columns, rows in (
                ("account", ACCOUNT_COLUMNS, chunk.accounts),
                ("qr_credential", CREDENTIAL_COLUMNS, chunk.credentials),
                ("ebike", EBIKE_COLUMNS, chunk.ebikes),
            ):
                marks = ", ".join("?" * len(columns))
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - our own names
                conn.executemany(sql, ([_sqlite_value(v) for v in row] for row in rows))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def finish(self) -> None:
        self._db().execute("ANALYZE")

    async def tokens_of(self, frames: list[str]) -> list[str]:
        marks = ", ".join("?" * len(frames))
        join = "ebike e JOIN qr_credential c ON c.public_id = e.credential_id"
        sql = f"SELECT c.token FROM {join} WHERE e.frame_no IN ({marks})"  # noqa: S608 - placeholders only
        return [str(token) for (token,) in self._db().execute(sql, frames)]

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


Writer = PostgresWriter | SqliteWriter


@dataclass
class Seeded:
    bikes: int
    owners: int
    seconds: float
    analyze_seconds: float
    processes: int
    scan_tokens: list[str]

    @property
    def rate(self) -> float:
        return self.bikes / self.seconds if self.seconds else 0.0


async def seed(settings: Settings, bikes: int, node_paths: Sequence[str], processes: int, rng: random.Random) -> Seeded:
    url = settings.effective_database_url
    writer: Writer = SqliteWriter(url) if url.startswith("sqlite://") else PostgresWriter(url)
    try:
        max_id = await writer.open()
        now = time.time()
        span = 2 * 365 * 86400.0  # registered over the last two years, oldest first
        plan = SeedPlan(settings.var_dir, bikes, max_id + 1, tuple(node_paths), now - span, span / bikes)
        started = time.perf_counter()
        await generate_in_processes(
            bikes,
            CHUNK,
            processes=processes,
            initializer=_init_worker,
            initargs=(plan,),
            generate=generate_chunk,
            consume=writer.write,
            label="seeding",
        )
        loaded = time.perf_counter()
        await writer.finish()
        analyzed = time.perf_counter()
        sample = [frame_no(rng.randrange(bikes)) for _ in range(min(bikes, 200))]
        scan_tokens = await writer.tokens_of(sample)
        return Seeded(
            bikes, owner_of(bikes - 1) + 1, analyzed - started, analyzed - loaded, processes, sorted(set(scan_tokens))
        )
    finally:
        await writer.close()


# The people of the bench: one police officer and the residents who register -------------------------


@dataclass
class People:
    police_token: str
    resident_tokens: list[str]
    grid_codes: list[str]
    grid_paths: list[str]


async def prepare(settings: Settings, residents: int) -> People:
    """Check the database is empty, load the demo hierarchy, create the accounts that make requests."""
    await db.open_db(settings)
    try:
        if await Account.all().count() or await EBike.all().count():
            raise RuntimeError("the database is not empty: give a freshly created one (it is filled with bikes)")
        if not await Node.exists(code="GM"):
            await hierarchy.load_file(hierarchy.demo_file())
        grids = await Node.filter(level=NodeLevel.GRID).order_by("code").values_list("code", "path")
        if not grids:
            raise RuntimeError("the hierarchy has no grid nodes to keep bikes in")
        police_node = await Node.get(code="GM01")
        police = await Account.create(
            public_id=identity_service.new_public_id(), role=Role.POLICE, node=police_node, username="bench.police"
        )
        await Account.bulk_create(
            [
                Account(
                    public_id=identity_service.new_public_id(),
                    role=Role.RESIDENT,
                    wechat_openid=f"oGMBENCHREG{r:017d}",
                )
                for r in range(residents)
            ],
            batch_size=1000,
        )
        resident_ids = await Account.filter(role=Role.RESIDENT).order_by("id").values_list("public_id", flat=True)
    finally:
        await db.close_db()
    secret = load_access_token_secret(settings)
    ttl = 4 * 3600  # long enough for any run

    def token(public_id: str, role: Role, node_path: str | None) -> str:
        value, _ = tokens.issue_access_token(
            secret=secret, account_id=public_id, role=role, node_path=node_path, ttl=ttl
        )
        return value

    return People(
        police_token=token(police.public_id, Role.POLICE, police_node.path),
        resident_tokens=[token(str(pid), Role.RESIDENT, None) for pid in resident_ids],
        grid_codes=[str(code) for code, _ in grids],
        grid_paths=[str(path) for _, path in grids],
    )


# The load ------------------------------------------------------------------------------------------


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used so far) of every process we can read."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / tick)
    return stats


CPU_GROUPS = ("server", "database", "client")


@dataclass
class CpuProbe:
    """CPU seconds used so far by the server (its whole process tree), by PostgreSQL (every
    ``postgres`` process, when the database is on this machine) and by this client."""

    server_pid: int
    local_postgres: bool

    def read(self) -> dict[str, float]:
        stats = _proc_stats()
        tree, frontier = {self.server_pid}, [self.server_pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, (ppid, _, _) in stats.items() if ppid == parent and pid not in tree]
            tree.update(children)
            frontier.extend(children)
        times = os.times()
        figures = {
            "server": sum(stats[pid][2] for pid in tree if pid in stats),
            "client": times.user + times.system,
        }
        if self.local_postgres:
            figures["database"] = sum(cpu for _, name, cpu in stats.values() if name == "postgres")
        return figures


@dataclass
class Paced:
    """Requests started on a fixed schedule (an open loop): latency counts from the scheduled start, so
    time spent queueing behind a slow answer is not hidden (closed-loop clients that wait for each answer
    before the next request measure the queue, not the service, and a stall lowers the load it meets)."""

    rate: float
    figures: Figures
    late_ms: list[float] = field(default_factory=list)  # how late the client itself started each request

    @property
    def achieved(self) -> float:
        return len(self.figures.latencies_ns) / self.figures.seconds if self.figures.seconds else 0.0


class ConnectionPool:
    """Keep-alive connections handed out one request at a time; a new one opens when all are busy."""

    def __init__(self, base_url: str, most: int = 512) -> None:
        self.base_url, self.most = base_url, most
        self.idle: list[RawConnection] = []
        self.opened: list[RawConnection] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> RawAnswer:
        if self.idle:
            connection = self.idle.pop()
        elif len(self.opened) < self.most:
            connection = RawConnection(self.base_url)
            self.opened.append(connection)
        else:
            raise RawError("connection pool exhausted")
        try:
            return await connection.request(method, url, **kwargs)
        finally:
            self.idle.append(connection)

    def close(self) -> None:
        for connection in self.opened:
            connection.close()


async def paced(
    name: str,
    base_url: str,
    rate: float,
    seconds: float,
    first: int,
    make: Callable[[int], Request],
    check: Check,
    cpu: CpuProbe | None = None,
) -> Paced:
    """Start ``rate`` requests a second for ``seconds`` (after a one-second warm-up at the same rate)."""
    print(f"  {name}: {rate:g}/s for {seconds:g} s (+1 s warm-up)", file=sys.stderr, flush=True)
    pool = ConnectionPool(base_url)
    result = Paced(rate, Figures(name))
    warm = int(rate)
    total = warm + int(rate * seconds)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, due: float) -> None:
        measured = i >= warm
        method, url, kwargs = make(first + i)
        start_ns = time.perf_counter_ns()
        if measured:
            result.late_ms.append(max(0.0, loop.time() - due) * 1000)
        scheduled_ns = start_ns - int(max(0.0, loop.time() - due) * 1e9)
        try:
            response = await pool.request(method, url, **kwargs)
        except RawError as exc:
            if measured:
                result.figures.failures[f"exception {exc}"] += 1
            return
        if not measured:
            return
        result.figures.latencies_ns.append(time.perf_counter_ns() - scheduled_ns)
        problem = check(response)
        if problem is not None:
            result.figures.failures[problem] += 1

    try:
        origin = loop.time() + 0.05
        before: dict[str, float] = {}
        measured_from = 0.0
        for i in range(total):
            due = origin + i / rate
            if i == warm:
                await asyncio.gather(*tasks)  # the warm-up's answers are in before the measure starts
                tasks.clear()
                before = cpu.read() if cpu else {}
                measured_from = time.perf_counter()
                origin = loop.time() - i / rate  # the schedule goes on from now, not from the warm-up's start
                due = origin + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        result.figures.seconds = time.perf_counter() - measured_from
        after = cpu.read() if cpu else {}
        done = max(len(result.figures.latencies_ns), 1)
        result.figures.cpu_ms = {k: (after[k] - before[k]) * 1000 / done for k in before}
    finally:
        pool.close()
    return result


@dataclass
class Load:
    lookup_frame: Figures
    lookup_id: Figures
    lookup_frame_alone: Figures | None  # one client at a time: the service time, without queueing
    lookup_id_alone: Figures | None
    register: Figures
    scan: Figures
    hello: Figures
    paced_lookups: list[Paced] = field(default_factory=list)


async def run_load(
    args: argparse.Namespace,
    gmid_url: str,
    hello_url: str,
    people: People,
    seeded: Seeded,
    probes: tuple[CpuProbe, CpuProbe],
) -> Load:
    ours, bare = probes
    rng = random.Random(20261125)
    police = {"Authorization": f"Bearer {people.police_token}"}
    reason = "盗窃案件侦查"

    def found(body: dict[str, Any]) -> str | None:
        return None if body.get("count", 0) >= 1 else "200 nothing found"

    def by_frame(j: int) -> Request:
        params = {"frame_no": frame_no(rng.randrange(seeded.bikes)), "reason": reason, "case_no": f"GMB-F{j:07d}"}
        return "GET", "/api/v1/police/ebikes", {"params": params, "headers": police}

    def by_id_number(j: int) -> Request:
        value = owner_id_number(rng.randrange(seeded.owners))
        body = {"owner_id_number": value, "reason": reason, "case_no": f"GMB-I{j:07d}"}
        return "POST", "/api/v1/police/ebikes/lookup", {"json": body, "headers": police}  # never in an address

    residents = len(people.resident_tokens)

    def registration(j: int) -> Request:
        r = j % residents  # consecutive requests go to different residents; each makes <= PER_RESIDENT
        body = {
            "owner": resident_identity(r),
            "brand": BRANDS[j % len(BRANDS)],
            "model": "DE2",
            "colour": COLOURS[j % len(COLOURS)],
            "frame_no": f"BENCH-{j:09d}",
            "motor_no": f"R{j:09d}",
            "plate": f"光明R{j:07d}",
            "purchase_date": "2025-03-01",
            "node": people.grid_codes[j % len(people.grid_codes)],
        }
        return (
            "POST",
            "/api/v1/ebikes",
            {"json": body, "headers": {"Authorization": f"Bearer {people.resident_tokens[r]}"}},
        )

    urls = [f"{BASE_URL}/q/{token}" for token in seeded.scan_tokens]

    def scan(j: int) -> Request:
        return "POST", "/api/v1/scan", {"json": {"payload": urls[j % len(urls)]}}

    def registered(body: dict[str, Any]) -> str | None:
        view = body.get("view", {})
        return None if body.get("valid") and view.get("registered") else "200 not a registered bike"

    lookup_frame = await measure("lookup by frame_no", gmid_url, args, by_frame, expect(200, found), ours)
    lookup_id = await measure("lookup by owner ID number", gmid_url, args, by_id_number, expect(200, found), ours)
    paced_lookups = []
    first = args.warmup + args.requests
    for rate in args.rates:
        run = await paced(
            f"lookup by frame_no at {rate:g}/s",
            gmid_url,
            rate,
            args.rate_seconds,
            first,
            by_frame,
            expect(200, found),
            ours,
        )
        paced_lookups.append(run)
        first += int(rate) * (int(args.rate_seconds) + 2)
    frame_alone = id_alone = None
    if args.concurrency > 1:
        # At N clients a request waits for the N - 1 ahead of it: p50 is about N / throughput.
        alone = argparse.Namespace(**{**vars(args), "concurrency": 1, "warmup": 0})
        ok = expect(200, found)
        frame_alone = await measure("lookup by frame_no, 1 client", gmid_url, alone, by_frame, ok, ours)
        id_alone = await measure("lookup by ID number, 1 client", gmid_url, alone, by_id_number, ok, ours)
    register = await measure("registration", gmid_url, args, registration, expect(201), ours)
    # Scan and hello-world back to back: the same machine state for the comparison.
    scan_figures = await measure("scan", gmid_url, args, scan, expect(200, registered), ours)
    hello = await measure("bare Sanic hello-world", hello_url, args, scan, expect(200), bare)
    return Load(lookup_frame, lookup_id, frame_alone, id_alone, register, scan_figures, hello, paced_lookups)


def ebike_server_env(settings: Settings, port: int, workers: int) -> dict[str, str]:
    env = server_env(settings, port, workers, lifted_routes=("qr.scan", "ebikes.police.ebikes", "ebikes.register"))
    env["GMID_POLICE_LOOKUP_RATE"] = LIFTED_LOOKUP_RATE
    return env


def database_version(settings: Settings) -> str:
    url = settings.effective_database_url
    if url.startswith("sqlite://"):
        return f"SQLite {sqlite3.sqlite_version}"

    async def version() -> str:
        import asyncpg

        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return "PostgreSQL " + str(await conn.fetchval("SHOW server_version")).split()[0]
        finally:
            await conn.close()

    return asyncio.run(version())


def report(
    args: argparse.Namespace, backend: str, seeded: Seeded, load: Load, loads: tuple[float, float, float]
) -> int:
    print(
        f"{backend}; gmid serve with {args.workers} worker{'s' if args.workers > 1 else ''}; "
        f"{args.concurrency} concurrent {args.client} clients; {args.requests:,} requests per figure after "
        f"{args.warmup:,} warm-up; {os.cpu_count()} CPU cores shared by client, servers and database; "
        f"1-minute load average {loads[0]:.2f} at the start, {loads[1]:.2f} before the load, {loads[2]:.2f} after"
    )
    print(
        f"seeded {seeded.bikes:,} bikes of {seeded.owners:,} owners, each bike with its signed e-ID code, in "
        f"{seeded.seconds:.1f} s: {seeded.rate:,.0f} bikes/s ({seeded.processes} generating processes, chunks of "
        f"{CHUNK:,}; ANALYZE {seeded.analyze_seconds:.1f} s of it)"
    )
    print(
        f"{'':<40} {'':>8} {'':>8} {'':>8} {'':>7}  {'CPU ms per request':^22}\n"
        f"{'figure':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  {'server':>6} {'db':>6} {'client':>6}"
        "  target"
    )
    rows: list[tuple[str, Figures, str]] = []
    for label, f, alone in (
        ("police lookup by frame_no", load.lookup_frame, load.lookup_frame_alone),
        ("police lookup by owner ID number", load.lookup_id, load.lookup_id_alone),
    ):
        met = "met" if f.p(0.99) < LOOKUP_P99_TARGET_MS else "NOT met"
        rows.append((label, f, f"p99 < {LOOKUP_P99_TARGET_MS:g} ms: {met}"))
        if alone is not None:
            rows.append(("  the same, 1 client at a time", alone, "(service time, no queueing)"))
    rows.append(("registration (POST /api/v1/ebikes)", load.register, ""))
    ratio = load.scan.rps / load.hello.rps if load.hello.rps else float("nan")
    met = "met" if ratio >= SCAN_RATIO_TARGET else "NOT met"
    cpu_met = "met" if load.scan.cpu_ms.get("server", 99.0) < SCAN_CPU_TARGET_MS else "NOT met"
    target = f">= {SCAN_RATIO_TARGET:g} x hello: {met}; server CPU < {SCAN_CPU_TARGET_MS:g} ms: {cpu_met}"
    rows.append(("scan of a seeded bike (POST /api/v1/scan)", load.scan, target))
    rows.append(("bare Sanic hello-world (POST, 1 process)", load.hello, ""))
    for label, f, target in rows:
        cpu = " ".join(f"{f.cpu_ms[k]:>6.2f}" if k in f.cpu_ms else f"{'-':>6}" for k in CPU_GROUPS)
        print(f"{label:<40} {f.rps:>8,.0f} {f.p(0.5):>8.2f} {f.p(0.99):>8.2f} {f.errors:>7}  {cpu}  {target}".rstrip())
    print(f"scan / hello-world throughput: {ratio:.2f}")
    if load.paced_lookups:
        print(
            f"\npolice lookup by frame_no at a fixed arrival rate (open loop: latency from each request's scheduled "
            f"start, {args.rate_seconds:g} s per rate)\n"
            f"{'rate/s':>8} {'done/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}  "
            f"{'server':>6} {'db':>6} {'client':>6}  {'client late p99':>15}  target"
        )
        for run in load.paced_lookups:
            f = run.figures
            cpu = " ".join(f"{f.cpu_ms[k]:>6.2f}" if k in f.cpu_ms else f"{'-':>6}" for k in CPU_GROUPS)
            late = percentile(sorted(run.late_ms), 0.99) if run.late_ms else 0.0
            target = ""
            if run.rate == PACED_TARGET_RATE:
                target = (
                    f"p99 < {LOOKUP_P99_TARGET_MS:g} ms: {'met' if f.p(0.99) < LOOKUP_P99_TARGET_MS else 'NOT met'}"
                )
            print(
                f"{run.rate:>8g} {run.achieved:>8,.0f} {f.p(0.5):>8.2f} {f.p(0.9):>8.2f} {f.p(0.99):>8.2f} "
                f"{f.p(1.0):>8.2f} {f.errors:>7}  {cpu}  {late:>12.2f} ms  {target}".rstrip()
            )
        rows += [(run.figures.name, run.figures, "") for run in load.paced_lookups]
    cores = os.cpu_count() or 1
    print(
        f"with {args.concurrency} clients kept busy, p50 is about {args.concurrency} / throughput; a p99 under "
        f"{LOOKUP_P99_TARGET_MS:g} ms needs at least {args.concurrency * 1000 / LOOKUP_P99_TARGET_MS:,.0f} lookups/s, "
        f"that is at most {cores * LOOKUP_P99_TARGET_MS / args.concurrency:.2f} ms of CPU per lookup for server, "
        f"database and client together on {cores} cores"
    )
    if args.client == "httpx":
        print("note: httpx may be what limits the hello-world figure here; --client raw measures the servers")
    failed = [f for _, f, _ in rows if f.errors]
    if failed:
        total = sum(f.errors for f in failed)
        print(f"{total:,} requests failed or answered wrongly:", file=sys.stderr)
        for f in failed:
            for why, count in f.failures.most_common(5):
                print(f"  {f.name}: {count:,} x {why}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="an EMPTY database (default: a temporary SQLite file)")
    parser.add_argument("--redis-url", help="default: the embedded Redis in the temporary folder")
    parser.add_argument("--bikes", type=int, default=1_000_000, help="bikes to seed (default 1,000,000)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent client tasks (default 16)")
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per figure (default 2,000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured requests before each (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="gmid serve worker processes (default 1)")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(part) for part in text.split(",") if part.strip()],
        default=[50.0, 100.0, 200.0],
        help="police lookups a second for the fixed-arrival-rate figures (default 50,100,200; empty: none)",
    )
    parser.add_argument("--rate-seconds", type=float, default=20.0, help="seconds measured per rate (default 20)")
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="httpx",
        help="httpx.AsyncClient (default), or a bare keep-alive HTTP/1.1 client that needs less CPU",
    )
    parser.add_argument(
        "--processes", type=int, default=os.cpu_count() or 1, help="seeding processes (default: one per CPU)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server logs, keys)")
    args = parser.parse_args(argv)

    if not 1 <= args.bikes <= MAX_BIKES:
        parser.error(f"--bikes must be from 1 to {MAX_BIKES:,}")
    if not 1 <= args.concurrency <= 1000 or args.requests < 1 or args.warmup < 0:
        parser.error("--concurrency must be from 1 to 1000, --requests at least 1, --warmup not negative")
    if any(not 0 < rate <= 10_000 for rate in args.rates) or not 1 <= args.rate_seconds <= 600:
        parser.error("--rates must be from 0 to 10,000 a second, --rate-seconds from 1 to 600")
    if not 1 <= args.workers <= 64 or args.processes < 1:
        parser.error("--workers must be from 1 to 64, --processes at least 1")
    require_gmid(parser)
    if args.workers > 1:
        print(
            "note: the hello-world runs one process; gmid runs more, so the ratio is not like for like", file=sys.stderr
        )
    return run("ebike_bench", lambda work: bench(args, work), prefix="gmideb-", keep=args.keep)


def bench(args: argparse.Namespace, work: Workspace) -> int:
    at_start = os.getloadavg()[0]  # other work on the machine skews the figures
    settings = Settings(
        var_dir=str(work.var_dir),
        database_url=args.database_url,
        redis_url=args.redis_url,
        public_base_url=BASE_URL,
        log_level="WARNING",
    )
    backend = database_version(settings)
    init_keys(settings)
    run_plain(lambda: db.migrate(settings))
    residents = math.ceil((args.requests + args.warmup) / PER_RESIDENT)
    people = run_plain(lambda: prepare(settings, residents))
    seeded = run_plain(lambda: seed(settings, args.bikes, people.grid_paths, args.processes, random.Random(args.bikes)))
    if not seeded.scan_tokens:
        raise RuntimeError("no seeded bike's code was found after seeding")

    hello = work.start_hello()
    port = free_port()
    ours = work.start_server(
        "gmid serve",
        [str(GMID), "serve", "--workers", str(args.workers), "--port", str(port)],
        env=ebike_server_env(settings, port, args.workers),
        port=port,
    )
    hello.wait_ready()
    ours.wait_ready()
    print("load:", file=sys.stderr, flush=True)
    before = os.getloadavg()[0]
    local_pg = urlparse(settings.effective_database_url).hostname in ("127.0.0.1", "localhost", "::1")
    local_pg = local_pg and not settings.effective_database_url.startswith("sqlite://")
    probes = (CpuProbe(ours.process.pid, local_pg), CpuProbe(hello.process.pid, False))
    load = run_async(run_load(args, f"http://{HOST}:{port}", f"http://{HOST}:{hello.port}", people, seeded, probes))
    after = os.getloadavg()[0]
    return report(args, backend, seeded, load, (at_start, before, after))


if __name__ == "__main__":
    sys.exit(main())
