"""Indexes the grid feed and the report moves need at a million reports (measured by
bench/reports_bench.py): merged_into_id (every move looks up the reports merged into it), and two
partial indexes in the feed's own order (overdue first, then the nearest deadline) over the reports
that have a deadline, one for the whole district and one by place. The model layer cannot say DESC
or WHERE, hence RunSQL; both SQLite and PostgreSQL accept the statements as written."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

FEED_INDEXES = (
    "CREATE INDEX report_feed_due_idx ON report (overdue DESC, due_at, id) WHERE due_at IS NOT NULL",
    "CREATE INDEX report_feed_place_due_idx ON report (node_path, overdue DESC, due_at, id) WHERE due_at IS NOT NULL",
)


class Migration(migrations.Migration):
    dependencies = [("models", "0013_clinic")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="Report",
            name="merged_into_id",
            field=fields.BigIntField(null=True, db_index=True),
        ),
        ops.RunSQL(FEED_INDEXES[0], "DROP INDEX report_feed_due_idx"),
        ops.RunSQL(FEED_INDEXES[1], "DROP INDEX report_feed_place_due_idx"),
    ]
