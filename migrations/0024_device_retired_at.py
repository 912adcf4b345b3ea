"""When a device last left service (`retired_at`): its next household sees nothing of it from before
then (a former tenant's alarms and readings). Devices retired before this migration have none."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0023_report_indexes_on_sqlite")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Device",
            name="retired_at",
            field=fields.DatetimeField(
                null=True, description="When it last left service.", auto_now=False, auto_now_add=False
            ),
        ),
    ]
