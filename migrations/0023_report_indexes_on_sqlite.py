"""The report table's indexes, again where 0014 lost them: its AlterField rebuilt the table on SQLite
(Tortoise copies a SQLite table to change a column) without the seven indexes the model declares, so
the grid feed and the moves read the whole table. Same names as Tortoise gives them; IF NOT EXISTS makes
this a no-op on PostgreSQL, where they were never lost."""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = {
    "idx_report_node_pa_7198c9": "node_path",
    "idx_report_node_pa_c8fb0d": "node_path, state",
    "idx_report_state_d5a009": "state, due_at",
    "idx_report_reporte_26f79a": "reporter_id",
    "idx_report_buildin_222836": "building_code",
    "idx_report_board_c_667305": "board_code",
    "idx_report_merged__6e076e": "merged_into_id",
}


class Migration(migrations.Migration):
    dependencies = [("models", "0022_device_time_indexes")]

    initial = False

    # Going back leaves them: the model declares them, and 0014 going forward again would not make them.
    operations = [ops.RunSQL(f"CREATE INDEX IF NOT EXISTS {name} ON report ({columns})", []) for name, columns in INDEXES.items()]
