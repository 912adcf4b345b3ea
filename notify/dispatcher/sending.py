"""The send of one claimed row: across its channels in order, with fallback, limits and doubts.

Per row: pick the current channel (skipping those that cannot reach the recipient), check the dedup
window (:mod:`notify.dispatcher.dedup`) and the recipient's rate on that channel in Redis, send, then
write the attempt and the new state in one transaction, guarded by the lease
(:mod:`notify.dispatcher.leases`). Retryable failures come back after a capped, jittered exponential
backoff (:func:`notify.dispatcher.policy.backoff`); permanent ones, or too many retries, move to the
next channel (WeChat -> SMS -> email); when none is left the row is dead, for an administrator to see
and retry. A row that cannot even be prepared (undecryptable data, an unknown template) is tried a
bounded number of times, then dead.

Doubts: a row taken after its dispatcher died is in doubt only when a send on its current channel had
started (the send mark is still there); rows that only waited in the dead worker's batch are sent
normally. A provider failure after which the message may still arrive (a timeout, a connection lost
mid-request) makes the row in doubt the same way. In doubt, an SMS waits for Tencent's delivery
receipt before it is sent again, a WeChat subscribe message waits for WeChat's send-result push
(``policy.wechat_indoubt_seconds``), and a subscribe resend refused with 43101 counts as delivered (the
earlier attempt used the subscription).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tortoise.transactions import in_transaction

from identity.pii import current_vault
from notify import reach, templates
from notify.channels.base import Channel, Message, Outcome, Recipient, Result
from notify.dispatcher import history
from notify.dispatcher.dedup import DedupWindow, address_digest
from notify.dispatcher.durable import is_transient
from notify.dispatcher.leases import Leases, utcnow
from notify.dispatcher.policy import Policy, backoff
from notify.models import Notification, Status
from server.ratelimit import RateLimiter

log = logging.getLogger("gmid.notify.dispatcher")


class Sender:
    """Sends claimed rows and writes what happened, each write under the row's lease."""

    def __init__(
        self,
        *,
        channels: Mapping[str, Channel],
        console: Channel | None,
        redis: aioredis.Redis,
        policy: Policy,
        leases: Leases,
    ) -> None:
        """``channels`` by name; ``console``, when given, stands in for every channel (development)."""
        self.channels = channels
        self.console = console
        self.policy = policy
        self.leases = leases
        self.dedup = DedupWindow(redis, policy)
        self.limiter = RateLimiter(redis, prefix="notify:rl:")
        self.sent_count = 0

    async def process(self, row: Notification, *, lease_expired: bool = False) -> None:
        """Send one claimed row: its channels in order from the current one, until one takes it, it
        waits for a retry, or none is left (dead). ``lease_expired``: taken from a dispatcher that died."""
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

            await self.leases.durable(row, write_unreachable)
            return
        await self.leases.durable(row, lambda: self._dead(row, row.last_error or "no channel can reach the recipient"))

    async def _attempt(self, row: Notification, name: str, channel: Channel, message: Message) -> Outcome | None:
        """One send on the channel ``name``; None when the row moves on to the next channel."""
        label = channel.name if self.console is not None else name  # what the attempt is recorded as
        address = _address(name, message.recipient)
        dedup_key = self._dedup_key(name, address, row.event_key)
        if self.policy.dedup_seconds and dedup_key is not None:
            verdict, owner, when = await self.dedup.check(row, name, dedup_key)
            if verdict == "duplicate":
                await self._finish(row, label, Result.sent(None, f"duplicate of {owner}: the event already went"))
                return Outcome.SENT
            if verdict == "wait":
                wait_note = f"waits for {owner}, which carries the same event on {name}"
                await self._defer(row, ("waiting", "dedup_wait", wait_note, name), when=when, channel=label)
                return Outcome.RETRY
        rate = (self.policy.limits or {}).get(name)
        if rate is not None and address is not None and self.console is None:
            decision = await self.limiter.hit(f"{name}:{address_digest(address)}", rate)
            if not decision.allowed:
                await self.dedup.release(dedup_key, row.public_id)
                limit_note = f"{name} limit {rate.count}/{rate.period}s"
                if row.channel_index + 1 < len(row.channel_list):
                    await self.leases.durable(
                        row, lambda: self._note(row, "limited", "recipient_limit", limit_note, channel=name)
                    )
                    row.channel_index += 1
                    row.attempts = 0
                    row.in_doubt = False
                    return None
                limit_when = utcnow() + dt.timedelta(seconds=max(1.0, decision.retry_after))
                await self._defer(row, ("limited", "recipient_limit", limit_note, name), when=limit_when, channel=name)
                return Outcome.RETRY
        result, elapsed_ms = await self._send(row, name, channel, message)
        if result.outcome is Outcome.SENT:
            await self._finish(row, label, result, elapsed_ms)
            return Outcome.SENT
        return await self._failed(row, name, label, result, elapsed_ms, dedup_key)

    async def _send(self, row: Notification, name: str, channel: Channel, message: Message) -> tuple[Result, int]:
        """The provider call, marked on the row first (LeaseLost, and no call, if the row is not ours);
        the result and how long it took. A channel that raises is a result too: it may have sent."""
        await self.leases.start_send(row, name)
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
        return result, elapsed_ms

    async def _failed(
        self, row: Notification, name: str, label: str, result: Result, elapsed_ms: int, dedup_key: str | None
    ) -> Outcome | None:
        """A send that did not go through: retry later on this channel (RETRY), or move on (None)."""
        row.attempts += 1
        row.total_attempts += 1
        if result.maybe_sent:
            # The provider may deliver it anyway: the next try on this channel is guarded like a resend
            # after a crash (an SMS waits for its receipt; 43101 on a subscribe message means delivered).
            row.in_doubt = True
        if result.outcome is Outcome.RETRY and row.attempts < self.policy.max_attempts:
            delay = max(backoff(row.attempts, self.policy), result.retry_after or 0)
            kept: dict[str, object] = {}
            if result.maybe_sent:
                # No idempotency key on SendSms or a subscribe message: give the receipt time to arrive.
                wait, kept = self._receipt_wait(row, name)
                delay = max(delay, wait)
            when = utcnow() + dt.timedelta(seconds=delay)
            await self.leases.durable(
                row,
                lambda: self._write_result(
                    row,
                    label,
                    result,
                    elapsed_ms,
                    status=Status.FAILED,
                    next_attempt_at=when,
                    last_error=f"{label} {result.code}: {result.detail}"[:255],
                    **kept,
                ),
            )
            return Outcome.RETRY
        # Permanent, or out of retries: this channel is done with the row. Written at once (and the send
        # mark cleared), so a dispatcher that takes the row after a crash starts at the next channel.
        await self.dedup.release(dedup_key, row.public_id)
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
                await self.leases.update_claimed(row, **moved)

        await self.leases.durable(row, write_moved)
        return None

    async def _retaken(self, row: Notification) -> bool:
        """A row whose lease ran out under another dispatcher. In doubt only when that dispatcher had
        started a send on the current channel (its mark is still there); True when the row now waits."""
        names = row.channel_list
        current = names[row.channel_index] if row.channel_index < len(names) else ""
        if not (current and row.sending_channel == current):
            detail = "its lease ran out before a send started (dispatcher died or stalled)"
            await self.leases.durable(row, lambda: self._note(row, "retaken", "lease_expired", detail, channel=current))
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
                await self.leases.update_claimed(row, in_doubt=True)

        await self.leases.durable(row, mark_in_doubt)
        wait, kept = self._receipt_wait(row, current)
        if wait:
            # No idempotency key on SendSms or a subscribe message: wait for the receipt before sending again.
            when = utcnow() + dt.timedelta(seconds=wait)
            await self.leases.durable(
                row, lambda: self.leases.save(row, status=Status.FAILED, next_attempt_at=when, channel=current, **kept)
            )
            return True
        return False

    async def processing_failed(self, row: Notification, exc: Exception) -> None:
        """process() raised. A Redis or database outage is not the row's fault: it comes back later,
        uncounted. Anything else (undecryptable data, an unknown template) counts as an attempt, and
        after the last one the row is dead, for an administrator."""
        error = f"processing failed: {exc.__class__.__name__}"
        # A send of ours started and its result was not recorded: it may have gone out.
        in_doubt = row.in_doubt or bool(row.sending_channel)
        # The provider's receipt of that send is waited for as after a crash (SMS, subscribe message), and
        # the send's start is kept for matching it.
        wait, kept = self._receipt_wait(row, row.sending_channel)
        if isinstance(exc, RedisError) or is_transient(exc):
            when = utcnow() + dt.timedelta(seconds=max(1.0, float(self.policy.poll_seconds), wait))
            await self.leases.save(
                row, status=Status.FAILED, next_attempt_at=when, in_doubt=in_doubt, last_error=error, **kept
            )
            return
        row.attempts += 1
        row.total_attempts += 1
        channel = row.channel_list[row.channel_index] if row.channel_index < len(row.channel_list) else row.channel
        if row.attempts >= self.policy.max_attempts:

            async def write_dead() -> None:
                async with in_transaction():
                    await self._note(row, "permanent", "process_error", error, channel=channel)
                    await self._dead(row, error)

            await self.leases.durable(row, write_dead)
            return
        when = utcnow() + dt.timedelta(seconds=max(backoff(row.attempts, self.policy), wait))

        async def write_retry() -> None:
            async with in_transaction():
                await self._note(row, "retry", "process_error", error, channel=channel)
                await self.leases.save(
                    row, status=Status.FAILED, next_attempt_at=when, in_doubt=in_doubt, last_error=error, **kept
                )

        await self.leases.durable(row, write_retry)

    # -- writes and helpers

    async def _defer(
        self, row: Notification, note: tuple[str, str, str, str], *, when: dt.datetime, channel: str
    ) -> None:
        """Put the row back for later without spending an attempt: its note (outcome, code, detail, on
        which channel) and the new due time are written together."""
        outcome, code, detail, on = note

        async def write() -> None:
            async with in_transaction():
                await self._note(row, outcome, code, detail, channel=on)
                await self.leases.save(row, status=Status.FAILED, next_attempt_at=when, channel=channel)

        await self.leases.durable(row, write)

    async def _note(
        self, row: Notification, outcome: str, code: str, detail: str, *, channel: str | None = None
    ) -> None:
        await history.note(row, worker=self.leases.worker, outcome=outcome, code=code, detail=detail, channel=channel)

    async def _record(self, row: Notification, channel: str, result: Result, elapsed_ms: int | None) -> None:
        await history.record(row, worker=self.leases.worker, channel=channel, result=result, elapsed_ms=elapsed_ms)

    def _dedup_key(self, channel: str, address: str | None, event_key: str) -> str | None:
        if address is None or self.console is not None:
            return None
        return self.dedup.key(channel, address, event_key)

    async def _finish(self, row: Notification, channel: str, result: Result, elapsed_ms: int | None = None) -> None:
        now = utcnow()
        row.total_attempts += 1
        await self.leases.durable(
            row,
            lambda: self._write_result(
                row,
                channel,
                result,
                elapsed_ms,
                status=Status.SENT,
                sent_at=now,
                provider_message_id=history.fit_id(result.provider_message_id),
                last_error="",
                in_doubt=False,
                receipt_status="",  # a receipt of an earlier send is not about this one
                receipt_at=None,
            ),
        )
        self.sent_count += 1

    async def _write_result(
        self, row: Notification, channel: str, result: Result, elapsed_ms: int | None, **state: object
    ) -> None:
        """The attempt on ``channel`` and the row's new state there (released from the lease), in one
        transaction."""
        async with in_transaction():
            await self._record(row, channel, result, elapsed_ms)
            await self.leases.save(row, channel=channel, **state)

    async def _dead(self, row: Notification, error: str) -> None:
        log.error("notification dead id=%s template=%s error=%s", row.public_id, row.template, error)
        await self.leases.save(row, status=Status.DEAD, last_error=error[:255], in_doubt=False)

    def _receipt_wait(self, row: Notification, channel: str) -> tuple[float, dict[str, object]]:
        """How long a send on ``channel`` that may have gone out waits for the provider's receipt before
        it goes again (0: it goes when due), and what of the row is kept for matching that receipt: an
        SMS is matched by its session context, a subscribe message by its send's start."""
        if channel == "sms" and self._sms_waits_for_receipt():
            return float(self.policy.sms_indoubt_seconds), {}
        if channel == "wechat" and self._wechat_waits_for_receipt(row):
            return float(self.policy.wechat_indoubt_seconds), {"send_started_at": row.send_started_at}
        return 0.0, {}

    def _sms_waits_for_receipt(self) -> bool:
        return self.console is None and self.policy.sms_indoubt_seconds > 0

    def _wechat_waits_for_receipt(self, row: Notification) -> bool:
        """A subscribe message (mini-program) in doubt waits for its send result; a template message
        carries ``client_msg_id`` and is resent at once (WeChat drops the repeat)."""
        if self.console is not None or self.policy.wechat_indoubt_seconds <= 0:
            return False
        template = templates.TEMPLATES.get(row.template)
        return template is not None and template.wechat.kind == "subscribe"

    def _channel(self, name: str) -> Channel | None:
        if self.console is not None:
            return self.console
        return self.channels.get(name)


def _has_address(name: str, message: Message) -> bool:
    recipient = message.recipient
    if name == "wechat":
        return bool(recipient.openid or recipient.oa_openid)
    return bool(recipient.phone if name == "sms" else recipient.email)


def _address(channel: str, recipient: Recipient) -> str | None:
    if channel == "wechat":
        return recipient.openid or recipient.oa_openid
    if channel == "sms":
        return recipient.phone
    if channel == "email":
        return recipient.email.lower() if recipient.email else None
    return None
