"""A message whose recipient's only channel is not configured (a police duty phone with SMS unset) no
longer goes dead in silence: it is said at start-up (one warning line per template and recipient kind),
listed in /readyz (which stays ready), marked on the row, and counted in /metrics by template and reason."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.roles import Role
from notify import reach
from notify.dispatcher import Dispatcher
from notify.models import Attempt, Notification, Status
from notify.worker import make_dispatcher
from server.settings import Settings
from tests.miniapp_api.ebikes.conftest import register, user
from tests.support.notify_fixtures import app_with_channels

POLICE_PHONE = "13700000001"
ALARM = {"lost_at": "2026-11-25T09:30:00+08:00", "location": "光明大街与华夏路口", "description": "白色雅迪"}


@pytest.fixture
def no_sms(notify_settings: Settings) -> Settings:
    """WeChat and email as configured; SMS not."""
    return notify_settings.replace(sms_secret_id="", sms_secret_key="", sms_sdk_app_id="")


@pytest.fixture
def app(no_sms: Settings) -> Sanic:
    return app_with_channels(no_sms)


@pytest.fixture
async def sms_less_dispatcher(running: object, no_sms: Settings, redis_url: str) -> AsyncIterator[Dispatcher]:
    client = aioredis.Redis.from_url(redis_url)
    made = make_dispatcher(no_sms, client, redis_url)
    yield made
    for channel in made.channels.values():
        await channel.aclose()
    await client.aclose()


def test_what_cannot_be_delivered_is_worked_out_from_the_settings(notify_settings: Settings) -> None:
    no_sms = notify_settings.replace(sms_secret_id="")
    found = {(u.template, u.recipients): u.reason for u in reach.unreachable(no_sms)}
    assert found[("ebike.stolen", "phone")] == "sms_not_configured"
    assert ("ebike.stolen", "wechat") not in found  # WeChat has its template id
    assert found[("identity.id_number_changed", "wechat")] == "wechat_no_template_id"
    # Every template has the phone problem with SMS off; nothing else is said of SMS.
    assert {t for (t, kind), r in found.items() if kind == "phone"} == set(reach.templates.TEMPLATES)

    with_sms = notify_settings
    found = {(u.template, u.recipients): u.reason for u in reach.unreachable(with_sms)}
    assert found[("checkpoint.fever", "phone")] == "sms_no_template_id"
    assert ("ebike.stolen", "phone") not in found

    no_mini_program = notify_settings.replace(wechat_appid="", wechat_secret="")
    found = {(u.template, u.recipients): u.reason for u in reach.unreachable(no_mini_program)}
    assert found[("ebike.stolen", "wechat")] == "wechat_miniprogram_not_configured"
    assert ("sensor.alarm", "wechat") not in found  # an official-account template: that account is there

    console = notify_settings.replace(
        wechat_appid="", wechat_secret="", wechat_oa_appid="", wechat_oa_secret="", sms_secret_id="", smtp_host=""
    )
    assert reach.unreachable(console) == []  # the console stands in for everything
    assert reach.readiness(console)["mode"] == "console"


async def test_start_up_says_so_once_per_template_and_recipient_kind(
    no_sms: Settings, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    with caplog.at_level(logging.WARNING, logger="gmid.notify"):
        made = make_dispatcher(no_sms, client, redis_url)
    for channel in made.channels.values():
        await channel.aclose()
    await client.aclose()
    lines = [r.getMessage() for r in caplog.records if "cannot reach recipients" in r.getMessage()]
    expected = reach.unreachable(no_sms)
    assert len(lines) == len(expected) == len({(u.template, u.recipients) for u in expected})
    assert any("ebike.stolen" in line and "a mobile phone" in line and "sms_not_configured" in line for line in lines)
    assert not any(re.search(r"1[3-9]\d{9}", line) for line in lines)  # nothing personal


async def test_readyz_lists_what_cannot_be_delivered_and_stays_ready(app: Sanic, client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["checks"] == {"database": "ok", "redis": "ok"}
    assert body["notify"]["mode"] == "channels" and body["notify"]["channels"] == ["wechat", "email"]
    assert {"template": "ebike.stolen", "recipients": "phone", "reason": "sms_not_configured"} in body["notify"][
        "unreachable"
    ]


async def test_a_police_duty_phone_without_sms_is_marked_and_counted(
    app: Sanic, client: httpx.AsyncClient, sms_less_dispatcher: Dispatcher
) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    duty_phone = await user(app, Role.POLICE, node="GM01", phone=POLICE_PHONE)  # no WeChat: a phone only
    raised = await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=ALARM, headers=owner.headers)
    assert raised.status_code == 201, raised.text
    await sms_less_dispatcher.run_once()

    [row] = await Notification.filter(account_id=duty_phone.account.id, template="ebike.stolen")
    assert row.status is Status.DEAD
    assert row.last_error == "unreachable: sms_not_configured"
    [note] = await Attempt.filter(notification_id=row.id, outcome="unreachable")
    assert note.code == "sms_not_configured" and POLICE_PHONE not in note.detail
    owner_row = await Notification.get(account_id=owner.account.id, template="ebike.stolen")
    assert owner_row.status is Status.SENT  # WeChat carried the owner's

    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    line = re.search(
        r'^gmid_notify_unreachable\{template="ebike.stolen",reason="sms_not_configured"\} (\d+)$',
        metrics.text,
        re.MULTILINE,
    )
    assert line is not None and line.group(1) == "1", metrics.text[-2000:]
    assert "# TYPE gmid_notify_unreachable gauge" in metrics.text
    assert POLICE_PHONE not in metrics.text

    # Once retried (say after SMS is configured) and no longer dead, it is no longer counted.
    await Notification.filter(id=row.id).update(status=Status.PENDING)
    metrics = await client.get("/metrics")
    assert 'gmid_notify_unreachable{template="ebike.stolen"' not in metrics.text
