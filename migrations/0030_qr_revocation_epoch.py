"""The revocation feed's epoch: a restored database announces a new one, so offline verifiers resync
from zero instead of skipping the counters the restore took back (set on first use: qr/feed.py)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0029_job_updated_at_indexes")]

    initial = False

    operations = [
        ops.AddField(model_name="RevocationHead", name="epoch", field=fields.CharField(max_length=32, null=True)),
    ]
