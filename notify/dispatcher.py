"""The dispatcher: claims due notifications with a lease, sends them, records what happened.

Several dispatchers may run at once, on several machines. A claim is one UPDATE that moves due rows
to ``sending`` with this worker's name and a lease: on PostgreSQL the rows are picked with
``FOR UPDATE SKIP LOCKED``, on SQLite the single UPDATE runs under the database's one write lock, so
two claims never share a row either way. A row whose dispatcher died stays ``sending`` until its lease
runs out; then another dispatcher takes it.

The lease is extended when a row leaves the concurrency queue and again before every send, each time
only if it is still this worker's (``UPDATE ... WHERE lease_owner = me``); a worker that finds its lease
gone stops working on the row at once and never sends again. The write before a send also marks the
send as started (``sending_channel``, ``send_started_at``), so a row taken after a crash is ``in_doubt``
only when a send on its current channel had actually started; rows that only waited in the dead
worker's batch are sent normally. A provider failure after which the message may still arrive (a
timeout, a connection lost mid-request) makes the row ``in_doubt`` the same way. In doubt, an SMS waits
for Tencent's delivery receipt before it is sent again, and a WeChat subscribe resend refused with
43101 counts as delivered (the earlier attempt used the subscription).

Per row: pick the current channel (skipping those that cannot reach the recipient), check the dedup
window and the recipient's rate on that channel in Redis, send, then write the attempt and the new
state in one transaction, guarded by the lease. Retryable failures come back after a capped,
jittered exponential backoff; permanent ones, or too many retries, move to the next channel
(WeChat -> SMS -> email); when none is left the row is dead, for an administrator to see and retry.
A row that cannot even be prepared (undecryptable data, an unknown template) is tried a bounded
number of times, then dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import random
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tortoise import connections
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError, TransactionManagementError
from tortoise.transactions import in_transaction

from identity.pii import current_vault
from notify import reach
from notify.channels.base import Channel, Message, Outcome, Recipient, Result
from notify.models import Attempt, Notification, Status
from notify.outbox import WAKE_CHANNEL
from server.ratelimit import Rate, RateLimiter
from server.settings import Settings, SettingsError

log = logging.getLogger("gmid.notify.dispatcher")

# Rows taken again shortly after a wake-up that found nothing: the enqueuing transaction may not
# have committed yet when its wake-up arrived.
_RECHECK_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)

# Compare-and-set of a dedup key: the owner is replaced only if it is still the one we looked at.
_TAKE_OVER = (
    "local v = redis.call('GET', KEYS[1]) "
    "if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end "
    "return 0"
)


@dataclass(frozen=True)
class Policy:
    batch_size: int = 50
    concurrency: int = 16
    lease_seconds: int = 60
    poll_seconds: float = 5
    max_attempts: int = 5
    backoff_base: float = 2
    backoff_cap: float = 900
    dedup_seconds: int = 86400
    sms_indoubt_seconds: int = 120
    limits: Mapping[str, Rate] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        longest = max(settings.wechat_timeout * 2, settings.sms_timeout, settings.smtp_timeout)
        if settings.notify_lease_seconds < 3 * longest:
            raise SettingsError(
                "invalid setting GMID_NOTIFY_LEASE_SECONDS: must be at least 3x the longest send timeout "
                f"({3 * longest})"
            )
        return cls(
            batch_size=settings.notify_batch_size,
            concurrency=settings.notify_concurrency,
            lease_seconds=settings.notify_lease_seconds,
            poll_seconds=settings.notify_poll_seconds,
            max_attempts=settings.notify_max_attempts,
            backoff_base=settings.notify_backoff_base,
            backoff_cap=settings.notify_backoff_cap,
            dedup_seconds=settings.notify_dedup_seconds,
            sms_indoubt_seconds=settings.notify_sms_indoubt_seconds,
            limits=parse_limits(settings.notify_recipient_limits),
        )


# (postgres, expired lease) -> the claim. PostgreSQL skips rows another claim has locked; SQLite runs
# the one statement under its single write lock. A retaken row is not marked in doubt here: process()
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


def parse_limits(raw: str) -> dict[str, Rate]:
    result: dict[str, Rate] = {}
    for part in raw.split(","):
        if part.strip():
            channel, _, rate = part.replace(" ", "").partition("=")
            result[channel] = Rate.parse(rate)
    return result


def backoff(attempts: int, policy: Policy, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds before retry number ``attempts`` (1-based): capped doubling, "equal jitter" (half fixed,
    half random) so retries of many rows spread out but never come sooner than half the step."""
    step = min(policy.backoff_cap, policy.backoff_base * (2 ** max(0, attempts - 1)))
    return step / 2 + rand() * step / 2


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LeaseLost(Exception):
    """Another dispatcher holds the row now (this worker's lease ran out): stop, send nothing more."""


