"""Tencent Cloud SMS client: TC3 signing against Tencent's published example, then real HTTP
against the loopback gateway fake (which checks the signature with its own implementation)."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from identity.pii import mask_phone
from notify.sms_tencent import (
    CALLBACK_ACK,
    MAX_NUMBERS_PER_CALL,
    Outcome,
    SmsCallbackError,
    SmsRequestError,
    TencentSmsClient,
    TencentSmsConfig,
    classify,
    parse_status_callback,
    sign_tc3,
)
from tests.support.sms_fake import SmsFake, post_status_callback_async

P1, P2, P3, P4 = "+8613800000001", "+8613800000002", "+8613800000003", "+8613800000004"
TEMPLATE = "1110"


@pytest.fixture
def sms() -> Iterator[SmsFake]:
    with SmsFake() as fake:
        yield fake
    assert fake.server_errors == []


def make_client(sms: SmsFake, **overrides: Any) -> TencentSmsClient:
    clock = overrides.pop("clock", time.time)
    settings: dict[str, Any] = {**sms.client_settings(), "timeout": 5.0, **overrides}
    return TencentSmsClient(TencentSmsConfig(**settings), clock=clock)


@pytest.fixture
async def sms_client(sms: SmsFake) -> AsyncIterator[TencentSmsClient]:
    async with make_client(sms) as client:
        yield client


# ------------------------------------------------------------------ signing: Tencent's own example

# The worked example of Tencent Cloud's "签名方法 v3" page (CVM DescribeInstances, Guangzhou), as
# published with masked credentials; every intermediate value below is the one printed there.
DOC_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******"
DOC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3*******"
DOC_TIMESTAMP = 1551113065  # 2019-02-25 16:44:25 UTC, already 2019-02-26 in Beijing
DOC_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'


def test_signature_matches_tencent_documented_example() -> None:
    signed = sign_tc3(
        secret_id=DOC_SECRET_ID,
        secret_key=DOC_SECRET_KEY,
        service="cvm",
        host="cvm.tencentcloudapi.com",
        timestamp=DOC_TIMESTAMP,
        payload=DOC_PAYLOAD,
    )
    assert signed.canonical_request == (
        "POST\n/\n\n"
        "content-type:application/json; charset=utf-8\n"
        "host:cvm.tencentcloudapi.com\n\n"
        "content-type;host\n"
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    # The credential date is the UTC date, not Beijing's.
    assert signed.string_to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    )
    assert signed.signature == "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    assert signed.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
    )


def test_signing_the_action_header_lowercases_its_value() -> None:
    signed = sign_tc3(
        secret_id="id",
        secret_key="key",
        service="sms",
        host="sms.tencentcloudapi.com",
        timestamp=DOC_TIMESTAMP,
        payload=b"{}",
        action="SendSms",
    )
    assert "\nhost:sms.tencentcloudapi.com\nx-tc-action:sendsms\n\ncontent-type;host;x-tc-action\n" in (
        signed.canonical_request
    )
    assert "SignedHeaders=content-type;host;x-tc-action, " in signed.authorization
    assert (
        signed.signature
        != sign_tc3(
            secret_id="id",
            secret_key="key",
            service="sms",
            host="sms.tencentcloudapi.com",
            timestamp=DOC_TIMESTAMP,
            payload=b"{}",
        ).signature
    )


# ------------------------------------------------------------------ sending


@pytest.mark.parametrize("sign_action_header", [True, False])
async def test_sends_to_several_numbers_and_echoes_session_context(sms: SmsFake, sign_action_header: bool) -> None:
    async with make_client(sms, sign_action_header=sign_action_header) as client:
        report = await client.send(
            [P1, "13800000002", P3],  # a bare mainland mobile is sent as E.164
            template_id=TEMPLATE,
            params=["张三", "4370"],
            session_context="ntf_01HZX3",
            extend_code="10",
        )

    assert report.ok and report.error_code is None
    assert [r.phone for r in report.results] == [P1, P2, P3]
    assert all(r.classification.outcome is Outcome.SENT and r.code == "Ok" for r in report.results)
    assert [r.session_context for r in report.results] == ["ntf_01HZX3"] * 3
    assert [r.fee for r in report.results] == [1, 1, 1]
    assert [r.serial_no for r in report.results] == [s.serial_no for s in sms.sent]
    assert all(r.iso_code == "CN" for r in report.results)

    (call,) = sms.calls
    assert call.auth_error is None
    assert report.request_id == call.response["Response"]["RequestId"]
    assert call.headers["x-tc-action"] == "SendSms"
    assert call.headers["x-tc-version"] == "2021-01-11"
    assert call.headers["x-tc-region"] == "ap-guangzhou"
    assert abs(int(call.headers["x-tc-timestamp"]) - time.time()) < 5
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    signed = "content-type;host;x-tc-action" if sign_action_header else "content-type;host"
    assert f"SignedHeaders={signed}, " in call.headers["authorization"]
    assert call.json == {
        "PhoneNumberSet": [P1, P2, P3],
        "SmsSdkAppId": sms.sdk_app_id,
        "TemplateId": TEMPLATE,
        "TemplateParamSet": ["张三", "4370"],
        "SignName": sms.sign_name,
        "SessionContext": "ntf_01HZX3",
        "ExtendCode": "10",
    }
    assert [(s.phone, s.params, s.session_context) for s in sms.sent] == [
        (p, ["张三", "4370"], "ntf_01HZX3") for p in (P1, P2, P3)
    ]


async def test_per_number_failures_are_classified(sms: SmsFake, sms_client: TencentSmsClient) -> None:
    sms.fail_number(P2, "LimitExceeded.PhoneNumberDailyLimit")
    sms.fail_number(P3, "FailedOperation.PhoneNumberInBlacklist")
    sms.fail_number(P4, "LimitExceeded.PhoneNumberOneHourLimit")
    short = "+86138000"  # E.164-shaped, but no mainland mobile: the gateway refuses it

    report = await sms_client.send([P1, P2, P3, P4, short], template_id=TEMPLATE, session_context="ntf_7")

    assert not report.ok and report.error_code is None  # the call itself succeeded
    r1, r2, r3, r4, r5 = report.results
    assert r1.ok and r1.serial_no
    assert (r2.code, r2.permanent, r2.alert) == ("LimitExceeded.PhoneNumberDailyLimit", True, False)
    assert (r3.code, r3.permanent, r3.alert) == ("FailedOperation.PhoneNumberInBlacklist", True, False)
    assert (r4.code, r4.retryable, r4.retry_after) == ("LimitExceeded.PhoneNumberOneHourLimit", True, 3600.0)
    assert (r5.code, r5.permanent, r5.alert) == ("InvalidParameterValue.IncorrectPhoneNumber", True, False)
    assert all(r.serial_no is None and r.fee == 0 for r in (r2, r3, r4, r5))
    assert all(r.session_context == "ntf_7" for r in report.results)
    assert r2.message  # Tencent's explanation is kept for the error history
    assert [s.phone for s in sms.sent] == [P1]


async def test_unapproved_template_is_permanent_and_alerts(sms: SmsFake, sms_client: TencentSmsClient) -> None:
    sms.allow_templates("1110")
    report = await sms_client.send([P1], template_id="9999")
    (result,) = report.results
    assert (result.code, result.permanent, result.alert) == (
        "FailedOperation.TemplateIncorrectOrUnapproved",
        True,
        True,
    )
    assert sms.sent == []


@pytest.mark.parametrize(
    ("code", "outcome", "alert", "maybe_sent"),
    [
        ("InternalError.Timeout", Outcome.RETRYABLE, False, True),
        ("RequestLimitExceeded", Outcome.RETRYABLE, False, False),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", Outcome.PERMANENT, True, False),
        ("FailedOperation.InsufficientBalanceInSmsPackage", Outcome.PERMANENT, True, False),
    ],
)
async def test_request_level_errors_apply_to_every_number(
    sms: SmsFake, sms_client: TencentSmsClient, code: str, outcome: Outcome, alert: bool, maybe_sent: bool
) -> None:
    sms.fail_next(code, "scripted failure")
    report = await sms_client.send([P1, P2], template_id=TEMPLATE, session_context="ntf_9")

    assert report.error_code == code and report.error_message == "scripted failure"
    assert report.request_id == sms.calls[0].response["Response"]["RequestId"]
    assert [(r.code, r.classification.outcome, r.alert, r.maybe_sent) for r in report.results] == [
        (code, outcome, alert, maybe_sent)
    ] * 2
    assert [r.session_context for r in report.results] == ["ntf_9", "ntf_9"]
    assert sms.sent == []
    # The next call goes through: the script was for one call only.
    assert (await sms_client.send([P1], template_id=TEMPLATE)).ok


async def test_wrong_secret_is_a_signature_failure_that_alerts(sms: SmsFake) -> None:
    async with make_client(sms, secret_key="not-the-secret") as client:
        report = await client.send([P1, P2], template_id=TEMPLATE)
    assert report.error_code == "AuthFailure.SignatureFailure"
    assert all(r.permanent and r.alert and not r.maybe_sent for r in report.results)
    assert sms.calls[0].auth_error == "AuthFailure.SignatureFailure"
    assert sms.sent == []


async def test_unknown_secret_id(sms: SmsFake) -> None:
    async with make_client(sms, secret_id="AKIDunknown") as client:
        report = await client.send([P1], template_id=TEMPLATE)
    assert report.error_code == "AuthFailure.SecretIdNotFound"
    assert report.results[0].permanent and report.results[0].alert


async def test_tampered_body_fails_the_signature(sms: SmsFake, sms_client: TencentSmsClient) -> None:
    _numbers, payload = sms_client.build_request([P1], template_id=TEMPLATE)
    headers = sms_client.sign_headers(payload)
    tampered = payload.replace(P1.encode(), P2.encode())
    async with httpx.AsyncClient() as raw:
        answer = (await raw.post(sms.base_url, content=tampered, headers=headers)).json()
        good = (await raw.post(sms.base_url, content=payload, headers=headers)).json()
    assert answer["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert good["Response"]["SendStatusSet"][0]["Code"] == "Ok"
    assert [s.phone for s in sms.sent] == [P1]


@pytest.mark.parametrize(("skew", "expected"), [(-400, "AuthFailure.SignatureExpire"), (-200, None)])
async def test_clock_skew(sms: SmsFake, skew: int, expected: str | None) -> None:
    async with make_client(sms, clock=lambda: time.time() + skew) as client:
        report = await client.send([P1], template_id=TEMPLATE)
    assert report.error_code == expected
    if expected:
        # Our clock is wrong, not the message: retry once NTP is fixed, and tell an operator.
        assert report.results[0].retryable and report.results[0].alert
        assert "Signature expired" in (report.error_message or "")
    else:
        assert report.ok


async def test_timeout_is_retryable_and_may_have_been_sent(sms: SmsFake) -> None:
    sms.delay_next(1.0)
    async with make_client(sms, timeout=0.2) as client:
        started = time.monotonic()
        report = await client.send([P1], template_id=TEMPLATE, session_context="ntf_t")
        assert time.monotonic() - started < 0.9
    (result,) = report.results
    assert (result.code, result.retryable, result.maybe_sent) == ("Transport.Timeout", True, True)
    assert result.session_context == "ntf_t"
    # What makes a blind retry risky: the gateway carried on and sent it anyway.
    await asyncio.to_thread(sms.wait_for_calls, 1, 3.0)
    assert [s.session_context for s in sms.sent] == ["ntf_t"]


async def test_unreachable_gateway_is_retryable_and_nothing_was_sent() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = TencentSmsConfig(
        secret_id="AKIDx",
        secret_key="k",
        sdk_app_id="1400000001",
        sign_name="光明e证",
        endpoint=f"http://127.0.0.1:{port}/",
        timeout=2.0,
    )
    async with TencentSmsClient(config) as client:
        report = await client.send([P1], template_id=TEMPLATE)
    (result,) = report.results
    assert (result.code, result.retryable, result.maybe_sent) == ("Transport.ConnectFailed", True, False)


@pytest.mark.parametrize(
    ("status", "outcome", "alert"),
    [(502, Outcome.RETRYABLE, False), (503, Outcome.RETRYABLE, False), (403, Outcome.PERMANENT, True)],
)
async def test_http_errors(
    sms: SmsFake, sms_client: TencentSmsClient, status: int, outcome: Outcome, alert: bool
) -> None:
    sms.fail_next_http(status)
    report = await sms_client.send([P1, P2], template_id=TEMPLATE)
    assert report.error_code == "Transport.HttpStatus"
    assert [(r.http_status, r.classification.outcome, r.alert) for r in report.results] == [
        (status, outcome, alert)
    ] * 2
    assert sms.sent == []


async def test_exactly_200_numbers_in_one_call(sms: SmsFake, sms_client: TencentSmsClient) -> None:
    phones = [f"+86138{n:08d}" for n in range(MAX_NUMBERS_PER_CALL)]
    report = await sms_client.send(phones, template_id=TEMPLATE)
    assert report.ok and len(report.results) == 200 and len(sms.sent) == 200


@pytest.mark.parametrize(
    ("phones", "kwargs"),
    [
        ([f"+86138{n:08d}" for n in range(MAX_NUMBERS_PER_CALL + 1)], {}),
        ([], {}),
        ([P1, P1], {}),
        ([P1, "0755-1234567"], {}),
        ([P1], {"session_context": "x" * 512}),
        ([P1], {"params": ["ok", 42]}),
        ([P1], {"template_id": ""}),
    ],
    ids=["201-numbers", "none", "duplicate", "not-a-mobile", "long-context", "non-string-param", "no-template"],
)
async def test_bad_requests_are_refused_before_sending(
    sms: SmsFake, sms_client: TencentSmsClient, phones: list[str], kwargs: dict[str, Any]
) -> None:
    kwargs = {"template_id": TEMPLATE, **kwargs}
    with pytest.raises(SmsRequestError) as excinfo:
        await sms_client.send(phones, **kwargs)
    assert "1234567" not in str(excinfo.value)  # the refused number is masked
    assert sms.calls == []


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG, ours included: once an app has configured logging, "gmid" stops
    propagating to the root logger, where caplog listens."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="gmid")
    gmid = logging.getLogger("gmid")
    gmid.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        gmid.removeHandler(caplog.handler)


async def test_phone_numbers_and_secrets_never_reach_the_logs(
    sms: SmsFake, sms_client: TencentSmsClient, all_logs: pytest.LogCaptureFixture
) -> None:
    sms.fail_number(P2, "FailedOperation.PhoneNumberInBlacklist")
    sms.fail_number(P3, "InvalidParameterValue.IncorrectPhoneNumber")
    await sms_client.send([P1, P2, P3], template_id=TEMPLATE)
    sms.fail_next("InternalError.Timeout")
    await sms_client.send([P4], template_id=TEMPLATE)
    with pytest.raises(SmsRequestError):
        await sms_client.send(["+8613899999999", "+8613899999999"], template_id=TEMPLATE)

    text = all_logs.text
    assert "failed code=FailedOperation.PhoneNumberInBlacklist" in text  # failures are logged...
    assert mask_phone(P2) in text  # ...with the number masked
    for phone in (P1, P2, P3, P4, "+8613899999999"):
        assert phone not in text and phone[3:] not in text
    assert sms.secret_key not in text
    report_repr = repr(await sms_client.send([P1], template_id=TEMPLATE))
    assert P1 not in report_repr and P1[3:] not in report_repr
    assert sms.secret_key not in repr(sms_client.config) and sms.secret_key not in repr(sms_client)


# ------------------------------------------------------------------ classification table


@pytest.mark.parametrize(
    ("code", "http_status", "outcome", "alert", "retry_after", "maybe_sent"),
    [
        ("Ok", None, Outcome.SENT, False, None, False),
        ("InternalError.Timeout", None, Outcome.RETRYABLE, False, None, True),
        ("InternalError.SendAndRecvFail", None, Outcome.RETRYABLE, False, None, True),
        ("InternalError.SigVerificationFail", None, Outcome.PERMANENT, True, None, False),
        ("InternalError.RequestTimeException", None, Outcome.RETRYABLE, True, None, False),
        ("RequestLimitExceeded", None, Outcome.RETRYABLE, False, None, False),
        ("RequestLimitExceeded.IPLimitExceeded", None, Outcome.RETRYABLE, False, None, False),
        ("LimitExceeded.PhoneNumberThirtySecondLimit", None, Outcome.RETRYABLE, False, 30.0, False),
        ("LimitExceeded.PhoneNumberOneHourLimit", None, Outcome.RETRYABLE, False, 3600.0, False),
        ("LimitExceeded.PhoneNumberDailyLimit", None, Outcome.PERMANENT, False, None, False),
        ("LimitExceeded.AppDailyLimit", None, Outcome.PERMANENT, True, None, False),
        ("FailedOperation.PhoneNumberInBlacklist", None, Outcome.PERMANENT, False, None, False),
        ("FailedOperation.SignatureIncorrectOrUnapproved", None, Outcome.PERMANENT, True, None, False),
        ("InvalidParameterValue.IncorrectPhoneNumber", None, Outcome.PERMANENT, False, None, False),
        ("InvalidParameterValue.TemplateParameterLengthLimit", None, Outcome.PERMANENT, True, None, False),
        ("AuthFailure.SignatureFailure", None, Outcome.PERMANENT, True, None, False),
        ("AuthFailure.SignatureExpire", None, Outcome.RETRYABLE, True, None, False),
        ("UnauthorizedOperation.SerivceSuspendDueToArrears", None, Outcome.PERMANENT, True, None, False),
        ("Transport.HttpStatus", 429, Outcome.RETRYABLE, False, None, False),
        ("Transport.HttpStatus", 500, Outcome.RETRYABLE, False, None, True),
        ("Transport.HttpStatus", 404, Outcome.PERMANENT, True, None, False),
        ("SomethingNew.NeverSeen", None, Outcome.PERMANENT, True, None, False),
    ],
)
def test_classification_table(
    code: str, http_status: int | None, outcome: Outcome, alert: bool, retry_after: float | None, maybe_sent: bool
) -> None:
    c = classify(code, http_status=http_status)
    assert (c.outcome, c.alert, c.retry_after, c.maybe_sent) == (outcome, alert, retry_after, maybe_sent)


# ------------------------------------------------------------------ status callback


class _Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True
    bodies: list[bytes]


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        self.server.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        data = json.dumps(CALLBACK_ACK).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_status_callback_round_trip(sms: SmsFake, sms_client: TencentSmsClient) -> None:
    report = await sms_client.send([P1, P2], template_id=TEMPLATE, session_context="ntf_cb")
    first, second = sms.sent
    at = dt.datetime(2025, 3, 1, 0, 3, 4, tzinfo=dt.UTC)
    reports = [
        sms.status_report(first, received_at=at),
        sms.status_report(second.serial_no, delivered=False, errmsg="MK:0005", description="空号"),
    ]
    receiver = _Receiver(("127.0.0.1", 0), _ReceiverHandler)
    receiver.bodies = []
    thread = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        answer = await post_status_callback_async(f"http://127.0.0.1:{receiver.server_address[1]}/sms/status", reports)
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert answer.json() == {"result": 0, "errmsg": "OK"}

    ok, failed = parse_status_callback(receiver.bodies[0])
    assert (ok.serial_no, ok.phone, ok.delivered, ok.errmsg) == (report.results[0].serial_no, P1, True, "DELIVRD")
    assert ok.received_at == at and ok.session_context == "ntf_cb"
    assert (failed.serial_no, failed.phone, failed.delivered) == (report.results[1].serial_no, P2, False)
    assert (failed.status, failed.errmsg, failed.description) == ("FAIL", "MK:0005", "空号")
    assert P1 not in repr(ok)


def test_parse_documented_callback_example() -> None:
    body = """[{"user_receive_time": "2015-10-17 08:03:04", "nationcode": "86", "mobile": "13800000001",
               "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
               "sid": "xxxxxxx"}]"""
    (receipt,) = parse_status_callback(body)
    assert receipt.phone == P1 and receipt.delivered and receipt.serial_no == "xxxxxxx"
    assert receipt.received_at == dt.datetime(2015, 10, 17, 0, 3, 4, tzinfo=dt.UTC)  # Beijing time on the wire
    assert receipt.session_context is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"sid": "x"}',
        b"[1]",
        b'[{"mobile": "13800000001", "report_status": "SUCCESS"}]',
        b'[{"sid": "x", "mobile": "13800000001", "report_status": "MAYBE"}]',
        b'[{"sid": "x", "report_status": "FAIL"}]',
    ],
)
def test_malformed_callbacks_are_rejected(body: bytes) -> None:
    with pytest.raises(SmsCallbackError) as excinfo:
        parse_status_callback(body)
    assert "13800000001" not in str(excinfo.value)
