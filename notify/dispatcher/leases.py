"""Claiming rows and holding them: the claim, the lease, and the writes guarded by it.

A claim is one UPDATE that moves due rows to ``sending`` with this worker's name and a lease: on
PostgreSQL the rows are picked with ``FOR UPDATE SKIP LOCKED``, on SQLite the single UPDATE runs under
the database's one write lock, so two claims never share a row either way. A row whose dispatcher died
stays ``sending`` until its lease runs out; then another dispatcher takes it.

The lease is extended when a row leaves the concurrency queue (:meth:`Leases.renew`) and again before
every send (:meth:`Leases.start_send`), each time only if it is still this worker's
(``UPDATE ... WHERE lease_owner = me``); a worker that finds its lease gone gets :class:`LeaseLost`,
stops working on the row at once and never sends again. The write before a send also marks the send
as started (``sending_channel``, ``send_started_at``), so a row taken after a crash is in doubt only
when a send on its current channel had actually started.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from tortoise import connections

from notify.dispatcher.durable import durable
from notify.dispatcher.policy import Policy
from notify.models import Notification, Status

log = logging.getLogger("gmid.notify.dispatcher")

# (postgres, expired lease) -> the claim. PostgreSQL skips rows another claim has locked; SQLite runs
# the one statement under its single write lock. A retaken row is not marked in doubt here: the sender
# decides that from the send mark the dead worker left (or did not leave). Written out in full: nothing
# is formatted into SQL.
_CLAIM_SQL = {
    (True, False): (
        "UPDATE notify_notification SET status = 'sending', lease_owner = $1, lease_until = $2, updated_at = $3 "
        "WHERE id IN (SELECT id FROM notify_notification WHERE status IN ('pending', 'failed') "
        "AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id"
    ),
    (True, True): (
        "UPDATE notify_notification SET status = 'sending', lease_owner = $1, lease_until = $2, updated_at = $3 "
        "WHERE id IN (SELECT id FROM notify_notification WHERE status = 'sending' "
        "AND lease_until < $3 ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id"
    ),
    (False, False): (
        "UPDATE notify_notification SET status = 'sending', lease_owner = ?, lease_until = ?, updated_at = ? "
        "WHERE id IN (SELECT id FROM notify_notification WHERE status IN ('pending', 'failed') "
        "AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?) RETURNING id"
    ),
    (False, True): (
        "UPDATE notify_notification SET status = 'sending', lease_owner = ?, lease_until = ?, updated_at = ? "
        "WHERE id IN (SELECT id FROM notify_notification WHERE status = 'sending' "
        "AND lease_until < ? ORDER BY lease_until LIMIT ?) RETURNING id"
    ),
}


class LeaseLost(Exception):
    """Another dispatcher holds the row now (this worker's lease ran out): stop, send nothing more."""


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Leases:
    """This worker's claims: takes rows, keeps their leases, and writes to them only while they are its own."""

    def __init__(self, *, worker: str, policy: Policy) -> None:
        self.worker = worker
        self.policy = policy

    async def claim(self, limit: int | None = None) -> tuple[list[Notification], set[int]]:
        """Take up to ``limit`` rows: expired leases first (returned ids in the set), then due rows."""
        limit = limit or self.policy.batch_size
        now = utcnow()
        lease_until = now + dt.timedelta(seconds=self.policy.lease_seconds)
        expired = await self._claim_sql(expired=True, now=now, lease_until=lease_until, limit=limit)
        due = await self._claim_sql(expired=False, now=now, lease_until=lease_until, limit=limit - len(expired))
        ids = expired + due
        if not ids:
            return [], set()
        rows = await Notification.filter(id__in=ids).order_by("next_attempt_at", "id")
        return list(rows), set(expired)

    async def _claim_sql(self, *, expired: bool, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[int]:
        if limit <= 0:
            return []
        conn = connections.get("default")
        postgres = conn.capabilities.dialect == "postgres"
        sql = _CLAIM_SQL[(postgres, expired)]
        params: list[object] = (
            [self.worker, lease_until, now, limit] if postgres else [self.worker, lease_until, now, now, limit]
        )
        # execute_query_dict always fetches; Tortoise's execute_query drops the rows of an UPDATE on asyncpg.
        rows = await conn.execute_query_dict(sql, params)
        return [int(row["id"]) for row in rows]

    async def durable(self, row: Notification, write: Callable[[], Awaitable[None]]) -> None:
        """:func:`~notify.dispatcher.durable.durable` within this policy's lease."""
        await durable(row, write, lease_seconds=self.policy.lease_seconds)

    async def renew(self, row: Notification) -> None:
        """Extend the lease if it is still ours (LeaseLost if not). Skipped while most of it is left:
        nobody else can have taken the row then."""
        if row.lease_until is not None:
            left = (row.lease_until - utcnow()).total_seconds()
            if left > self.policy.lease_seconds * 2 / 3:
                return
        await self.durable(
            row,
            lambda: self.update_claimed(row, lease_until=utcnow() + dt.timedelta(seconds=self.policy.lease_seconds)),
        )

    async def start_send(self, row: Notification, channel: str) -> None:
        """Right before a provider call: extend the lease and mark the send as started, with the row's
        progress (channel, attempts), so a dispatcher that takes the row after a crash knows whether a
        send on the current channel may have gone out. LeaseLost, and no send, if the row is not ours."""
        now = utcnow()
        changes: dict[str, object] = {
            "lease_until": now + dt.timedelta(seconds=self.policy.lease_seconds),
            "sending_channel": channel,
            "send_started_at": now,
            "channel_index": row.channel_index,
            "attempts": row.attempts,
            "total_attempts": row.total_attempts,
            "in_doubt": row.in_doubt,
        }
        await self.durable(row, lambda: self.update_claimed(row, **changes))

    async def update_claimed(self, row: Notification, **changes: object) -> None:
        """Change the row and keep it claimed; LeaseLost when another dispatcher holds it now."""
        values: dict[str, object] = {"updated_at": utcnow(), **changes}
        updated = await Notification.filter(id=row.id, status=Status.SENDING, lease_owner=self.worker).update(**values)
        if not updated:
            raise LeaseLost(row.public_id)
        for name, value in values.items():
            setattr(row, name, value)

    async def save(self, row: Notification, **changes: object) -> None:
        """Write the row's new state, released from this worker's lease (the send mark cleared: its
        result is written with it); a no-op when the lease was lost."""
        now = utcnow()
        values: dict[str, object] = {
            "channel_index": row.channel_index,
            "attempts": row.attempts,
            "total_attempts": row.total_attempts,
            "in_doubt": row.in_doubt,
            "sending_channel": "",
            "send_started_at": None,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
            **changes,
        }
        updated = await Notification.filter(id=row.id, status=Status.SENDING, lease_owner=self.worker).update(**values)
        if not updated:
            log.warning("lease lost before the result was saved id=%s", row.public_id)
            return
        for name, value in values.items():
            setattr(row, name, value)
