"""The notification routes over real HTTP: WeChat and Tencent SMS delivery receipts, and the admin's
outbox view and retry. Each test drives the app through ``client`` and checks the rows with the ORM."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from notify import outbox
from notify.channels.base import Message, Outcome, Recipient
from notify.dispatcher import Dispatcher
from notify.models import Notification, Status
from tests.factories import auth, make_account, token_for
from tests.support.notify_fixtures import drain, make_due, outcomes, reload
from tests.support.sms_fake import SmsFake, post_status_callback_async
from tests.support.smtp_server import SmtpServer
from tests.support.wechat_fake import WeChatFake, build_template_finish_event, wechat_signature

OA_TOKEN = "oa-callback-token"
SMS_TOKEN = "sms-callback-token-0123456789"
EVENTS = "/api/v1/notify/wechat/events"
SMS_STATUS = "/api/v1/notify/sms/status"
ADMIN = "/api/v1/admin/notifications"
OA_ID = "gh_0123456789ab"
OA_OPENID = "oa_staff"
PHONE = "13800000001"
MASKED_PHONE = "138****0001"
EMAIL = "owner@example.cn"
MASKED_EMAIL = "***@example.cn"
SENSOR = {"device": "燃气报警器", "place": "凤凰社区12栋", "level": "高", "at": "2026-11-25T02:30:00Z"}
STOLEN = {
    "bike": "雅迪 白色",
    "lost_at": "2026-11-25T02:30:00+00:00",
    "location": "光明大街与华夏路口",
    "alarm_id": "al1",
}


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error object, after checking the status and our one error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    error: dict[str, Any] = body["error"]
    return error


def signed(*, timestamp: int | None = None, nonce: str = "1234567890", token: str = OA_TOKEN) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"signature": wechat_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}


async def sent_template(dispatcher: Dispatcher, *, phone: str | None = None, key: str = "sensor:1") -> Notification:
    """A ``sensor.alarm`` template message that went out to an official-account openid."""
    row = await outbox.enqueue(
        template="sensor.alarm", data=SENSOR, idempotency_key=key, oa_openid=OA_OPENID, phone=phone
    )
    assert await dispatcher.run_once() == 1
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "wechat")
    assert row.provider_message_id is not None
    return row


async def post_event(client: httpx.AsyncClient, row: Notification, status: str) -> httpx.Response:
    assert row.provider_message_id is not None
    params, body = build_template_finish_event(
        OA_TOKEN, to_user=OA_ID, from_user=OA_OPENID, msg_id=int(row.provider_message_id), status=status
    )
    return await client.post(EVENTS, params=params, content=body, headers={"Content-Type": "text/xml"})


async def sent_sms(dispatcher: Dispatcher, key: str = "k-sms", **recipient: Any) -> Notification:
    row = await outbox.enqueue(template="ebike.stolen", data=STOLEN, idempotency_key=key, phone=PHONE, **recipient)
    assert await dispatcher.run_once() == 1
    row = await reload(row)
    assert (row.status, row.channel) == (Status.SENT, "sms")
    return row


def sms_url(client: httpx.AsyncClient, token: str = SMS_TOKEN) -> str:
    return f"{client.base_url}{SMS_STATUS}?token={token}"


# WeChat server-URL check --------------------------------------------------------------------------


async def test_wechat_url_check_answers_the_echostr(client: httpx.AsyncClient) -> None:
    response = await client.get(EVENTS, params={**signed(), "echostr": "6215418841209423123"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "6215418841209423123"


async def test_wechat_url_check_with_a_wrong_signature_is_refused(client: httpx.AsyncClient) -> None:
    params = {**signed(token="not-our-token"), "echostr": "123"}
    error = error_of(await client.get(EVENTS, params=params), 403)
    assert error["code"] == "bad_signature"
    assert "123" not in error["message"]


async def test_wechat_url_check_with_a_stale_timestamp_is_refused(client: httpx.AsyncClient) -> None:
    params = {**signed(timestamp=int(time.time()) - 301), "echostr": "123"}
    assert error_of(await client.get(EVENTS, params=params), 403)["code"] == "stale_timestamp"
    # Within the window either way is fine (clocks drift).
    response = await client.get(EVENTS, params={**signed(timestamp=int(time.time()) + 200), "echostr": "123"})
    assert response.status_code == 200


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
async def test_wechat_url_check_without_its_parameters_is_422(client: httpx.AsyncClient, missing: str) -> None:
    params = {**signed(), "echostr": "123"}
    del params[missing]
    error = error_of(await client.get(EVENTS, params=params), 422)
    assert error["code"] == "validation_failed"
    assert missing in str(error["details"])


async def test_wechat_url_check_without_echostr_is_400(client: httpx.AsyncClient) -> None:
    assert error_of(await client.get(EVENTS, params=signed()), 400)["code"] == "missing_echostr"


# WeChat TEMPLATESENDJOBFINISH ----------------------------------------------------------------------


async def test_template_finish_success_marks_the_row_delivered(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    row = await sent_template(dispatcher)
    response = await post_event(client, row, "success")
    assert response.status_code == 200
    assert response.text == "success"
    after = await reload(row)
    assert after.status is Status.SENT
    assert after.receipt_status == "delivered"
    assert after.receipt_at is not None
    assert await outcomes(row) == [("wechat", "sent", "ok"), ("wechat", "receipt", "delivered")]


async def test_template_finish_user_block_moves_the_row_on_to_sms(
    client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    row = await sent_template(dispatcher, phone=PHONE)
    assert row.channel_list == ["wechat", "sms"]
    response = await post_event(client, row, "failed:user block")
    assert (response.status_code, response.text) == (200, "success")
    after = await reload(row)
    assert (after.status, after.channel_index, after.attempts) == (Status.PENDING, 1, 0)
    assert after.receipt_status == "wechat_failed_userblock"
    # WeChat pushes an event again when our answer is late: the repeat changes nothing.
    assert (await post_event(client, row, "failed:user block")).text == "success"
    again = await reload(row)
    assert (again.status, again.channel_index) == (Status.PENDING, 1)
    assert sms.sent == []
    await drain(dispatcher)
    [text] = sms.sent
    assert text.phone == "+86" + PHONE
    assert text.template_id == "1004"
    assert text.session_context == row.public_id
    after = await reload(row)
    assert (after.status, after.channel, after.provider_message_id) == (Status.SENT, "sms", text.serial_no)
    assert await outcomes(row) == [
        ("wechat", "sent", "ok"),
        ("wechat", "receipt", "wechat_failed_userblock"),
        ("sms", "sent", "ok"),
    ]
    assert len(wechat.sent_messages("template")) == 1


async def test_a_receipt_signature_replayed_with_another_body_is_refused(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    # Plaintext mode signs (token, timestamp, nonce), not the body: a captured callback URL must not
    # carry a forged "failed" that would push a delivered alarm on to SMS.
    row = await sent_template(dispatcher, phone=PHONE)
    assert row.provider_message_id is not None
    msg_id = int(row.provider_message_id)
    params, body = build_template_finish_event(
        OA_TOKEN, to_user=OA_ID, from_user=OA_OPENID, msg_id=msg_id, status="success"
    )
    _, forged = build_template_finish_event(
        OA_TOKEN, to_user=OA_ID, from_user=OA_OPENID, msg_id=msg_id, status="failed:user block"
    )
    headers = {"Content-Type": "text/xml"}
    assert (await client.post(EVENTS, params=params, content=body, headers=headers)).text == "success"
    error = error_of(await client.post(EVENTS, params=params, content=forged, headers=headers), 403)
    assert error["code"] == "replayed_signature"
    # WeChat resending the very same event is answered and changes nothing.
    assert (await client.post(EVENTS, params=params, content=body, headers=headers)).text == "success"
    after = await reload(row)
    assert (after.status, after.channel, after.receipt_status) == (Status.SENT, "wechat", "delivered")
    assert await outcomes(row) == [("wechat", "sent", "ok"), ("wechat", "receipt", "delivered")]
    await drain(dispatcher)
    assert sms.sent == []


async def test_a_receipt_about_another_recipient_changes_nothing(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await sent_template(dispatcher, phone=PHONE)
    assert row.provider_message_id is not None
    params, body = build_template_finish_event(
        OA_TOKEN,
        to_user=OA_ID,
        from_user="o_someone_else",
        msg_id=int(row.provider_message_id),
        status="failed:user block",
    )
    response = await client.post(EVENTS, params=params, content=body, headers={"Content-Type": "text/xml"})
    assert (response.status_code, response.text) == (200, "success")
    after = await reload(row)
    assert (after.status, after.channel, after.receipt_status) == (Status.SENT, "wechat", "")
    await drain(dispatcher)
    assert sms.sent == []


async def test_template_finish_user_block_without_another_channel_makes_the_row_dead(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    row = await sent_template(dispatcher)
    response = await post_event(client, row, "failed:user block")
    assert (response.status_code, response.text) == (200, "success")
    after = await reload(row)
    assert after.status is Status.DEAD
    assert after.last_error.startswith("wechat wechat_failed_userblock")
    assert await dispatcher.run_once() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"this is not xml",
        b"<xml><ToUserName>gh_x</ToUserName>",  # cut off
        b"<notxml><MsgType>event</MsgType></notxml>",
        b"<xml><ToUserName><![CDATA[gh_x]]></ToUserName></xml>",  # no MsgType
    ],
)
async def test_an_event_that_is_not_wechat_xml_is_400(
    client: httpx.AsyncClient, dispatcher: Dispatcher, body: bytes
) -> None:
    row = await sent_template(dispatcher)
    error = error_of(await client.post(EVENTS, params=signed(), content=body), 400)
    assert error["code"] == "bad_event"
    after = await reload(row)
    assert (after.status, after.receipt_status) == (Status.SENT, "")


async def test_an_event_with_a_bad_signature_changes_nothing(client: httpx.AsyncClient, dispatcher: Dispatcher) -> None:
    row = await sent_template(dispatcher, phone=PHONE)
    assert row.provider_message_id is not None
    params, body = build_template_finish_event(
        "not-our-token",
        to_user=OA_ID,
        from_user=OA_OPENID,
        msg_id=int(row.provider_message_id),
        status="failed:user block",
    )
    assert error_of(await client.post(EVENTS, params=params, content=body), 403)["code"] == "bad_signature"
    # A replay of a once-valid push is refused too.
    params, body = build_template_finish_event(
        OA_TOKEN,
        to_user=OA_ID,
        from_user=OA_OPENID,
        msg_id=int(row.provider_message_id),
        status="failed:user block",
        timestamp=int(time.time()) - 3600,
    )
    assert error_of(await client.post(EVENTS, params=params, content=body), 403)["code"] == "stale_timestamp"
    after = await reload(row)
    assert (after.status, after.channel_index, after.receipt_status) == (Status.SENT, 0, "")
    assert await outcomes(row) == [("wechat", "sent", "ok")]


async def test_an_event_for_an_unknown_message_is_acknowledged_and_changes_nothing(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    row = await sent_template(dispatcher)
    assert row.provider_message_id is not None
    params, body = build_template_finish_event(
        OA_TOKEN,
        to_user=OA_ID,
        from_user=OA_OPENID,
        msg_id=int(row.provider_message_id) + 999,
        status="failed:user block",
    )
    response = await client.post(EVENTS, params=params, content=body)
    assert (response.status_code, response.text) == (200, "success")
    assert (await reload(row)).status is Status.SENT


async def test_an_event_with_xml_entities_is_refused(client: httpx.AsyncClient, dispatcher: Dispatcher) -> None:
    # Entity expansion (billion laughs, external entities) is never processed.
    row = await sent_template(dispatcher)
    body = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "success">]>'
        "<xml><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event>"
        f"<MsgID>{row.provider_message_id}</MsgID><Status>&a;</Status></xml>"
    ).encode()
    assert error_of(await client.post(EVENTS, params=signed(), content=body), 400)["code"] == "bad_event"
    assert (await reload(row)).receipt_status == ""


async def test_an_oversized_event_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(EVENTS, params=signed(), content=b"<xml>" + b"x" * 300_000 + b"</xml>")
    assert error_of(response, 413)["code"] == "payload_too_large"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_signature_with_non_ascii_characters_is_403(client: httpx.AsyncClient, method: str) -> None:
    params = {**signed(), "signature": "é" * 40, "echostr": "1"}
    response = await client.request(method, EVENTS, params=params, content=b"" if method == "POST" else None)
    assert error_of(response, 403)["code"] == "bad_signature"


async def test_a_template_finish_event_with_a_non_numeric_msgid_is_400(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    row = await sent_template(dispatcher)
    body = (
        f"<xml><ToUserName><![CDATA[{OA_ID}]]></ToUserName><FromUserName><![CDATA[{OA_OPENID}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>not-a-number</MsgID>"
        "<Status><![CDATA[failed:user block]]></Status></xml>"
    ).encode()
    assert error_of(await client.post(EVENTS, params=signed(), content=body), 400)["code"] == "bad_event"
    assert (await reload(row)).status is Status.SENT


# SMS status callback ----------------------------------------------------------------------------------


async def test_sms_delivered_report_marks_the_row_delivered(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await sent_sms(dispatcher, channels=["sms"])
    [text] = sms.sent
    response = await post_status_callback_async(sms_url(client), [sms.status_report(text)])
    assert response.status_code == 200
    assert response.json() == {"result": 0, "errmsg": "OK"}
    after = await reload(row)
    assert (after.status, after.receipt_status) == (Status.SENT, "delivered")
    assert after.receipt_at is not None
    assert await outcomes(row) == [("sms", "sent", "ok"), ("sms", "receipt", "delivered")]


async def test_sms_fail_report_moves_the_row_on_to_email(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer
) -> None:
    row = await sent_sms(dispatcher, email=EMAIL)
    assert row.channel_list == ["sms", "email"]
    [text] = sms.sent
    response = await post_status_callback_async(sms_url(client), [sms.status_report(text, delivered=False)])
    assert response.json() == {"result": 0, "errmsg": "OK"}
    after = await reload(row)
    assert (after.status, after.channel_index) == (Status.PENDING, 1)
    assert after.receipt_status == "sms_MK:0001"
    # Tencent resends a callback it got no answer to: the repeat neither moves the row again nor kills it.
    await post_status_callback_async(sms_url(client), [sms.status_report(text, delivered=False)])
    again = await reload(row)
    assert (again.status, again.channel_index) == (Status.PENDING, 1)
    await drain(dispatcher)
    [mail] = smtp.wait_for(1)
    assert list(mail.rcpt_tos) == [EMAIL]
    after = await reload(row)
    assert (after.status, after.channel) == (Status.SENT, "email")
    assert len(sms.sent) == 1
    assert [o[:2] for o in await outcomes(row)] == [
        ("sms", "sent"),
        ("sms", "receipt"),
        ("sms", "receipt"),
        ("email", "sent"),
    ]


async def test_sms_callback_with_a_wrong_or_missing_token_is_refused(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await sent_sms(dispatcher, channels=["sms"])
    reports = [sms.status_report(sms.sent[0], delivered=False)]
    response = await post_status_callback_async(sms_url(client, "sms-callback-token-wrong"), reports)
    assert error_of(response, 403)["code"] == "bad_token"
    error_of(await client.post(SMS_STATUS, json=reports), 422)
    after = await reload(row)
    assert (after.status, after.receipt_status) == (Status.SENT, "")


@pytest.mark.parametrize(
    "body",
    [b"not json", b"", b'"a string"', b"[1, 2]", b'[{"sid": "x", "report_status": "MAYBE", "mobile": "1"}]'],
)
async def test_sms_callback_that_is_not_a_report_list_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(SMS_STATUS, params={"token": SMS_TOKEN}, content=body)
    assert error_of(response, 400)["code"] == "bad_callback"


async def test_sms_report_for_another_number_changes_nothing(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await sent_sms(dispatcher, email=EMAIL)
    report = sms.status_report(sms.sent[0], delivered=False)
    report["mobile"] = "13900000009"
    response = await post_status_callback_async(sms_url(client), [report])
    assert response.json() == {"result": 0, "errmsg": "OK"}
    after = await reload(row)
    assert (after.status, after.channel_index, after.receipt_status) == (Status.SENT, 0, "")
    assert await outcomes(row) == [("sms", "sent", "ok")]


async def test_sms_report_with_a_non_ascii_mobile_is_ignored(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await sent_sms(dispatcher, email=EMAIL)
    report = sms.status_report(sms.sent[0], delivered=False)
    report["mobile"] = PHONE[:-1] + "\uff11"  # a full-width digit one
    response = await post_status_callback_async(sms_url(client), [report])
    assert response.status_code in (200, 400), response.text
    after = await reload(row)
    assert (after.status, after.channel_index, after.receipt_status) == (Status.SENT, 0, "")


async def test_sms_callback_with_several_reports_applies_each(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    first = await sent_sms(dispatcher, key="k1", channels=["sms"], event_key="e1")
    second = await sent_sms(dispatcher, key="k2", channels=["sms"], event_key="e2")
    one, two = sms.sent
    response = await post_status_callback_async(
        sms_url(client), [sms.status_report(one), sms.status_report(two, delivered=False)]
    )
    assert response.json() == {"result": 0, "errmsg": "OK"}
    assert (await reload(first)).receipt_status == "delivered"
    after = await reload(second)
    assert (after.status, after.receipt_status) == (Status.DEAD, "sms_MK:0001")
    assert (await post_status_callback_async(sms_url(client), [])).json() == {"result": 0, "errmsg": "OK"}


async def _in_doubt_sms(dispatcher: Dispatcher, sms: SmsFake) -> Notification:
    """An SMS row whose dispatcher sent it and died before recording it, then taken again by
    ``dispatcher``: it waits for the receipt."""
    row = await outbox.enqueue(
        template="ebike.stolen", data=STOLEN, idempotency_key="k-doubt", phone=PHONE, channels=["sms"]
    )
    dead_worker = Dispatcher(channels=dispatcher.channels, redis=dispatcher.redis, policy=dispatcher.policy)
    dead_worker.worker = "dead"
    [claimed], _ = await dead_worker.claim()
    # What a dispatcher writes before it calls the provider: the mark that a send started.
    await Notification.filter(id=row.id).update(sending_channel="sms", send_started_at=dt.datetime.now(dt.UTC))
    result = await dead_worker.channels["sms"].send(
        Message(claimed.public_id, claimed.template, dict(STOLEN), Recipient(phone=PHONE), 1)
    )
    assert result.outcome is Outcome.SENT
    await Notification.filter(id=row.id).update(lease_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert await dispatcher.run_once() == 1
    row = await reload(row)
    assert (row.status, row.in_doubt, row.provider_message_id) == (Status.FAILED, True, None)
    assert len(sms.sent) == 1
    return row


async def test_the_receipt_of_an_unrecorded_sms_settles_an_in_doubt_row(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await _in_doubt_sms(dispatcher, sms)
    [text] = sms.sent
    assert text.session_context == row.public_id
    response = await post_status_callback_async(sms_url(client), [sms.status_report(text)])
    assert response.json() == {"result": 0, "errmsg": "OK"}
    after = await reload(row)
    assert (after.status, after.channel, after.in_doubt) == (Status.SENT, "sms", False)
    assert (after.provider_message_id, after.receipt_status) == (text.serial_no, "delivered")
    assert after.lease_owner is None
    await make_due(row)
    assert await dispatcher.run_once() == 0
    assert len(sms.sent) == 1


async def test_a_fail_receipt_of_an_unrecorded_sms_lets_the_row_send_again(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await _in_doubt_sms(dispatcher, sms)
    response = await post_status_callback_async(sms_url(client), [sms.status_report(sms.sent[0], delivered=False)])
    assert response.json() == {"result": 0, "errmsg": "OK"}
    after = await reload(row)
    assert (after.status, after.channel_index) == (Status.FAILED, 0)  # not moved on, not dead
    await make_due(row)
    await dispatcher.run_once()
    assert len(sms.sent) == 2
    assert (await reload(row)).status is Status.SENT


# Admin API --------------------------------------------------------------------------------------------


async def admin_headers(app: Sanic, role: Role = Role.ADMIN) -> dict[str, str]:
    return auth(await token_for(app, await make_account(role)))


async def dead_rows(dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer, count: int = 1) -> list[Notification]:
    """Rows that failed on SMS (blacklisted) and on email (550): dead, oldest first."""
    sms.fail_number("+86" + PHONE, "FailedOperation.PhoneNumberInBlacklist")
    smtp.reject_recipient(EMAIL, 550)
    rows = [
        await outbox.enqueue(
            template="ebike.stolen",
            data=STOLEN,
            idempotency_key=f"dead-{n}",
            event_key=f"e-{n}",
            phone=PHONE,
            email=EMAIL,
            channels=["sms", "email"],
        )
        for n in range(count)
    ]
    await drain(dispatcher)
    rows = [await reload(r) for r in rows]
    assert all(r.status is Status.DEAD for r in rows)
    return rows


def assert_no_personal_data(response: httpx.Response) -> None:
    assert PHONE not in response.text
    assert EMAIL not in response.text
    assert "owner@" not in response.text


async def test_admin_lists_dead_rows_with_counts_and_pages(
    client: httpx.AsyncClient, app: Sanic, dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer
) -> None:
    rows = await dead_rows(dispatcher, sms, smtp, count=3)
    headers = await admin_headers(app)
    response = await client.get(ADMIN, params={"status": "dead"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert [item["id"] for item in body["items"]] == [r.public_id for r in reversed(rows)]  # newest first
    assert body["next_cursor"] is None
    assert body["counts"] == {"pending": 0, "sending": 0, "sent": 0, "failed": 0, "dead": 3}
    first = body["items"][0]
    assert (first["status"], first["template"], first["title"]) == ("dead", "ebike.stolen", "电动车被盗报警")
    assert first["channels"] == ["sms", "email"]
    assert first["recipient"] == {
        "account": None,
        "wechat": False,
        "phone": MASKED_PHONE,
        "email": MASKED_EMAIL,
        "hidden": None,
    }
    assert_no_personal_data(response)

    page1 = await client.get(ADMIN, params={"status": "dead", "limit": 2}, headers=headers)
    items1 = page1.json()["items"]
    assert [i["id"] for i in items1] == [rows[2].public_id, rows[1].public_id]
    cursor = page1.json()["next_cursor"]
    assert cursor == rows[1].public_id
    page2 = await client.get(ADMIN, params={"status": "dead", "limit": 2, "cursor": cursor}, headers=headers)
    assert [i["id"] for i in page2.json()["items"]] == [rows[0].public_id]
    assert page2.json()["next_cursor"] is None


async def test_admin_list_filters_by_status(
    client: httpx.AsyncClient, app: Sanic, dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer
) -> None:
    [dead] = await dead_rows(dispatcher, sms, smtp)
    sms.clear_number("+86" + PHONE)
    sent = await sent_sms(dispatcher, key="k-ok", channels=["sms"])
    headers = await admin_headers(app)
    body = (await client.get(ADMIN, params={"status": "sent"}, headers=headers)).json()
    assert [i["id"] for i in body["items"]] == [sent.public_id]
    assert body["counts"]["dead"] == 1 and body["counts"]["sent"] == 1
    body = (await client.get(ADMIN, headers=headers)).json()
    assert [i["id"] for i in body["items"]] == [sent.public_id, dead.public_id]


async def test_admin_detail_shows_every_attempt(
    client: httpx.AsyncClient, app: Sanic, dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer
) -> None:
    [row] = await dead_rows(dispatcher, sms, smtp)
    response = await client.get(f"{ADMIN}/{row.public_id}", headers=await admin_headers(app))
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["total_attempts"]) == (row.public_id, "dead", 2)
    assert body["last_error"].startswith("email smtp_550")
    assert [(h["channel"], h["outcome"], h["code"]) for h in body["history"]] == [
        ("sms", "permanent", "FailedOperation.PhoneNumberInBlacklist"),
        ("email", "permanent", "smtp_550"),
    ]
    assert all(h["worker"] == dispatcher.worker for h in body["history"])
    assert body["recipient"]["phone"] == MASKED_PHONE
    assert body["recipient"]["email"] == MASKED_EMAIL
    assert_no_personal_data(response)


async def test_admin_retry_queues_a_dead_row_again_and_it_is_sent(
    client: httpx.AsyncClient, app: Sanic, dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer
) -> None:
    [row] = await dead_rows(dispatcher, sms, smtp)
    admin = await make_account(Role.ADMIN)
    response = await client.post(f"{ADMIN}/{row.public_id}/retry", headers=auth(await token_for(app, admin)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["attempts"]) == (row.public_id, "pending", 0)
    assert_no_personal_data(response)
    after = await reload(row)
    assert (after.status, after.channel_index, after.attempts) == (Status.PENDING, 0, 0)
    [entry] = await AuditEntry.filter(action="notification.retry")
    assert (entry.actor, entry.role, entry.target) == (admin.public_id, "admin", row.public_id)
    assert entry.details == {"template": "ebike.stolen"}
    assert PHONE not in str(entry.details)

    sms.clear_number("+86" + PHONE)
    await drain(dispatcher)
    after = await reload(row)
    assert (after.status, after.channel) == (Status.SENT, "sms")
    assert [s.phone for s in sms.sent] == ["+86" + PHONE]
    assert (await outcomes(row))[-2:] == [("", "admin", "retry"), ("sms", "sent", "ok")]
    history = (await client.get(f"{ADMIN}/{row.public_id}", headers=auth(await token_for(app, admin)))).json()
    assert history["history"][2]["worker"] == f"admin:{admin.public_id}"


async def test_admin_retry_of_a_waiting_row_makes_it_due_now(
    client: httpx.AsyncClient, app: Sanic, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    sms.fail_next("InternalError.Timeout")
    row = await outbox.enqueue(
        template="ebike.stolen", data=STOLEN, idempotency_key="k-wait", phone=PHONE, channels=["sms"]
    )
    await dispatcher.run_once()
    row = await reload(row)
    assert row.status is Status.FAILED and row.next_attempt_at > dt.datetime.now(dt.UTC)
    response = await client.post(f"{ADMIN}/{row.public_id}/retry", headers=await admin_headers(app))
    assert response.json()["status"] == "pending"
    assert await dispatcher.run_once() == 1  # due at once: no waiting out the backoff
    assert (await reload(row)).status is Status.SENT
    assert len(sms.sent) == 1


async def test_admin_retry_of_a_sent_row_is_409(
    client: httpx.AsyncClient, app: Sanic, dispatcher: Dispatcher, sms: SmsFake
) -> None:
    row = await sent_sms(dispatcher, channels=["sms"])
    error = error_of(await client.post(f"{ADMIN}/{row.public_id}/retry", headers=await admin_headers(app)), 409)
    assert error["code"] == "notification_not_retryable"
    assert error["details"] == {"status": "sent", "allowed": ["dead", "failed"]}
    assert (await reload(row)).status is Status.SENT
    assert await AuditEntry.filter(action="notification.retry").count() == 0


async def test_admin_unknown_notification_is_404(client: httpx.AsyncClient, app: Sanic) -> None:
    headers = await admin_headers(app)
    assert error_of(await client.get(f"{ADMIN}/nNoSuchNotification", headers=headers), 404)["code"] == (
        "notification_not_found"
    )
    response = await client.post(f"{ADMIN}/nNoSuchNotification/retry", headers=headers)
    assert error_of(response, 404)["code"] == "notification_not_found"
    response = await client.get(ADMIN, params={"cursor": "nNoSuchNotification"}, headers=headers)
    assert error_of(response, 422)["code"] == "bad_cursor"


@pytest.mark.parametrize("role", [Role.RESIDENT, Role.POLICE])
async def test_admin_api_is_for_admins_only(
    client: httpx.AsyncClient, app: Sanic, dispatcher: Dispatcher, sms: SmsFake, smtp: SmtpServer, role: Role
) -> None:
    [row] = await dead_rows(dispatcher, sms, smtp)
    headers = await admin_headers(app, role)
    for response in (
        await client.get(ADMIN, headers=headers),
        await client.get(f"{ADMIN}/{row.public_id}", headers=headers),
        await client.post(f"{ADMIN}/{row.public_id}/retry", headers=headers),
    ):
        assert error_of(response, 403)["code"] == "forbidden"
        assert_no_personal_data(response)
    assert (await reload(row)).status is Status.DEAD
    assert error_of(await client.get(ADMIN), 401)["code"] == "unauthorized"


@pytest.mark.parametrize(
    "params",
    [{"status": "nope"}, {"limit": "0"}, {"limit": "501"}, {"limit": "many"}, {"colour": "red"}],
)
async def test_admin_list_with_a_bad_query_is_422(
    client: httpx.AsyncClient, app: Sanic, params: dict[str, str]
) -> None:
    response = await client.get(ADMIN, params=params, headers=await admin_headers(app))
    assert error_of(response, 422)["code"] == "validation_failed"


def _forged_delivered_report(row: Notification, sid: str) -> dict[str, Any]:
    """A delivery report as someone holding the callback token could write it: the row's number and its
    public id as session context, for a send that never happened."""
    return {
        "user_receive_time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "nationcode": "86",
        "mobile": PHONE,
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": sid,
        "ext": row.public_id,
    }


@pytest.mark.parametrize("status", [Status.PENDING, Status.FAILED, Status.DEAD])
async def test_a_delivered_report_settles_no_sms_that_was_never_sent(
    client: httpx.AsyncClient, dispatcher: Dispatcher, sms: SmsFake, status: Status
) -> None:
    # The same rule as WeChat's send results: a report without a recorded serial settles only a row whose
    # send on SMS had started (a dispatcher died mid-send, or its answer was lost), never a queued, a
    # waiting (not in doubt) or a dead one: that would stop a message nobody sent.
    row = await outbox.enqueue(
        template="ebike.stolen", data=STOLEN, idempotency_key=f"k-never-{status}", phone=PHONE, channels=["sms"]
    )
    await Notification.filter(id=row.id).update(status=status)
    before = await reload(row)
    response = await post_status_callback_async(sms_url(client), [_forged_delivered_report(row, "forged-1")])
    assert response.json() == {"result": 0, "errmsg": "OK"}
    after = await reload(row)
    assert (after.status, after.provider_message_id, after.receipt_status) == (before.status, None, "")
    assert await outcomes(row) == []
    if status is not Status.DEAD:
        await make_due(row)
        await dispatcher.run_once()
        assert (await reload(row)).status is Status.SENT
        assert len(sms.sent) == 1


async def test_a_template_finish_event_whose_apply_failed_is_applied_when_sent_again(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    from tests.notify.test_subscribe_results import attempt_insert_fails_once

    row = await sent_template(dispatcher, phone=PHONE)
    assert row.provider_message_id is not None
    params, body = build_template_finish_event(
        OA_TOKEN, to_user=OA_ID, from_user=OA_OPENID, msg_id=int(row.provider_message_id), status="failed:user block"
    )
    failed: list[str] = []
    with attempt_insert_fails_once(failed):
        first = await client.post(EVENTS, params=params, content=body)
    assert failed and first.status_code == 500
    # WeChat sends the very same request again: applied this time, not taken for one already applied.
    again = await client.post(EVENTS, params=params, content=body)
    assert (again.status_code, again.text) == (200, "success")
    after = await reload(row)
    assert (after.status, after.channel_index, after.receipt_status) == (Status.PENDING, 1, "wechat_failed_userblock")
