"""The dedup window: the same event goes to the same recipient on the same channel once within
``Policy.dedup_seconds`` (``GMID_NOTIFY_DEDUP_SECONDS``), however many notifications carry it.

The first notification to reach the send of an event on a channel owns ``notify:dedup:<channel>:
<recipient>:<event>`` in Redis for ``Policy.dedup_seconds``; the others wait for it, or count as sent
once it was. An owner that can no longer deliver there (dead, moved on to another channel) is taken
over, so the event never rests on a row that failed. Recipients are named in Redis by a keyed hash
(:func:`address_digest`), never by phone or email.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from typing import Literal

import redis.asyncio as aioredis

from identity.pii import current_vault
from notify.dispatcher.leases import utcnow
from notify.dispatcher.policy import Policy
from notify.models import Notification, Status

# Compare-and-set of a dedup key: the owner is replaced only if it is still the one we looked at.
_TAKE_OVER = (
    "local v = redis.call('GET', KEYS[1]) "
    "if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1 end "
    "return 0"
)

Verdict = Literal["own", "duplicate", "wait"]


def address_digest(address: str) -> str:
    # Redis keys name recipients by a keyed hash, never by phone or email.
    return current_vault().blind_index(address, field="notify.address")


class DedupWindow:
    def __init__(self, redis: aioredis.Redis, policy: Policy) -> None:
        self.redis = redis
        self.policy = policy

    @staticmethod
    def key(channel: str, address: str, event_key: str) -> str:
        event = hashlib.sha256(event_key.encode("utf-8")).hexdigest()[:32]
        return f"notify:dedup:{channel}:{address_digest(address)}:{event}"

    async def check(self, row: Notification, channel: str, key: str) -> tuple[Verdict, str, dt.datetime]:
        """("own", ...) when this row is the one to send the event on ``channel``; ("duplicate", owner, ...)
        once the row that owns the event was sent on it; ("wait", owner, when) while the owner is still on
        its way. An owner that cannot deliver it there any more (dead, moved on) is taken over, so the
        event never rests on a row that failed. An owner being sent right now is waited for here, briefly."""
        deadline = time.monotonic() + self.policy.lease_seconds / 3
        pause = 0.05
        while True:
            owner = await self._claim(key, row.public_id)
            if owner == row.public_id:
                return "own", owner, utcnow()
            state, when = await self._owner_state(owner, channel)
            if state == "sent":
                return "duplicate", owner, when
            if state == "gone" and await self._take_over(key, owner, row.public_id):
                return "own", row.public_id, when
            if time.monotonic() + pause > deadline or state == "due":
                return "wait", owner, when
            await asyncio.sleep(pause)
            pause = min(0.5, pause * 2)

    async def release(self, key: str | None, public_id: str) -> None:
        """Give the event up on this channel (the row moves on or waits for a limit), if we own it."""
        if key is None:
            return
        owner = await self.redis.get(key)
        if owner is not None and (owner.decode() if isinstance(owner, bytes) else owner) == public_id:
            await self.redis.delete(key)

    async def _owner_state(self, owner: str, channel: str) -> tuple[str, dt.datetime]:
        """How the row ``owner`` stands on ``channel``: sent, gone (it will not send there), due (it waits
        for a retry, due at the returned time) or sending."""
        now = utcnow()
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

    async def _claim(self, key: str, public_id: str) -> str:
        """The id of the notification that owns this (channel, recipient, event): ours if first."""
        if await self.redis.set(key, public_id, nx=True, ex=self.policy.dedup_seconds):
            return public_id
        owner = await self.redis.get(key)
        return owner.decode() if isinstance(owner, bytes) else str(owner or public_id)

    async def _take_over(self, key: str, owner: str, public_id: str) -> bool:
        """Replace ``owner`` by ``public_id``, unless someone else changed the key meanwhile."""
        taken = await self.redis.eval(_TAKE_OVER, 1, key, owner, public_id, str(self.policy.dedup_seconds))
        return bool(taken)
