"""The devices' background jobs (run by the job host, server/jobs.py)."""

from __future__ import annotations

import asyncio

from miniapp_api.devices import events, valve
from server.jobs import Job, JobContext
from server.settings import Settings

COMMANDS_JOB = "devices.commands"
MQTT_JOB = "devices.mqtt"


def jobs(settings: Settings) -> list[Job]:
    return [*command_jobs(settings), *mqtt_jobs(settings)]


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
