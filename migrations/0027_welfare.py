"""The welfare calculator's tables (issue 16): loaded pack versions, policy versions, and the residents'
sealed profiles with their consent and last screening."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0026_checkin_stop_floor')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WelfarePack',
            fields=[
                ('id', fields.IntField(generated=False, primary_key=True, unique=True, db_index=True, description='The pack version number.')),
                ('content_hash', fields.CharField(description='SHA-256 of the pack files.', max_length=64)),
                ('files', fields.TextField(description='The pack files as JSON (path to text), so every instance can load it.', unique=False)),
                ('policy_versions', fields.TextField(description='JSON: policy id to its version in this pack.', unique=False)),
                ('loaded_by', fields.CharField(max_length=64)),
                ('loaded_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'welfare_pack', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WelfarePolicyVersion',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('policy_id', fields.CharField(max_length=64)),
                ('version', fields.IntField()),
                ('content_hash', fields.CharField(max_length=64)),
                ('pack_version', fields.IntField(description='The pack that brought this version.')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'welfare_policy_version', 'app': 'models', 'unique_together': (('policy_id', 'version'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WelfareProfile',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('account_id', fields.BigIntField(unique=True)),
                ('profile_enc', fields.TextField(null=True, description='Sealed JSON profile, null before one is saved.', unique=False)),
                ('proactive', fields.BooleanField(default=False, description='Consent to background screening and messages.')),
                ('consent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revision', fields.IntField(default=0, description='Bumped on every change of the profile or consent.')),
                ('due', fields.BooleanField(default=False, description='To be screened again (profile or consent changed).')),
                ('screened_pack', fields.IntField(default=-1, description='The pack version the snapshot was taken with.')),
                ('snapshot_enc', fields.TextField(null=True, description='Sealed JSON: statuses and policies already told.', unique=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'welfare_profile', 'app': 'models', 'indexes': [Index(fields=['proactive', 'screened_pack']), Index(fields=['proactive', 'due'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]

