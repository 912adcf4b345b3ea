from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_ebikes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Building',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('address', fields.CharField(max_length=200)),
                ('grid_code', fields.CharField(max_length=32)),
                ('node_path', fields.CharField(db_index=True, max_length=255)),
                ('floor_area', fields.FloatField()),
                ('floors', fields.IntField()),
                ('households', fields.IntField()),
                ('residents', fields.IntField()),
                ('extinguishers', fields.IntField(default=0)),
                ('hydrants', fields.IntField(default=0)),
                ('escape_routes', fields.IntField(default=0)),
                ('smoke_detectors', fields.IntField(default=0)),
                ('landlord_name_enc', fields.TextField(null=True, unique=False)),
                ('landlord_phone_enc', fields.TextField(null=True, unique=False)),
                ('landlord_phone_bidx', fields.CharField(null=True, db_index=True, max_length=32)),
                ('incidents', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('services', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('credential_id', fields.CharField(unique=True, max_length=13)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'building', 'app': 'models', 'indexes': [Index(fields=['node_path', 'code'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
