"""The dispatcher as a process: beside the web workers (``app.manager.manage``) or alone
(``gmid notify-worker``). It opens its own database, vault and Redis connections and stops cleanly on
SIGTERM or SIGINT, finishing the sends in flight."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import redis.asyncio as aioredis

from identity import pii
from notify import reach
from notify.channels.base import Channel
from notify.channels.console import ConsoleChannel
from notify.channels.email import EmailChannel
from notify.channels.sms import SmsChannel
from notify.channels.wechat import WeChatChannel
from notify.dispatcher import Dispatcher, Policy
from server import db
from server import redis as gmid_redis
from server.logs import configure_logging
from server.settings import Settings

log = logging.getLogger("gmid.notify.worker")


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


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None, once: bool = False) -> int:
    """Dispatch until stopped (or, with ``once``, until nothing is due). Returns the number sent."""
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
    dispatcher = make_dispatcher(settings, client, redis_url)
    try:
        if once:
            while not stop.is_set() and await dispatcher.run_once():
                pass
        else:
            # The same background process keeps the reports' SLA timers (imported here: notify does
            # not depend on feature packages at import time).
            from miniapp_api.clinic import analysis
            from miniapp_api.reports import events
            from miniapp_api.reports.sla import SlaScheduler

            events.set_client(client)
            # ... and analyses the reports the web processes missed (classifier, duplicate groups).
            sweeper = analysis.ClinicSweeper(analysis.cache_for(settings))
            await asyncio.gather(dispatcher.run(stop), SlaScheduler().run(stop), sweeper.run(stop))
        return dispatcher.sent_count
    finally:
        for channel in dispatcher.channels.values():
            await channel.aclose()
        await db.close_db()
        await client.aclose()
        pii.set_vault(None)
        if embedded is not None:
            embedded.stop()


def serve_process(settings: Settings) -> None:
    """Entry point of the process Sanic's manager runs beside the web workers."""
    configure_logging(settings.log_level)
    asyncio.run(run_worker(settings))
