"""Tortoise model of a party-member board."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

# No quotes or semicolons in descriptions: they become SQL comments unescaped on SQLite.


class Board(Model):
    _no_comments = True
    # A board on a building or for a grid, listing the party members on duty. Their names and duties
    # are public by design; they are reached through the platform only, never by a number on the board.
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    title = fields.CharField(max_length=64)
    node_path = fields.CharField(max_length=255, db_index=True)
    building_code = fields.CharField(max_length=32, null=True)
    members: list[dict[str, Any]] = fields.JSONField(default=list)
    credential_id = fields.CharField(max_length=13, unique=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "party_board"
