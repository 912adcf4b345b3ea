"""Two changes, written by hand:

1. A bike's frame number and plate are unique among the bikes on the register, not among every row
   ever written: a deregistered bike's numbers can be registered again (the old row stays, for the
   police's history). The column-level UNIQUE constraints become partial unique indexes
   (``... WHERE status <> 'deregistered'``), plus plain indexes for the look-ups over all rows.
2. ``audit_entry.scope``: the node path of the row an entry is about, so that an administrator below
   the district sees only entries about their own part of the hierarchy.

Tortoise can describe both (the state operations below) but cannot carry them out safely: on SQLite
dropping a column's UNIQUE means rebuilding the table, and its rebuild drops the table's indexes and,
with foreign keys on, cascades the drop to the bikes' alarms and transfers. So the database work is
done here, per dialect. On SQLite the rebuild follows SQLite's own procedure (foreign keys off, one
transaction, a foreign-key check before commit), which is why this migration is not atomic as a
whole: the pragma cannot change inside a transaction. Each step checks what is already there, so a
run that stopped half way can be run again.
"""

from __future__ import annotations

import re
from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.transactions import in_transaction

ON_REGISTER = "status <> 'deregistered'"
FRAME_NO_UNIQUE = "uidx_ebike_frame_no_registered"
PLATE_UNIQUE = "uidx_ebike_plate_registered"


class StateOnly(ops.TortoiseOperation):
    """Tortoise's view of the schema moves on; the SQL is run by ``forward`` below."""

    def __init__(self, operation: ops.TortoiseOperation) -> None:
        self.operation = operation

    def describe(self) -> str:
        return f"{self.operation.describe()} (state only)"

    def state_forward(self, app_label: str, state: Any) -> None:
        self.operation.state_forward(app_label, state)


def _names(schema_editor: Any) -> dict[str, str]:
    # The names Tortoise itself gives an index on one column, so that a later generated migration
    # that drops one finds it.
    name = schema_editor._generate_index_name_for_table
    return {
        "frame_no": name("idx", "ebike", ["frame_no"]),
        "plate": name("idx", "ebike", ["plate"]),
        "scope": name("idx", "audit_entry", ["scope"]),
    }


def _indexes(names: dict[str, str], *, exists: str = "") -> list[str]:
    return [
        f'CREATE UNIQUE INDEX {exists}"{FRAME_NO_UNIQUE}" ON "ebike" ("frame_no") WHERE {ON_REGISTER}',
        f'CREATE UNIQUE INDEX {exists}"{PLATE_UNIQUE}" ON "ebike" ("plate") WHERE {ON_REGISTER}',
        f'CREATE INDEX {exists}"{names["frame_no"]}" ON "ebike" ("frame_no")',
        f'CREATE INDEX {exists}"{names["plate"]}" ON "ebike" ("plate")',
    ]


# PostgreSQL ----------------------------------------------------------------------------------------


async def _pg_unique_constraints(conn: Any, column: str) -> list[str]:
    rows = await conn.execute_query_dict(
        "SELECT c.conname AS name FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(c.conkey) "
        "WHERE t.relname = 'ebike' AND c.contype = 'u' AND array_length(c.conkey, 1) = 1 AND a.attname = $1",
        [column],
    )
    return [str(r["name"]) for r in rows]


async def _pg_forward(client: Any, names: dict[str, str]) -> None:
    async with in_transaction(client.connection_name) as conn:
        await conn.execute_query(
            "ALTER TABLE audit_entry ADD COLUMN IF NOT EXISTS scope VARCHAR(255) NOT NULL DEFAULT ''"
        )
        await conn.execute_query(f'CREATE INDEX IF NOT EXISTS "{names["scope"]}" ON audit_entry (scope)')
        for column in ("frame_no", "plate"):
            for name in await _pg_unique_constraints(conn, column):
                await conn.execute_query(f'ALTER TABLE ebike DROP CONSTRAINT "{name}"')
        for sql in _indexes(names, exists="IF NOT EXISTS "):
            await conn.execute_query(sql)


