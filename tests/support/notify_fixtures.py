"""Fixtures for tests that send notifications: the loopback WeChat and SMS fakes, a real SMTP server
(aiosmtpd), settings pointing at them, and a dispatcher. A test package uses them by overriding
``app`` with ``app_with_channels`` (see tests/notify/conftest.py); tests/conftest.py loads this module
as a plugin."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from notify.dispatcher import Dispatcher
from notify.models import Attempt, Notification, Status
from notify.worker import make_dispatcher
from server.settings import Settings
from tests.support.sms_fake import SmsFake
from tests.support.smtp_server import SmtpServer
from tests.support.wechat_fake import WeChatFake

WECHAT_TEMPLATES = (
    "ebike.stolen=TPL_STOLEN,ebike.sighted=TPL_SIGHTED,report.updated=TPL_REPORT,"
    "sensor.alarm=TPL_SENSOR,checkpoint.fever=TPL_FEVER,notify.test=TPL_TEST,ebike.found=TPL_FOUND,"
    "ebike.transferred=TPL_TRANSFER,police.lookup_limit=TPL_LIMIT,report.overdue=TPL_OVERDUE"
)
SMS_TEMPLATES = (
    "ebike.stolen=1001,ebike.sighted=1002,report.updated=1003,sensor.alarm=1004,ebike.found=1005,"
    "ebike.transferred=1006,police.lookup_limit=1007,notify.test=1009"
)


@pytest.fixture
def wechat() -> Iterator[WeChatFake]:
    with WeChatFake() as fake:
        yield fake


@pytest.fixture
def sms() -> Iterator[SmsFake]:
    with SmsFake() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def channel_settings(settings: Settings, wechat: WeChatFake, sms: SmsFake, smtp: SmtpServer) -> Settings:
    return settings.replace(
        wechat_appid=wechat.appid,
        wechat_secret=wechat.secret,
        wechat_oa_appid=wechat.appid,  # one fake plays both accounts
        wechat_oa_secret=wechat.secret,
        wechat_oa_token="oa-callback-token",
        wechat_mp_token="mp-push-token",
        wechat_api_base_url=wechat.base_url,
        wechat_timeout=1,
        sms_secret_id=sms.secret_id,
        sms_secret_key=sms.secret_key,
        sms_sdk_app_id=sms.sdk_app_id,
        sms_sign_name=sms.sign_name,
        sms_endpoint=sms.base_url.rstrip("/"),
        sms_timeout=1,
        sms_callback_token="sms-callback-token-0123456789",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_from="noreply@gm.example.cn",
        smtp_timeout=2,
        notify_lease_seconds=10,
        notify_backoff_base=1,
        notify_backoff_cap=4,
        notify_max_attempts=3,
        notify_sms_indoubt_seconds=1,
        notify_wechat_indoubt_seconds=0,  # tests of the wait for the send-result push set it
        notify_wechat_templates=WECHAT_TEMPLATES,
        notify_sms_templates=SMS_TEMPLATES,
        notify_worker=False,
    )


@pytest.fixture
def notify_settings(settings: Settings, wechat: WeChatFake, sms: SmsFake, smtp: SmtpServer) -> Settings:
    return channel_settings(settings, wechat, sms, smtp)


def app_with_channels(notify_settings: Settings) -> Sanic:
    from server.app import create_app

    return create_app(notify_settings)


@pytest.fixture
async def dispatcher(running: object, notify_settings: Settings, redis_url: str) -> AsyncIterator[Dispatcher]:
    client = aioredis.Redis.from_url(redis_url)
    made = make_dispatcher(notify_settings, client, redis_url)
    yield made
    for channel in made.channels.values():
        await channel.aclose()
    await client.aclose()


async def make_due(*rows: Notification) -> None:
    """Bring waiting rows' next attempt forward to now (the tests do not wait out the backoff)."""
    now = dt.datetime.now(dt.UTC)
    ids = [row.id for row in rows] or [r.id for r in await Notification.filter(status=Status.FAILED)]
    await Notification.filter(id__in=ids).update(next_attempt_at=now - dt.timedelta(seconds=1))


async def drain(dispatcher: Dispatcher, rounds: int = 20) -> None:
    """Process until nothing is due (retries made due at once)."""
    for _ in range(rounds):
        await make_due()
        if not await dispatcher.run_once():
            return


async def reload(row: Notification) -> Notification:
    return await Notification.get(id=row.id)


async def outcomes(row: Notification) -> list[tuple[str, str, str]]:
    """The row's attempts, oldest first: (channel, outcome, code)."""
    return [(a.channel, a.outcome, a.code) for a in await Attempt.filter(notification_id=row.id).order_by("id")]
