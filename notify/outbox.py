"""``enqueue``: put a message into the outbox, inside the caller's database transaction (``message`` +
``enqueue_many`` for a background pass writing thousands at once).

The row is the promise: once the business transaction commits, a dispatcher sends it (at least once,
deduplicated per recipient, channel and event); if the transaction rolls back, the row is gone and
nothing is sent. Enqueueing the same ``idempotency_key`` again returns the first row unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient

from identity.models import Account
from identity.pii import current_vault
from identity.service import PHONE_FIELD
from identity.validators import normalize_mobile
from notify import templates
from notify.models import Notification, Status

log = logging.getLogger("gmid.notify")

CHANNELS = ("wechat", "sms", "email")
WAKE_CHANNEL = "gmid:notify:wake"

_redis: aioredis.Redis | None = None


def set_wake_client(client: aioredis.Redis | None) -> None:
    """The Redis client ``enqueue`` publishes wake-ups on (set by the app's listeners)."""
    global _redis
    _redis = client


def new_public_id() -> str:
    return "n" + secrets.token_urlsafe(15)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_email(value: str) -> str:
    value = value.strip()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() or c in "<>," for c in value):
        raise ValueError("not an email address")
    return value


def wechat_address(template: str, *, openid: str | None, oa_openid: str | None) -> str | None:
    """The openid WeChat can carry this template to: a subscribe message goes to the mini-program's
    openid, a template message to the official account's (the two are different ids for one person)."""
    return openid if templates.get(template).wechat.kind == "subscribe" else oa_openid


def reachable(account: Account, template: str) -> bool:
    """Whether ``enqueue(account=..., template=...)`` finds an address: accounts carry the
    mini-program openid (subscribe messages) and a phone."""
    return bool(wechat_address(template, openid=account.wechat_openid, oa_openid=None) or account.phone_enc)


async def enqueue(
    *,
    template: str,
    data: Mapping[str, Any],
    idempotency_key: str,
    event_key: str | None = None,
    account: Account | None = None,
    openid: str | None = None,
    oa_openid: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    channels: Sequence[str] | None = None,
    not_before: dt.datetime | None = None,
    hide_recipient: bool = False,
    using_db: BaseDBAsyncClient | None = None,
) -> Notification:
    """Write one notification for one recipient; returns the row (the existing one for a repeated key).

    The recipient is an ``account`` (its mini-program openid and phone are used unless given) and/or
    explicit addresses; WeChat is a channel only if the template's kind has its openid (subscribe:
    ``openid``, official-account template: ``oa_openid``). ``channels`` is the order to try (default
    WeChat, SMS, email, skipping those without an address). ``event_key`` names the event for the dedup
    window (default: the idempotency key). ``hide_recipient``: no staff view of the outbox shows whom
    it is for (a message about an anonymous report). Pass ``using_db`` to join the caller's transaction.
    """
    row = message(
        template=template, data=data, idempotency_key=idempotency_key, event_key=event_key, account=account,
        openid=openid, oa_openid=oa_openid, phone=phone, email=email, channels=channels, not_before=not_before,
        hide_recipient=hide_recipient,
    )  # fmt: skip
    # ON CONFLICT DO NOTHING: a repeated key must not abort the caller's transaction (PostgreSQL
    # would, after a unique violation).
    await Notification.bulk_create([row], ignore_conflicts=True, using_db=using_db)
    stored = await Notification.get(idempotency_key=idempotency_key, using_db=using_db)
    if stored.public_id == row.public_id:
        log.info("notification queued id=%s template=%s channels=%s", stored.public_id, template, stored.channels)
        await wake()
    return stored


async def enqueue_many(rows: Sequence[Notification], *, using_db: BaseDBAsyncClient | None = None) -> int:
    """Write many notifications built by ``message`` in one statement (a background pass telling thousands
    of people: one round trip instead of two per message) and wake the dispatchers once. A row whose key is
    already in the outbox is left as it is, as ``enqueue`` does; returns how many rows are new."""
    if not rows:
        return 0
    await Notification.bulk_create(list(rows), ignore_conflicts=True, batch_size=500, using_db=using_db)
    ids = [r.public_id for r in rows]
    new = 0
    for start in range(0, len(ids), 500):
        new += await Notification.filter(public_id__in=ids[start : start + 500]).using_db(using_db).count()
    if new:
        log.info("notifications queued count=%d template=%s", new, rows[0].template)
        await wake()
    return new


def message(
    *,
    template: str,
    data: Mapping[str, Any],
    idempotency_key: str,
    event_key: str | None = None,
    account: Account | None = None,
    openid: str | None = None,
    oa_openid: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    channels: Sequence[str] | None = None,
    not_before: dt.datetime | None = None,
    hide_recipient: bool = False,
) -> Notification:
    """The notification row ``enqueue`` writes (not saved), its data and addresses sealed; ValueError for data
    the template refuses or a recipient no channel asked for can reach (see ``enqueue``)."""
    values = templates.check_data(template, data)
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValueError("idempotency_key must be 1-200 characters")
    event = event_key or idempotency_key
    if len(event) > 160:
        raise ValueError("event_key must be at most 160 characters")
    vault = current_vault()
    if account is not None:
        openid = openid or account.wechat_openid
        if phone is None and account.phone_enc:
            phone = vault.decrypt(account.phone_enc, field=PHONE_FIELD)
    if phone is not None:
        phone = normalize_mobile(phone)
    if email is not None:
        email = _check_email(email)
    # WeChat only when the template's kind has its openid: a row that no channel can carry is refused
    # here, in the caller's transaction, not found dead later.
    wechat = wechat_address(template, openid=openid, oa_openid=oa_openid)
    available = {"wechat": bool(wechat), "sms": bool(phone), "email": bool(email)}
    order = list(channels) if channels is not None else list(CHANNELS)
    unknown = [c for c in order if c not in CHANNELS]
    if unknown or len(set(order)) != len(order):
        raise ValueError(f"channels must be distinct names from {', '.join(CHANNELS)}")
    chosen = [c for c in order if available[c]]
    if not chosen:
        raise ValueError("the recipient has no address on any of the channels asked for")
    recipient = f"a:{account.id}" if account is not None else f"o:{openid or oa_openid or phone or email}"
    now = utcnow()
    return Notification(
        public_id=new_public_id(),
        idempotency_key=idempotency_key,
        event_key=event,
        template=template,
        data_enc=vault.encrypt(json.dumps(values, ensure_ascii=False, sort_keys=True), field="notify.data"),
        account_id=account.id if account is not None else None,
        openid=openid,
        oa_openid=oa_openid,
        phone_enc=vault.encrypt(phone, field="notify.phone") if phone else None,
        email_enc=vault.encrypt(email, field="notify.email") if email else None,
        recipient_key=vault.blind_index(recipient, field="notify.recipient"),
        recipient_hidden=hide_recipient,
        channels=",".join(chosen),
        status=Status.PENDING,
        next_attempt_at=max(now, not_before) if not_before else now,
        created_at=now,
        updated_at=now,
    )


async def wake() -> None:
    """Tell dispatchers to look now. Best effort: they poll anyway. Called before the caller's
    commit, so a dispatcher that finds nothing looks again a few times shortly after."""
    client = _redis
    if client is None:
        return
    try:
        await client.publish(WAKE_CHANNEL, b"1")
    except Exception as exc:  # a wake-up is an optimisation; the row is safe in the database
        log.warning("notify wake-up not published error=%s", exc.__class__.__name__)
