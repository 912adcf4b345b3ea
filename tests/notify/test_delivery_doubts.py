"""When a send may or may not have gone out: crashes, lost answers, lost leases, rows that carry the same
event, a database that goes away. Against the loopback WeChat and SMS fakes and a real SMTP server;
each test fails on the dispatcher before the fix it is named after (review of issue 4)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from tortoise import connections
from tortoise.exceptions import DBConnectionError, OperationalError

from notify import outbox
from notify.dispatcher import Dispatcher, Policy
from notify.dispatcher.durable import is_transient
from notify.models import Attempt, Notification, Status
from notify.worker import make_dispatcher
from server.settings import Settings
from tests.support.notify_fixtures import drain, make_due, outcomes, reload
from tests.support.sms_fake import SmsFake, post_status_callback_async
from tests.support.smtp_server import SmtpServer
from tests.support.wechat_fake import WeChatFake

STOLEN = {"bike": "雅迪 白色", "lost_at": "2026-11-25T02:30:00+00:00", "location": "光明大街", "alarm_id": "al1"}
PHONE = "13800000001"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"
ON_POSTGRES = bool(os.environ.get("GMID_TEST_DATABASE_URL"))


async def stolen(key: str, **recipient: Any) -> Notification:
    return await outbox.enqueue(template="ebike.stolen", data=STOLEN, idempotency_key=key, **recipient)


async def expire_lease(row: Notification) -> None:
    await Notification.filter(id=row.id).update(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))


def other_worker(dispatcher: Dispatcher, name: str, policy: Policy | None = None) -> Dispatcher:
    return Dispatcher(
        channels=dispatcher.channels, redis=dispatcher.redis, policy=policy or dispatcher.policy, worker=name
    )


@pytest.fixture
async def slow_sms_receipts(running: object, notify_settings: Settings, redis_url: str) -> AsyncIterator[Dispatcher]:
    """A dispatcher that gives Tencent's status receipt 30 s before it sends an SMS in doubt again."""
    client = aioredis.Redis.from_url(redis_url)
    made = make_dispatcher(notify_settings.replace(notify_sms_indoubt_seconds=30), client, redis_url)
    yield made
    for channel in made.channels.values():
        await channel.aclose()
    await client.aclose()


# 1. A row retaken after a crash is in doubt only if a send had started -------------------------------


