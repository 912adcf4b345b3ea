"""The :class:`Dispatcher`: the loop that claims batches of due rows and hands each to the sender,
and its wake-ups.

``run`` drains due rows, then waits for a wake-up or the poll interval. Wake-ups come over Redis
pub/sub when a row is queued (:data:`notify.outbox.WAKE_CHANNEL`); since the enqueuing transaction may
not have committed yet when its wake-up arrives, a wake-up that finds nothing is followed by a few
quick rechecks. The poll covers a lost wake-up or a Redis outage; a database or Redis outage is waited
out, never ending the loop before ``stop``. At most ``Policy.concurrency`` rows are sent at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping

import redis.asyncio as aioredis

from notify.channels.base import Channel
from notify.dispatcher.leases import LeaseLost, Leases, utcnow, worker_name
from notify.dispatcher.policy import Policy
from notify.dispatcher.sending import Sender
from notify.models import Notification, Status
from notify.outbox import WAKE_CHANNEL

log = logging.getLogger("gmid.notify.dispatcher")

# Rows taken again shortly after a wake-up that found nothing: the enqueuing transaction may not
# have committed yet when its wake-up arrived.
_RECHECK_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)


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
        self.leases = Leases(worker=worker or worker_name(), policy=policy)
        self.sender = Sender(
            channels=self.channels, console=self.console, redis=redis, policy=policy, leases=self.leases
        )
        self.limiter = self.sender.limiter
        self._semaphore = asyncio.Semaphore(policy.concurrency)

    @property
    def worker(self) -> str:
        """This dispatcher's name in leases and in the attempt history (``host:pid`` by default)."""
        return self.leases.worker

    @worker.setter
    def worker(self, name: str) -> None:
        self.leases.worker = name

    @property
    def sent_count(self) -> int:
        return self.sender.sent_count

    async def claim(self, limit: int | None = None) -> tuple[list[Notification], set[int]]:
        """Take up to ``limit`` rows: expired leases first (returned ids in the set), then due rows."""
        return await self.leases.claim(limit)

    async def process(self, row: Notification, *, lease_expired: bool = False) -> None:
        """Send one claimed row (see :mod:`notify.dispatcher.sending`)."""
        await self.sender.process(row, lease_expired=lease_expired)

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
                await self.leases.renew(row)
                await self.process(row, lease_expired=lease_expired)
            except LeaseLost:
                log.warning("lease lost, the row is left to its new owner id=%s", row.public_id)
            except Exception as exc:
                # Exception text may quote data: the class here, the traceback only at debug level.
                log.error("notification processing failed id=%s error=%s", row.public_id, exc.__class__.__name__)
                log.debug("processing failure id=%s", row.public_id, exc_info=True)
                try:
                    await self.sender.processing_failed(row, exc)
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
            delay = min(delay, max(0.01, (when - utcnow()).total_seconds()))
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


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiters:
            task.cancel()
