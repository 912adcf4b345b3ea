"""The clinic's background jobs (run by the job host, server/jobs.py): analysing the reports the web
processes missed (a suggestion from the classifier, the duplicate group)."""

from __future__ import annotations

from miniapp_api.clinic import analysis
from server.jobs import Job, JobContext
from server.settings import Settings

SWEEP_JOB = "clinic.sweep"
SWEEP_SECONDS = 5.0
BATCH = 200


def jobs(settings: Settings) -> list[Job]:
    """One sweeper at a time in the whole deployment (a lease): groups form in the order of filing."""

    async def setup(ctx: JobContext) -> None:
        ctx.state[SWEEP_JOB] = analysis.cache_for(ctx.settings)

    async def run(ctx: JobContext) -> int:
        cache: analysis.ModelCache = ctx.state[SWEEP_JOB]
        total = 0
        while True:
            done = await analysis.analyse_pending(cache, limit=BATCH)
            total += done
            if done < BATCH:
                return total

    return [Job(SWEEP_JOB, run=run, every=SWEEP_SECONDS, exclusive=True, lease_seconds=120, setup=setup)]
