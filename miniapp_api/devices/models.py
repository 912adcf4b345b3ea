"""Tortoise models of sensor devices: the registry, households, alarms and their history."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model


class AlarmState(StrEnum):
    """ThingsBoard's four states: active or cleared, each unacknowledged or acknowledged."""

    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    CLEARED_ACK = "cleared_ack"


# At most one open (not cleared) alarm per device and alarm type, whatever instance raises it: the
# database refuses a second row, so concurrent readings meet on one alarm.
OPEN_ALARM_UNIQUE = "uidx_device_alarm_open"
OPEN_CONDITION = "cleared_at IS NULL"

# Model docstrings become SQL table comments, which Tortoise does not escape on SQLite: plain
# comments here.


class Device(Model):
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    serial = fields.CharField(max_length=64, unique=True, description="The maker's serial, upper case.")
    type = fields.CharField(max_length=16)
    model = fields.CharField(max_length=64, default="")
    firmware = fields.CharField(max_length=32, default="")
    building_id = fields.BigIntField(null=True, db_index=True)
    node_path = fields.CharField(max_length=255, db_index=True)
    place = fields.CharField(max_length=64, default="", description="Where in the home, e.g. kitchen.")
    gateway_id = fields.BigIntField(null=True, db_index=True)
    valve_id = fields.BigIntField(null=True, description="The valve a gas detector shuts.")
    noise_zone = fields.CharField(max_length=4, null=True, description="GB 3096-2008 class of the place.")
    rules: list[dict[str, Any]] = fields.JSONField(default=list)  # staff overrides of the type's rules
    auto_shutoff = fields.BooleanField(default=True, description="Close the paired valve on a critical gas alarm.")
    secret_enc = fields.TextField(description="The signing secret, encrypted (shown once).")
    secret_rotated_at = fields.DatetimeField()
    binding_code_hash = fields.CharField(max_length=64, null=True, description="SHA-256 of the code in the box.")
    binding_failures = fields.IntField(default=0)
    credential_id = fields.CharField(max_length=13, null=True, unique=True)
    active = fields.BooleanField(default=True)
    last_seen_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "device"


# A resident of the household a device belongs to.
class DeviceMember(Model):
    id = fields.BigIntField(primary_key=True)
    device_id = fields.BigIntField(db_index=True)
    account_id = fields.BigIntField(db_index=True)
    added_at = fields.DatetimeField()
    added_by = fields.CharField(max_length=64, description="Public id of who bound it (or 'code').")

    class Meta:
        table = "device_member"
        unique_together = (("device_id", "account_id"),)


class BuildingDeviceRules(Model):
    id = fields.BigIntField(primary_key=True)
    building_id = fields.BigIntField(unique=True)
    rules: list[dict[str, Any]] = fields.JSONField(default=list)
    updated_at = fields.DatetimeField()
    updated_by = fields.CharField(max_length=64)

    class Meta:
        table = "device_building_rules"


class DeviceAlarm(Model):
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    device_id = fields.BigIntField(db_index=True)
    alarm_type = fields.CharField(max_length=32)
    severity = fields.CharField(max_length=16)
    state = fields.CharField(max_length=16)
    metric = fields.CharField(max_length=32, default="")
    value = fields.FloatField(null=True, description="The value that raised it or last changed it.")
    node_path = fields.CharField(max_length=255, db_index=True)
    building_id = fields.BigIntField(null=True, db_index=True)
    started_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    acked_at = fields.DatetimeField(null=True)
    acked_by = fields.CharField(max_length=64, default="")
    cleared_at = fields.DatetimeField(null=True)
    cleared_by = fields.CharField(max_length=64, default="")

    class Meta:
        table = "device_alarm"
        indexes = (("node_path", "started_at"),)
        constraints = (
            UniqueConstraint(fields=("device_id", "alarm_type"), name=OPEN_ALARM_UNIQUE, condition=OPEN_CONDITION),
        )


# Append-only: every transition of an alarm, with the readings that caused it.
class AlarmEvent(Model):
    id = fields.BigIntField(primary_key=True)
    alarm_id = fields.BigIntField(db_index=True)
    at = fields.DatetimeField()
    action = fields.CharField(max_length=16)  # raise, severity, ack, clear
    from_state = fields.CharField(max_length=16, default="")
    to_state = fields.CharField(max_length=16)
    severity = fields.CharField(max_length=16)
    actor = fields.CharField(max_length=64, description="Account public id, or 'device' / 'system'.")
    actor_role = fields.CharField(max_length=16, default="", description="The account's role, or empty.")
    note = fields.TextField(default="")
    readings: list[dict[str, Any]] = fields.JSONField(default=list)

    class Meta:
        table = "device_alarm_event"
