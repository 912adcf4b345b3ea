"""The reports' background jobs (run by the job host, server/jobs.py): the SLA timers."""

from __future__ import annotations

from miniapp_api.reports import events
from miniapp_api.reports.sla import SlaScheduler
from server.jobs import Job, JobContext
from server.settings import Settings

SLA_JOB = "reports.sla"
SLA_SECONDS = 15.0  # deadlines have minute resolution


def jobs(settings: Settings) -> list[Job]:
    """The SLA timers: any number of hosts may run them (each timer is claimed with a row lease)."""

    async def setup(ctx: JobContext) -> None:
        events.set_client(ctx.redis)  # escalations appear in the grid feed's stream
        ctx.state[SLA_JOB] = SlaScheduler()

    async def run(ctx: JobContext) -> int:
        scheduler: SlaScheduler = ctx.state[SLA_JOB]
        return await scheduler.run_once()

    async def teardown(ctx: JobContext) -> None:
        events.set_client(None)

    return [Job(SLA_JOB, run=run, every=SLA_SECONDS, setup=setup, teardown=teardown)]
