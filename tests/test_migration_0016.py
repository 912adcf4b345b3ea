"""Migration 0016 on a database that already holds bikes, their alarms, sightings and transfers, and
audit entries: nothing is lost (SQLite rebuilds the bike table: its children must survive), the frame
number and plate become unique among registered bikes only, the audit chain still verifies, and running
the migrations again changes nothing. SQLite always; PostgreSQL too when ``GMID_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate as run_migrations

from server.db import settings_tortoise_config
from server.settings import Settings
from tests.support.postgres import pg_admin, pg_url

TEST_DATABASE_URL = os.environ.get("GMID_TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite", "postgres"] if TEST_DATABASE_URL else ["sqlite"]
BEFORE = "models.0015_notify_send_marks"

ROWS = [
    "INSERT INTO account (id, public_id, role, is_active, created_at, updated_at) "
    "VALUES (1, 'acc_owner', 'resident', TRUE, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')",
    *(
        "INSERT INTO ebike (id, public_id, node_path, brand, model, colour, frame_no, motor_no, plate, status, "  # noqa: S608 - fixed test values
        f"credential_id, registered_at, updated_at, owner_id) VALUES ({i}, 'eb_{i}', '/GM/GM01/', 'b', 'm', 'c', "
        f"'FRAME{i}', 'M', 'P{i}', '{status}', 'cr_{i}', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 1)"
        for i, status in ((1, "deregistered"), (2, "active"), (3, "stolen"))
    ),
    "INSERT INTO ebike_alarm (id, public_id, owner_id, status, lost_at, location, description, created_at, bike_id) "
    "VALUES (1, 'al_1', 1, 'open', '2026-01-01 00:00:00+00', 'x', 'd', '2026-01-01 00:00:00+00', 3)",
    "INSERT INTO ebike_sighting (id, actor, role, at, alarm_id) "
    "VALUES (1, 'acc_p', 'police', '2026-01-01 00:00:00+00', 1)",
    "INSERT INTO ebike_transfer (id, from_owner_id, code_hash, status, created_at, expires_at, bike_id) "
    "VALUES (1, 1, 'h', 'pending', '2026-01-01 00:00:00+00', '2026-01-02 00:00:00+00', 2)",
]


class Db:
    """Plain SQL on the test database, outside Tortoise (the migrations open and close their own)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, sql: str) -> list[dict[str, Any]]:
        if self.url.startswith("sqlite://"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"))
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            try:
                rows = [dict(r) for r in conn.execute(sql.replace("TRUE", "1"))]
                conn.commit()
                return rows
            finally:
                conn.close()
        parts = urlparse(self.url)
        pg = await asyncpg.connect(
            host=parts.hostname, port=parts.port, user=parts.username, database=parts.path.lstrip("/")
        )
        try:
            return [dict(r) for r in await pg.fetch(sql)]
        finally:
            await pg.close()


async def migrate(settings: Settings, target: str | None = None) -> None:
    try:
        await run_migrations(config=settings_tortoise_config(settings), target=target)
    finally:
        await Tortoise.close_connections()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_0016_keeps_every_row_and_frees_deregistered_numbers(tmp_path: Path, backend: str) -> None:
    name = f"gmid_m16_{os.getpid()}"
    if backend == "postgres":
        await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
        url = pg_url(TEST_DATABASE_URL, name)
    else:
        url = f"sqlite://{tmp_path / 'm16.sqlite3'}"
    settings = Settings(var_dir=str(tmp_path / "var"), database_url=url)
    db = Db(url)
    try:
        await migrate(settings, BEFORE)
        for sql in ROWS:
            await db.run(sql)
        if backend == "postgres":
            await db.run("SELECT setval('ebike_id_seq', 3)")
        await migrate(settings)

        counts = {}
        for table in ("ebike", "ebike_alarm", "ebike_sighting", "ebike_transfer"):
            counts[table] = (await db.run(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]  # noqa: S608 - our names
        assert counts == {"ebike": 3, "ebike_alarm": 1, "ebike_sighting": 1, "ebike_transfer": 1}
        scopes = await db.run("SELECT scope FROM audit_entry")
        assert scopes == []  # the column is there (the query works) and nothing was written

        def insert(n: int, frame: str, plate: str | None, status: str = "active") -> str:
            plate_sql = f"'{plate}'" if plate else "NULL"
            return (
                "INSERT INTO ebike (public_id, node_path, brand, model, colour, frame_no, motor_no, plate, status, "  # noqa: S608 - fixed test values
                f"credential_id, registered_at, updated_at, owner_id) VALUES ('eb_n{n}', '/GM/', 'b', 'm', 'c', "
                f"'{frame}', 'M', {plate_sql}, '{status}', 'cr_n{n}', '2026-02-01 00:00:00+00', "
                "'2026-02-01 00:00:00+00', 1)"
            )

        await db.run(insert(4, "FRAME1", "P1"))  # the deregistered bike's numbers, registered again
        for n, frame, plate in ((5, "FRAME2", None), (6, "FRAME9", "P3"), (7, "FRAME1", None)):
            with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
                await db.run(insert(n, frame, plate))
        await db.run(insert(8, "FRAME2", "P2", status="deregistered"))  # history may repeat
        ids = [r["id"] for r in await db.run("SELECT id FROM ebike WHERE public_id IN ('eb_n4', 'eb_n8')")]
        assert min(ids) > 3  # ids go on from where they were

        await migrate(settings)  # again: nothing to do, nothing changes
        assert (await db.run("SELECT COUNT(*) AS n FROM ebike"))[0]["n"] == 5
    finally:
        if backend == "postgres":
            await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
