from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# Frozen: the values as this migration made them. The application's enums may change later (with a
# migration of their own); what this migration did must not change with them.
class State(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CONFIRMED = "confirmed"
    CLOSED = "closed"
    REJECTED = "rejected"
    RETURNED = "returned"
    REOPENED = "reopened"
    MERGED = "merged"


class Migration(migrations.Migration):
    dependencies = [('models', '0007_buildings')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Department',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=64)),
                ('node_path', fields.CharField(null=True, description='Its part of the hierarchy, if local.', max_length=255)),
            ],
            options={'table': 'report_department', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Category',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=32)),
                ('department', fields.ForeignKeyField('models.Department', source_field='department_id', null=True, db_constraint=True, to_field='id', related_name='categories', on_delete=OnDelete.SET_NULL)),
                ('dispatch_minutes', fields.IntField(default=30)),
                ('start_minutes', fields.IntField(default=240)),
                ('resolve_minutes', fields.IntField(default=10080)),
                ('feedback_minutes', fields.IntField(default=10)),
                ('active', fields.BooleanField(default=True)),
            ],
            options={'table': 'report_category', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Report',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('public_id', fields.CharField(unique=True, max_length=16)),
                ('report_no', fields.CharField(unique=True, description='MXQ + date + sequence, for people.', max_length=24)),
                ('category', fields.ForeignKeyField('models.Category', source_field='category_id', db_constraint=True, to_field='id', related_name='reports', on_delete=OnDelete.RESTRICT)),
                ('text', fields.TextField(unique=False)),
                ('channel', fields.CharField(description='party_member, board, building, grid_staff, miniapp.', max_length=16)),
                ('anonymous', fields.BooleanField(default=False)),
                ('reporter_id', fields.BigIntField(null=True, db_index=True)),
                ('building_code', fields.CharField(null=True, db_index=True, max_length=32)),
                ('board_code', fields.CharField(null=True, db_index=True, max_length=32)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
                ('node_path', fields.CharField(db_index=True, description='The grid the report belongs to.', max_length=255)),
                ('state', fields.CharEnumField(default=State.SUBMITTED, description='SUBMITTED: submitted\nACCEPTED: accepted\nDISPATCHED: dispatched\nIN_PROGRESS: in_progress\nRESOLVED: resolved\nCONFIRMED: confirmed\nCLOSED: closed\nREJECTED: rejected\nRETURNED: returned\nREOPENED: reopened\nMERGED: merged', enum_type=State, max_length=16)),
                ('state_since', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('department', fields.ForeignKeyField('models.Department', source_field='department_id', null=True, db_constraint=True, to_field='id', related_name='reports', on_delete=OnDelete.SET_NULL)),
                ('merged_into_id', fields.BigIntField(null=True)),
                ('due_at', fields.DatetimeField(null=True, description='Deadline of the current state, when it has one.', auto_now=False, auto_now_add=False)),
                ('overdue', fields.BooleanField(default=False)),
                ('escalation_level', fields.SmallIntField(default=0)),
                ('satisfaction', fields.SmallIntField(null=True)),
                ('comment', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'report', 'app': 'models', 'indexes': [Index(fields=['node_path', 'state']), Index(fields=['state', 'due_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report', fields.ForeignKeyField('models.Report', source_field='report_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('actor', fields.CharField(description='Account public id, or system.', max_length=64)),
                ('role', fields.CharField(max_length=16)),
                ('action', fields.CharField(max_length=16)),
                ('from_state', fields.CharField(default='', max_length=16)),
                ('to_state', fields.CharField(max_length=16)),
                ('note', fields.CharField(default='', max_length=500)),
            ],
            options={'table': 'report_event', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RoutingRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('category', fields.ForeignKeyField('models.Category', source_field='category_id', db_constraint=True, to_field='id', related_name='rules', on_delete=OnDelete.CASCADE)),
                ('node_path', fields.CharField(max_length=255)),
                ('department', fields.ForeignKeyField('models.Department', source_field='department_id', db_constraint=True, to_field='id', related_name='rules', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'report_routing_rule', 'app': 'models', 'unique_together': (('category', 'node_path'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SlaTimer',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report', fields.ForeignKeyField('models.Report', source_field='report_id', db_constraint=True, to_field='id', related_name='timers', on_delete=OnDelete.CASCADE)),
                ('state', fields.CharEnumField(description='SUBMITTED: submitted\nACCEPTED: accepted\nDISPATCHED: dispatched\nIN_PROGRESS: in_progress\nRESOLVED: resolved\nCONFIRMED: confirmed\nCLOSED: closed\nREJECTED: rejected\nRETURNED: returned\nREOPENED: reopened\nMERGED: merged', enum_type=State, max_length=16)),
                ('kind', fields.CharField(description='dispatch, start, resolve or feedback.', max_length=16)),
                ('due_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('fired_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('cancelled', fields.BooleanField(default=False)),
                ('lease_owner', fields.CharField(null=True, max_length=64)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'report_sla_timer', 'app': 'models', 'indexes': [Index(fields=['fired_at', 'cancelled', 'due_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