async def _pg_backward(client: Any, names: dict[str, str]) -> None:
    async with in_transaction(client.connection_name) as conn:
        for name in (FRAME_NO_UNIQUE, PLATE_UNIQUE, names["frame_no"], names["plate"]):
            await conn.execute_query(f'DROP INDEX IF EXISTS "{name}"')
        # Fails, and changes nothing, when a number has been registered again meanwhile.
        await conn.execute_query("ALTER TABLE ebike ADD CONSTRAINT ebike_frame_no_key UNIQUE (frame_no)")
        await conn.execute_query("ALTER TABLE ebike ADD CONSTRAINT ebike_plate_key UNIQUE (plate)")
        await conn.execute_query(f'DROP INDEX IF EXISTS "{names["scope"]}"')
        await conn.execute_query("ALTER TABLE audit_entry DROP COLUMN IF EXISTS scope")


# SQLite --------------------------------------------------------------------------------------------


def _without_unique(table_sql: str, columns: tuple[str, ...]) -> str:
    """The table's own CREATE statement, with the columns' UNIQUE taken out and nothing else changed."""
    lines = table_sql.split("\n")
    for i, line in enumerate(lines):
        if any(line.strip().startswith(f'"{c}" ') for c in columns):
            lines[i] = re.sub(r"\s+UNIQUE\b", "", line)
    return "\n".join(lines)


def _with_unique(table_sql: str, columns: tuple[str, ...]) -> str:
    lines = table_sql.split("\n")
    for i, line in enumerate(lines):
        for column in columns:
            match = re.match(rf'(\s*"{column}" [A-Z]+\(\d+\)(?: NOT NULL)?)(.*)$', line)
            if match and "UNIQUE" not in line:
                lines[i] = f"{match.group(1)} UNIQUE{match.group(2)}"
    return "\n".join(lines)


async def _sqlite_has(conn: Any, kind: str, name: str) -> bool:
    rows = await conn.execute_query_dict("SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", [kind, name])
    return bool(rows)


async def _sqlite_rebuild_ebike(conn: Any, change: Any, extra_indexes: list[str], drop_indexes: list[str]) -> None:
    """SQLite's procedure for changing a table: a new table, the rows copied, the old one dropped and the
    new one renamed, then the indexes made again. Runs in the caller's transaction, foreign keys off."""
    [row] = await conn.execute_query_dict("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ebike'")
    table_sql = str(row["sql"])
    indexes = await conn.execute_query_dict(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ebike' AND sql IS NOT NULL"
    )
    sequence = await conn.execute_query_dict("SELECT seq FROM sqlite_sequence WHERE name = 'ebike'")
    new_sql = change(table_sql).replace('CREATE TABLE "ebike"', 'CREATE TABLE "new__ebike"', 1)
    if new_sql == table_sql or 'CREATE TABLE "new__ebike"' not in new_sql:
        raise RuntimeError("migration 0016: the ebike table does not have the expected shape")
    await conn.execute_query(new_sql)
    await conn.execute_query('INSERT INTO "new__ebike" SELECT * FROM "ebike"')
    await conn.execute_query('DROP TABLE "ebike"')
    await conn.execute_query('ALTER TABLE "new__ebike" RENAME TO "ebike"')
    for index in indexes:
        if index["name"] not in drop_indexes:
            await conn.execute_query(str(index["sql"]))
    for sql in extra_indexes:
        await conn.execute_query(sql)
    if sequence:  # AUTOINCREMENT: ids are never reused, even those of rows gone before the rebuild
        now = await conn.execute_query_dict("SELECT seq FROM sqlite_sequence WHERE name = 'ebike'")
        seq = max([int(sequence[0]["seq"]), *(int(r["seq"]) for r in now)])
        await conn.execute_query("DELETE FROM sqlite_sequence WHERE name = 'ebike'")
        await conn.execute_query("INSERT INTO sqlite_sequence (name, seq) VALUES ('ebike', ?)", [seq])
    problems = await conn.execute_query_dict("PRAGMA foreign_key_check")
    if problems:
        raise RuntimeError(f"migration 0016: {len(problems)} foreign key problems after rebuilding ebike")


