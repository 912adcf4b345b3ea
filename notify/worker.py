"""The notification dispatcher as a background job (server/jobs.py), and how it is built from the
settings: the channels with credentials, the policy, the console channel standing in for none."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis

from notify import reach
from notify.channels.base import Channel
from notify.channels.console import ConsoleChannel
from notify.channels.email import EmailChannel
from notify.channels.sms import SmsChannel
from notify.channels.wechat import WeChatChannel
from notify.dispatcher import Dispatcher, Policy
from server.jobs import Job, JobContext
from server.settings import Settings

log = logging.getLogger("gmid.notify.worker")

DISPATCHER_JOB = "notify.dispatcher"


def build_channels(settings: Settings, redis_url: str) -> dict[str, Channel]:
    """The channels with credentials in the settings; none means the console stands in."""
    channels: dict[str, Channel] = {}
    wechat = WeChatChannel.from_settings(settings, redis_url)
    if wechat is not None:
        channels["wechat"] = wechat
    sms = SmsChannel.from_settings(settings)
    if sms is not None:
        channels["sms"] = sms
    email = EmailChannel.from_settings(settings)
    if email is not None:
        channels["email"] = email
    return channels


def make_dispatcher(settings: Settings, client: aioredis.Redis, redis_url: str) -> Dispatcher:
    # What the configured channels cannot deliver, said once at start-up (one line per template and
    # recipient kind), not found later as dead rows.
    reach.log_unreachable(settings)
    if settings.sms_secret_id and not settings.sms_callback_token:
        # Without Tencent's status receipts an SMS whose send may have gone out is resent after its
        # wait, and undelivered texts never move on to email.
        log.warning("SMS is on without GMID_SMS_CALLBACK_TOKEN: delivery receipts cannot be received")
    return Dispatcher(
        channels=build_channels(settings, redis_url),
        redis=client,
        policy=Policy.from_settings(settings),
        console=ConsoleChannel(),
    )


def dispatcher_of(ctx: JobContext) -> Dispatcher:
    dispatcher: Dispatcher = ctx.state[DISPATCHER_JOB]
    return dispatcher


def jobs(settings: Settings) -> list[Job]:
    """The dispatcher: a service (it claims rows with leases, so any number run at once)."""

    async def setup(ctx: JobContext) -> None:
        ctx.state[DISPATCHER_JOB] = make_dispatcher(ctx.settings, ctx.redis, ctx.redis_url)

    async def serve(ctx: JobContext, stop: asyncio.Event) -> None:
        await dispatcher_of(ctx).run(stop)

    async def once(ctx: JobContext) -> int:
        return await dispatcher_of(ctx).run_once()

    async def teardown(ctx: JobContext) -> None:
        for channel in dispatcher_of(ctx).channels.values():
            await channel.aclose()

    return [Job(DISPATCHER_JOB, serve=serve, once=once, setup=setup, teardown=teardown)]
