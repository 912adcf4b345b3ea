"""The offline stop list's compaction floor gets a column of its own (it was kept in a second head row)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0025_wristbands")]

    initial = False

    operations = [
        ops.AddField(model_name="StopHead", name="floor", field=fields.BigIntField(default=0)),
    ]
