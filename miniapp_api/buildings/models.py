"""Tortoise models of rental buildings: one row per building, keyed by the district's building code."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

# Model docstrings and field descriptions become SQL comments, which Tortoise does not escape on
# SQLite: plain comments here. The landlord's identity is stored only as vault ciphertext (``*_enc``)
# plus an HMAC blind index of the phone, like an account's.


class Building(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)  # the district's code, e.g. GM0101010001
    address = fields.CharField(max_length=200)
    grid_code = fields.CharField(max_length=32)  # a grid-level hierarchy node
    node_path = fields.CharField(max_length=255, db_index=True)  # that grid's path, for scope checks
    floor_area = fields.FloatField()  # square metres
    floors = fields.IntField()
    households = fields.IntField()
    residents = fields.IntField()
    extinguishers = fields.IntField(default=0)
    hydrants = fields.IntField(default=0)
    escape_routes = fields.IntField(default=0)
    smoke_detectors = fields.IntField(default=0)
    landlord_name_enc = fields.TextField(null=True)
    landlord_phone_enc = fields.TextField(null=True)
    landlord_phone_bidx = fields.CharField(max_length=32, null=True, db_index=True)
    incidents: dict[str, Any] = fields.JSONField(default=dict)  # police incidents by type
    services: list[str] = fields.JSONField(default=list)  # services nearby
    credential_id = fields.CharField(max_length=13, unique=True)  # its QR e-ID (kind building)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "building"
        indexes = (("node_path", "code"),)
