"""Each hierarchy node may carry its official code: GB/T 2260 for the district, the 12-digit
statistical division code (统计用区划代码) for streets and communities. Unique where given."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0016_registered_bike_uniqueness_audit_scope")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Node",
            name="division_code",
            field=fields.CharField(null=True, unique=True, max_length=12),
        ),
    ]
