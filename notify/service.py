"""Reading and steering the outbox: the admin's list, detail and retry, and delivery receipts.

A receipt that says a message did not reach the person (WeChat ``failed:user block``, an SMS report
``FAIL``) sends the row on to its next channel, or makes it dead when none is left: a message the
provider accepted but could not deliver is not counted as delivered.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity import audit
from identity.models import Account
from identity.pii import current_vault, mask_phone
from notify import outbox, reach
from notify.models import Attempt, Notification, Status
from notify.sms_tencent import SmsReceipt, to_e164
from server.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("gmid.notify")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Admin --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    rows: list[Notification]
    next_cursor: str | None


def in_scope(within: str | None) -> QuerySet[Notification]:
    """The notifications an administrator may see: ``within`` None is the whole district; a node path
    keeps the rows whose recipient account works under that node (a row for a resident, for an
    address without an account, or whose recipient is hidden, is the district's: its place in a
    scope would say where an anonymous reporter works)."""
    if within is None:
        return Notification.all()
    return Notification.filter(
        recipient_hidden=False, account_id__in=Subquery(Account.filter(node__path__startswith=within).values("id"))
    )


async def list_notifications(
    *,
    status: Status | None = None,
    template: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    within: str | None = None,
) -> Page:
    """Newest first; ``cursor`` is the last row's public id of the previous page."""
    query = in_scope(within)
    if status is not None:
        query = query.filter(status=status)
    if template:
        query = query.filter(template=template)
    if cursor:
        last = await in_scope(within).get_or_none(public_id=cursor)
        if last is None:
            raise ValidationFailed.field("cursor", "The cursor does not name a notification.", "bad_cursor")
        query = query.filter(id__lt=last.id)
    rows = list(await query.order_by("-id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].public_id if more and rows else None)


async def counts(*, within: str | None = None) -> dict[str, int]:
    result = {status.value: 0 for status in Status}
    for status in Status:
        result[status.value] = await in_scope(within).filter(status=status).count()
    return result


async def get(*, public_id: str, within: str | None = None) -> Notification:
    """The row, if the administrator's scope holds it; otherwise 404, as if it did not exist."""
    row = await in_scope(within).get_or_none(public_id=public_id) if 0 < len(public_id) <= 24 else None
    if row is None:
        raise NotFound("No notification with this id.", code="notification_not_found")
    return row


async def history(row: Notification) -> list[Attempt]:
    return list(await Attempt.filter(notification_id=row.id).order_by("id"))


async def account_public_ids(rows: list[Notification]) -> dict[int, str]:
    ids = {row.account_id for row in rows if row.account_id is not None and not row.recipient_hidden}
    if not ids:
        return {}
    pairs = await Account.filter(id__in=ids).values_list("id", "public_id")
    return {int(pk): str(public) for pk, public in pairs}


async def recipient_scope(row: Notification, conn: BaseDBAsyncClient | None = None) -> str:
    """The node path of the row's recipient account ("" when it has none or is hidden: the district's)."""
    if row.account_id is None or row.recipient_hidden:
        return ""
    paths = await Account.filter(id=row.account_id).using_db(conn).values_list("node__path", flat=True)
    return str(paths[0]) if paths and paths[0] else ""


def masked_recipient(row: Notification) -> dict[str, str | bool | None]:
    vault = current_vault()
    phone = vault.decrypt(row.phone_enc, field="notify.phone") if row.phone_enc else None
    email = vault.decrypt(row.email_enc, field="notify.email") if row.email_enc else None
    return {
        "wechat": bool(row.openid or row.oa_openid),
        "phone": mask_phone(phone) if phone else None,
        "email": ("***@" + email.split("@", 1)[1]) if email else None,
    }


async def retry(
    *,
    public_id: str,
    actor: str,
    role: str,
    client_addr: str = "",
    request_id: str = "",
    within: str | None = None,
) -> Notification:
    """Send a dead (or waiting) notification again, from its first channel, with fresh attempts.
    ``within``: the administrator's scope (a row outside it is 404)."""
    async with in_transaction() as conn:
        row = (
            await in_scope(within).filter(public_id=public_id).using_db(conn).select_for_update().first()
            if 0 < len(public_id) <= 24
            else None
        )
        if row is None:
            raise NotFound("No notification with this id.", code="notification_not_found")
        if row.status not in (Status.DEAD, Status.FAILED):
            raise Conflict(
                f"A {row.status.value} notification cannot be retried; only dead or failed ones can.",
                code="notification_not_retryable",
                details={"status": row.status.value, "allowed": [Status.DEAD.value, Status.FAILED.value]},
            )
        now = _utcnow()
        # A doubt belongs to the channel it arose on: an SMS in doubt must not make WeChat's 43101 count
        # as delivered when the retry starts again from WeChat.
        row.in_doubt = row.in_doubt and row.channel_index == 0
        row.status = Status.PENDING
        row.channel_index = 0
        row.attempts = 0
        row.next_attempt_at = now
        row.updated_at = now
        await row.save(
            using_db=conn,
            update_fields=["status", "channel_index", "attempts", "in_doubt", "next_attempt_at", "updated_at"],
        )
        await Attempt.create(
            notification_id=row.id, at=now, outcome="admin", code="retry", worker=f"admin:{actor}", using_db=conn
        )
        await audit.record(
            actor=actor,
            role=role,
            action="notification.retry",
            target=row.public_id,
            client_addr=client_addr,
            request_id=request_id,
            details={"template": row.template},
            scope=await recipient_scope(row, conn),
            using_db=conn,
        )
    await outbox.wake()
    return row


async def unreachable_dead() -> list[tuple[str, str, int]]:
    """Dead rows that no configured channel could carry: (template, reason, count)."""
    prefix = reach.UNREACHABLE_PREFIX
    rows = (
        await Notification.filter(status=Status.DEAD, last_error__startswith=prefix)
        .annotate(n=Count("id"))
        .group_by("template", "last_error")
        .values_list("template", "last_error", "n")
    )
    return [(str(template), str(error)[len(prefix) :], int(n)) for template, error, n in rows]


# Receipts -----------------------------------------------------------------------------------------


async def _undelivered(row: Notification, *, channel: str, code: str, detail: str) -> None:
    """The provider could not deliver: on to the next channel, or dead."""
    now = _utcnow()
    next_index = row.channel_list.index(channel) + 1 if channel in row.channel_list else len(row.channel_list)
    async with in_transaction() as conn:
        await Attempt.create(
            notification_id=row.id,
            at=now,
            channel=channel,
            outcome="receipt",
            code=code[:64],
            detail=detail[:255],
            provider_message_id=row.provider_message_id,
            using_db=conn,
        )
        changes: dict[str, object] = {
            "receipt_status": code[:64],
            "receipt_at": now,
            "updated_at": now,
            "last_error": f"{channel} {code}: {detail}"[:255],
            "in_doubt": False,
        }
        if next_index < len(row.channel_list):
            changes.update(status=Status.PENDING, channel_index=next_index, attempts=0, next_attempt_at=now)
        else:
            changes.update(status=Status.DEAD)
            log.error("notification dead after receipt id=%s channel=%s code=%s", row.public_id, channel, code)
        await Notification.filter(id=row.id, status=row.status, channel=channel).using_db(conn).update(**changes)
    await outbox.wake()


async def apply_wechat_receipt(*, msg_id: str, status: str, openid: str) -> bool:
    """``TEMPLATESENDJOBFINISH``: ``success``, ``failed:user block``, ``failed: system failed``...
    ``openid`` is the event's FromUserName: the report must be about this row's recipient."""
    row = await Notification.get_or_none(provider_message_id=msg_id, channel="wechat")
    if row is None:
        return False
    if not row.oa_openid or not hmac.compare_digest(row.oa_openid.encode(), openid.encode("utf-8")):
        log.warning("wechat receipt for another recipient ignored id=%s", row.public_id)
        return False
    now = _utcnow()
    if status.strip() == "success":
        await Notification.filter(id=row.id).update(receipt_status="delivered", receipt_at=now, updated_at=now)
        await Attempt.create(notification_id=row.id, at=now, channel="wechat", outcome="receipt", code="delivered")
        return True
    if row.status is not Status.SENT:
        return True
    code = "wechat_" + status.strip().replace(" ", "").replace(":", "_")[:40]
    await _undelivered(row, channel="wechat", code=code, detail=f"WeChat receipt: {status.strip()[:64]}")
    return True


def _send_unrecorded_on(row: Notification, channel: str) -> bool:
    """Whether a send of ``row`` on ``channel`` may have gone out without being recorded: the channel is
    the row's current one and a send there had started (its mark still there: a dispatcher sending it,
    or one that died) or is in doubt (a lost answer, a crash). Only such a row may be settled by a
    receipt that names no recorded send: a queued, waiting, sent or dead row is never stopped by one."""
    return (
        row.status in (Status.SENDING, Status.FAILED, Status.PENDING)
        and row.channel_list[row.channel_index : row.channel_index + 1] == [channel]
        and (row.sending_channel == channel or row.in_doubt)
    )


async def apply_sms_receipt(receipt: SmsReceipt) -> bool:
    """One report of Tencent's status callback. Matched by serial number, or, for a send whose
    dispatcher has not recorded it (it died, or has not got there yet), by the session context (the
    notification id) while a send on SMS, the row's current channel, may have gone out unrecorded
    (:func:`_send_unrecorded_on`, the rule WeChat's send results follow too)."""
    row = await Notification.get_or_none(provider_message_id=receipt.serial_no, channel="sms")
    by_context = False
    if row is None and receipt.session_context:
        candidate = await Notification.get_or_none(public_id=receipt.session_context)
        if candidate is not None and _send_unrecorded_on(candidate, "sms"):
            row, by_context = candidate, True
    if row is None or not row.phone_enc:
        return False
    # The report must be about this row's number: a leaked callback token alone cannot steer rows.
    phone = current_vault().decrypt(row.phone_enc, field="notify.phone")
    if not hmac.compare_digest(to_e164(phone).encode(), receipt.phone.encode("utf-8")):
        log.warning("sms receipt for another number ignored id=%s", row.public_id)
        return False
    now = _utcnow()
    received = receipt.received_at or now
    if receipt.delivered:
        changes: dict[str, object] = {"receipt_status": "delivered", "receipt_at": received, "updated_at": now}
        if row.status is not Status.SENT:
            # A send nobody recorded did arrive: record it, so it is not sent again.
            changes.update(
                status=Status.SENT,
                channel="sms",
                sent_at=received,
                provider_message_id=receipt.serial_no,
                in_doubt=False,
                lease_owner=None,
                lease_until=None,
                last_error="",
            )
        await Notification.filter(id=row.id, status=row.status).update(**changes)
        await Attempt.create(
            notification_id=row.id,
            at=now,
            channel="sms",
            outcome="receipt",
            code="delivered",
            provider_message_id=receipt.serial_no,
        )
        return True
    if by_context or row.status is not Status.SENT:
        # An unrecorded send that did not arrive: the row's own retry goes on.
        await Attempt.create(
            notification_id=row.id,
            at=now,
            channel="sms",
            outcome="receipt",
            code=f"sms_{receipt.errmsg}"[:64],
            provider_message_id=receipt.serial_no,
        )
        return True
    await _undelivered(
        row, channel="sms", code=f"sms_{receipt.errmsg or 'FAIL'}"[:64], detail=f"SMS report: {receipt.errmsg}"[:64]
    )
    return True


@dataclass(frozen=True)
class SubscribeReceipt:
    """One item of the mini-program's ``subscribe_msg_sent_event``: the result of one subscribe message."""

    openid: str  # the event's FromUserName
    template_id: str
    msg_id: str
    error_code: int  # 0: delivered
    error_status: str  # "success", or a failure text
    at: dt.datetime  # the event's CreateTime (not later than now)

    @property
    def delivered(self) -> bool:
        return self.error_code == 0

    @property
    def code(self) -> str:
        return f"wechat_{self.error_code}"[:64]

    @property
    def detail(self) -> str:
        return f"WeChat send result: {self.error_status.strip()[:64]}"


async def _unrecorded_subscribe_sends(receipt: SubscribeReceipt, templates: frozenset[str]) -> list[Notification]:
    """Rows whose subscribe message may be the one this receipt is about while nobody recorded its send,
    oldest send first: WeChat their current channel, a send started on it (mark still there, or in
    doubt) before the event, to this openid, with a template mapped to the event's template id."""
    if not templates or not receipt.openid:
        return []
    candidates = (
        await Notification.filter(
            openid=receipt.openid,
            template__in=sorted(templates),
            status__in=[Status.SENDING, Status.FAILED, Status.PENDING],
            send_started_at__isnull=False,
            send_started_at__lte=receipt.at + dt.timedelta(seconds=1),  # CreateTime has whole seconds
        )
        .order_by("send_started_at", "id")
        .limit(20)
    )
    return [row for row in candidates if _send_unrecorded_on(row, "wechat")]


async def apply_subscribe_receipt(receipt: SubscribeReceipt, *, templates: frozenset[str]) -> bool:
    """One result of the mini-program's ``subscribe_msg_sent_event``. Matched by MsgID to a recorded send;
    or, for a send whose dispatcher did not record it (it died, or its answer was lost), to the oldest
    row that may have made it (:func:`_unrecorded_subscribe_send`), unless the MsgID already settled
    another row. ``templates``: our template names mapped to the event's template id. The event must name
    the row's recipient (its mini-program openid): a leaked push token alone cannot steer rows."""
    msg_id = receipt.msg_id[:64]
    if not msg_id:
        return False
    row = await Notification.get_or_none(provider_message_id=msg_id, channel="wechat")
    if row is None:
        # Two results at once must not settle the same row, nor one result two rows: each candidate is
        # taken only if it is still as read and the MsgID is on no row yet.
        for candidate in await _unrecorded_subscribe_sends(receipt, templates):
            if await _settle_unrecorded(candidate, receipt, msg_id):
                return True
        return False
    if not row.openid or not hmac.compare_digest(row.openid.encode(), receipt.openid.encode("utf-8")):
        log.warning("wechat subscribe receipt for another recipient ignored id=%s", row.public_id)
        return False
    if row.template not in templates:  # the result must be about this message's template too
        log.warning("wechat subscribe receipt for another template ignored id=%s", row.public_id)
        return False
    now = _utcnow()
    if receipt.delivered:
        await Notification.filter(id=row.id).update(receipt_status="delivered", receipt_at=receipt.at, updated_at=now)
        await _delivered_on_wechat(row, msg_id, "WeChat send result: success", at=now)
        return True
    if row.status is Status.SENT:
        await _undelivered(row, channel="wechat", code=receipt.code, detail=receipt.detail)
    return True


async def _delivered_on_wechat(
    row: Notification, msg_id: str, detail: str, *, at: dt.datetime, conn: BaseDBAsyncClient | None = None
) -> None:
    await Attempt.create(
        notification_id=row.id,
        at=at,
        channel="wechat",
        outcome="receipt",
        code="delivered",
        detail=detail,
        provider_message_id=msg_id,
        using_db=conn,
    )


async def _settle_unrecorded(row: Notification, receipt: SubscribeReceipt, msg_id: str) -> bool:
    """The result of a send nobody recorded, applied to ``row`` if it is unchanged since it was read and
    no row has the MsgID yet. Delivered: SENT with that MsgID, so it is not sent again. Failed: WeChat
    could not carry it, on to the next channel (unless a dispatcher is sending it: its answer decides)."""
    now = _utcnow()
    same = {
        "id": row.id,
        "status": row.status,
        "send_started_at": row.send_started_at,
        "channel_index": row.channel_index,
    }
    if not receipt.delivered and row.status is Status.SENDING:
        return False
    changes: dict[str, object] = {"channel": "wechat", "provider_message_id": msg_id}
    if receipt.delivered:
        changes |= {
            "status": Status.SENT,
            "sent_at": receipt.at,
            "receipt_status": "delivered",
            "receipt_at": receipt.at,
            "in_doubt": False,
            "sending_channel": "",
            "send_started_at": None,
            "lease_owner": None,
            "lease_until": None,
            "last_error": "",
            "updated_at": now,
        }
    async with in_transaction() as conn:
        if await Notification.filter(provider_message_id=msg_id).using_db(conn).exists():
            return False  # one receipt settles one row
        if not await Notification.filter(**same).using_db(conn).update(**changes):
            return False
        if receipt.delivered:
            await _delivered_on_wechat(
                row, msg_id, "WeChat send result: success, of a send nobody recorded", at=now, conn=conn
            )
    if receipt.delivered:
        log.info("wechat subscribe result settled an unrecorded send id=%s", row.public_id)
        return True
    row.channel, row.provider_message_id = "wechat", msg_id
    await _undelivered(row, channel="wechat", code=receipt.code, detail=receipt.detail)
    return True
