"""Tortoise models of the notification outbox: one row per message, and its attempt history."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Status(StrEnum):
    PENDING = "pending"  # waiting for its first attempt
    SENDING = "sending"  # claimed by a dispatcher until lease_until
    SENT = "sent"  # a provider accepted it (or the dedup window says it already went)
    FAILED = "failed"  # an attempt failed; another is due at next_attempt_at
    DEAD = "dead"  # no channel or attempt left: an administrator must look


DUE_STATUSES = (Status.PENDING, Status.FAILED)


# Model docstrings become SQL table comments, which Tortoise does not escape on SQLite: plain
# comments here.


class Notification(Model):
    _no_comments = True
    # A message the system accepted. Personal data (phone, email, the template data) is stored
    # through the PII vault; recipient_key is a blind index that names the recipient for limits.

    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=24, unique=True)
    idempotency_key = fields.CharField(max_length=200, unique=True)
    event_key = fields.CharField(
        max_length=160, description="The event, which with recipient and channel is the dedup key."
    )
    template = fields.CharField(max_length=48, db_index=True)
    data_enc = fields.TextField(description="Template data, JSON, vault-encrypted.")
    account_id = fields.BigIntField(null=True, db_index=True)
    openid = fields.CharField(max_length=64, null=True)
    oa_openid = fields.CharField(max_length=64, null=True)
    phone_enc = fields.TextField(null=True)
    email_enc = fields.TextField(null=True)
    recipient_key = fields.CharField(max_length=32)
    # A message about an anonymous report: no staff view shows whom it went to (the row's time and
    # the report's steps would name the reporter). Delivery uses the addresses as for any row.
    recipient_hidden = fields.BooleanField(
        default=False, db_default=False, description="Staff views do not show the recipient (anonymous report)."
    )
    channels = fields.CharField(max_length=64, description="Channel preference, comma-separated.")
    channel_index = fields.SmallIntField(default=0)
    channel = fields.CharField(max_length=16, default="", description="Channel of the last attempt.")
    status = fields.CharEnumField(Status, max_length=8, default=Status.PENDING)
    attempts = fields.IntField(default=0, description="Attempts on the current channel.")
    total_attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)
    # in_doubt: a send on the current channel may have gone out unrecorded (a dispatcher died while
    # sending, or the provider's answer was lost); sending_channel marks a send started, not yet recorded.
    in_doubt = fields.BooleanField(default=False, description="A dispatcher died while sending it.")
    sending_channel = fields.CharField(
        max_length=16, default="", description="Channel of a send started and not yet recorded."
    )
    send_started_at = fields.DatetimeField(null=True, description="When that send started.")
    last_error = fields.CharField(max_length=255, default="")
    provider_message_id = fields.CharField(max_length=64, null=True, db_index=True)
    receipt_status = fields.CharField(max_length=64, default="")
    receipt_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    attempt_log: fields.ReverseRelation[Attempt]

    class Meta:
        table = "notify_notification"
        indexes = (("status", "next_attempt_at"),)

    @property
    def channel_list(self) -> list[str]:
        return [c for c in self.channels.split(",") if c]


class Attempt(Model):
    _no_comments = True
    # One try on one channel, or an event in the row's life (lease expired, receipt, retry by an admin).

    id = fields.BigIntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="attempt_log", on_delete=fields.CASCADE
    )
    at = fields.DatetimeField()
    channel = fields.CharField(max_length=16, default="")
    outcome = fields.CharField(max_length=16, description="sent, retry, permanent, in_doubt, receipt, admin.")
    code = fields.CharField(max_length=64, default="")
    detail = fields.CharField(max_length=255, default="", description="Never personal data.")
    provider_message_id = fields.CharField(max_length=64, null=True)
    worker = fields.CharField(max_length=64, default="")
    elapsed_ms = fields.IntField(null=True)

    class Meta:
        table = "notify_attempt"
