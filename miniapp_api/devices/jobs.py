"""The devices' background jobs (run by the job host, server/jobs.py)."""

from __future__ import annotations

from miniapp_api.devices import valve
from server.jobs import Job, JobContext
from server.settings import Settings

COMMANDS_JOB = "devices.commands"


def jobs(settings: Settings) -> list[Job]:
    return [*command_jobs(settings)]


def command_jobs(settings: Settings) -> list[Job]:
    """Valve commands past their TTL unconfirmed fail (and raise valve_failed): each command is failed
    under its row lock, so any number of hosts may run this."""

    async def run(ctx: JobContext) -> int:
        return await valve.expire_due()

    return [Job(COMMANDS_JOB, run=run, every=10.0)]
