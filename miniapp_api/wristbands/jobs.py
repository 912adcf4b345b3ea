"""The wristbands' background jobs (run by the job host, server/jobs.py). Each part of the feature adds
its jobs in a function of its own, listed in ``jobs``."""

from __future__ import annotations

from miniapp_api.wristbands import purge
from server.jobs import Job, JobContext
from server.settings import Settings

PURGE_JOB = "wristbands.purge"
PURGE_SECONDS = 3600.0  # retention is counted in days: once an hour is plenty
STOPLIST_JOB = "wristbands.stoplist"
STOPLIST_SECONDS = 300.0  # a rule set that takes effect later is applied within 5 minutes
COMPACT_JOB = "wristbands.compact"
COMPACT_SECONDS = 3600.0


def jobs(settings: Settings) -> list[Job]:
    return [*stoplist_jobs(settings), *purge_jobs(settings)]


def purge_jobs(settings: Settings) -> list[Job]:
    """Health data past GMID_CHECKIN_RETENTION_DAYS deleted in bounded batches: one instance at a time
    (an exclusive lease), so two hosts never audit the same deletions twice."""

    async def run(ctx: JobContext) -> int:
        return (await purge.purge(retention_days=ctx.settings.checkin_retention_days)).total

    return [Job(PURGE_JOB, run=run, every=PURGE_SECONDS, exclusive=True)]


def stoplist_jobs(settings: Settings) -> list[Job]:
    """The offline stop list: recompute every band that has or had a window when a rule set set for
    later takes effect, and compact the feed (superseded entries, long-ended windows)."""

    async def sweep(ctx: JobContext) -> int:
        from miniapp_api.wristbands import facts, stoplist

        # Windows only move with the facts (their writers call the stop list) or the rules: sweep when
        # another rule set has come into force (and once after a start).
        in_force = (await facts.rules_at(stoplist.now())).as_json()
        if ctx.state.get(STOPLIST_JOB) == in_force:
            return 0
        appended = await stoplist.sweep()
        ctx.state[STOPLIST_JOB] = in_force
        return appended

    async def compact(ctx: JobContext) -> int:
        from miniapp_api.wristbands import bundle

        return await bundle.compact(retention_days=ctx.settings.checkin_retention_days)

    return [
        Job(STOPLIST_JOB, run=sweep, every=STOPLIST_SECONDS, exclusive=True, lease_seconds=600.0),
        Job(COMPACT_JOB, run=compact, every=COMPACT_SECONDS, exclusive=True, lease_seconds=600.0),
    ]
