"""The migrations: they match the models, they keep the account table's indexes, and re-running
them changes nothing. SQLite always; PostgreSQL too when ``GMID_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from tortoise import connections
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from server.db import tortoise_config
from server.settings import Settings
from tests.support.postgres import pg_admin, pg_url

GMID = Path(sys.executable).parent / "gmid"
TEST_DATABASE_URL = os.environ.get("GMID_TEST_DATABASE_URL", "").strip()


async def test_models_and_migrations_agree(tmp_path: Path) -> None:
    """What `tortoise makemigrations` would write: nothing, or a model changed without a migration."""
    config = tortoise_config(f"sqlite://{tmp_path / 'autodetect.sqlite3'}")
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        assert ctx.apps is not None
        autodetector = MigrationAutodetector(ctx.apps, config["apps"])
        writers = await autodetector.changes()
    pending = [(w.app_label, w.name, [type(op).__name__ for op in w.operations]) for w in writers]
    assert pending == [], f"models differ from migrations/: {pending}"


# name -> (columns, unique) of every index on the account table
Indexes = dict[str, tuple[tuple[str, ...], bool]]


async def account_indexes(settings: Settings) -> Indexes:
    conn = connections.get("default")
    found: Indexes = {}
    if settings.effective_database_url.startswith("sqlite://"):
        for row in await conn.execute_query_dict("PRAGMA index_list('account')"):
            columns = await conn.execute_query_dict(f"PRAGMA index_info('{row['name']}')")
            found[row["name"]] = (tuple(c["name"] for c in columns), bool(row["unique"]))
        return found
    rows = await conn.execute_query_dict(
        "SELECT i.relname AS name, ix.indisunique AS uniq, "
        "array_to_string(array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS cols "
        "FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid "
        "WHERE t.relname = 'account' AND NOT ix.indisprimary"
    )
    for row in rows:
        found[row["name"]] = (tuple(row["cols"].split(",")), bool(row["uniq"]))
    return found


async def test_account_table_keeps_its_indexes(running: object, settings: Settings) -> None:
    """A table rebuild in an earlier migration dropped these; look-ups by phone and role need them."""
    indexes = await account_indexes(settings)
    by_column: dict[str, set[bool]] = {}
    for columns, unique in indexes.values():
        if len(columns) == 1:
            by_column.setdefault(columns[0], set()).add(unique)
    expected = {
        "phone_bidx": False,
        "role": False,
        "wechat_unionid": False,
        "id_number_bidx": True,
        "public_id": True,
        "username": True,
        "wechat_openid": True,
    }
    for column, unique in expected.items():
        assert unique in by_column.get(column, set()), f"account.{column}: no {'unique ' if unique else ''}index"
    # The ID number index is unique and there is no leftover non-unique one beside it.
    assert by_column["id_number_bidx"] == {True}


async def gmid_migrate(var_dir: Path, database_url: str | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    env["GMID_VAR_DIR"] = str(var_dir)
    env["GMID_LOG_LEVEL"] = "WARNING"
    if database_url:
        env["GMID_DATABASE_URL"] = database_url
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        "migrate",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(var_dir.parent),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return proc.returncode, out.decode()


# PostgreSQL as well when the suite runs against it (CI); a fresh, empty database either way.
BACKENDS = ["sqlite", "postgres"] if TEST_DATABASE_URL else ["sqlite"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_gmid_migrate_twice_is_a_no_op_the_second_time(tmp_path: Path, backend: str) -> None:
    database_url: str | None = None
    name = f"gmid_mig_{os.getpid()}"
    if backend == "postgres":
        await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
        database_url = pg_url(TEST_DATABASE_URL, name)
    try:
        _, first = await gmid_migrate(tmp_path / "var", database_url)
        applied = [line for line in first.splitlines() if line.startswith("applied ")]
        assert "applied models.0001_initial" in applied, first
        assert len(applied) == len(list((Path(__file__).parents[1] / "migrations").glob("0*.py")))

        _, second = await gmid_migrate(tmp_path / "var", database_url)
        assert not [line for line in second.splitlines() if line.startswith("applied ")], second
        assert "database is at the current schema" in second
    finally:
        if backend == "postgres":
            await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
