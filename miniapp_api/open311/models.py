"""Tortoise models of the Open311 API: the outside systems that may file reports, and what they filed."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from miniapp_api.reports.models import Report

# Model docstrings become SQL table comments, which Tortoise does not escape on SQLite: plain
# comments here, and no quotes or semicolons in field descriptions.


class Open311Client(Model):
    _no_comments = True
    # An outside system (a civic app, a call centre) that files reports through POST requests.json.
    # Only the SHA-256 of its API key is stored: the key itself is shown once, when it is made.
    id = fields.IntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    name = fields.CharField(max_length=64, unique=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    node_path = fields.CharField(max_length=255, null=True, description="Where it may file, if bounded.")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    last_used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "open311_client"


class Open311Request(Model):
    _no_comments = True
    # A report filed by a client, with the token the client was given for it (tokens/{token}.json).
    # Nothing of the person behind the request is kept: Open311 reporter fields are dropped on arrival.
    id = fields.BigIntField(primary_key=True)
    client: fields.ForeignKeyRelation[Open311Client] = fields.ForeignKeyField(
        "models.Open311Client", related_name="requests", on_delete=fields.RESTRICT
    )
    client_id: int
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "models.Report", related_name="open311_requests", on_delete=fields.CASCADE
    )
    report_id: int
    token = fields.CharField(max_length=32, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "open311_request"
