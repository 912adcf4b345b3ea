"""The devices' background jobs (run by the job host, server/jobs.py)."""

from __future__ import annotations

import asyncio
import time

from miniapp_api.devices import escalation, events, notices, readings_store, valve
from server.jobs import Job, JobContext
from server.settings import Settings

COMMANDS_JOB = "devices.commands"
MQTT_JOB = "devices.mqtt"
ROLLUPS_JOB = "devices.rollups"
HEARTBEAT_JOB = "devices.heartbeat"
HEARTBEAT_EVERY = 30.0
ROLLUPS_SECONDS = 60.0
ESCALATION_JOB = "devices.escalation"
ESCALATION_SECONDS = 15.0
NOTICES_JOB = "devices.notices"
NOTICES_SECONDS = 5.0
PURGE_SECONDS = 3600.0  # old rollups and evidence: once an hour is enough


def jobs(settings: Settings) -> list[Job]:
    return [
        *escalation_jobs(settings),
        *notice_jobs(settings),
        *command_jobs(settings),
        *rollup_jobs(settings),
        *mqtt_jobs(settings),
        *heartbeat_jobs(settings),
    ]


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


def command_jobs(settings: Settings) -> list[Job]:
    """Valve commands past their TTL unconfirmed fail (and raise valve_failed): each command is failed
    under its row lock, so any number of hosts may run this."""

    async def setup(ctx: JobContext) -> None:
        events.set_client(ctx.redis)  # alarms raised here (valve_failed) reach the live alarm board

    async def run(ctx: JobContext) -> int:
        return await valve.expire_due()

    async def teardown(ctx: JobContext) -> None:
        events.set_client(None)

    return [Job(COMMANDS_JOB, run=run, every=10.0, setup=setup, teardown=teardown)]


def mqtt_jobs(settings: Settings) -> list[Job]:
    """With GMID_MQTT_URL: the MQTT ingest and the valve commands' push (any number of workers: the
    subscription is shared, each delivery claimed under the command's row lock)."""
    if not settings.mqtt_url:
        return []
    from miniapp_api.devices.mqtt import MqttService

    async def serve(ctx: JobContext, stop: asyncio.Event) -> None:
        await MqttService(settings.mqtt_url).serve(ctx, stop)

    return [Job(MQTT_JOB, serve=serve)]


def rollup_jobs(settings: Settings) -> list[Job]:
    """Hourly rollups moved from Redis to the database, old rollups and evidence purged: one instance
    at a time (a Redis lease), so two copies of one hour never race."""

    async def run(ctx: JobContext) -> int:
        moved = await readings_store.flush(ctx.redis)
        last = ctx.state.get(f"{ROLLUPS_JOB}.purged", 0.0)
        if time.monotonic() - last >= PURGE_SECONDS:
            await readings_store.purge()
            ctx.state[f"{ROLLUPS_JOB}.purged"] = time.monotonic()
        return moved

    return [Job(ROLLUPS_JOB, run=run, every=ROLLUPS_SECONDS, exclusive=True)]


def heartbeat_jobs(settings: Settings) -> list[Job]:
    """Offline alarms from the heartbeat ZSET: one instance at a time (an exclusive lease), so two hosts
    never judge the same silence twice."""
    from miniapp_api.devices.heartbeat import Heartbeats, intervals_from

    intervals = intervals_from(settings.device_heartbeats)

    async def run(ctx: JobContext) -> int:
        return (await Heartbeats(ctx.redis, intervals).run_once()).total

    return [Job(HEARTBEAT_JOB, run=run, every=HEARTBEAT_EVERY, exclusive=True)]