def _has_address(name: str, message: Message) -> bool:
    recipient = message.recipient
    if name == "wechat":
        return bool(recipient.openid or recipient.oa_openid)
    return bool(recipient.phone if name == "sms" else recipient.email)


class Dispatcher:
    def __init__(
        self,
        *,
        channels: Mapping[str, Channel],
        redis: aioredis.Redis,
        policy: Policy,
        worker: str | None = None,
        console: Channel | None = None,
    ) -> None:
        """``channels`` by name (``wechat``, ``sms``, ``email``): those configured. With none configured,
        ``console`` stands in for every channel (development)."""
        self.channels = dict(channels)
        self.console = console if not self.channels else None
        self.redis = redis
        self.policy = policy
        self.worker = worker or worker_name()
        self.limiter = RateLimiter(redis, prefix="notify:rl:")
        self._semaphore = asyncio.Semaphore(policy.concurrency)
        self.sent_count = 0

    # ------------------------------------------------------------------ claiming

    async def claim(self, limit: int | None = None) -> tuple[list[Notification], set[int]]:
        """Take up to ``limit`` rows: expired leases first (returned ids in the set), then due rows."""
        limit = limit or self.policy.batch_size
        now = _utcnow()
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

    # ------------------------------------------------------------------ running

    async def run_once(self) -> int:
        """Claim one batch and process it; the number of rows claimed."""
        rows, expired = await self.claim()
        if rows:
            await asyncio.gather(*(self._guarded(row, row.id in expired) for row in rows))
        return len(rows)

    async def _guarded(self, row: Notification, lease_expired: bool) -> None:
        async with self._semaphore:
            try:
                # The row may have waited here long enough for its lease to run out.
                await self._renew(row)
                await self.process(row, lease_expired=lease_expired)
            except LeaseLost:
                log.warning("lease lost, the row is left to its new owner id=%s", row.public_id)
            except Exception as exc:
                # Exception text may quote data: the class here, the traceback only at debug level.
                log.error("notification processing failed id=%s error=%s", row.public_id, exc.__class__.__name__)
                log.debug("processing failure id=%s", row.public_id, exc_info=True)
                try:
                    await self._processing_failed(row, exc)
                except LeaseLost:
                    pass
                except Exception as again:
                    # The row stays claimed; its lease runs out and it is taken again.
                    log.error(
                        "could not record a processing failure id=%s error=%s",
                        row.public_id,
                        again.__class__.__name__,
                    )

    async def run(self, stop: asyncio.Event) -> None:
        """Loop until ``stop`` is set: drain due rows, then wait for a wake-up or the poll interval.
        A database or Redis outage is waited out here: the loop never ends before ``stop``."""
        wake = asyncio.Event()
        listener = asyncio.create_task(self._listen(wake, stop))
        log.info("notify dispatcher started worker=%s channels=%s", self.worker, ",".join(self.channels) or "console")
        try:
            recheck = 0
            while not stop.is_set():
                try:
                    claimed = await self.run_once()
                except Exception as exc:
                    log.error("notify dispatcher batch failed error=%s", exc.__class__.__name__)
                    log.debug("notify dispatcher batch failure", exc_info=True)
                    claimed = 0
                if claimed:
                    recheck = 0
                    continue
                if wake.is_set():
                    wake.clear()
                    recheck = 1
                if 0 < recheck <= len(_RECHECK_DELAYS):
                    delay = _RECHECK_DELAYS[recheck - 1]
                    recheck += 1
                else:
                    recheck = 0
                    try:
                        delay = await self._idle_delay()
                    except Exception as exc:  # the database is down: poll again later
                        log.warning("notify dispatcher idle check failed error=%s", exc.__class__.__name__)
                        delay = float(self.policy.poll_seconds)
                await _wait_any(stop, wake, delay)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            log.info("notify dispatcher stopped worker=%s sent=%s", self.worker, self.sent_count)

    async def _idle_delay(self) -> float:
        """Until the next row is due or a lease runs out, at most the poll interval."""
        soonest = (
            await Notification.filter(status__in=[Status.PENDING, Status.FAILED])
            .order_by("next_attempt_at")
            .limit(1)
            .values_list("next_attempt_at", flat=True)
        )
        delay = float(self.policy.poll_seconds)
        if soonest:
            when: dt.datetime = soonest[0]  # type: ignore[assignment]
            delay = min(delay, max(0.01, (when - _utcnow()).total_seconds()))
        return delay

    async def _listen(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Redis pub/sub wake-ups; on a Redis failure, try again later (the poll covers the gap)."""
        while not stop.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(WAKE_CHANNEL)
                try:
                    while not stop.is_set():
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None:
                            wake.set()
                finally:
                    await pubsub.aclose()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify wake-up subscription lost error=%s", exc.__class__.__name__)
                await asyncio.sleep(1)

    # ------------------------------------------------------------------ leases

    async def _renew(self, row: Notification) -> None:
        """Extend the lease if it is still ours (LeaseLost if not). Skipped while most of it is left:
        nobody else can have taken the row then."""
        if row.lease_until is not None:
            left = (row.lease_until - _utcnow()).total_seconds()
            if left > self.policy.lease_seconds * 2 / 3:
                return
        await self._durable(
            row,
            lambda: self._update_claimed(row, lease_until=_utcnow() + dt.timedelta(seconds=self.policy.lease_seconds)),
        )

    async def _defer(
        self, row: Notification, note: tuple[str, str, str, str], *, when: dt.datetime, channel: str
    ) -> None:
        """Put the row back for later without spending an attempt: its note (outcome, code, detail, on
        which channel) and the new due time are written together."""
        outcome, code, detail, on = note

        async def write() -> None:
            async with in_transaction():
                await self._note(row, outcome, code, detail, channel=on)
                await self._save(row, status=Status.FAILED, next_attempt_at=when, channel=channel)

        await self._durable(row, write)

    async def _start_send(self, row: Notification, channel: str) -> None:
        """Right before a provider call: extend the lease and mark the send as started, with the row's
        progress (channel, attempts), so a dispatcher that takes the row after a crash knows whether a
        send on the current channel may have gone out. LeaseLost, and no send, if the row is not ours."""
        now = _utcnow()
        changes: dict[str, object] = {
            "lease_until": now + dt.timedelta(seconds=self.policy.lease_seconds),
            "sending_channel": channel,
            "send_started_at": now,
            "channel_index": row.channel_index,
            "attempts": row.attempts,
            "total_attempts": row.total_attempts,
            "in_doubt": row.in_doubt,
        }
        await self._durable(row, lambda: self._update_claimed(row, **changes))

    async def _update_claimed(self, row: Notification, **changes: object) -> None:
        """Change the row and keep it claimed; LeaseLost when another dispatcher holds it now."""
        values: dict[str, object] = {"updated_at": _utcnow(), **changes}
        updated = await Notification.filter(id=row.id, status=Status.SENDING, lease_owner=self.worker).update(**values)
        if not updated:
            raise LeaseLost(row.public_id)
        for name, value in values.items():
            setattr(row, name, value)

    def _sms_waits_for_receipt(self) -> bool:
        return self.console is None and self.policy.sms_indoubt_seconds > 0

    # ------------------------------------------------------------------ one row

    def _channel(self, name: str) -> Channel | None:
        if self.console is not None:
            return self.console
        return self.channels.get(name)

    async def process(self, row: Notification, *, lease_expired: bool = False) -> None:
        vault = current_vault()
        data = json.loads(vault.decrypt(row.data_enc, field="notify.data"))
        recipient = Recipient(
            openid=row.openid,
            oa_openid=row.oa_openid,
            phone=vault.decrypt(row.phone_enc, field="notify.phone") if row.phone_enc else None,
            email=vault.decrypt(row.email_enc, field="notify.email") if row.email_enc else None,
        )
        if lease_expired and await self._retaken(row):
            return
        names = row.channel_list
        skipped: list[str] = []  # why each channel passed over could not carry it
        while row.channel_index < len(names):
            name = names[row.channel_index]
            channel = self._channel(name)
            message = Message(
                notification_id=row.public_id,
                template=row.template,
                data=data,
                recipient=recipient,
                attempt=row.total_attempts + 1,
                in_doubt=row.in_doubt,
            )
            if channel is None or not channel.reaches(message):
                skipped.append(reach.channel_problem(name, channel, row.template, _has_address(name, message)))
                row.channel_index += 1
                row.attempts = 0
                row.in_doubt = False  # the doubt was about that channel
                continue
            outcome = await self._attempt(row, name, channel, message)
            if outcome is not None:
                return
        if skipped:
            # Said on the row, in a form /metrics counts (template and reason), not only in the log.
            reason = "+".join(dict.fromkeys(skipped))[:64]

            async def write_unreachable() -> None:
                async with in_transaction():
                    await self._note(row, "unreachable", reason, "no configured channel can carry it", channel="")
                    await self._dead(row, f"{reach.UNREACHABLE_PREFIX}{reason}")

            await self._durable(row, write_unreachable)
            return
        await self._durable(row, lambda: self._dead(row, row.last_error or "no channel can reach the recipient"))

    async def _retaken(self, row: Notification) -> bool:
        """A row whose lease ran out under another dispatcher. In doubt only when that dispatcher had
        started a send on the current channel (its mark is still there); True when the row now waits."""
        names = row.channel_list
        current = names[row.channel_index] if row.channel_index < len(names) else ""
        if not (current and row.sending_channel == current):
            detail = "its lease ran out before a send started (dispatcher died or stalled)"
            await self._durable(row, lambda: self._note(row, "retaken", "lease_expired", detail, channel=current))
            return False

        async def mark_in_doubt() -> None:
            async with in_transaction():
                await self._note(
                    row,
                    "in_doubt",
                    "lease_expired",
                    "its lease ran out while sending (dispatcher died or stalled)",
                    channel=current,
                )
                await self._update_claimed(row, in_doubt=True)

        await self._durable(row, mark_in_doubt)
        if current == "sms" and self._sms_waits_for_receipt():
            # SendSms has no idempotency key: wait for the delivery receipt before sending again.
            when = _utcnow() + dt.timedelta(seconds=self.policy.sms_indoubt_seconds)
            await self._durable(
                row, lambda: self._save(row, status=Status.FAILED, next_attempt_at=when, channel=current)
            )
            return True
        return False

    async def _processing_failed(self, row: Notification, exc: Exception) -> None:
        """process() raised. A Redis or database outage is not the row's fault: it comes back later,
        uncounted. Anything else (undecryptable data, an unknown template) counts as an attempt, and
        after the last one the row is dead, for an administrator."""
        error = f"processing failed: {exc.__class__.__name__}"
        # A send of ours started and its result was not recorded: it may have gone out.
        in_doubt = row.in_doubt or bool(row.sending_channel)
        if isinstance(exc, RedisError) or _transient(exc):
            when = _utcnow() + dt.timedelta(seconds=max(1.0, float(self.policy.poll_seconds)))
            await self._save(row, status=Status.FAILED, next_attempt_at=when, in_doubt=in_doubt, last_error=error)
            return
        row.attempts += 1
        row.total_attempts += 1
        channel = row.channel_list[row.channel_index] if row.channel_index < len(row.channel_list) else row.channel
        if row.attempts >= self.policy.max_attempts:

            async def write_dead() -> None:
                async with in_transaction():
                    await self._note(row, "permanent", "process_error", error, channel=channel)
                    await self._dead(row, error)

            await self._durable(row, write_dead)
            return
        when = _utcnow() + dt.timedelta(seconds=backoff(row.attempts, self.policy))

        async def write_retry() -> None:
            async with in_transaction():
                await self._note(row, "retry", "process_error", error, channel=channel)
                await self._save(row, status=Status.FAILED, next_attempt_at=when, in_doubt=in_doubt, last_error=error)

        await self._durable(row, write_retry)

    async def _attempt(self, row: Notification, name: str, channel: Channel, message: Message) -> Outcome | None:
        """One send on the channel ``name``; None when the row moves on to the next channel."""
        label = channel.name if self.console is not None else name  # what the attempt is recorded as
        address = _address(name, message.recipient)
        dedup_key = self._dedup_key(name, address, row.event_key)
        if self.policy.dedup_seconds and dedup_key is not None:
            verdict, owner, when = await self._dedup_check(row, name, dedup_key)
            if verdict == "duplicate":
                await self._finish(row, label, Result.sent(None, f"duplicate of {owner}: the event already went"))
                return Outcome.SENT
            if verdict == "wait":
                wait_note = f"waits for {owner}, which carries the same event on {name}"
                await self._defer(row, ("waiting", "dedup_wait", wait_note, name), when=when, channel=label)
                return Outcome.RETRY
        rate = (self.policy.limits or {}).get(name)
        if rate is not None and address is not None and self.console is None:
            decision = await self.limiter.hit(f"{name}:{_digest(address)}", rate)
            if not decision.allowed:
                await self._dedup_release(dedup_key, row.public_id)
                limit_note = f"{name} limit {rate.count}/{rate.period}s"
                if row.channel_index + 1 < len(row.channel_list):
                    await self._durable(
                        row, lambda: self._note(row, "limited", "recipient_limit", limit_note, channel=name)
                    )
                    row.channel_index += 1
                    row.attempts = 0
                    row.in_doubt = False
                    return None
                limit_when = _utcnow() + dt.timedelta(seconds=max(1.0, decision.retry_after))
                await self._defer(row, ("limited", "recipient_limit", limit_note, name), when=limit_when, channel=name)
                return Outcome.RETRY
        await self._start_send(row, name)
        started = time.perf_counter()
        try:
            result = await channel.send(message)
        except Exception as exc:  # a channel bug must not lose the row
            log.error("channel %s raised id=%s error=%s", name, row.public_id, exc.__class__.__name__)
            log.debug("channel failure id=%s", row.public_id, exc_info=True)
            # Whatever it did, it may have reached the provider.
            result = Result.retry("channel_error", exc.__class__.__name__, maybe_sent=True)
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        if result.alert:
            log.error("notify channel needs an operator channel=%s code=%s id=%s", name, result.code, row.public_id)
        if result.outcome is Outcome.SENT:
            await self._finish(row, label, result, elapsed_ms)
            return Outcome.SENT
        row.attempts += 1
        row.total_attempts += 1
        if result.maybe_sent:
            # The provider may deliver it anyway: the next try on this channel is guarded like a resend
            # after a crash (an SMS waits for its receipt; 43101 on a subscribe message means delivered).
            row.in_doubt = True
        if result.outcome is Outcome.RETRY and row.attempts < self.policy.max_attempts:
            delay = max(backoff(row.attempts, self.policy), result.retry_after or 0)
            if result.maybe_sent and name == "sms" and self._sms_waits_for_receipt():
                # SendSms has no idempotency key: give Tencent's status receipt time to arrive.
                delay = max(delay, float(self.policy.sms_indoubt_seconds))
            when = _utcnow() + dt.timedelta(seconds=delay)

            async def write_retry() -> None:
                async with in_transaction():
                    await self._record(row, label, result, elapsed_ms)
                    await self._save(
                        row,
                        status=Status.FAILED,
                        next_attempt_at=when,
                        channel=label,
                        last_error=f"{label} {result.code}: {result.detail}"[:255],
                    )

            await self._durable(row, write_retry)
            return Outcome.RETRY
        # Permanent, or out of retries: this channel is done with the row. Written at once (and the send
        # mark cleared), so a dispatcher that takes the row after a crash starts at the next channel.
        await self._dedup_release(dedup_key, row.public_id)
        moved: dict[str, object] = {
            "channel": label,
            "channel_index": row.channel_index + 1,
            "attempts": 0,
            "total_attempts": row.total_attempts,
            "in_doubt": False,
            "sending_channel": "",
            "send_started_at": None,
            "last_error": f"{label} {result.code}: {result.detail}"[:255],
        }

        async def write_moved() -> None:
            async with in_transaction():
                await self._record(row, label, result, elapsed_ms)
                await self._update_claimed(row, **moved)

        await self._durable(row, write_moved)
        return None

    # ------------------------------------------------------------------ dedup window

    def _dedup_key(self, channel: str, address: str | None, event_key: str) -> str | None:
        if address is None or self.console is not None:
            return None
        event = hashlib.sha256(event_key.encode("utf-8")).hexdigest()[:32]
        return f"notify:dedup:{channel}:{_digest(address)}:{event}"

    async def _dedup_check(self, row: Notification, channel: str, key: str) -> tuple[str, str, dt.datetime]:
        """("own", ...) when this row is the one to send the event on ``channel``; ("duplicate", owner, ...)
        once the row that owns the event was sent on it; ("wait", owner, when) while the owner is still on
        its way. An owner that cannot deliver it there any more (dead, moved on) is taken over, so the
        event never rests on a row that failed. An owner being sent right now is waited for here, briefly."""
        deadline = time.monotonic() + self.policy.lease_seconds / 3
        pause = 0.05
        while True:
            owner = await self._dedup_claim(key, row.public_id)
            if owner == row.public_id:
                return "own", owner, _utcnow()
            state, when = await self._owner_state(owner, channel)
            if state == "sent":
                return "duplicate", owner, when
            if state == "gone" and await self._dedup_take_over(key, owner, row.public_id):
                return "own", row.public_id, when
            if time.monotonic() + pause > deadline or state == "due":
                return "wait", owner, when
            await asyncio.sleep(pause)
            pause = min(0.5, pause * 2)

    async def _owner_state(self, owner: str, channel: str) -> tuple[str, dt.datetime]:
        """How the row ``owner`` stands on ``channel``: sent, gone (it will not send there), due (it waits
        for a retry, due at the returned time) or sending."""
        now = _utcnow()
        found = await Notification.filter(public_id=owner).values(
            "status", "channel", "channels", "channel_index", "next_attempt_at"
        )
        if not found:
            return "gone", now
        other = found[0]
        status = Status(other["status"])
        if status is Status.SENT:
            return ("sent" if other["channel"] == channel else "gone"), now
        names = [c for c in str(other["channels"]).split(",") if c]
        index = int(other["channel_index"])
        if status is Status.DEAD or index >= len(names) or names[index] != channel:
            return "gone", now
        if status is Status.SENDING:
            return "sending", now + dt.timedelta(seconds=max(1.0, float(self.policy.poll_seconds)))
        due: dt.datetime = other["next_attempt_at"]
        cap = now + dt.timedelta(seconds=self.policy.backoff_cap)
        return "due", max(now + dt.timedelta(seconds=1), min(due + dt.timedelta(seconds=1), cap))

    async def _dedup_claim(self, key: str, public_id: str) -> str:
        """The id of the notification that owns this (channel, recipient, event): ours if first."""
        if await self.redis.set(key, public_id, nx=True, ex=self.policy.dedup_seconds):
            return public_id
        owner = await self.redis.get(key)
        return owner.decode() if isinstance(owner, bytes) else str(owner or public_id)

    async def _dedup_take_over(self, key: str, owner: str, public_id: str) -> bool:
        """Replace ``owner`` by ``public_id``, unless someone else changed the key meanwhile."""
        taken = await self.redis.eval(_TAKE_OVER, 1, key, owner, public_id, str(self.policy.dedup_seconds))
        return bool(taken)

    async def _dedup_release(self, key: str | None, public_id: str) -> None:
        if key is None:
            return
        owner = await self.redis.get(key)
        if owner is not None and (owner.decode() if isinstance(owner, bytes) else owner) == public_id:
            await self.redis.delete(key)

    # ------------------------------------------------------------------ recording

    async def _note(
        self, row: Notification, outcome: str, code: str, detail: str, *, channel: str | None = None
    ) -> None:
        await Attempt.create(
            notification_id=row.id,
            at=_utcnow(),
            channel=row.channel if channel is None else channel,
            outcome=outcome,
            code=code,
            detail=detail[:255],
            worker=self.worker,
        )

    async def _record(self, row: Notification, channel: str, result: Result, elapsed_ms: int | None) -> None:
        await Attempt.create(
            notification_id=row.id,
            at=_utcnow(),
            channel=channel,
            outcome=str(result.outcome),
            code=result.code[:64],
            detail=result.detail[:255],
            provider_message_id=_fit_id(result.provider_message_id),
            worker=self.worker,
            elapsed_ms=elapsed_ms,
        )

    async def _finish(self, row: Notification, channel: str, result: Result, elapsed_ms: int | None = None) -> None:
        now = _utcnow()
        row.total_attempts += 1
        await self._durable(row, lambda: self._write_sent(row, channel, result, elapsed_ms, now))
        self.sent_count += 1

    async def _write_sent(
        self, row: Notification, channel: str, result: Result, elapsed_ms: int | None, now: dt.datetime
    ) -> None:
        async with in_transaction():
            await self._record(row, channel, result, elapsed_ms)
            await self._save(
                row,
                status=Status.SENT,
                channel=channel,
                sent_at=now,
                provider_message_id=_fit_id(result.provider_message_id),
                last_error="",
                in_doubt=False,
                receipt_status="",  # a receipt of an earlier send is not about this one
                receipt_at=None,
            )

    async def _durable(self, row: Notification, write: Callable[[], Awaitable[None]]) -> None:
        """Run a write that records what already happened (a send the provider accepted must not be
        sent again): a busy database (SQLite's write lock, a dropped PostgreSQL connection) is waited
        out, with doubling pauses, until shortly before the lease runs out. An error about the
        statement or its data (a value too long for its column) is raised at once: no wait fixes it."""
        deadline = time.monotonic() + max(1.0, self.policy.lease_seconds - 5.0)
        if row.lease_until is not None:
            left = (row.lease_until - _utcnow()).total_seconds() - 2.0
            deadline = time.monotonic() + max(1.0, left)
        pause = 0.05
        while True:
            try:
                await write()
                return
            except LeaseLost:
                raise
            except Exception as exc:
                if not _transient(exc) or time.monotonic() + pause > deadline:
                    raise
                log.warning("database busy, write retried id=%s error=%s", row.public_id, exc.__class__.__name__)
                await asyncio.sleep(pause)
                pause = min(1.0, pause * 2)

    async def _dead(self, row: Notification, error: str) -> None:
        log.error("notification dead id=%s template=%s error=%s", row.public_id, row.template, error)
        await self._save(row, status=Status.DEAD, last_error=error[:255], in_doubt=False)

    async def _save(self, row: Notification, **changes: object) -> None:
        """Write the row's new state, released from this worker's lease (the send mark cleared: its
        result is written with it); a no-op when the lease was lost."""
        now = _utcnow()
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


def _fit_id(value: str | None) -> str | None:
    """Provider ids go into varchar(64) columns. A longer one (an email Message-ID with a long sender
    domain) keeps its start and a hash of the whole: it is for people to read. Receipts match WeChat
    msgids and SMS serial numbers, which are far shorter and stay whole."""
    if value is None or len(value) <= 64:
        return value
    return value[:47] + "~" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def _transient(exc: BaseException) -> bool:
    """A database failure that passes (SQLite busy or locked, a lost PostgreSQL connection, a
    serialization failure), as opposed to one about the statement or its data, which recurs."""
    if isinstance(exc, IntegrityError):
        return False
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__
    for candidate in (exc, inner):
        if isinstance(candidate, sqlite3.OperationalError):
            text = str(candidate).lower()
            return "locked" in text or "busy" in text
        if isinstance(
            candidate,
            asyncpg.exceptions.DataError
            | asyncpg.exceptions.SyntaxOrAccessError
            | asyncpg.exceptions.IntegrityConstraintViolationError,
        ):
            return False
        if isinstance(
            candidate,
            asyncpg.exceptions.PostgresConnectionError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.TransactionRollbackError
            | asyncpg.exceptions.OperatorInterventionError
            | asyncpg.exceptions.LockNotAvailableError
            | ConnectionError
            | TimeoutError,
        ):
            return True
    return isinstance(exc, OperationalError | DBConnectionError | TransactionManagementError)


def _address(channel: str, recipient: Recipient) -> str | None:
    if channel == "wechat":
        return recipient.openid or recipient.oa_openid
    if channel == "sms":
        return recipient.phone
    if channel == "email":
        return recipient.email.lower() if recipient.email else None
    return None


def _digest(address: str) -> str:
    # Redis keys name recipients by a keyed hash, never by phone or email.
    return current_vault().blind_index(address, field="notify.address")


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