async def _sqlite_forward(client: Any, names: dict[str, str]) -> None:
    await client.execute_script("PRAGMA foreign_keys = OFF")  # outside any transaction, or it is ignored
    try:
        async with in_transaction(client.connection_name) as conn:
            columns = await conn.execute_query_dict("PRAGMA table_info('audit_entry')")
            if not any(c["name"] == "scope" for c in columns):
                # ADD COLUMN neither rewrites the rows nor fires the append-only triggers.
                await conn.execute_query(
                    "ALTER TABLE audit_entry ADD COLUMN scope VARCHAR(255) NOT NULL DEFAULT ''"
                )
            await conn.execute_query(f'CREATE INDEX IF NOT EXISTS "{names["scope"]}" ON audit_entry (scope)')
            if not await _sqlite_has(conn, "index", FRAME_NO_UNIQUE):
                await _sqlite_rebuild_ebike(
                    conn, lambda sql: _without_unique(sql, ("frame_no", "plate")), _indexes(names), []
                )
    finally:
        await client.execute_script("PRAGMA foreign_keys = ON")


async def _sqlite_backward(client: Any, names: dict[str, str]) -> None:
    await client.execute_script("PRAGMA foreign_keys = OFF")
    try:
        async with in_transaction(client.connection_name) as conn:
            if await _sqlite_has(conn, "index", FRAME_NO_UNIQUE):
                drop = [FRAME_NO_UNIQUE, PLATE_UNIQUE, names["frame_no"], names["plate"]]
                await _sqlite_rebuild_ebike(conn, lambda sql: _with_unique(sql, ("frame_no", "plate")), [], drop)
            await conn.execute_query(f'DROP INDEX IF EXISTS "{names["scope"]}"')
            columns = await conn.execute_query_dict("PRAGMA table_info('audit_entry')")
            if any(c["name"] == "scope" for c in columns):
                await conn.execute_query("ALTER TABLE audit_entry DROP COLUMN scope")
    finally:
        await client.execute_script("PRAGMA foreign_keys = ON")


# ------------------------------------------------------------------------------------------------------


async def forward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    names = _names(schema_editor)
    if client.capabilities.dialect == "postgres":
        await _pg_forward(client, names)
    else:
        await _sqlite_forward(client, names)


async def backward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    # Entries with a scope hash it: dropping the column would break the chain at the first of them.
    rows = await client.execute_query_dict("SELECT COUNT(*) AS n FROM audit_entry WHERE scope <> ''")
    if rows and int(rows[0]["n"]):
        raise RuntimeError("migration 0016 cannot be undone: audit entries carry a scope in their hash")
    names = _names(schema_editor)
    if client.capabilities.dialect == "postgres":
        await _pg_backward(client, names)
    else:
        await _sqlite_backward(client, names)


class Migration(migrations.Migration):
    dependencies = [("models", "0015_notify_send_marks")]

    initial = False
    atomic = False  # SQLite's foreign keys can only be switched off outside a transaction

    operations = [
        StateOnly(
            ops.AddField(
                model_name="AuditEntry",
                name="scope",
                field=fields.CharField(default="", db_index=True, max_length=255),
            )
        ),
        StateOnly(
            ops.AlterField(
                model_name="EBike",
                name="frame_no",
                field=fields.CharField(db_index=True, description="Normalised, upper case.", max_length=32),
            )
        ),
        StateOnly(
            ops.AlterField(
                model_name="EBike",
                name="plate",
                field=fields.CharField(null=True, db_index=True, max_length=16),
            )
        ),
        StateOnly(
            ops.AddConstraint(
                model_name="EBike",
                constraint=UniqueConstraint(fields=("frame_no",), name=FRAME_NO_UNIQUE, condition=ON_REGISTER),
            )
        ),
        StateOnly(
            ops.AddConstraint(
                model_name="EBike",
                constraint=UniqueConstraint(fields=("plate",), name=PLATE_UNIQUE, condition=ON_REGISTER),
            )
        ),
        ops.RunPython(forward, backward),
    ]
