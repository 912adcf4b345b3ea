"""The dispatcher against the loopback WeChat and SMS fakes and a real SMTP server: delivery, retry,
fallback, dead letters, token refresh, limits, dedup, leases and wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import sqlite3
import threading
import time
from typing import Any

import pytest
import redis.asyncio as aioredis

from notify import outbox
from notify.channels.base import Message, Recipient
from notify.dispatcher import Dispatcher, Policy, backoff
from notify.models import Attempt, Notification, Status
from notify.worker import make_dispatcher
from server.settings import Settings
from tests.support.notify_fixtures import drain, make_due, outcomes, reload
from tests.support.sms_fake import SmsFake
from tests.support.smtp_server import SmtpServer
from tests.support.wechat_fake import WeChatFake

STOLEN = {
    "bike": "雅迪 白色",
    "lost_at": "2026-11-25T02:30:00+00:00",
    "location": "光明大街与华夏路口",
    "alarm_id": "al1",
}
PHONE = "13800000001"


async def stolen(key: str, **recipient: Any) -> Notification:
    return await outbox.enqueue(template="ebike.stolen", data=STOLEN, idempotency_key=key, **recipient)


# Delivery -------------------------------------------------------------------------------------------


async def test_subscribe_message_reaches_wechat_with_the_template_fields(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    row = await stolen("k1", openid="o_owner", phone=PHONE)
    assert await dispatcher.run_once() == 1
    [message] = wechat.sent_messages("subscribe")
    assert message["touser"] == "o_owner"
    assert message["template_id"] == "TPL_STOLEN"
    assert message["page"] == "pages/ebike/alarm?id=al1"
    assert message["data"]["time2"] == {"value": "2026-11-25 10:30"}  # Beijing time
    assert message["data"]["thing3"]["value"] == "光明大街与华夏路口"
    assert message["miniprogram_state"] == "formal"
    row = await reload(row)
    assert row.status is Status.SENT
    assert row.channel == "wechat"
    assert row.provider_message_id is not None
    assert row.lease_owner is None
    assert await outcomes(row) == [("wechat", "sent", "ok")]


async def test_template_message_carries_a_client_msg_id_and_the_mini_program_link(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    row = await outbox.enqueue(
        template="sensor.alarm",
        data={"device": "燃气报警器", "place": "凤凰社区12栋", "level": "高", "at": "2026-11-25T02:30:00Z"},
        idempotency_key="sensor:1",
        oa_openid="oa_staff",
    )
    await dispatcher.run_once()
    [message] = wechat.sent_messages("template")
    assert message["client_msg_id"] == row.public_id
    assert message["miniprogram"] == {"appid": wechat.appid, "pagepath": "pages/device/alarm"}
    assert message["data"]["thing1"] == {"value": "燃气报警器"}
    assert (await reload(row)).status is Status.SENT


async def test_sms_and_email_channels_deliver(dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer) -> None:
    by_sms = await stolen("k-sms", phone=PHONE, channels=["sms"])
    by_mail = await stolen("k-mail", email="owner@example.cn", channels=["email"])
    await dispatcher.run_once()
    [text] = sms.sent
    assert text.phone == "+86" + PHONE
    assert text.template_id == "1001"
    assert text.params == ["雅迪 白色", "2026-11-25 10:30", "光明大街与华夏路口"]
    assert text.session_context == by_sms.public_id
    assert (await reload(by_sms)).provider_message_id == text.serial_no
    [mail] = smtp.wait_for(1)
    assert mail["Subject"] == "电动车被盗报警：雅迪 白色"
    assert list(mail.rcpt_tos) == ["owner@example.cn"]
    assert (await reload(by_mail)).status is Status.SENT


# Retry, fallback, dead letters ---------------------------------------------------------------------


async def test_a_busy_wechat_is_retried_after_a_backoff(dispatcher: Dispatcher, wechat: WeChatFake) -> None:
    wechat.fail_next("/cgi-bin/message/subscribe/send", -1)
    row = await stolen("k1", openid="o_owner")
    before = dt.datetime.now(dt.UTC)
    await dispatcher.run_once()
    row = await reload(row)
    assert row.status is Status.FAILED
    assert row.attempts == 1
    assert row.next_attempt_at > before  # waits, it is not hammered
    assert row.last_error.startswith("wechat wechat_-1")
    assert await dispatcher.run_once() == 0  # not due yet
    await make_due(row)
    await dispatcher.run_once()
    row = await reload(row)
    assert row.status is Status.SENT
    assert len(wechat.sent_messages()) == 1
    assert await outcomes(row) == [("wechat", "retry", "wechat_-1"), ("wechat", "sent", "ok")]


@pytest.mark.parametrize(("errcode", "at_least"), [(45009, 3600), (45011, 60)])
async def test_quota_errors_wait_at_least_what_wechat_asks(
    dispatcher: Dispatcher, wechat: WeChatFake, errcode: int, at_least: int
) -> None:
    wechat.fail_next("/cgi-bin/message/subscribe/send", errcode)
    row = await stolen("k1", openid="o_owner")
    start = dt.datetime.now(dt.UTC)
    await dispatcher.run_once()
    row = await reload(row)
    assert row.status is Status.FAILED
    assert (row.next_attempt_at - start).total_seconds() >= at_least - 1


async def test_wechat_timeout_and_http_errors_are_retried(dispatcher: Dispatcher, wechat: WeChatFake) -> None:
    wechat.delay_next("/cgi-bin/message/subscribe/send", 2.5)  # wechat_timeout is 1 s
    first = await stolen("k1", openid="o_a")
    await dispatcher.run_once()
    assert (await reload(first)).last_error.startswith("wechat wechat_timeout")
    await drain(dispatcher)
    assert (await reload(first)).status is Status.SENT
    wechat.fail_next_http("/cgi-bin/message/subscribe/send", 502)
    second = await stolen("k2", openid="o_b")
    await dispatcher.run_once()
    assert (await reload(second)).last_error.startswith("wechat wechat_http_502")
    await drain(dispatcher)
    assert (await reload(second)).status is Status.SENT


async def test_an_expired_token_is_refreshed_once_and_the_message_goes_in_the_same_attempt(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    await stolen("warm", openid="o_a")
    await dispatcher.run_once()
    fetches = wechat.token_fetches
    wechat.expire_tokens()
    row = await stolen("k1", openid="o_b")
    await dispatcher.run_once()
    row = await reload(row)
    assert row.status is Status.SENT
    assert row.total_attempts == 1
    assert wechat.token_fetches == fetches + 1
    assert [c.errcode for c in wechat.calls_to("/cgi-bin/message/subscribe/send")][-2:] == [42001, 0]


async def test_many_senders_share_one_token_refresh(dispatcher: Dispatcher, wechat: WeChatFake) -> None:
    for n in range(30):
        await stolen(f"k{n}", openid=f"o_{n}")
    await dispatcher.run_once()
    assert len(wechat.sent_messages()) == 30
    assert wechat.token_fetches == 1  # single flight: sixteen threads, one stable_token call


@pytest.mark.parametrize("errcode", [43101, 40003, 47003])
async def test_permanent_wechat_errors_fall_back_to_sms(
    dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake, errcode: int, caplog: pytest.LogCaptureFixture
) -> None:
    wechat.fail_next("/cgi-bin/message/subscribe/send", errcode)
    row = await stolen("k1", openid="o_owner", phone=PHONE)
    with caplog.at_level(logging.INFO):
        await dispatcher.run_once()
    row = await reload(row)
    assert row.status is Status.SENT
    assert row.channel == "sms"
    assert len(sms.sent) == 1
    assert await outcomes(row) == [("wechat", "permanent", f"wechat_{errcode}"), ("sms", "sent", "ok")]
    # Bad template data is our fault: an operator hears about it.
    assert any("needs an operator" in r.getMessage() for r in caplog.records) == (errcode == 47003)
    assert all(PHONE not in r.getMessage() for r in caplog.records)


async def test_retries_run_out_then_the_next_channel_then_dead(
    dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake, smtp: SmtpServer
) -> None:
    wechat.fail_next("/cgi-bin/message/subscribe/send", -1, times=3)  # max attempts 3
    sms.fail_number("+86" + PHONE, "FailedOperation.PhoneNumberInBlacklist")
    smtp.reject_recipient("owner@example.cn", 550)
    row = await stolen("k1", openid="o_owner", phone=PHONE, email="owner@example.cn")
    await drain(dispatcher)
    row = await reload(row)
    assert row.status is Status.DEAD
    assert row.last_error.startswith("email smtp_550")
    assert await outcomes(row) == [
        ("wechat", "retry", "wechat_-1"),
        ("wechat", "retry", "wechat_-1"),
        ("wechat", "retry", "wechat_-1"),
        ("sms", "permanent", "FailedOperation.PhoneNumberInBlacklist"),
        ("email", "permanent", "smtp_550"),
    ]
    assert wechat.sent_messages() == [] and sms.sent == [] and smtp.messages == []


async def test_sms_transient_failure_is_retried_and_a_permanent_one_falls_back_to_email(
    dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer
) -> None:
    sms.fail_next("InternalError.Timeout")
    first = await stolen("k1", phone=PHONE, channels=["sms", "email"], email="a@example.cn")
    await dispatcher.run_once()
    assert (await reload(first)).status is Status.FAILED
    await drain(dispatcher)
    assert (await reload(first)).channel == "sms"
    sms.fail_number("+8613800000002", "InvalidParameterValue.IncorrectPhoneNumber")
    second = await stolen("k2", phone="13800000002", channels=["sms", "email"], email="b@example.cn")
    await drain(dispatcher)
    second = await reload(second)
    assert (second.status, second.channel) == (Status.SENT, "email")
    assert [list(m.rcpt_tos) for m in smtp.wait_for(1)] == [["b@example.cn"]]


async def test_a_template_message_is_refused_without_an_official_account_openid(dispatcher: Dispatcher) -> None:
    # checkpoint.fever is an official-account template message: a mini-program openid cannot receive it,
    # so enqueue refuses in the caller's transaction instead of storing a row that would go dead.
    with pytest.raises(ValueError, match="no address"):
        await outbox.enqueue(
            template="checkpoint.fever",
            data={"place": "A卡口", "at": "2026-11-25T00:00:00Z"},
            idempotency_key="f1",
            openid="o_x",
        )
    assert not await Notification.filter(idempotency_key="f1").exists()


async def test_a_row_with_no_reachable_channel_is_dead(dispatcher: Dispatcher) -> None:
    # No SMS template id is configured for checkpoint.fever: the phone is an address, but no channel can carry it.
    row = await outbox.enqueue(
        template="checkpoint.fever",
        data={"place": "A卡口", "at": "2026-11-25T00:00:00Z"},
        idempotency_key="f1",
        phone="13800000009",
    )
    await dispatcher.run_once()
    assert (await reload(row)).status is Status.DEAD


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = Policy(backoff_base=2, backoff_cap=60)
    assert [backoff(n, policy, rand=lambda: 0.0) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert [backoff(n, policy, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff(30, policy, rand=lambda: 1.0) == 60


# Limits and dedup ----------------------------------------------------------------------------------


async def test_per_recipient_sms_limit_falls_back_or_waits(
    notify_settings: Settings, running: object, redis_url: str, sms: SmsFake, smtp: SmtpServer
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    limited = make_dispatcher(notify_settings.replace(notify_recipient_limits="sms=2/hour"), client, redis_url)
    try:
        rows = [await stolen(f"k{n}", phone=PHONE, channels=["sms"], event_key=f"e{n}") for n in range(3)]
        await limited.run_once()
        assert len(sms.sent) == 2
        states = [(await reload(r)).status for r in rows]
        assert sorted(states) == [Status.FAILED, Status.SENT, Status.SENT]
        waiting = next(r for r in [await reload(r) for r in rows] if r.status is Status.FAILED)
        assert waiting.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
        assert waiting.attempts == 0  # waiting for the limit is not a failed attempt
        with_mail = await stolen("k-mail", phone=PHONE, email="m@example.cn", channels=["sms", "email"])
        await limited.run_once()
        assert (await reload(with_mail)).channel == "email"
        assert len(smtp.wait_for(1)) == 1
    finally:
        for channel in limited.channels.values():
            await channel.aclose()
        await client.aclose()


async def test_the_same_event_to_the_same_person_on_the_same_channel_goes_once(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    first = await stolen("police-1:alarm-9", openid="o_police", event_key="alarm-9")
    again = await stolen("police-1:alarm-9:resend", openid="o_police", event_key="alarm-9")
    other = await stolen("police-2:alarm-9", openid="o_police2", event_key="alarm-9")
    await dispatcher.run_once()
    assert sorted(m["touser"] for m in wechat.sent_messages()) == ["o_police", "o_police2"]
    # Whichever of the two rows went first, the other is marked sent as its duplicate.
    pair = [await reload(first), await reload(again)]
    assert all(row.status is Status.SENT for row in pair)
    [original] = [row for row in pair if row.provider_message_id is not None]
    [duplicate] = [row for row in pair if row.provider_message_id is None]
    assert f"duplicate of {original.public_id}" in (await Attempt.get(notification_id=duplicate.id)).detail
    assert (await reload(other)).provider_message_id is not None


async def test_enqueue_with_the_same_key_returns_the_first_row(dispatcher: Dispatcher, wechat: WeChatFake) -> None:
    first = await stolen("same", openid="o_a")
    second = await stolen("same", openid="o_a")
    assert first.public_id == second.public_id
    assert await Notification.all().count() == 1


# Several dispatchers, leases ---------------------------------------------------------------------


async def test_concurrent_dispatchers_never_send_a_row_twice(
    notify_settings: Settings, running: object, redis_url: str, wechat: WeChatFake
) -> None:
    for n in range(120):
        await stolen(f"k{n}", openid=f"o_{n}", event_key=f"e{n}")
    client = aioredis.Redis.from_url(redis_url)
    # A generous WeChat timeout: on a loaded machine a 1 s timeout would make a retry that WeChat's
    # subscribe messages (no idempotency key) could deliver twice; this test is about the claims.
    roomy = notify_settings.replace(notify_batch_size=7, wechat_timeout=10, notify_lease_seconds=60)
    workers = [make_dispatcher(roomy, client, redis_url) for _ in range(4)]
    for n, worker in enumerate(workers):
        worker.worker = f"test-{n}"
    try:
        for _ in range(60):
            await make_due()  # a retried row comes back at once
            claimed = await asyncio.gather(*(w.run_once() for w in workers))
            if not any(claimed) and await Notification.filter(status=Status.SENT).count() == 120:
                break
    finally:
        for worker in workers:
            for channel in worker.channels.values():
                await channel.aclose()
        await client.aclose()
    touched = sorted(m["touser"] for m in wechat.sent_messages())
    assert touched == sorted(f"o_{n}" for n in range(120))
    assert await Notification.filter(status=Status.SENT).count() == 120
    assert sum(w.sent_count for w in workers) == 120
    assert sum(1 for w in workers if w.sent_count) > 1  # the work was shared


async def test_a_row_whose_dispatcher_died_is_taken_again_after_its_lease(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    row = await outbox.enqueue(
        template="sensor.alarm",
        data={"device": "烟感", "place": "12栋", "level": "高", "at": "2026-11-25T02:30:00Z"},
        idempotency_key="s1",
        oa_openid="oa_1",
    )
    # A dispatcher claims it, sends it, and dies before recording anything.
    dead_worker = Dispatcher(channels=dispatcher.channels, redis=dispatcher.redis, policy=dispatcher.policy)
    dead_worker.worker = "dead"
    [claimed], _ = await dead_worker.claim()
    # What a dispatcher writes before it calls the provider: the mark that a send started.
    await Notification.filter(id=row.id).update(sending_channel="wechat", send_started_at=dt.datetime.now(dt.UTC))
    await dead_worker.channels["wechat"].send(
        Message(
            notification_id=claimed.public_id,
            template=claimed.template,
            data={"device": "烟感", "place": "12栋", "level": "高", "at": "2026-11-25T02:30:00Z"},
            recipient=Recipient(oa_openid="oa_1"),
            attempt=1,
        )
    )
    assert await dispatcher.run_once() == 0  # still leased
    await Notification.filter(id=row.id).update(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert await dispatcher.run_once() == 1
    row = await reload(row)
    assert row.status is Status.SENT
    # Sent again with the same client_msg_id: WeChat drops the repeat, the officer gets one message.
    assert len(wechat.sent_messages("template")) == 1
    assert [o[1] for o in await outcomes(row)] == ["in_doubt", "sent"]


async def test_an_in_doubt_sms_waits_for_its_receipt_before_sending_again(dispatcher: Dispatcher, sms: SmsFake) -> None:
    row = await stolen("k1", phone=PHONE, channels=["sms"])
    dead_worker = Dispatcher(channels=dispatcher.channels, redis=dispatcher.redis, policy=dispatcher.policy)
    dead_worker.worker = "dead"
    await dead_worker.claim()
    # It started the send (the mark is written before the provider is called) and died: did it leave?
    await Notification.filter(id=row.id).update(sending_channel="sms", send_started_at=dt.datetime.now(dt.UTC))
    await Notification.filter(id=row.id).update(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    await dispatcher.run_once()
    row = await reload(row)
    assert (row.status, row.in_doubt) == (Status.FAILED, True)
    assert row.next_attempt_at > dt.datetime.now(dt.UTC)  # waits GMID_NOTIFY_SMS_INDOUBT_SECONDS
    assert sms.sent == []
    await make_due(row)
    await dispatcher.run_once()  # no receipt came: the earlier send never left, send now
    assert len(sms.sent) == 1
    assert (await reload(row)).status is Status.SENT


async def test_a_subscribe_resend_refused_with_43101_counts_as_delivered(
    dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    wechat.grant_subscription("o_owner", "TPL_STOLEN", times=1)
    row = await stolen("k1", openid="o_owner", phone=PHONE)
    dead_worker = Dispatcher(channels=dispatcher.channels, redis=dispatcher.redis, policy=dispatcher.policy)
    dead_worker.worker = "dead"
    [claimed], _ = await dead_worker.claim()
    # It marked the send started, delivered (using the one-time subscription) and died before recording.
    await Notification.filter(id=row.id).update(sending_channel="wechat", send_started_at=dt.datetime.now(dt.UTC))
    await dead_worker.channels["wechat"].send(
        Message(claimed.public_id, claimed.template, dict(STOLEN), Recipient(openid="o_owner"), 1)
    )
    await Notification.filter(id=row.id).update(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    await dispatcher.run_once()
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "wechat")  # not an SMS on top
    assert len(wechat.sent_messages()) == 1


# Wake-up -------------------------------------------------------------------------------------------


async def test_the_dispatcher_wakes_on_enqueue_without_waiting_for_the_poll(
    notify_settings: Settings, running: object, redis_url: str, wechat: WeChatFake
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    slow_poll = make_dispatcher(notify_settings.replace(notify_poll_seconds=60), client, redis_url)
    stop = asyncio.Event()
    task = asyncio.create_task(slow_poll.run(stop))
    try:
        await asyncio.sleep(0.3)  # subscribed and idle
        started = asyncio.get_running_loop().time()
        await stolen("k1", openid="o_owner")
        await asyncio.to_thread(wechat.wait_for_calls, "/cgi-bin/message/subscribe/send", 1, 5.0)
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        for channel in slow_poll.channels.values():
            await channel.aclose()
        await client.aclose()


@pytest.mark.skipif(bool(os.environ.get("GMID_TEST_DATABASE_URL")), reason="SQLite's single write lock")
async def test_a_busy_database_after_the_send_is_waited_out_not_sent_twice(
    dispatcher: Dispatcher, wechat: WeChatFake, notify_settings: Settings
) -> None:
    row = await stolen("k1", openid="o_owner")
    wechat.delay_next("/cgi-bin/message/subscribe/send", 0.3)
    path = notify_settings.effective_database_url.removeprefix("sqlite://")
    locked = threading.Event()

    def hold_the_write_lock() -> None:
        # Another writer holds the database longer than busy_timeout (5 s) while the result is saved.
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as other:
            other.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(6.5)
            other.rollback()

    holder = threading.Thread(target=hold_the_write_lock)
    claimed = asyncio.create_task(dispatcher.run_once())
    await asyncio.sleep(0.1)  # claimed, now waiting for WeChat's answer
    holder.start()
    await asyncio.to_thread(locked.wait, 5)
    assert await claimed == 1
    holder.join()
    row = await reload(row)
    assert row.status is Status.SENT
    assert len(wechat.sent_messages()) == 1
