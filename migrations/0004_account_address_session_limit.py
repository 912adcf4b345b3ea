"""Resident ID numbers bind to one account (unique blind index), the address field, and a hard end
for each login's refresh-token family.

The uniqueness change is applied as a plain ``CREATE UNIQUE INDEX`` on both SQLite and PostgreSQL:
Tortoise 1.1's SQLite ``AlterField`` rebuilds the whole table, which drops its other indexes (and
would delete rows that reference it). The migration state still records the field as unique.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class AddUniqueIndex(ops.AlterField):
    """AlterField in the migration state; in the database, only the unique index changes."""

    def __init__(self, model_name, name, field, *, table, old_index, new_index):
        super().__init__(model_name, name, field)
        self.table, self.old_index, self.new_index = table, old_index, new_index

    async def database_forward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        client = state_editor.client
        await client.execute_script(f'DROP INDEX IF EXISTS "{self.old_index}"')
        await client.execute_script(f'CREATE UNIQUE INDEX "{self.new_index}" ON "{self.table}" ("{self.name}")')

    async def database_backward(self, app_label, old_state, new_state, state_editor=None):
        if state_editor is None:
            return
        client = state_editor.client
        await client.execute_script(f'DROP INDEX IF EXISTS "{self.new_index}"')
        await client.execute_script(f'CREATE INDEX "{self.old_index}" ON "{self.table}" ("{self.name}")')


class Migration(migrations.Migration):
    dependencies = [("models", "0003_qr_credentials")]

    initial = False

    operations = [
        AddUniqueIndex(
            model_name="Account",
            name="id_number_bidx",
            field=fields.CharField(null=True, unique=True, max_length=32),
            table="account",
            old_index="idx_account_id_numb_5d1299",
            new_index="uid_account_id_number_bidx",
        ),
        ops.AddField(
            model_name="Account",
            name="address_enc",
            field=fields.TextField(null=True, unique=False),
        ),
        ops.AddField(
            model_name="RefreshToken",
            name="family_expires_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
