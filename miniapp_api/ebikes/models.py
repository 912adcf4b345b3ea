"""Tortoise models of e-bikes: the bike, its alarms and sightings, ownership transfers."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

from identity.models import Account


class BikeStatus(StrEnum):
    ACTIVE = "active"
    STOLEN = "stolen"
    DEREGISTERED = "deregistered"


class AlarmStatus(StrEnum):
    OPEN = "open"
    FOUND = "found"  # the owner cancelled it: the bike is back


class TransferStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


# Partial unique indexes (migration 0016): uniqueness over the bikes not deregistered.
ON_REGISTER = "status <> 'deregistered'"
FRAME_NO_UNIQUE = "uidx_ebike_frame_no_registered"
PLATE_UNIQUE = "uidx_ebike_plate_registered"

# Model docstrings become SQL table comments, which Tortoise does not escape on SQLite: plain
# comments here. The owner's identity lives on the account, through the PII vault.


class EBike(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    owner: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="ebikes", on_delete=fields.RESTRICT
    )
    owner_id: int
    node_path = fields.CharField(max_length=255, null=True, db_index=True, description="Where it is kept.")
    brand = fields.CharField(max_length=32)
    model = fields.CharField(max_length=32, default="")
    colour = fields.CharField(max_length=16)
    # Unique among bikes on the register (the partial indexes below): a deregistered bike's frame
    # number and plate can be registered again; the old row stays for the police's history.
    frame_no = fields.CharField(max_length=32, db_index=True, description="Normalised, upper case.")
    motor_no = fields.CharField(max_length=32, default="")
    plate = fields.CharField(max_length=16, null=True, db_index=True)
    purchase_date = fields.DateField(null=True)
    status = fields.CharEnumField(BikeStatus, max_length=16, default=BikeStatus.ACTIVE)
    credential_id = fields.CharField(max_length=13, unique=True)
    registered_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    deregistered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ebike"
        indexes = (("owner_id", "status"),)
        constraints = (
            UniqueConstraint(fields=("frame_no",), name=FRAME_NO_UNIQUE, condition=ON_REGISTER),
            UniqueConstraint(fields=("plate",), name=PLATE_UNIQUE, condition=ON_REGISTER),
        )


class Alarm(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    bike: fields.ForeignKeyRelation[EBike] = fields.ForeignKeyField(
        "models.EBike", related_name="alarms", on_delete=fields.CASCADE
    )
    bike_id: int
    owner_id = fields.BigIntField(description="The account that raised it.")
    status = fields.CharEnumField(AlarmStatus, max_length=8, default=AlarmStatus.OPEN)
    lost_at = fields.DatetimeField()
    location = fields.CharField(max_length=200)
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    description = fields.TextField()
    node_path = fields.CharField(max_length=255, null=True)
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ebike_alarm"
        indexes = (("bike_id", "status"),)


class Sighting(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    alarm: fields.ForeignKeyRelation[Alarm] = fields.ForeignKeyField(
        "models.Alarm", related_name="sightings", on_delete=fields.CASCADE
    )
    actor = fields.CharField(max_length=64, description="Public id of the scanning account.")
    role = fields.CharField(max_length=16)
    at = fields.DatetimeField()
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)

    class Meta:
        table = "ebike_sighting"


class Transfer(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    bike: fields.ForeignKeyRelation[EBike] = fields.ForeignKeyField(
        "models.EBike", related_name="transfers", on_delete=fields.CASCADE
    )
    bike_id: int
    from_owner_id = fields.BigIntField()
    to_owner_id = fields.BigIntField(null=True)
    code_hash = fields.CharField(max_length=64, unique=True)
    status = fields.CharEnumField(TransferStatus, max_length=16, default=TransferStatus.PENDING)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    accepted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ebike_transfer"
