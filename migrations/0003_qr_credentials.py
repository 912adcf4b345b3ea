from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise import fields
from tortoise.indexes import Index


# Frozen: the values as this migration made them. The application's enums may change later (with a
# migration of their own); what this migration did must not change with them.
class CredentialStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Migration(migrations.Migration):
    dependencies = [('models', '0002_audit_append_only')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Credential',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharField(db_index=True, max_length=16)),
                ('public_id', fields.CharField(unique=True, max_length=13)),
                ('serial', fields.BigIntField(default=1)),
                ('status', fields.CharEnumField(default=CredentialStatus.ACTIVE, description='ACTIVE: active\nREVOKED: revoked', enum_type=CredentialStatus, max_length=8)),
                ('subject_id', fields.CharField(db_index=True, description='The id the feature package gives the subject.', max_length=64)),
                ('node_path', fields.CharField(null=True, db_index=True, max_length=255)),
                ('label', fields.CharField(default='', description='Printed under the code, never personal data.', max_length=64)),
                ('token', fields.TextField(description="The current serial's signed token.", unique=False)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoke_reason', fields.CharField(default='', max_length=32)),
            ],
            options={'table': 'qr_credential', 'app': 'models', 'indexes': [Index(fields=['kind', 'node_path'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RevocationEntry',
            fields=[
                ('counter', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(db_index=True, max_length=13)),
                ('kind', fields.CharField(max_length=16)),
                ('min_serial', fields.BigIntField()),
                ('revoked', fields.BooleanField(default=False)),
                ('reason', fields.CharField(default='', max_length=32)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'qr_revocation', 'app': 'models', 'pk_attr': 'counter'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RevocationHead',
            fields=[
                ('id', fields.IntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('counter', fields.BigIntField(default=0)),
            ],
            options={'table': 'qr_revocation_head', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ScanEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('actor', fields.CharField(default='', description='Account id, empty when anonymous.', max_length=64)),
                ('audience', fields.CharField(max_length=16)),
                ('public_id', fields.CharField(default='', db_index=True, max_length=13)),
                ('kind', fields.CharField(default='', max_length=16)),
                ('result', fields.CharField(max_length=32)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
                ('client_addr', fields.CharField(default='', max_length=64)),
                ('request_id', fields.CharField(default='', max_length=128)),
            ],
            options={'table': 'qr_scan_event', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        # The revocation feed's counter lives in this one row (see qr/models.py RevocationHead).
        ops.RunSQL("INSERT INTO qr_revocation_head (id, counter) VALUES (1, 0)", "DELETE FROM qr_revocation_head"),
    ]
