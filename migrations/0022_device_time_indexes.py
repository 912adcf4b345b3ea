"""Indexes on time for the devices' purges: hourly rollups kept 400 days, alarm evidence kept 30 days
after the alarm (without them each purge reads the whole table). Plain SQL, as in 0014: Tortoise's
AlterField rebuilds a SQLite table and loses its unique constraints on the way."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0021_device_operations")]

    initial = False

    operations = [
        ops.RunSQL("CREATE INDEX device_rollup_hour_idx ON device_rollup (hour)", "DROP INDEX device_rollup_hour_idx"),
        ops.RunSQL(
            "CREATE INDEX device_evidence_at_idx ON device_evidence (at)", "DROP INDEX device_evidence_at_idx"
        ),
    ]
