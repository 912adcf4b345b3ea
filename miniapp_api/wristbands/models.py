"""Tortoise models of wristband check-ins. Health data (temperatures, statuses and their reasons,
trip places, stop reasons) is stored only as PII-vault ciphertext (``*_enc``); dates stay plain so
the retention purge and the gate's look-ups can use indexes."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

# Model docstrings become SQL table comments, which Tortoise does not escape on SQLite: plain
# comments here.


class BandState(StrEnum):
    STOCK = "stock"  # registered, not yet bound to anyone
    ACTIVE = "active"  # bound to a person
    REVOKED = "revoked"  # lost, broken or withdrawn: checking in with it is a stop


class CheckpointKind(StrEnum):
    GATE = "gate"
    HALL = "hall"
    PARK_ENTRANCE = "park_entrance"


class Decision(StrEnum):
    PASS = "pass"  # noqa: S105 (a gate decision, not a password)
    STOP = "stop"


# At most one active band per person, whatever instance binds it: the database refuses a second.
ACTIVE_BAND_UNIQUE = "uidx_wristband_active_account"
ACTIVE_CONDITION = "state = 'active'"


class Wristband(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    ble_id = fields.CharField(max_length=32, unique=True, description="The BLE identifier, normalised.")
    code_hash = fields.CharField(max_length=64, unique=True, description="SHA-256 of the printed code.")
    node_path = fields.CharField(max_length=255, db_index=True, description="The node that holds it in stock.")
    state = fields.CharField(max_length=16, default=BandState.STOCK.value)
    account_id = fields.BigIntField(null=True, db_index=True, description="Who wears it (while active).")
    bound_at = fields.DatetimeField(null=True)
    bound_by = fields.CharField(max_length=64, default="", description="Account public id, or 'self'.")
    revoked_at = fields.DatetimeField(null=True)
    revoke_reason = fields.CharField(max_length=16, default="")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "wristband"
        constraints = (UniqueConstraint(fields=("account_id",), name=ACTIVE_BAND_UNIQUE, condition=ACTIVE_CONDITION),)


# A person who wears (or wore) a band: a resident account and the community they live in, which
# decides which health staff look after them.
class WristbandPerson(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    account_id = fields.BigIntField(unique=True)
    home_node_path = fields.CharField(max_length=255, db_index=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    updated_by = fields.CharField(max_length=64)

    class Meta:
        table = "wristband_person"


# A person's current health status (green, yellow, red), set by health staff; one row per person.
class HealthStatus(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    account_id = fields.BigIntField(unique=True)
    status_enc = fields.TextField(description="green, yellow or red, encrypted.")
    reason_enc = fields.TextField(description="The reason code, encrypted.")
    set_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)
    set_by = fields.CharField(max_length=64)

    class Meta:
        table = "health_status"


# A home-quarantine order: the person must stop at any gate from starts_at until ends_at.
class QuarantineOrder(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    account_id = fields.BigIntField(db_index=True)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(db_index=True)
    reason_enc = fields.TextField(description="The reason code, encrypted.")
    created_at = fields.DatetimeField()
    created_by = fields.CharField(max_length=64)
    lifted_at = fields.DatetimeField(null=True)
    lifted_by = fields.CharField(max_length=64, default="")

    class Meta:
        table = "health_quarantine"


# A trip a resident declared: where (GB/T 2260 code, encrypted) and the dates they were there.
class Trip(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    account_id = fields.BigIntField(db_index=True)
    place_enc = fields.TextField(description="The GB/T 2260 place code, encrypted.")
    from_date = fields.DateField()
    until_date = fields.DateField(db_index=True)
    declared_at = fields.DatetimeField()

    class Meta:
        table = "health_trip"


# A key epidemic area for a dated period, kept by administrators from a source document.
class KeyArea(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    area_code = fields.CharField(max_length=6, db_index=True, description="GB/T 2260 code.")
    name = fields.CharField(max_length=64, default="")
    risk_level = fields.CharField(max_length=16, description="high, medium or low.")
    from_date = fields.DateField()
    until_date = fields.DateField(null=True, description="Empty while the period is open.")
    source = fields.CharField(max_length=200, description="The document that declared it.")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    updated_by = fields.CharField(max_length=64)
    withdrawn_at = fields.DatetimeField(null=True)

    class Meta:
        table = "health_key_area"


# The gate rules in force from a moment on; a check-in is decided by the set in force at its time.
class CheckinRuleSet(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    effective_from = fields.DatetimeField(unique=True)
    fever_celsius = fields.FloatField()
    trip_window_days = fields.IntField()
    stop_statuses: list[str] = fields.JSONField(default=list)
    quarantine_stops = fields.BooleanField(default=True)
    source = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()
    created_by = fields.CharField(max_length=64)

    class Meta:
        table = "checkin_rule_set"


class Checkpoint(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    name = fields.CharField(max_length=64)
    kind = fields.CharField(max_length=16)
    node_path = fields.CharField(max_length=255, db_index=True)
    building_id = fields.BigIntField(null=True)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    created_by = fields.CharField(max_length=64)

    class Meta:
        table = "checkpoint"


# An account that works a checkpoint (may post its check-ins and fetch the offline bundle).
class CheckpointStaff(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    checkpoint_id = fields.BigIntField(db_index=True)
    account_id = fields.BigIntField(db_index=True)
    assigned_at = fields.DatetimeField()
    assigned_by = fields.CharField(max_length=64)

    class Meta:
        table = "checkpoint_staff"
        unique_together = (("checkpoint_id", "account_id"),)


class Checkin(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    client_id = fields.CharField(max_length=64, description="Generated by the checkpoint app: replays are one.")
    checkpoint_id = fields.BigIntField()
    staff_account_id = fields.BigIntField(description="The checkpoint account that sent it.")
    band_id = fields.BigIntField(null=True)
    account_id = fields.BigIntField(null=True, description="The band's wearer at the time, if any.")
    at = fields.DatetimeField(db_index=True, description="When it happened (the original time if offline).")
    received_at = fields.DatetimeField()
    offline = fields.BooleanField(default=False)
    temperature_enc = fields.TextField(null=True, description="Body temperature, encrypted.")
    decision = fields.CharField(max_length=8)
    reasons_enc = fields.TextField(null=True, description="The stop reasons, encrypted.")
    request_hash = fields.CharField(max_length=64, description="SHA-256 of the request, to tell replays apart.")
    node_path = fields.CharField(max_length=255, description="The checkpoint's node.")

    class Meta:
        table = "checkin"
        unique_together = (("checkpoint_id", "client_id"),)
        indexes = (("checkpoint_id", "at"), ("account_id", "at"), ("band_id", "at"))


# The offline stop list's change feed (like the QR revocation feed): counter only goes up and is
# allocated under the head row's lock, so a reader that has seen N never misses an entry below N.
class StopEntry(Model):
    _no_comments = True
    counter = fields.BigIntField(primary_key=True, generated=False)
    band_id = fields.BigIntField(db_index=True)
    # The band's whole stop state from now on (a later entry of the same band replaces it): a JSON
    # list of {reason, from, until} windows, encrypted; an empty list lifts every stop.
    windows_enc = fields.TextField()
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "checkin_stop_entry"


class StopHead(Model):
    _no_comments = True
    id = fields.IntField(primary_key=True, generated=False)
    counter = fields.BigIntField(default=0)
    epoch = fields.IntField(default=1, description="A new epoch (and salt) makes every app fetch in full.")
    salt = fields.CharField(max_length=64, default="")
    # Compaction's floor: the highest counter deleted while it was still a band's latest entry; a
    # reader whose since is below it may have missed a change and gets the whole list again.
    floor = fields.BigIntField(default=0)

    class Meta:
        table = "checkin_stop_head"
