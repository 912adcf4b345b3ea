"""The migrations: they match the models, they keep the account table's indexes, re-running them
changes nothing, and they import nothing of the application. SQLite always; PostgreSQL too when
``GMID_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import ast
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
MIGRATIONS = Path(__file__).parents[1] / "migrations"
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


def test_every_model_skips_tortoises_source_comments() -> None:
    """Every model class sets ``_no_comments`` (server/db.py says why): without it Tortoise parses the
    model's whole module again, once per class, in every process that imports the models."""
    import importlib

    from tortoise.models import Model

    from server.db import MODEL_MODULES

    missing = [
        f"{module}.{name}"
        for module in MODEL_MODULES
        for name, value in vars(importlib.import_module(module)).items()
        if isinstance(value, type)
        and issubclass(value, Model)
        and value.__module__ == module
        and not value.__dict__.get("_no_comments")
    ]
    assert missing == []


def imported_modules(source: str) -> set[str]:
    """The top-level names of every module a Python source imports, at any depth (inside functions too),
    and of every module it names to ``__import__`` or ``importlib.import_module``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." if node.level else (node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value.split(".")[0])
    return found


def test_migrations_import_nothing_from_the_application() -> None:
    """A migration is history: it may import the standard library and Tortoise, never the application
    (identity, qr, notify, miniapp_api, server...). An application enum imported into a migration would
    rewrite what the migration did the day the enum changes. `tortoise makemigrations` writes
    `from <package> import <Enum>` for a CharEnumField: copy the enum into the migration instead."""
    allowed = set(sys.stdlib_module_names) | {"__future__", "tortoise"}
    files = sorted(MIGRATIONS.glob("0*.py"))
    assert files
    offending = {path.name: sorted(imported_modules(path.read_text(encoding="utf-8")) - allowed) for path in files}
    bad = {name: mods for name, mods in offending.items() if mods}
    assert not bad, f"migrations import modules of the application (freeze the values instead): {bad}"


def test_the_import_check_sees_every_way_of_importing() -> None:
    source = (
        "from identity.roles import Role\n"
        "import qr.models\n"
        "def later():\n"
        "    from notify import models\n"
        "    import importlib\n"
        "    importlib.import_module('miniapp_api.reports.states')\n"
        "    __import__('server.settings')\n"
        "from . import sibling\n"
        "from enum import StrEnum\n"
    )
    assert imported_modules(source) == {"identity", "qr", "notify", "importlib", "miniapp_api", "server", ".", "enum"}


# name -> (columns, unique) of every index on the account table
Indexes = dict[str, tuple[tuple[str, ...], bool]]


async def table_indexes(settings: Settings, table: str = "account") -> Indexes:
    conn = connections.get("default")
    found: Indexes = {}
    if settings.effective_database_url.startswith("sqlite://"):
        for row in await conn.execute_query_dict(f"PRAGMA index_list('{table}')"):
            columns = await conn.execute_query_dict(f"PRAGMA index_info('{row['name']}')")
            found[row["name"]] = (tuple(c["name"] for c in columns), bool(row["unique"]))
        return found
    rows = await conn.execute_query_dict(
        "SELECT i.relname AS name, ix.indisunique AS uniq, "
        "array_to_string(array(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ',') AS cols "
        "FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid "
        "WHERE t.relname = $1 AND NOT ix.indisprimary",
        [table],
    )
    for row in rows:
        found[row["name"]] = (tuple(row["cols"].split(",")), bool(row["uniq"]))
    return found


async def test_account_table_keeps_its_indexes(running: object, settings: Settings) -> None:
    """A table rebuild in an earlier migration dropped these; look-ups by phone and role need them."""
    indexes = await table_indexes(settings, "account")
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


async def test_report_table_keeps_its_indexes(running: object, settings: Settings) -> None:
    """0014's AlterField rebuilt the SQLite table without them (0023 puts them back); the grid feed, a
    reporter's list and every move's merged-report look-up need them."""
    indexes = set((await table_indexes(settings, "report")).values())
    for columns in [
        ("node_path",),
        ("node_path", "state"),
        ("state", "due_at"),
        ("reporter_id",),
        ("building_code",),
        ("board_code",),
        ("merged_into_id",),
    ]:
        assert (columns, False) in indexes, f"report{columns}: no index"


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
        assert len(applied) == len(list(MIGRATIONS.glob("0*.py")))

        _, second = await gmid_migrate(tmp_path / "var", database_url)
        assert not [line for line in second.splitlines() if line.startswith("applied ")], second
        assert "database is at the current schema" in second
    finally:
        if backend == "postgres":
            await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
