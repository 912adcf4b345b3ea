from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0014_report_feed_indexes")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Notification",
            name="send_started_at",
            field=fields.DatetimeField(
                null=True, description="When that send started.", auto_now=False, auto_now_add=False
            ),
        ),
        ops.AddField(
            model_name="Notification",
            name="sending_channel",
            field=fields.CharField(
                default="", description="Channel of a send started and not yet recorded.", max_length=16
            ),
        ),
    ]
