"""Job matching's background job (run by the job host, server/jobs.py): the push of new postings to the
subscribed seekers they match (push.py), woken when a posting is published and run as a sweep."""

from __future__ import annotations

from miniapp_api.jobs import push
from server.jobs import Job, JobContext
from server.settings import Settings

PUSH_JOB = "jobs.push"


def jobs(settings: Settings) -> list[Job]:
    """One pass at a time in the whole deployment (a lease); the per-seeker lock and the JobPush row keep a
    second pass (an expired lease, a direct call) from telling anyone twice."""

    async def run(ctx: JobContext) -> int:
        done = await push.run_pass(
            ctx.redis,
            threshold=ctx.settings.jobs_push_threshold / 100,
            per_day=ctx.settings.jobs_push_per_day,
        )
        return done.pushed

    return [
        Job(
            PUSH_JOB,
            run=run,
            every=push.EVERY_SECONDS,
            wake=push.WAKE_CHANNEL,
            exclusive=True,
            lease_seconds=300,
        )
    ]
