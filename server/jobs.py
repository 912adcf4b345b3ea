"""The background-job host: periodic and long-running jobs, registered by features like blueprints.

A feature declares its jobs in a ``jobs.py`` holding ``def jobs(settings) -> list[Job]``; the host
(``server/worker.py``: ``gmid worker`` apart from the web instances, or beside them under ``gmid serve``)
runs every job of every registered feature in one process:

- a **periodic** job runs ``run(ctx)`` every ``every`` seconds (sooner when a message arrives on its
  ``wake`` Redis channel); with ``exclusive`` a Redis lease makes one instance in the whole deployment
  run it at a time (renewed while a run lasts, released after it);
- a **service** runs ``serve(ctx, stop)`` until stopped (the notification dispatcher: it claims rows with
  leases of its own, so any number may run).

A job that raises is logged (its error class only: errors may carry personal data), counted, and run
again after a capped backoff; it never ends the host or another job. Each job has metrics: runs by
outcome, run time, and the time of its last success.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge, Histogram
from redis.exceptions import RedisError

from server.settings import Settings

log = logging.getLogger("gmid.jobs")

JOB_RUNS = Counter("gmid_job_runs_total", "Background job runs, by job and outcome.", ["job", "outcome"])
JOB_SECONDS = Histogram(
    "gmid_job_run_seconds",
    "Time a background job's run took.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
JOB_LAST_SUCCESS = Gauge(
    "gmid_job_last_success_timestamp_seconds",
    "When a background job last ran without an error (Unix time).",
    ["job"],
    multiprocess_mode="max",
)

BACKOFF_CAP = 300.0


@dataclass
class JobContext:
    """What a job may use: the settings and the process's Redis client (the database is open)."""

    settings: Settings
    redis: aioredis.Redis
    redis_url: str
    state: dict[str, Any] = field(default_factory=dict)  # a job's own objects, kept between runs


Hook = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    """One background job: ``run`` (periodic) or ``serve`` (a service), not both."""

    name: str
    run: Callable[[JobContext], Awaitable[int]] | None = None  # one pass; how much it did
    serve: Callable[[JobContext, asyncio.Event], Awaitable[None]] | None = None
    once: Callable[[JobContext], Awaitable[int]] | None = None  # a service's `--once`: what is due now
    every: float = 15.0
    wake: str | None = None  # a Redis pub/sub channel whose messages start a run at once
    exclusive: bool = False  # one run at a time across every instance (a Redis lease)
    lease_seconds: float = 60.0
    setup: Hook | None = None  # before the first run, in the host process
    teardown: Hook | None = None

    def __post_init__(self) -> None:
        if (self.run is None) == (self.serve is None):
            raise ValueError(f"job {self.name}: give run (periodic) or serve (a service), not both")
        if self.every <= 0 or self.lease_seconds <= 0:
            raise ValueError(f"job {self.name}: every and lease_seconds must be positive")


# A lease is renewed (pexpire) or released (del) only by its holder.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Lease:
    """A Redis lease on one job name: held by one host at a time, lost when its holder stops renewing."""

    def __init__(self, redis: aioredis.Redis, job: str, seconds: float) -> None:
        self.redis = redis
        self.key = f"gmid:job-lease:{job}"
        self.owner = secrets.token_hex(8)
        self.ms = max(int(seconds * 1000), 1000)

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.owner, nx=True, px=self.ms))

    async def renew(self) -> bool:
        return bool(await self.redis.eval(_RENEW, 1, self.key, self.owner, self.ms))

    async def release(self) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.eval(_RELEASE, 1, self.key, self.owner)


