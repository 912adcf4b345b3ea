from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# Frozen: the values as this migration made them. The application's enums may change later (with a
# migration of their own); what this migration did must not change with them.
class Status(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"


class Migration(migrations.Migration):
    dependencies = [('models', '0004_account_address_session_limit')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(unique=True, max_length=24)),
                ('idempotency_key', fields.CharField(unique=True, max_length=200)),
                ('event_key', fields.CharField(description='The event, which with recipient and channel is the dedup key.', max_length=160)),
                ('template', fields.CharField(db_index=True, max_length=48)),
                ('data_enc', fields.TextField(description='Template data, JSON, vault-encrypted.', unique=False)),
                ('account_id', fields.BigIntField(null=True, db_index=True)),
                ('openid', fields.CharField(null=True, max_length=64)),
                ('oa_openid', fields.CharField(null=True, max_length=64)),
                ('phone_enc', fields.TextField(null=True, unique=False)),
                ('email_enc', fields.TextField(null=True, unique=False)),
                ('recipient_key', fields.CharField(max_length=32)),
                ('channels', fields.CharField(description='Channel preference, comma-separated.', max_length=64)),
                ('channel_index', fields.SmallIntField(default=0)),
                ('channel', fields.CharField(default='', description='Channel of the last attempt.', max_length=16)),
                ('status', fields.CharEnumField(default=Status.PENDING, description='PENDING: pending\nSENDING: sending\nSENT: sent\nFAILED: failed\nDEAD: dead', enum_type=Status, max_length=8)),
                ('attempts', fields.IntField(default=0, description='Attempts on the current channel.')),
                ('total_attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('in_doubt', fields.BooleanField(default=False, description='A dispatcher died while sending it.')),
                ('last_error', fields.CharField(default='', max_length=255)),
                ('provider_message_id', fields.CharField(null=True, db_index=True, max_length=64)),
                ('receipt_status', fields.CharField(default='', max_length=64)),
                ('receipt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notify_notification', 'app': 'models', 'indexes': [Index(fields=['status', 'next_attempt_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Attempt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notification', fields.ForeignKeyField('models.Notification', source_field='notification_id', db_constraint=True, to_field='id', related_name='attempt_log', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('channel', fields.CharField(default='', max_length=16)),
                ('outcome', fields.CharField(description='sent, retry, permanent, in_doubt, receipt, admin.', max_length=16)),
                ('code', fields.CharField(default='', max_length=64)),
                ('detail', fields.CharField(default='', description='Never personal data.', max_length=255)),
                ('provider_message_id', fields.CharField(null=True, max_length=64)),
                ('worker', fields.CharField(default='', max_length=64)),
                ('elapsed_ms', fields.IntField(null=True)),
            ],
            options={'table': 'notify_attempt', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
