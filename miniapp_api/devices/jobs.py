"""The devices' background jobs (run by the job host, server/jobs.py)."""

from __future__ import annotations

from miniapp_api.devices import escalation, notices
from server.jobs import Job, JobContext
from server.settings import Settings

ESCALATION_JOB = "devices.escalation"
ESCALATION_SECONDS = 15.0
NOTICES_JOB = "devices.notices"
NOTICES_SECONDS = 5.0


def configure(settings: Settings) -> None:
    """The escalation minutes and the grouping window, in the app and in the worker."""
    escalation.configure_from(settings.device_escalation)
    notices.configure(settings.device_group_seconds)


def escalation_jobs(settings: Settings) -> list[Job]:
    """Escalation steps of unacknowledged alarms: any number of hosts (each step is claimed with a row lease)."""

    async def setup(ctx: JobContext) -> None:
        configure(ctx.settings)
        ctx.state[ESCALATION_JOB] = escalation.EscalationScheduler()

    async def run(ctx: JobContext) -> int:
        scheduler: escalation.EscalationScheduler = ctx.state[ESCALATION_JOB]
        return await scheduler.run_once()

    return [Job(ESCALATION_JOB, run=run, every=ESCALATION_SECONDS, setup=setup)]


def notice_jobs(settings: Settings) -> list[Job]:
    """Summaries of the grouped alarm messages whose window ended (each window is flushed by one
    conditional UPDATE, whatever instance runs it)."""

    async def setup(ctx: JobContext) -> None:
        configure(ctx.settings)
        ctx.state[NOTICES_JOB] = notices.NoticeFlusher()

    async def run(ctx: JobContext) -> int:
        flusher: notices.NoticeFlusher = ctx.state[NOTICES_JOB]
        return await flusher.run_once()

    return [Job(NOTICES_JOB, run=run, every=NOTICES_SECONDS, setup=setup)]


def jobs(settings: Settings) -> list[Job]:
    return [*escalation_jobs(settings), *notice_jobs(settings)]
