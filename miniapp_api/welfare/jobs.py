"""The welfare calculator's background job (run by the job host, server/jobs.py): the push, screening again
the consenting residents whose profile changed or who were screened with an older pack version, and once a
day those whose answers the calendar may have changed (a birthday, a policy starting or ending, a parameter
taking a new value)."""

from __future__ import annotations

from miniapp_api.welfare import push, service
from server.jobs import Job, JobContext
from server.settings import Settings

RESCREEN_JOB = "welfare.rescreen"
RESCREEN_SECONDS = 10.0


def jobs(settings: Settings) -> list[Job]:
    """One pass at a time in the whole deployment (a lease): a person is never screened twice at once."""

    async def run(ctx: JobContext) -> int:
        done = await push.rescreen_due()
        today = service.today()
        if ctx.state.get("day") != today:  # the daily pass (again after a restart of the host: harmless)
            dated = await push.rescreen_dated(on=today)
            ctx.state["day"] = today  # only after a whole pass: a failed one is tried again at the next run
            done.screened += dated.screened
        return done.screened

    return [Job(RESCREEN_JOB, run=run, every=RESCREEN_SECONDS, exclusive=True, lease_seconds=300)]
