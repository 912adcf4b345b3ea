"""The wristbands' background jobs (run by the job host, server/jobs.py). Each part of the feature adds
its jobs in a function of its own, listed in ``jobs``."""

from __future__ import annotations

from miniapp_api.wristbands import purge
from server.jobs import Job, JobContext
from server.settings import Settings

PURGE_JOB = "wristbands.purge"
PURGE_SECONDS = 3600.0  # retention is counted in days: once an hour is plenty
STOPLIST_JOB = "wristbands.stoplist"
STOPLIST_SECONDS = 30.0  # key-area and rule changes reach the offline bundle within 30 s
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
    """The offline stop list: recompute every band that has or had a window when key areas or rule
    sets changed or a rule set set for later takes effect, and compact the feed (superseded entries,
    long-ended windows)."""

    async def sweep(ctx: JobContext) -> int:
        from miniapp_api.wristbands import facts, gate_reads, stoplist

        # Windows only move with a person's facts (their writers call the stop list at once) or with
        # the key areas and rules: sweep when their fingerprint moved or another rule set came into
        # force (and once after a start). Read before the sweep: a change during it sweeps again.
        seen = (await gate_reads.rules_and_areas_fingerprint(), (await facts.rules_at(stoplist.now())).as_json())
        if ctx.state.get(STOPLIST_JOB) == seen:
            return 0  # the common case: two small queries
        appended = await stoplist.sweep()
        ctx.state[STOPLIST_JOB] = seen
        return appended

    async def compact(ctx: JobContext) -> int:
        from miniapp_api.wristbands import bundle

        return await bundle.compact(retention_days=ctx.settings.checkin_retention_days)

    return [
        Job(STOPLIST_JOB, run=sweep, every=STOPLIST_SECONDS, exclusive=True, lease_seconds=600.0),
        Job(COMPACT_JOB, run=compact, every=COMPACT_SECONDS, exclusive=True, lease_seconds=600.0),
    ]