async def test_a_retaken_row_whose_send_never_started_falls_back_after_43101(
    dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    wechat.refuse_subscription("o_nosub")
    row = await stolen("b1", openid="o_nosub", phone=PHONE)
    # A dispatcher claimed the row in its batch and died before it reached the row.
    [claimed], _ = await other_worker(dispatcher, "dead:1").claim()
    assert claimed.id == row.id
    await expire_lease(row)
    assert await dispatcher.run_once() == 1
    row = await reload(row)
    # Nothing was ever sent: 43101 means no subscription, and the SMS goes out.
    assert (row.status, row.channel, row.in_doubt) == (Status.SENT, "sms", False)
    assert len(sms.sent_to("+86" + PHONE)) == 1
    assert await outcomes(row) == [
        ("wechat", "retaken", "lease_expired"),
        ("wechat", "permanent", "wechat_43101"),
        ("sms", "sent", "ok"),
    ]


async def test_a_retaken_row_whose_send_had_started_is_in_doubt(
    dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    wechat.grant_subscription("o_one", "TPL_STOLEN", 1)
    row = await stolen("b2", openid="o_one", phone=PHONE)
    wechat.delay_next(SUBSCRIBE, 0.8)  # under the 1 s timeout
    dying = other_worker(dispatcher, "dying:1")
    task = asyncio.create_task(dying.run_once())
    for _ in range(200):  # until the dispatcher has marked the send as started
        if (await reload(row)).sending_channel:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the subscribe message is at WeChat now
    task.cancel()  # the dispatcher dies mid-send; WeChat still delivers
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(wechat.wait_for_calls, SUBSCRIBE, 1, 5.0)
    marked = await reload(row)
    assert (marked.status, marked.sending_channel) == (Status.SENDING, "wechat")
    await expire_lease(row)
    await dispatcher.run_once()
    row = await reload(row)
    # The resend used no subscription (43101): the first send was delivered; no SMS on top.
    assert (row.status, row.channel) == (Status.SENT, "wechat")
    assert len(wechat.sent_messages()) == 1 and sms.sent == []
    assert [h[1] for h in await outcomes(row)] == ["in_doubt", "sent"]


# 2. An SMS whose answer was lost waits for its receipt ------------------------------------------------


async def test_an_sms_that_timed_out_waits_for_its_receipt_instead_of_going_twice(
    slow_sms_receipts: Dispatcher, sms: SmsFake, notify_settings: Settings, client: httpx.AsyncClient
) -> None:
    row = await stolen("a1", phone=PHONE, channels=["sms"])
    sms.delay_next(1.5)  # sms_timeout is 1 s; the gateway sends it anyway
    await slow_sms_receipts.run_once()
    row = await reload(row)
    assert (row.status, row.in_doubt, row.last_error[:21]) == (Status.FAILED, True, "sms Transport.Timeout")
    assert row.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)
    await asyncio.to_thread(sms.wait_for_calls, 1, 5.0)
    [text] = sms.sent
    assert await slow_sms_receipts.run_once() == 0  # not sent again meanwhile
    answer = await post_status_callback_async(
        f"{client.base_url}/api/v1/notify/sms/status?token={notify_settings.sms_callback_token}",
        [sms.status_report(text)],
    )
    assert answer.json() == {"result": 0, "errmsg": "OK"}
    row = await reload(row)
    assert (row.status, row.provider_message_id) == (Status.SENT, text.serial_no)
    await make_due(row)
    assert await slow_sms_receipts.run_once() == 0
    assert len(sms.sent) == 1


async def test_an_sms_whose_answer_was_lost_is_settled_by_the_report_tencent_pushes(
    slow_sms_receipts: Dispatcher, sms: SmsFake, notify_settings: Settings, client: httpx.AsyncClient
) -> None:
    # As in production: Tencent posts the delivery report to the status callback on its own.
    sms.set_push(f"{client.base_url}/api/v1/notify/sms/status?token={notify_settings.sms_callback_token}")
    row = await stolen("a1p", phone=PHONE, channels=["sms"])
    sms.delay_next(1.5)  # sms_timeout is 1 s; the gateway sends it anyway, then reports it
    await slow_sms_receipts.run_once()
    await asyncio.to_thread(sms.wait_for_calls, 1, 5.0)
    await asyncio.to_thread(sms.wait_for_pushes, 10.0)
    [text] = sms.sent
    assert sms.pushes == [(text.serial_no, 200)]
    row = await reload(row)
    assert (row.status, row.provider_message_id, row.receipt_status) == (Status.SENT, text.serial_no, "delivered")
    await make_due(row)
    assert await slow_sms_receipts.run_once() == 0
    assert len(sms.sent) == 1


async def test_an_sms_refused_outright_is_retried_without_waiting_for_a_receipt(
    slow_sms_receipts: Dispatcher, sms: SmsFake
) -> None:
    row = await stolen("a2", phone=PHONE, channels=["sms"])
    sms.fail_next_http(429)  # answered, and nothing was sent
    await slow_sms_receipts.run_once()
    row = await reload(row)
    assert (row.status, row.in_doubt) == (Status.FAILED, False)
    assert row.next_attempt_at < dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)


# 3. A subscribe message whose answer was lost, then 43101 ---------------------------------------------


async def test_43101_after_a_subscribe_timeout_counts_as_delivered(
    dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    wechat.grant_subscription("o_one", "TPL_STOLEN", 1)
    row = await stolen("t1", openid="o_one", phone=PHONE)
    wechat.delay_next(SUBSCRIBE, 1.5)  # wechat_timeout is 1 s; WeChat delivers it anyway
    await dispatcher.run_once()
    assert (await reload(row)).in_doubt
    await asyncio.to_thread(wechat.wait_for_calls, SUBSCRIBE, 1, 5.0)
    await drain(dispatcher)
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "wechat")
    assert len(wechat.sent_messages()) == 1 and sms.sent == []
    assert await outcomes(row) == [("wechat", "retry", "wechat_timeout"), ("wechat", "sent", "ok")]


