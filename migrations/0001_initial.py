from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from enum import StrEnum
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# Frozen: the values as this migration made them. The application's enums may change later (with a
# migration of their own); what this migration did must not change with them.
class NodeLevel(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


class Role(StrEnum):
    RESIDENT = "resident"
    PARTY_MEMBER = "party_member"
    GRID_STAFF = "grid_staff"
    OFFICER = "officer"
    POLICE = "police"
    ADMIN = "admin"


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('seq', fields.BigIntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(max_length=64)),
                ('role', fields.CharField(max_length=16)),
                ('action', fields.CharField(db_index=True, max_length=64)),
                ('target', fields.CharField(default='', max_length=128)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('client_addr', fields.CharField(default='', max_length=64)),
                ('request_id', fields.CharField(default='', max_length=128)),
                ('details', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('prev_hash', fields.CharField(max_length=64)),
                ('hash', fields.CharField(max_length=64)),
            ],
            options={'table': 'audit_entry', 'app': 'models', 'indexes': [Index(fields=['actor', 'at'])], 'pk_attr': 'seq'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditHead',
            fields=[
                ('id', fields.IntField(generated=False, primary_key=True, unique=True, db_index=True)),
                ('seq', fields.BigIntField(default=0)),
                ('hash', fields.CharField(default='0000000000000000000000000000000000000000000000000000000000000000', max_length=64)),
            ],
            options={'table': 'audit_head', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One row (id 1): the last sequence number and hash of the chain.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Node',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('level', fields.CharEnumField(description='DISTRICT: district\nSTREET: street\nCOMMUNITY: community\nGRID: grid', enum_type=NodeLevel, max_length=16)),
                ('parent', fields.ForeignKeyField('models.Node', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('path', fields.CharField(db_index=True, max_length=255)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'hierarchy_node', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A node of the 1+6+31+N hierarchy. ``path`` is the codes from the root, ``/GM/GM01/``.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Account',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(unique=True, max_length=32)),
                ('role', fields.CharEnumField(db_index=True, description='RESIDENT: resident\nPARTY_MEMBER: party_member\nGRID_STAFF: grid_staff\nOFFICER: officer\nPOLICE: police\nADMIN: admin', enum_type=Role, max_length=16)),
                ('node', fields.ForeignKeyField('models.Node', source_field='node_id', null=True, db_constraint=True, to_field='id', related_name='accounts', on_delete=OnDelete.RESTRICT)),
                ('username', fields.CharField(null=True, unique=True, max_length=64)),
                ('password_hash', fields.CharField(null=True, max_length=255)),
                ('wechat_openid', fields.CharField(null=True, unique=True, max_length=64)),
                ('wechat_unionid', fields.CharField(null=True, db_index=True, max_length=64)),
                ('name_enc', fields.TextField(null=True, unique=False)),
                ('phone_enc', fields.TextField(null=True, unique=False)),
                ('phone_bidx', fields.CharField(null=True, db_index=True, max_length=32)),
                ('id_number_enc', fields.TextField(null=True, unique=False)),
                ('id_number_bidx', fields.CharField(null=True, db_index=True, max_length=32)),
                ('is_active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('family_id', fields.CharField(db_index=True, max_length=32)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('issued_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'refresh_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A refresh token, stored as its SHA-256. Tokens of one login form a family: reusing a spent'},
            bases=['Model'],
        ),
    ]
