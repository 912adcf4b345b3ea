"""Seed the audit chain's head row and make audit entries append-only in the database itself.

Triggers refuse UPDATE and DELETE on ``audit_entry``; whoever bypasses them (dropping the trigger
needs the schema owner) still breaks the hash chain, which ``gmid audit verify`` reports.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE = [
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')",
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END",
]

POSTGRES = [
    "INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')",
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_entry is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_entry_no_change BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
]


async def forward(apps, schema_editor):
    client = schema_editor.client
    statements = POSTGRES if client.capabilities.dialect == "postgres" else SQLITE
    for sql in statements:
        await client.execute_script(sql)


async def backward(apps, schema_editor):
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            "DROP TRIGGER IF EXISTS audit_entry_no_change ON audit_entry; "
            "DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry; "
            "DROP FUNCTION IF EXISTS audit_entry_append_only()"
        )
    else:
        await client.execute_script(
            "DROP TRIGGER IF EXISTS audit_entry_no_update; DROP TRIGGER IF EXISTS audit_entry_no_delete"
        )
    await client.execute_script("DELETE FROM audit_head WHERE id = 1")


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    operations = [ops.RunPython(forward, backward)]
