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
    _no_comments = True
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
    # Its next household sees nothing of it from before this (a former tenant's alarms and readings).
    retired_at = fields.DatetimeField(null=True, description="When it last left service.")
    last_seen_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "device"


# A resident of the household a device belongs to.
class DeviceMember(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    device_id = fields.BigIntField(db_index=True)
    account_id = fields.BigIntField(db_index=True)
    added_at = fields.DatetimeField()
    added_by = fields.CharField(max_length=64, description="Public id of who bound it (or 'code').")

    class Meta:
        table = "device_member"
        unique_together = (("device_id", "account_id"),)


class BuildingDeviceRules(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    building_id = fields.BigIntField(unique=True)
    rules: list[dict[str, Any]] = fields.JSONField(default=list)
    updated_at = fields.DatetimeField()
    updated_by = fields.CharField(max_length=64)

    class Meta:
        table = "device_building_rules"


class DeviceAlarm(Model):
    _no_comments = True
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
    _no_comments = True
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


class CommandState(StrEnum):
    PENDING = "pending"  # waiting for its first delivery
    SENT = "sent"  # delivered (MQTT publish, or in an ingest answer), not yet confirmed
    CONFIRMED = "confirmed"
    FAILED = "failed"  # not confirmed within its TTL after its retries


# A command to a device (a valve: close, open), confirmed by the device with its id.
class DeviceCommand(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    device_id = fields.BigIntField(db_index=True)
    alarm_id = fields.BigIntField(null=True, db_index=True, description="The alarm that caused it, if any.")
    action = fields.CharField(max_length=16)
    state = fields.CharField(max_length=16, default=CommandState.PENDING.value)
    attempts = fields.IntField(default=0)
    max_attempts = fields.IntField(default=3)
    created_at = fields.DatetimeField()
    next_attempt_at = fields.DatetimeField(db_index=True)
    expires_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    confirmed_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    requested_by = fields.CharField(max_length=64, description="Account public id, or 'system'.")
    requested_role = fields.CharField(max_length=16, default="")
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "device_command"
        indexes = (("device_id", "state"),)


# A durable escalation step of an alarm (like the report SLA timers): claimed with a lease, fired once.
class AlarmTimer(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    alarm_id = fields.BigIntField(db_index=True)
    step = fields.IntField(description="1 staff of the grid, 2 duty staff of the community.")
    due_at = fields.DatetimeField(db_index=True)
    fired_at = fields.DatetimeField(null=True)
    cancelled = fields.BooleanField(default=False)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "device_alarm_timer"
        unique_together = (("alarm_id", "step"),)


# Alarm messages to one recipient about one building, grouped per window (Alertmanager's
# group_interval): the first goes at once, the rest of the window in one message at its end.
class AlarmNotice(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    account_id = fields.BigIntField(db_index=True)
    group_key = fields.CharField(max_length=64, description="b:<building id>, or d:<device id>.")
    window_start = fields.DatetimeField()
    window_end = fields.DatetimeField(db_index=True)
    alarm_ids: list[int] = fields.JSONField(default=list)
    flushed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "device_alarm_notice"
        unique_together = (("account_id", "group_key", "window_start"),)


# Staff silence alarms of a device, a building or a type in their area for a bounded time;
# silenced alarms are still recorded, only not told.
class DeviceSilence(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    scope = fields.CharField(max_length=16)  # device, building, type
    device_id = fields.BigIntField(null=True, db_index=True)
    building_id = fields.BigIntField(null=True, db_index=True)
    device_type = fields.CharField(max_length=16, null=True)
    node_path = fields.CharField(max_length=255, db_index=True, description="Where it applies.")
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(db_index=True)
    ended_at = fields.DatetimeField(null=True, description="Lifted early.")
    reason = fields.TextField()
    created_by = fields.CharField(max_length=64)
    created_role = fields.CharField(max_length=16)
    created_at = fields.DatetimeField()

    class Meta:
        table = "device_silence"


# One hour of one metric of one device (kept 400 days), flushed in batches from Redis.
class DeviceRollup(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    device_id = fields.BigIntField()
    metric = fields.CharField(max_length=32)
    hour = fields.DatetimeField()  # indexed for the 400-day purge (migration 0022)
    count = fields.IntField()
    min_value = fields.FloatField()
    max_value = fields.FloatField()
    sum_value = fields.FloatField()
    last_value = fields.FloatField()
    last_at = fields.DatetimeField()

    class Meta:
        table = "device_rollup"
        unique_together = (("device_id", "metric", "hour"),)


# Raw readings kept as an alarm's evidence: the 30 minutes before it and while it is open.
class EvidenceReading(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    device_id = fields.BigIntField()
    metric = fields.CharField(max_length=32)
    at = fields.DatetimeField()  # indexed for the purge (migration 0022)
    value = fields.FloatField()

    class Meta:
        table = "device_evidence"
        unique_together = (("device_id", "metric", "at"),)


class BindingState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    CANCELLED = "cancelled"


# A resident who scanned a device's sticker asks to join its household; grid staff decide.
class BindingRequest(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    device_id = fields.BigIntField(db_index=True)
    account_id = fields.BigIntField(db_index=True)
    node_path = fields.CharField(max_length=255, db_index=True)
    state = fields.CharField(max_length=16, default=BindingState.PENDING.value)
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)
    decided_by = fields.CharField(max_length=64, default="")
    note = fields.CharField(max_length=200, default="")

    class Meta:
        table = "device_binding_request"
