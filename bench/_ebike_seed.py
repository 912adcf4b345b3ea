"""Seeding the register straight into the database, without the ORM: the rows made in worker processes
(owners, their vault ciphertexts and blind indexes, the signed code of every bike), the writers (PostgreSQL
``COPY``, SQLite ``executemany``) and ``seed``, which drives them."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _ebike_register import (
    BRANDS,
    COLOURS,
    MODELS,
    first_bike_of,
    frame_no,
    owner_id_number,
    owner_name,
    owner_of,
    owner_phone,
    plate,
)
from _seeding import asyncpg_dsn, generate_in_processes

from identity import service as identity_service
from identity.roles import Role
from miniapp_api.ebikes.models import BikeStatus
from qr import codec, kinds
from qr.models import CredentialStatus
from server.settings import Settings

CHUNK = 20_004  # a multiple of 6: an owner's bikes never straddle two chunks (see owner_of)

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
