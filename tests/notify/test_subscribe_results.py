"""A subscribe message (mini-program) with a long-term subscription has no idempotency key and is not used
up by a delivery: a resend after a crash or a lost answer would reach the person twice. WeChat pushes
the result of each subscribe message (``subscribe_msg_sent_event``) to the mini-program's message push
URL; a subscribe message in doubt waits for it (``GMID_NOTIFY_WECHAT_INDOUBT_SECONDS``) before it is sent
again. Real HTTP, the loopback WeChat fake pushing its results to the running app, real DB and Redis."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from tortoise.backends.asyncpg.client import TransactionWrapper as PgTransactionWrapper
from tortoise.backends.sqlite.client import SqliteTransactionWrapper
from tortoise.exceptions import OperationalError

from notify import outbox
from notify.dispatcher import Dispatcher
from notify.models import Attempt, Notification, Status
from notify.worker import make_dispatcher
from server.settings import Settings
from tests.notify.test_crash import start_worker
from tests.support.notify_fixtures import make_due, outcomes, reload
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake, build_subscribe_sent_event

MP_TOKEN = "mp-push-token"
PUSH = "/api/v1/notify/wechat/miniprogram/events"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"
PHONE = "13800000001"
STOLEN = {"bike": "雅迪 白色", "lost_at": "2026-11-25T02:30:00+00:00", "location": "光明大街", "alarm_id": "al1"}


async def stolen(key: str, **recipient: Any) -> Notification:
    data = {**STOLEN, "alarm_id": key}  # one event per row: no dedup wait between them
    return await outbox.enqueue(template="ebike.stolen", data=data, idempotency_key=key, **recipient)


def push_url(running: object) -> str:
    return str(running.base_url).rstrip("/") + PUSH  # type: ignore[attr-defined]


@pytest.fixture
async def waiting(running: object, notify_settings: Settings, redis_url: str) -> AsyncIterator[Dispatcher]:
    """A dispatcher that gives WeChat's send-result push (and Tencent's SMS receipt) 30 s before it sends
    a message in doubt again."""
    client = aioredis.Redis.from_url(redis_url)
    settings = notify_settings.replace(notify_wechat_indoubt_seconds=30, notify_sms_indoubt_seconds=30)
    made = make_dispatcher(settings, client, redis_url)
    yield made
    for channel in made.channels.values():
        await channel.aclose()
    await client.aclose()


async def timed_out_send(dispatcher: Dispatcher, wechat: WeChatFake, key: str, openid: str) -> Notification:
    """A subscribe message whose answer was lost (WeChat answers after the 1 s timeout, and delivers)."""
    row = await stolen(key, openid=openid, phone=PHONE)
    wechat.delay_next(SUBSCRIBE, 1.5)
    await dispatcher.run_once()
    row = await reload(row)
    assert (row.status, row.in_doubt, row.last_error[:21]) == (Status.FAILED, True, "wechat wechat_timeout")
    assert row.send_started_at is not None  # kept: the push is matched against it
    await asyncio.to_thread(wechat.wait_for_calls, SUBSCRIBE, 1, 5.0)
    return row


# A dispatcher killed mid-send -----------------------------------------------------------------------

COUNT = 40


async def test_a_dispatcher_killed_mid_send_of_long_term_subscribe_messages_delivers_each_once(
    notify_settings: Settings, running: object, wechat: WeChatFake, sms: SmsFake, tmp_path: Path
) -> None:
    settings = notify_settings.replace(
        notify_lease_seconds=6,
        notify_concurrency=4,
        notify_batch_size=COUNT,
        notify_poll_seconds=1,
        notify_wechat_indoubt_seconds=60,
    )
    for n in range(COUNT):
        # Long-term subscriptions: the fake keeps no quota for them, each send is delivered.
        await stolen(f"lt:{n}", openid=f"o_lt_{n}", phone=f"1380000{n:04d}")
    # Slow sends, so some are in flight at the kill; WeChat's result comes 10 s after each delivery: for
    # the sends in flight, after the lease ran out and a second dispatcher took the row (in doubt).
    wechat.delay_next(SUBSCRIBE, 0.3, times=10 * COUNT)
    wechat.set_push(push_url(running), MP_TOKEN, delay=10.0)

    log = tmp_path / "worker.log"
    first = start_worker(settings, log)
    try:
        deadline = time.monotonic() + 60
        while len(wechat.sent_messages("subscribe")) < 6:
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the first dispatcher sent nothing: " + log.read_text()
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert 0 < await Notification.filter(status=Status.SENT).count() < COUNT

    second = start_worker(settings, log)
    try:
        deadline = time.monotonic() + 90
        while await Notification.filter(status=Status.SENT).count() < COUNT:
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "not all sent: " + log.read_text()
            await asyncio.sleep(0.2)
        await asyncio.to_thread(wechat.wait_for_pushes, 20.0)
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0, log.read_text()
    finally:
        if second.poll() is None:
            second.kill()

    per_user = collections.Counter(m["touser"] for m in wechat.sent_messages("subscribe"))
    assert per_user == {f"o_lt_{n}": 1 for n in range(COUNT)}
    assert sms.sent == []
    msgids = {m.body["touser"]: str(m.msgid) for m in wechat.messages}
    for row in await Notification.all():
        assert (row.status, row.channel, row.provider_message_id) == (Status.SENT, "wechat", msgids[row.openid])
    # Some sends were in flight at the kill: taken again in doubt, and settled by WeChat's push.
    assert await Attempt.filter(outcome="in_doubt").count() >= 1
    assert all(p.status == 200 for p in wechat.pushes)
    assert "Traceback" not in log.read_text()


# A send whose answer was lost ------------------------------------------------------------------------


async def test_a_subscribe_message_whose_answer_was_lost_is_settled_by_the_push(
    waiting: Dispatcher, wechat: WeChatFake, running: object
) -> None:
    wechat.set_push(push_url(running), MP_TOKEN, delay=0.2)
    row = await timed_out_send(waiting, wechat, "lost1", "o_long")
    assert row.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)  # waits for the push
    await asyncio.to_thread(wechat.wait_for_pushes)
    [message] = wechat.messages
    row = await reload(row)
    assert (row.status, row.provider_message_id, row.in_doubt) == (Status.SENT, str(message.msgid), False)
    assert row.receipt_status == "delivered"
    await make_due(row)
    assert await waiting.run_once() == 0
    assert len(wechat.sent_messages()) == 1


async def test_without_a_result_in_the_wait_it_is_sent_again_once(
    waiting: Dispatcher, wechat: WeChatFake, running: object
) -> None:
    wechat.set_push(push_url(running), MP_TOKEN, delay=0.2)
    wechat.drop_pushes(1)  # the first result never comes
    row = await timed_out_send(waiting, wechat, "lost2", "o_long")
    assert await waiting.run_once() == 0  # still waiting
    await make_due(row)  # the wait is over: at-least-once beats a lost alarm
    assert await waiting.run_once() == 1
    row = await reload(row)
    _first, second = wechat.messages
    assert (row.status, row.provider_message_id) == (Status.SENT, str(second.msgid))
    assert len(wechat.sent_messages()) == 2
    await asyncio.to_thread(wechat.wait_for_pushes)
    row = await reload(row)
    assert (row.status, row.receipt_status, row.provider_message_id) == (Status.SENT, "delivered", str(second.msgid))


async def test_a_one_time_subscription_resent_after_the_wait_still_counts_43101_as_delivered(
    waiting: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    wechat.grant_subscription("o_once", "TPL_STOLEN", 1)  # no push configured: no result comes
    row = await timed_out_send(waiting, wechat, "once", "o_once")
    await make_due(row)
    await waiting.run_once()
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "wechat")
    assert len(wechat.sent_messages()) == 1 and sms.sent == []


async def test_a_retaken_subscribe_message_waits_for_the_push(
    waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient
) -> None:
    row = await stolen("rt", openid="o_long", phone=PHONE)
    dead = Dispatcher(channels=waiting.channels, redis=waiting.redis, policy=waiting.policy, worker="dead:1")
    await dead.claim()
    started = dt.datetime.now(dt.UTC)
    await Notification.filter(id=row.id).update(sending_channel="wechat", send_started_at=started)
    await Notification.filter(id=row.id).update(lease_until=started - dt.timedelta(seconds=1))
    await waiting.run_once()
    row = await reload(row)
    assert (row.status, row.in_doubt) == (Status.FAILED, True)
    assert row.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)
    assert wechat.sent_messages() == []
    # The dead dispatcher's message arrived: WeChat says so.
    answer = await post_result(client, openid="o_long", msg_id="777001")
    assert (answer.status_code, answer.text) == (200, "success")
    row = await reload(row)
    assert (row.status, row.channel, row.provider_message_id, row.in_doubt) == (Status.SENT, "wechat", "777001", False)
    await make_due(row)
    assert await waiting.run_once() == 0
    assert wechat.sent_messages() == []


# The push route: forged, replayed, someone else's, failed ----------------------------------------------


def signed_result(**kw: Any) -> tuple[dict[str, str], bytes]:
    kw.setdefault("token", MP_TOKEN)
    token = kw.pop("token")
    kw.setdefault("to_user", "gh_mini")
    kw.setdefault("template_id", "TPL_STOLEN")
    return build_subscribe_sent_event(token, **kw)


async def post_result(client: httpx.AsyncClient, *, openid: str, msg_id: str, **kw: Any) -> httpx.Response:
    params, body = signed_result(from_user=openid, msg_id=msg_id, **kw)
    return await client.post(PUSH, params=params, content=body)


async def in_doubt_row(waiting: Dispatcher, wechat: WeChatFake, key: str = "doubt") -> Notification:
    """A subscribe message WeChat delivered whose answer was lost with its connection (no timeout to sit out)."""
    row = await stolen(key, openid="o_long", phone=PHONE)
    wechat.cut_next(SUBSCRIBE)
    await waiting.run_once()
    row = await reload(row)
    assert (row.status, row.in_doubt, row.last_error[:21]) == (Status.FAILED, True, "wechat wechat_network")
    assert row.send_started_at is not None  # kept: the push is matched against it
    return row


def state(row: Notification) -> tuple[object, ...]:
    return (row.status, row.channel_index, row.in_doubt, row.provider_message_id, row.receipt_status)


async def test_forged_replayed_or_foreign_results_change_nothing(
    waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient
) -> None:
    row = await in_doubt_row(waiting, wechat)
    before = state(row)
    # Signed with another token (the official account's, or a guess).
    params, body = signed_result(token="oa-callback-token", from_user="o_long", msg_id="1")
    answer = await client.post(PUSH, params=params, content=body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "bad_signature")
    # Someone else's result (a leaked token alone must not settle this row).
    assert (await post_result(client, openid="o_other", msg_id="2")).status_code == 200
    # Another template's result.
    assert (await post_result(client, openid="o_long", msg_id="3", template_id="TPL_OTHER")).status_code == 200
    # A result from before the send started.
    old = int(time.time()) - 120
    assert (await post_result(client, openid="o_long", msg_id="4", create_time=old)).status_code == 200
    # A captured signature with another body.
    params, body = signed_result(from_user="o_other", msg_id="5", nonce="42")
    assert (await client.post(PUSH, params=params, content=body)).status_code == 200
    _, forged = signed_result(from_user="o_long", msg_id="6", nonce="42")
    answer = await client.post(PUSH, params=params, content=forged)
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "replayed_signature")
    # A stale timestamp.
    params, body = signed_result(from_user="o_long", msg_id="7", timestamp=int(time.time()) - 3600)
    answer = await client.post(PUSH, params=params, content=body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "stale_timestamp")
    assert state(await reload(row)) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<xml><MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event></xml>",
        b'{"MsgType": "event", "Event": "subscribe_msg_sent_event", "FromUserName": "o", "CreateTime": "1"}',
        b'{"MsgType": "event", "Event": "subscribe_msg_sent_event", "FromUserName": "o", "CreateTime": "x",'
        b' "SubscribeMsgSentEvent": {"List": {"TemplateId": "T", "MsgID": "1", "ErrorCode": "0"}}}',
        b'<!DOCTYPE x [<!ENTITY e "o_long">]><xml><MsgType>event</MsgType><FromUserName>&e;</FromUserName></xml>',
        b"\xff\xfe",
        b'{"MsgType": "event", "Event": "subscribe_msg_sent_event", "FromUserName": "o_long", "CreateTime": "1",'
        b' "SubscribeMsgSentEvent": {"List": [{"TemplateId": "T", "MsgID": "7", "ErrorCode": "10005"},'
        b' {"TemplateId": "T", "MsgID": "7", "ErrorCode": "0"}]}}',
    ],
)
async def test_a_malformed_push_is_400_and_changes_nothing(
    waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient, body: bytes
) -> None:
    row = await in_doubt_row(waiting, wechat)
    before = state(row)
    params, _ = signed_result(from_user="o_long", msg_id="1")
    answer = await client.post(PUSH, params=params, content=body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "bad_event")
    assert state(await reload(row)) == before


async def test_one_result_settles_one_row(waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient) -> None:
    first = await in_doubt_row(waiting, wechat, "d1")
    second = await in_doubt_row(waiting, wechat, "d2")
    assert (await post_result(client, openid="o_long", msg_id="9001")).status_code == 200
    assert (await post_result(client, openid="o_long", msg_id="9001", nonce="other")).status_code == 200
    first, second = await reload(first), await reload(second)
    # The oldest send is the one the result is about; the same MsgID again settles nothing else.
    assert (first.status, first.provider_message_id) == (Status.SENT, "9001")
    assert (second.status, second.in_doubt) == (Status.FAILED, True)


async def test_a_json_push_is_accepted_too(waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient) -> None:
    row = await in_doubt_row(waiting, wechat)
    answer = await post_result(client, openid="o_long", msg_id="4242", fmt="json")
    assert (answer.status_code, answer.text) == (200, "success")
    assert (await reload(row)).status is Status.SENT


async def test_other_mini_program_events_are_acknowledged(client: httpx.AsyncClient) -> None:
    params, _ = signed_result(from_user="o_long", msg_id="1")
    body = b'{"MsgType": "event", "Event": "subscribe_msg_popup_event", "FromUserName": "o"}'
    answer = await client.post(PUSH, params=params, content=body)
    assert (answer.status_code, answer.text) == (200, "success")


async def test_the_push_url_check_answers_the_echostr(client: httpx.AsyncClient) -> None:
    params, _ = signed_result(from_user="o", msg_id="1")
    answer = await client.get(PUSH, params={**params, "echostr": "abc"})
    assert (answer.status_code, answer.text) == (200, "abc")
    params["signature"] = "0" * 40
    answer = await client.get(PUSH, params={**params, "echostr": "abc"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "bad_signature")


async def test_a_failed_result_moves_a_recorded_send_on_to_sms(
    waiting: Dispatcher, wechat: WeChatFake, sms: SmsFake, running: object
) -> None:
    wechat.set_push(push_url(running), MP_TOKEN, delay=0.2)
    wechat.fail_pushes(1, error_code=10005, status="fail: user refused")
    row = await stolen("fail1", openid="o_long", phone=PHONE)
    assert await waiting.run_once() == 1
    row = await reload(row)
    assert (row.status, row.provider_message_id) == (Status.SENT, str(wechat.messages[0].msgid))
    await asyncio.to_thread(wechat.wait_for_pushes)
    row = await reload(row)
    assert (row.status, row.channel_index, row.receipt_status) == (Status.PENDING, 1, "wechat_10005")
    await waiting.run_once()
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "sms")
    assert len(sms.sent_to("+86" + PHONE)) == 1


async def test_a_failed_result_naming_another_template_leaves_a_recorded_send_alone(
    waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient
) -> None:
    row = await stolen("fail2", openid="o_long", phone=PHONE)
    assert await waiting.run_once() == 1
    row = await reload(row)
    before = state(row)
    msg_id = str(row.provider_message_id)
    answer = await post_result(
        client, openid="o_long", msg_id=msg_id, template_id="TPL_OTHER", error_code=10005, error_status="fail"
    )
    assert answer.status_code == 200
    assert state(await reload(row)) == before


async def test_a_failed_result_of_an_unrecorded_send_moves_it_on_to_sms(
    waiting: Dispatcher, wechat: WeChatFake, sms: SmsFake, client: httpx.AsyncClient
) -> None:
    row = await in_doubt_row(waiting, wechat)
    answer = await post_result(client, openid="o_long", msg_id="5150", error_code=10005, error_status="fail")
    assert answer.status_code == 200
    row = await reload(row)
    assert (row.status, row.channel_index, row.in_doubt) == (Status.PENDING, 1, False)
    await waiting.run_once()
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "sms")
    assert len(wechat.sent_messages()) == 1
    assert ("wechat", "receipt", "wechat_10005") in await outcomes(row)


@contextlib.contextmanager
def attempt_insert_fails_once(failed: list[str]) -> Iterator[None]:
    """The database client (Tortoise's, not ours): the first attempt insert (the sent attempt, after the
    provider took the message) fails with a data error; the row's result is then written by
    processing_failed."""
    wrappers = [SqliteTransactionWrapper, PgTransactionWrapper]
    real = {cls: cls.execute_insert for cls in wrappers}

    def breaking(cls: type) -> Any:
        async def execute_insert(self: Any, query: str, values: list[Any]) -> Any:
            if not failed and "notify_attempt" in query:
                failed.append(query)
                raise OperationalError(sqlite3.OperationalError("no such column: elapsed_ms"))
            return await real[cls](self, query, values)

        return execute_insert

    with pytest.MonkeyPatch.context() as patch:
        for cls in wrappers:
            patch.setattr(cls, "execute_insert", breaking(cls))
        yield


async def test_a_send_whose_result_could_not_be_written_waits_for_the_push(
    waiting: Dispatcher, wechat: WeChatFake, running: object
) -> None:
    wechat.set_push(push_url(running), MP_TOKEN, delay=2.0)
    row = await stolen("nowrite", openid="o_long", phone=PHONE)
    wechat.delay_next(SUBSCRIBE, 0.5)
    failed: list[str] = []
    with attempt_insert_fails_once(failed):
        await waiting.run_once()
    assert failed
    row = await reload(row)
    assert (row.status, row.in_doubt) == (Status.FAILED, True)
    assert row.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)
    assert row.send_started_at is not None
    await asyncio.to_thread(wechat.wait_for_pushes)
    row = await reload(row)
    assert (row.status, row.provider_message_id) == (Status.SENT, str(wechat.messages[0].msgid))
    await make_due(row)
    assert await waiting.run_once() == 0
    assert len(wechat.sent_messages()) == 1


async def test_an_sms_whose_result_could_not_be_written_waits_for_its_receipt(
    waiting: Dispatcher, sms: SmsFake
) -> None:
    row = await stolen("nowrite-sms", phone=PHONE, channels=["sms"])
    failed: list[str] = []
    with attempt_insert_fails_once(failed):
        await waiting.run_once()
    assert failed and len(sms.sent) == 1
    row = await reload(row)
    assert (row.status, row.in_doubt) == (Status.FAILED, True)
    assert row.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=25)
    assert await waiting.run_once() == 0
    assert len(sms.sent) == 1


async def test_results_arriving_together_settle_one_row_each(
    waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient
) -> None:
    rows = [await in_doubt_row(waiting, wechat, f"t{n}") for n in range(3)]
    answers = await asyncio.gather(
        post_result(client, openid="o_long", msg_id="8001", nonce="n1"),
        post_result(client, openid="o_long", msg_id="8002", nonce="n2"),
        post_result(client, openid="o_long", msg_id="8002", nonce="n3"),  # WeChat resending one of them
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    rows = [await reload(row) for row in rows]
    settled = sorted(row.provider_message_id or "" for row in rows if row.status is Status.SENT)
    assert settled == ["8001", "8002"]
    assert [(row.status, row.in_doubt) for row in rows if row.status is not Status.SENT] == [(Status.FAILED, True)]


async def test_the_push_route_refuses_oversized_bodies_and_needs_its_token(client: httpx.AsyncClient, app: Any) -> None:
    params, _ = signed_result(from_user="o", msg_id="1")
    answer = await client.post(PUSH, params=params, content=b"<xml>" + b"x" * 300_000 + b"</xml>")
    assert answer.status_code == 413
    answer = await client.post(PUSH, params={**params, "signature": "签名"}, content=b"<xml/>")
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "bad_signature")
    app.ctx.settings = app.ctx.settings.replace(wechat_mp_token="")
    answer = await client.post(PUSH, params=params, content=b"<xml/>")
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "wechat_callback_not_configured")


@pytest.mark.parametrize(
    ("status", "channel_index", "in_doubt", "started"),
    [
        (Status.PENDING, 0, False, False),  # queued, never sent
        (Status.FAILED, 0, False, True),  # waiting for a retry, not in doubt
        (Status.DEAD, 0, True, True),  # dead: an administrator's
        (Status.FAILED, 1, True, True),  # moved on to SMS, in doubt there
        (Status.SENT, 1, False, True),  # sent on SMS
    ],
)
async def test_a_result_settles_no_row_whose_wechat_send_is_not_in_doubt(
    client: httpx.AsyncClient, status: Status, channel_index: int, in_doubt: bool, started: bool
) -> None:
    # A leaked push token and the person's openid must not stop a message no WeChat send may have carried.
    row = await stolen(f"nd-{status}-{channel_index}", openid="o_long", phone=PHONE)
    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5) if started else None
    await Notification.filter(id=row.id).update(
        status=status, channel_index=channel_index, in_doubt=in_doubt, send_started_at=when
    )
    before = state(await reload(row))
    for code in (0, 10005):
        answer = await post_result(client, openid="o_long", msg_id=f"66{code}", error_code=code, error_status="x")
        assert (answer.status_code, answer.text) == (200, "success")
    assert state(await reload(row)) == before
    assert await Attempt.filter(notification_id=row.id).count() == 0


async def test_a_result_whose_apply_failed_is_applied_when_wechat_sends_it_again(
    waiting: Dispatcher, wechat: WeChatFake, client: httpx.AsyncClient
) -> None:
    # The push answered 500 (the database failed while settling the row): WeChat sends the very same
    # request again, and that resend must be applied, not taken for one already applied.
    row = await in_doubt_row(waiting, wechat)
    params, body = signed_result(from_user="o_long", msg_id="31337", nonce="again")
    failed: list[str] = []
    with attempt_insert_fails_once(failed):
        first = await client.post(PUSH, params=params, content=body)
    assert failed and first.status_code == 500
    assert (await reload(row)).status is Status.FAILED
    again = await client.post(PUSH, params=params, content=body)
    assert (again.status_code, again.text) == (200, "success")
    row = await reload(row)
    assert (row.status, row.provider_message_id) == (Status.SENT, "31337")
