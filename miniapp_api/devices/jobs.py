"""The devices' background jobs (run by the job host, server/jobs.py)."""

from __future__ import annotations

import time

from miniapp_api.devices import readings_store, valve
from server.jobs import Job, JobContext
from server.settings import Settings

COMMANDS_JOB = "devices.commands"
ROLLUPS_JOB = "devices.rollups"
ROLLUPS_SECONDS = 60.0
PURGE_SECONDS = 3600.0  # old rollups and evidence: once an hour is enough (their tables have no index on time)


def jobs(settings: Settings) -> list[Job]:
    return [*command_jobs(settings), *rollup_jobs(settings)]


def command_jobs(settings: Settings) -> list[Job]:
    """Valve commands past their TTL unconfirmed fail (and raise valve_failed): each command is failed
    under its row lock, so any number of hosts may run this."""

    async def run(ctx: JobContext) -> int:
        return await valve.expire_due()

    return [Job(COMMANDS_JOB, run=run, every=10.0)]


def rollup_jobs(settings: Settings) -> list[Job]:
    """Hourly rollups moved from Redis to the database, old rollups and evidence purged: one instance
    at a time (a Redis lease), so two copies of one hour never race."""

    async def run(ctx: JobContext) -> int:
        moved = await readings_store.flush(ctx.redis)
        last = ctx.state.get(f"{ROLLUPS_JOB}.purged", 0.0)
        if time.monotonic() - last >= PURGE_SECONDS:
            await readings_store.purge()
            ctx.state[f"{ROLLUPS_JOB}.purged"] = time.monotonic()
        return moved

    return [Job(ROLLUPS_JOB, run=run, every=ROLLUPS_SECONDS, exclusive=True)]
