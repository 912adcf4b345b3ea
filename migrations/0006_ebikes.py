from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# Frozen: the values as this migration made them. The application's enums may change later (with a
# migration of their own); what this migration did must not change with them.
class AlarmStatus(StrEnum):
    OPEN = "open"
    FOUND = "found"


class BikeStatus(StrEnum):
    ACTIVE = "active"
    STOLEN = "stolen"
    DEREGISTERED = "deregistered"


class TransferStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


class Migration(migrations.Migration):
    dependencies = [('models', '0005_notify_outbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='EBike',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(unique=True, max_length=16)),
                ('owner', fields.ForeignKeyField('models.Account', source_field='owner_id', db_constraint=True, to_field='id', related_name='ebikes', on_delete=OnDelete.RESTRICT)),
                ('node_path', fields.CharField(null=True, db_index=True, description='Where it is kept.', max_length=255)),
                ('brand', fields.CharField(max_length=32)),
                ('model', fields.CharField(default='', max_length=32)),
                ('colour', fields.CharField(max_length=16)),
                ('frame_no', fields.CharField(unique=True, description='Normalised, upper case.', max_length=32)),
                ('motor_no', fields.CharField(default='', max_length=32)),
                ('plate', fields.CharField(null=True, unique=True, max_length=16)),
                ('purchase_date', fields.DateField(null=True)),
                ('status', fields.CharEnumField(default=BikeStatus.ACTIVE, description='ACTIVE: active\nSTOLEN: stolen\nDEREGISTERED: deregistered', enum_type=BikeStatus, max_length=16)),
                ('credential_id', fields.CharField(unique=True, max_length=13)),
                ('registered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deregistered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ebike', 'app': 'models', 'indexes': [Index(fields=['owner_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Alarm',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(unique=True, max_length=16)),
                ('bike', fields.ForeignKeyField('models.EBike', source_field='bike_id', db_constraint=True, to_field='id', related_name='alarms', on_delete=OnDelete.CASCADE)),
                ('owner_id', fields.BigIntField(description='The account that raised it.')),
                ('status', fields.CharEnumField(default=AlarmStatus.OPEN, description='OPEN: open\nFOUND: found', enum_type=AlarmStatus, max_length=8)),
                ('lost_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('location', fields.CharField(max_length=200)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
                ('description', fields.TextField(unique=False)),
                ('node_path', fields.CharField(null=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ebike_alarm', 'app': 'models', 'indexes': [Index(fields=['bike_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Sighting',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('alarm', fields.ForeignKeyField('models.Alarm', source_field='alarm_id', db_constraint=True, to_field='id', related_name='sightings', on_delete=OnDelete.CASCADE)),
                ('actor', fields.CharField(description="Public id of the scanning account.", max_length=64)),
                ('role', fields.CharField(max_length=16)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
            ],
            options={'table': 'ebike_sighting', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Transfer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bike', fields.ForeignKeyField('models.EBike', source_field='bike_id', db_constraint=True, to_field='id', related_name='transfers', on_delete=OnDelete.CASCADE)),
                ('from_owner_id', fields.BigIntField()),
                ('to_owner_id', fields.BigIntField(null=True)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('status', fields.CharEnumField(default=TransferStatus.PENDING, description='PENDING: pending\nACCEPTED: accepted\nCANCELLED: cancelled', enum_type=TransferStatus, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ebike_transfer', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
