"""Sensor devices, the rest of issue 14's tables: valve commands, durable escalation timers, grouped alarm
notices, silences, hourly rollups, evidence readings and binding requests."""

from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0020_devices")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AlarmNotice",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("account_id", fields.BigIntField(db_index=True)),
                ("group_key", fields.CharField(description="b:<building id>, or d:<device id>.", max_length=64)),
                ("window_start", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("window_end", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                (
                    "alarm_ids",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("flushed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "device_alarm_notice",
                "app": "models",
                "unique_together": (("account_id", "group_key", "window_start"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AlarmTimer",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("alarm_id", fields.BigIntField(db_index=True)),
                ("step", fields.IntField(description="1 staff of the grid, 2 duty staff of the community.")),
                ("due_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("fired_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("cancelled", fields.BooleanField(default=False)),
                ("lease_owner", fields.CharField(null=True, max_length=64)),
                ("lease_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "device_alarm_timer",
                "app": "models",
                "unique_together": (("alarm_id", "step"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="BindingRequest",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                ("device_id", fields.BigIntField(db_index=True)),
                ("account_id", fields.BigIntField(db_index=True)),
                ("node_path", fields.CharField(db_index=True, max_length=255)),
                ("state", fields.CharField(default="pending", max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("decided_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("decided_by", fields.CharField(default="", max_length=64)),
                ("note", fields.CharField(default="", max_length=200)),
            ],
            options={"table": "device_binding_request", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DeviceCommand",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                ("device_id", fields.BigIntField(db_index=True)),
                (
                    "alarm_id",
                    fields.BigIntField(null=True, db_index=True, description="The alarm that caused it, if any."),
                ),
                ("action", fields.CharField(max_length=16)),
                ("state", fields.CharField(default="pending", max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("max_attempts", fields.IntField(default=3)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("next_attempt_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("confirmed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("failed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("requested_by", fields.CharField(description="Account public id, or 'system'.", max_length=64)),
                ("requested_role", fields.CharField(default="", max_length=16)),
                ("lease_owner", fields.CharField(null=True, max_length=64)),
                ("lease_until", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "device_command",
                "app": "models",
                "indexes": [Index(fields=["device_id", "state"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DeviceRollup",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("device_id", fields.BigIntField()),
                ("metric", fields.CharField(max_length=32)),
                ("hour", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("count", fields.IntField()),
                ("min_value", fields.FloatField()),
                ("max_value", fields.FloatField()),
                ("sum_value", fields.FloatField()),
                ("last_value", fields.FloatField()),
                ("last_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "device_rollup",
                "app": "models",
                "unique_together": (("device_id", "metric", "hour"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DeviceSilence",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                ("scope", fields.CharField(max_length=16)),
                ("device_id", fields.BigIntField(null=True, db_index=True)),
                ("building_id", fields.BigIntField(null=True, db_index=True)),
                ("device_type", fields.CharField(null=True, max_length=16)),
                ("node_path", fields.CharField(db_index=True, description="Where it applies.", max_length=255)),
                ("starts_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("ends_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                (
                    "ended_at",
                    fields.DatetimeField(null=True, description="Lifted early.", auto_now=False, auto_now_add=False),
                ),
                ("reason", fields.TextField(unique=False)),
                ("created_by", fields.CharField(max_length=64)),
                ("created_role", fields.CharField(max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "device_silence", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="EvidenceReading",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("device_id", fields.BigIntField()),
                ("metric", fields.CharField(max_length=32)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("value", fields.FloatField()),
            ],
            options={
                "table": "device_evidence",
                "app": "models",
                "unique_together": (("device_id", "metric", "at"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
