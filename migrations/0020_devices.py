"""Sensor devices (issue 14): the registry, households, per-building rule overrides, alarms with a
partial unique index (one open alarm per device and alarm type) and their append-only history."""

import functools
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

OPEN_UNIQUE = "uidx_device_alarm_open"
OPEN = "cleared_at IS NULL"


class StateOnly(ops.TortoiseOperation):
    """Tortoise's view of the schema moves on; the SQL is the RunSQL after it (Tortoise refuses a
    partial unique index on SQLite, which has them; both databases take the statement as written)."""

    def __init__(self, operation: ops.TortoiseOperation) -> None:
        self.operation = operation

    def describe(self) -> str:
        return f"{self.operation.describe()} (state only)"

    def state_forward(self, app_label: str, state: Any) -> None:
        self.operation.state_forward(app_label, state)


class Migration(migrations.Migration):
    dependencies = [("models", "0019_notify_recipient_hidden")]

    initial = False

    operations = [
        ops.CreateModel(
            name="AlarmEvent",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("alarm_id", fields.BigIntField(db_index=True)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("action", fields.CharField(max_length=16)),
                ("from_state", fields.CharField(default="", max_length=16)),
                ("to_state", fields.CharField(max_length=16)),
                ("severity", fields.CharField(max_length=16)),
                ("actor", fields.CharField(description="Account public id, or 'device' / 'system'.", max_length=64)),
                (
                    "actor_role",
                    fields.CharField(default="", description="The account's role, or empty.", max_length=16),
                ),
                ("note", fields.TextField(default="", unique=False)),
                (
                    "readings",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
            ],
            options={"table": "device_alarm_event", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="BuildingDeviceRules",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("building_id", fields.BigIntField(unique=True)),
                (
                    "rules",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_by", fields.CharField(max_length=64)),
            ],
            options={"table": "device_building_rules", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Device",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                ("serial", fields.CharField(unique=True, description="The maker's serial, upper case.", max_length=64)),
                ("type", fields.CharField(max_length=16)),
                ("model", fields.CharField(default="", max_length=64)),
                ("firmware", fields.CharField(default="", max_length=32)),
                ("building_id", fields.BigIntField(null=True, db_index=True)),
                ("node_path", fields.CharField(db_index=True, max_length=255)),
                ("place", fields.CharField(default="", description="Where in the home, e.g. kitchen.", max_length=64)),
                ("gateway_id", fields.BigIntField(null=True, db_index=True)),
                ("valve_id", fields.BigIntField(null=True, description="The valve a gas detector shuts.")),
                (
                    "noise_zone",
                    fields.CharField(null=True, description="GB 3096-2008 class of the place.", max_length=4),
                ),
                (
                    "rules",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "auto_shutoff",
                    fields.BooleanField(default=True, description="Close the paired valve on a critical gas alarm."),
                ),
                (
                    "secret_enc",
                    fields.TextField(description="The signing secret, encrypted (shown once).", unique=False),
                ),
                ("secret_rotated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "binding_code_hash",
                    fields.CharField(null=True, description="SHA-256 of the code in the box.", max_length=64),
                ),
                ("binding_failures", fields.IntField(default=0)),
                ("credential_id", fields.CharField(null=True, unique=True, max_length=13)),
                ("active", fields.BooleanField(default=True)),
                ("last_seen_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "device", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DeviceAlarm",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                ("device_id", fields.BigIntField(db_index=True)),
                ("alarm_type", fields.CharField(max_length=32)),
                ("severity", fields.CharField(max_length=16)),
                ("state", fields.CharField(max_length=16)),
                ("metric", fields.CharField(default="", max_length=32)),
                ("value", fields.FloatField(null=True, description="The value that raised it or last changed it.")),
                ("node_path", fields.CharField(db_index=True, max_length=255)),
                ("building_id", fields.BigIntField(null=True, db_index=True)),
                ("started_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("acked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("acked_by", fields.CharField(default="", max_length=64)),
                ("cleared_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("cleared_by", fields.CharField(default="", max_length=64)),
            ],
            options={
                "table": "device_alarm",
                "app": "models",
                "indexes": [Index(fields=["node_path", "started_at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DeviceMember",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("device_id", fields.BigIntField(db_index=True)),
                ("account_id", fields.BigIntField(db_index=True)),
                ("added_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("added_by", fields.CharField(description="Public id of who bound it (or 'code').", max_length=64)),
            ],
            options={
                "table": "device_member",
                "app": "models",
                "unique_together": (("device_id", "account_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        StateOnly(
            ops.AddConstraint(
                model_name="DeviceAlarm",
                constraint=UniqueConstraint(fields=("device_id", "alarm_type"), name=OPEN_UNIQUE, condition=OPEN),
            )
        ),
        ops.RunSQL(
            f'CREATE UNIQUE INDEX "{OPEN_UNIQUE}" ON "device_alarm" ("device_id", "alarm_type") WHERE {OPEN}',
            f'DROP INDEX "{OPEN_UNIQUE}"',
        ),
    ]