async def test_43101_after_a_plain_busy_answer_still_falls_back(
    dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    wechat.refuse_subscription("o_nosub")
    wechat.fail_next(SUBSCRIBE, -1)  # busy: WeChat answered, nothing went out
    row = await stolen("t2", openid="o_nosub", phone=PHONE)
    await drain(dispatcher)
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "sms")
    assert len(sms.sent) == 1


# 4. Leases are renewed, and a lost lease stops the worker ---------------------------------------------


async def test_rows_queued_behind_the_concurrency_limit_keep_their_lease(
    notify_settings: Settings, redis_url: str, running: object, sms: SmsFake
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    base = make_dispatcher(notify_settings, client, redis_url)
    policy = Policy(batch_size=4, concurrency=1, lease_seconds=3, max_attempts=3, sms_indoubt_seconds=1, limits={})
    a = Dispatcher(channels=base.channels, redis=client, policy=policy, worker="A")
    b = Dispatcher(channels=base.channels, redis=client, policy=policy, worker="B")
    phones = [f"1380000010{i}" for i in range(4)]
    try:
        for i, phone in enumerate(phones):
            await stolen(f"c{i}", phone=phone)
        sms.delay_next(0.8, times=4)  # four sends one after the other outlast the 3 s lease
        first = asyncio.create_task(a.run_once())
        await asyncio.sleep(3.1)
        await b.run_once()
        await first
        await asyncio.sleep(1.2)
        await make_due()
        await b.run_once()
    finally:
        for channel in base.channels.values():
            await channel.aclose()
        await client.aclose()
    assert {p: len(sms.sent_to("+86" + p)) for p in phones} == dict.fromkeys(phones, 1)
    assert await Notification.filter(status=Status.SENT).count() == 4


async def test_a_worker_that_lost_its_lease_sends_on_no_further_channel(
    dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    wechat.refuse_subscription("o_nosub")
    wechat.delay_next(SUBSCRIBE, 0.6)
    row = await stolen("l1", openid="o_nosub", phone=PHONE)
    slow = other_worker(dispatcher, "slow:1")
    task = asyncio.create_task(slow.run_once())
    await asyncio.sleep(0.3)  # in the WeChat send
    await expire_lease(row)
    [taken], _ = await other_worker(dispatcher, "other:1").claim()  # another dispatcher takes the row
    assert taken.id == row.id
    assert await task == 1
    # WeChat's 43101 came back to a worker without the lease: it must not go on to SMS.
    assert sms.sent == []
    after = await reload(row)
    assert (after.status, after.lease_owner) == (Status.SENDING, "other:1")


# 5. The dedup window never rests on a row that failed -------------------------------------------------


async def test_a_duplicate_is_sent_itself_when_the_first_row_fails(
    dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer
) -> None:
    first = await stolen("d1", event_key="ev", phone=PHONE, channels=["sms"])
    second = await stolen("d2", event_key="ev", phone=PHONE, email="x@gm.example.cn", channels=["sms", "email"])
    sms.fail_number("+86" + PHONE, "FailedOperation.PhoneNumberInBlacklist")
    sms.delay_next(0.3)  # the first row's SMS is in flight while the second looks at the window
    await drain(dispatcher)
    first, second = await reload(first), await reload(second)
    assert first.status is Status.DEAD
    # The event was not delivered by the first row: the second carries it, by email in the end.
    assert (second.status, second.channel) == (Status.SENT, "email")
    assert [list(m.rcpt_tos) for m in smtp.wait_for(1)] == [["x@gm.example.cn"]]


async def test_a_duplicate_waits_while_the_first_row_retries_then_counts_as_sent(
    dispatcher: Dispatcher, sms: SmsFake
) -> None:
    sms.fail_next_http(429)  # the first row's first try: nothing sent, retry later
    first = await stolen("d3", event_key="ev2", phone=PHONE, channels=["sms"])
    await dispatcher.run_once()
    assert (await reload(first)).status is Status.FAILED
    second = await stolen("d4", event_key="ev2", phone=PHONE, channels=["sms"])
    await dispatcher.run_once()
    waiting = await reload(second)
    assert (waiting.status, waiting.attempts) == (Status.FAILED, 0)  # not sent, not a failed try
    assert ("sms", "waiting", "dedup_wait") in await outcomes(second)
    await drain(dispatcher)
    assert (await reload(first)).status is Status.SENT
    second = await reload(second)
    assert second.status is Status.SENT and second.provider_message_id is None
    assert len(sms.sent) == 1


# 6. A database outage does not end the dispatcher -----------------------------------------------------


async def test_the_dispatcher_outlives_a_database_outage(
    notify_settings: Settings, running: object, redis_url: str, wechat: WeChatFake, caplog: pytest.LogCaptureFixture
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    fast = make_dispatcher(notify_settings.replace(notify_poll_seconds=0.2), client, redis_url)
    conn = connections.get("default")

    async def down(*args: object, **kwargs: object) -> Any:
        raise DBConnectionError("connection refused")

    stop = asyncio.Event()
    task = asyncio.create_task(fast.run(stop))
    try:
        with pytest.MonkeyPatch.context() as patch, caplog.at_level(logging.WARNING):
            # The database client (Tortoise's, not ours) fails every query for a second.
            for method in ("execute_query", "execute_query_dict"):
                patch.setattr(conn, method, down)
            await asyncio.sleep(1.0)
            assert not task.done(), task.exception() if task.done() else None
        assert any("idle check failed" in r.getMessage() for r in caplog.records)
        await stolen("db1", openid="o_after")
        await asyncio.to_thread(wechat.wait_for_calls, SUBSCRIBE, 1, 10.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        for channel in fast.channels.values():
            await channel.aclose()
        await client.aclose()
    assert [m["touser"] for m in wechat.sent_messages()] == ["o_after"]


# 7. A long email Message-ID fits its column; data errors are not waited out ---------------------------


async def test_a_long_message_id_is_stored_within_its_column(
    notify_settings: Settings, running: object, redis_url: str, smtp: SmtpServer
) -> None:
    domain = "notices.guangming-district-government-services.shenzhen-municipal.example.cn"
    client = aioredis.Redis.from_url(redis_url)
    made = make_dispatcher(notify_settings.replace(smtp_from=f"noreply@{domain}"), client, redis_url)
    try:
        row = await stolen("m1", email="owner@example.cn", channels=["email"])
        await made.run_once()
    finally:
        for channel in made.channels.values():
            await channel.aclose()
        await client.aclose()
    [mail] = smtp.wait_for(1)
    header = str(mail["Message-ID"])
    assert len(header) > 64
    row = await reload(row)
    assert row.status is Status.SENT
    assert row.provider_message_id is not None and len(row.provider_message_id) == 64
    assert header.startswith(row.provider_message_id.split("~")[0])
    [attempt] = await Attempt.filter(notification_id=row.id)
    assert attempt.provider_message_id == row.provider_message_id


async def test_only_passing_database_failures_are_waited_out(running: object) -> None:
    assert is_transient(OperationalError(sqlite3.OperationalError("database is locked")))
    assert is_transient(DBConnectionError("connection refused"))
    assert not is_transient(OperationalError(sqlite3.OperationalError("no such column: sending_channel")))
    assert not is_transient(OperationalError(asyncpg.exceptions.StringDataRightTruncationError("value too long")))
    assert is_transient(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"))
    if ON_POSTGRES:
        # The real thing: what Tortoise raises when PostgreSQL refuses a value too long for varchar(64).
        row = await stolen("m2", email="owner@example.cn", channels=["email"])
        with pytest.raises(OperationalError) as raised:
            await connections.get("default").execute_query(
                "UPDATE notify_notification SET provider_message_id = $1 WHERE id = $2", ["x" * 65, row.id]
            )
        assert not is_transient(raised.value)


# A row that cannot be prepared is dead after a bounded number of tries --------------------------------


async def test_a_row_that_cannot_be_decrypted_goes_dead_after_its_tries(
    dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture, sms: SmsFake
) -> None:
    row = await stolen("p1", phone=PHONE, channels=["sms"])
    await Notification.filter(id=row.id).update(data_enc="v1:not-a-vault-ciphertext")
    with caplog.at_level(logging.DEBUG):
        await drain(dispatcher)
    row = await reload(row)
    assert row.status is Status.DEAD
    assert row.last_error.startswith("processing failed: ")
    assert row.lease_owner is None
    assert [h[1:] for h in await outcomes(row)] == [("retry", "process_error")] * 2 + [("permanent", "process_error")]
    assert sms.sent == []
    assert all(PHONE not in r.getMessage() for r in caplog.records)
