"""The wristbands' background jobs (run by the job host, server/jobs.py). Each part of the feature adds
its jobs in a function of its own, listed in ``jobs``."""

from __future__ import annotations

from miniapp_api.wristbands import purge
from server.jobs import Job, JobContext
from server.settings import Settings

PURGE_JOB = "wristbands.purge"
PURGE_SECONDS = 3600.0  # retention is counted in days: once an hour is plenty


def jobs(settings: Settings) -> list[Job]:
    return [*purge_jobs(settings)]


def purge_jobs(settings: Settings) -> list[Job]:
    """Health data past GMID_CHECKIN_RETENTION_DAYS deleted in bounded batches: one instance at a time
    (an exclusive lease), so two hosts never audit the same deletions twice."""

    async def run(ctx: JobContext) -> int:
        return (await purge.purge(retention_days=ctx.settings.checkin_retention_days)).total

    return [Job(PURGE_JOB, run=run, every=PURGE_SECONDS, exclusive=True)]
