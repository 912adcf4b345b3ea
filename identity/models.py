"""Tortoise models of identity: the hierarchy, accounts and refresh tokens.

Personal fields are stored only as vault ciphertext (``*_enc``) plus an HMAC blind index
(``*_bidx``) for exact look-ups; see ``identity/pii.py``.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from identity.roles import NodeLevel, Role


class Node(Model):
    """A node of the 1+6+31+N hierarchy. ``path`` is the codes from the root, ``/GM/GM01/``.

    ``code`` is ours (``GM``, ``GM01``, ``GM0101``, grids ``GM010101``) and never changes;
    ``division_code`` is the official one where there is one: GB/T 2260 for the district
    (``440311``), the statistical division code (统计用区划代码, 12 digits) for streets and
    communities. Grids have none."""

    _no_comments = True

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    level = fields.CharEnumField(NodeLevel, max_length=16)
    division_code = fields.CharField(max_length=12, null=True, unique=True)
    parent: fields.ForeignKeyNullableRelation[Node] = fields.ForeignKeyField(
        "models.Node", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    path = fields.CharField(max_length=255, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "hierarchy_node"


class Account(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=32, unique=True)
    role = fields.CharEnumField(Role, max_length=16, db_index=True)
    node: fields.ForeignKeyNullableRelation[Node] = fields.ForeignKeyField(
        "models.Node", related_name="accounts", null=True, on_delete=fields.RESTRICT
    )
    username = fields.CharField(max_length=64, unique=True, null=True)
    password_hash = fields.CharField(max_length=255, null=True)
    wechat_openid = fields.CharField(max_length=64, unique=True, null=True)
    wechat_unionid = fields.CharField(max_length=64, null=True, db_index=True)
    name_enc = fields.TextField(null=True)
    phone_enc = fields.TextField(null=True)
    phone_bidx = fields.CharField(max_length=32, null=True, db_index=True)
    id_number_enc = fields.TextField(null=True)
    # Unique: one resident ID number binds to one account, even when two requests race.
    id_number_bidx = fields.CharField(max_length=32, null=True, unique=True)
    address_enc = fields.TextField(null=True)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    last_login_at = fields.DatetimeField(null=True)

    refresh_tokens: fields.ReverseRelation[RefreshToken]

    class Meta:
        table = "account"


class RefreshToken(Model):
    """A refresh token, stored as its SHA-256. Tokens of one login form a family: reusing a spent
    token revokes the whole family (the token was stolen, or the client is confused)."""

    _no_comments = True

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    family_id = fields.CharField(max_length=32, db_index=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    issued_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    # The login's hard end: rotation never carries a family past it, however often it is used.
    family_expires_at = fields.DatetimeField(null=True)
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "refresh_token"
