from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_report_photos')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Board',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('title', fields.CharField(max_length=64)),
                ('node_path', fields.CharField(db_index=True, max_length=255)),
                ('building_code', fields.CharField(null=True, max_length=32)),
                ('members', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('credential_id', fields.CharField(unique=True, max_length=13)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'party_board', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
