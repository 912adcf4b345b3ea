"""The wristband check-ins' background jobs (run by the job host, server/jobs.py)."""

from __future__ import annotations

from server.jobs import Job, JobContext
from server.settings import Settings

STOPLIST_JOB = "checkins.stoplist"
STOPLIST_SECONDS = 3600.0  # rule sets that take effect later, windows that ended: hourly is enough
COMPACT_JOB = "checkins.compact"
COMPACT_SECONDS = 3600.0


def jobs(settings: Settings) -> list[Job]:
    return [*stoplist_jobs(settings)]


def stoplist_jobs(settings: Settings) -> list[Job]:
    """The offline stop list: recompute every band that has or had a window (rule sets that took
    effect since, key areas), and compact the feed (superseded entries, long-ended windows)."""

    async def sweep(ctx: JobContext) -> int:
        from miniapp_api.wristbands import stoplist

        return await stoplist.sweep()

    async def compact(ctx: JobContext) -> int:
        from miniapp_api.wristbands import bundle

        return await bundle.compact(retention_days=ctx.settings.checkin_retention_days)

    return [
        Job(STOPLIST_JOB, run=sweep, every=STOPLIST_SECONDS, exclusive=True, lease_seconds=600.0),
        Job(COMPACT_JOB, run=compact, every=COMPACT_SECONDS, exclusive=True, lease_seconds=600.0),
    ]
