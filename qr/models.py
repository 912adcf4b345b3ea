"""Tortoise models of the QR service: credentials, the revocation feed and the scan log."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


# Model docstrings become SQL table comments, and Tortoise does not escape quotes or semicolons in
# them on SQLite: plain comments here.


class Credential(Model):
    _no_comments = True
    # One e-ID: what a code points to. Its serial goes up on reissue, and only the current serial's
    # code is valid.

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=16, db_index=True)
    public_id = fields.CharField(max_length=13, unique=True)
    serial = fields.BigIntField(default=1)  # the token holds 32 unsigned bits: more than an int4
    status = fields.CharEnumField(CredentialStatus, max_length=8, default=CredentialStatus.ACTIVE)
    subject_id = fields.CharField(
        max_length=64, db_index=True, description="The id the feature package gives the subject."
    )
    node_path = fields.CharField(max_length=255, null=True, db_index=True)
    label = fields.CharField(max_length=64, default="", description="Printed under the code, never personal data.")
    token = fields.TextField(description="The current serial's signed token.")
    issued_at = fields.DatetimeField()
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)
    revoke_reason = fields.CharField(max_length=32, default="")

    class Meta:
        table = "qr_credential"
        indexes = (("kind", "node_path"),)


class RevocationEntry(Model):
    _no_comments = True
    # The feed offline verifiers sync: counter only goes up and is allocated under a lock, so a
    # reader that has seen N never misses an entry below N committed later.

    counter = fields.BigIntField(primary_key=True, generated=False)
    public_id = fields.CharField(max_length=13, db_index=True)
    kind = fields.CharField(max_length=16)
    # Codes of this credential with a serial below min_serial are invalid; revoked: all of them.
    min_serial = fields.BigIntField()
    revoked = fields.BooleanField(default=False)
    reason = fields.CharField(max_length=32, default="")
    at = fields.DatetimeField()

    class Meta:
        table = "qr_revocation"


class RevocationHead(Model):
    _no_comments = True
    id = fields.IntField(primary_key=True, generated=False)
    counter = fields.BigIntField(default=0)
    # Random, set on first use and anew by `gmid restore` / `gmid qr new-epoch`: a verifier whose
    # epoch differs holds counters of another history and must start again from zero.
    epoch = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "qr_revocation_head"


class ScanEvent(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor = fields.CharField(max_length=64, default="", description="Account id, empty when anonymous.")
    audience = fields.CharField(max_length=16)
    public_id = fields.CharField(max_length=13, default="", db_index=True)
    kind = fields.CharField(max_length=16, default="")
    result = fields.CharField(max_length=32)
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    client_addr = fields.CharField(max_length=64, default="")
    request_id = fields.CharField(max_length=128, default="")

    class Meta:
        table = "qr_scan_event"