class JobHost:
    """Runs a set of jobs until ``stop`` is set; each job in its own task."""

    def __init__(self, jobs: Iterable[Job], ctx: JobContext, *, backoff: float = 2.0) -> None:
        self.jobs = list(jobs)
        self.backoff = backoff  # the first retry's delay after a failure; doubles up to BACKOFF_CAP
        names = [job.name for job in self.jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {sorted(names)}")
        self.ctx = ctx
        self.runs: dict[str, int] = dict.fromkeys(names, 0)

    async def run(self, stop: asyncio.Event) -> None:
        await self._setup()
        try:
            await asyncio.gather(*(self._keep(job, stop) for job in self.jobs))
        finally:
            await self._teardown()

    async def run_once(self) -> dict[str, int]:
        """Every job once (a service's ``once``, repeated while it finds work): for ``--once``."""
        await self._setup()
        done: dict[str, int] = {}
        try:
            for job in self.jobs:
                step = job.run or job.once
                if step is None:
                    continue
                total = 0
                while True:
                    count = await self._timed(job, step)
                    total += count or 0
                    if not count or job.run is not None:
                        break
                done[job.name] = total
        finally:
            await self._teardown()
        return done

    async def _setup(self) -> None:
        for job in self.jobs:
            if job.setup is not None:
                await job.setup(self.ctx)

    async def _teardown(self) -> None:
        for job in reversed(self.jobs):
            if job.teardown is not None:
                try:
                    await job.teardown(self.ctx)
                except Exception as exc:
                    log.error("job teardown failed job=%s error=%s", job.name, exc.__class__.__name__)

    async def _timed(self, job: Job, step: Callable[[JobContext], Awaitable[int]]) -> int:
        started = time.perf_counter()
        try:
            count = await step(self.ctx)
        except Exception:
            JOB_RUNS.labels(job.name, "error").inc()
            raise
        finally:
            JOB_SECONDS.labels(job.name).observe(time.perf_counter() - started)
        JOB_RUNS.labels(job.name, "ok").inc()
        JOB_LAST_SUCCESS.labels(job.name).set(time.time())
        self.runs[job.name] += 1
        return count

    async def _keep(self, job: Job, stop: asyncio.Event) -> None:
        """Run one job until stop, whatever it raises."""
        log.info("job started job=%s", job.name)
        failures = 0
        while not stop.is_set():
            try:
                if job.serve is not None:
                    await job.serve(self.ctx, stop)
                    if stop.is_set():
                        break
                    raise RuntimeError("the service returned before it was stopped")
                await self._periodic(job, stop)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = self._delay(failures)
                log.error("job failed job=%s error=%s retry_in=%.0fs", job.name, exc.__class__.__name__, delay)
                if job.serve is not None:
                    JOB_RUNS.labels(job.name, "error").inc()
                await _sleep(stop, delay)
        log.info("job stopped job=%s runs=%s", job.name, self.runs[job.name])

    def _delay(self, failures: int) -> float:
        return min(BACKOFF_CAP, self.backoff * 2.0 ** min(failures - 1, 16))

    async def _periodic(self, job: Job, stop: asyncio.Event) -> None:
        assert job.run is not None
        wake = asyncio.Event()
        listener = asyncio.create_task(self._listen(job.wake, wake, stop)) if job.wake else None
        lease = Lease(self.ctx.redis, job.name, job.lease_seconds) if job.exclusive else None
        failures = 0
        try:
            while not stop.is_set():
                wake.clear()
                delay = job.every
                try:
                    await self._one_run(job, lease)
                    failures = 0
                except Exception as exc:
                    failures += 1
                    delay = max(job.every, self._delay(failures))
                    log.error("job run failed job=%s error=%s retry_in=%.0fs", job.name, exc.__class__.__name__, delay)
                await _sleep(stop, delay, wake)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener

    async def _one_run(self, job: Job, lease: Lease | None) -> None:
        assert job.run is not None
        if lease is None:
            await self._timed(job, job.run)
            return
        if not await lease.acquire():
            JOB_RUNS.labels(job.name, "skipped").inc()  # another instance holds it
            return
        keeper = asyncio.create_task(_keep_renewing(lease))
        try:
            await self._timed(job, job.run)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper
            await lease.release()

    async def _listen(self, channel: str, wake: asyncio.Event, stop: asyncio.Event) -> None:
        # Wake-ups are a shortcut: when Redis is away the job still runs on its interval.
        while not stop.is_set():
            pubsub = self.ctx.redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        wake.set()
            except RedisError:
                await _sleep(stop, 5.0)
            finally:
                with contextlib.suppress(RedisError, RuntimeError):
                    await pubsub.aclose()


async def _keep_renewing(lease: Lease) -> None:
    while True:
        await asyncio.sleep(lease.ms / 3000)
        try:
            if not await lease.renew():
                log.warning("job lease lost key=%s", lease.key)
                return
        except RedisError:
            pass


async def _sleep(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Wait ``seconds``, or less when stopped or woken."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
