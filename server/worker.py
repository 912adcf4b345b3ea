"""The background worker process: every feature's jobs (server/jobs.py) in one host.

``gmid worker`` runs it apart from the web instances (several may run, on several machines); ``gmid
serve`` runs one beside its web workers (Sanic's manager restarts it if it dies) unless
``GMID_NOTIFY_WORKER=false``. Features register their jobs here, the way their blueprints are
registered in server/app.py. The process opens its own database, vault and Redis connections and stops
cleanly on SIGTERM or SIGINT, finishing the work in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Collection

from identity import pii
from server import db
from server import redis as gmid_redis
from server.jobs import Job, JobContext, JobHost
from server.logs import configure_logging
from server.settings import Settings

JobSource = Callable[[Settings], list[Job]]


def job_sources() -> list[JobSource]:
    from miniapp_api.clinic.jobs import jobs as clinic_jobs
    from miniapp_api.devices.jobs import jobs as device_jobs
    from miniapp_api.jobs.jobs import jobs as job_matching_jobs
    from miniapp_api.reports.jobs import jobs as report_jobs
    from miniapp_api.welfare.jobs import jobs as welfare_jobs
    from miniapp_api.wristbands.jobs import jobs as wristband_jobs
    from notify.worker import jobs as notify_jobs

    return [notify_jobs, report_jobs, clinic_jobs, device_jobs, wristband_jobs, welfare_jobs, job_matching_jobs]


def all_jobs(settings: Settings, only: Collection[str] | None = None) -> list[Job]:
    """Every registered job (or those named in ``only``; an unknown name is a ValueError)."""
    found = [job for source in job_sources() for job in source(settings)]
    if only:
        unknown = sorted(set(only) - {job.name for job in found})
        if unknown:
            raise ValueError(f"no such job: {', '.join(unknown)} (known: {', '.join(j.name for j in found)})")
        found = [job for job in found if job.name in only]
    return found


async def run_worker(
    settings: Settings, *, stop: asyncio.Event | None = None, once: bool = False, only: Collection[str] | None = None
) -> JobContext:
    """Run the jobs until stopped (or, with ``once``, each once: what is due now). Returns the context,
    whose ``state`` holds what the jobs kept (e.g. the dispatcher and its count of sends)."""
    jobs = all_jobs(settings, only)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(signum, stop.set)
    embedded = None
    if settings.uses_embedded_redis:
        candidate = gmid_redis.embedded_for(settings)
        if candidate.start():
            embedded = candidate
    redis_url = gmid_redis.redis_url_for(settings)
    client = gmid_redis.make_client(redis_url)
    pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))
    await db.open_db(settings)
    ctx = JobContext(settings=settings, redis=client, redis_url=redis_url)
    host = JobHost(jobs, ctx)
    try:
        if once:
            await host.run_once()
        else:
            await host.run(stop)
        return ctx
    finally:
        await db.close_db()
        await client.aclose()
        pii.set_vault(None)
        if embedded is not None:
            embedded.stop()


def serve_process(settings: Settings) -> None:
    """Entry point of the process Sanic's manager runs beside the web workers."""
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings))
