"""A loopback fake of Tencent Cloud SMS ``SendSms`` (API 2021-01-11) for tests.

Real HTTP on ``127.0.0.1`` (ephemeral port), from :class:`tests.support.fake_base.LoopbackFake`
(the server, call recording, fake clock and scripting it shares with :mod:`tests.support.wechat_fake`),
so blocking and async clients can call it from any thread or event loop. It speaks the wire format of
Tencent Cloud API 3.0: ``POST /`` with a JSON body and ``X-TC-*`` headers; every answer is HTTP 200
with ``{"Response": {..., "RequestId"}}``, errors as ``{"Response": {"Error": {"Code", "Message"},
"RequestId"}}``.

Quick start::

    with SmsFake() as sms:                          # SecretId "AKIDfake...", SecretKey "fake-secret-key"
        config = TencentSmsConfig(**sms.client_settings())
        sms.fail_number("+8613800000002", "LimitExceeded.PhoneNumberDailyLimit")
        sms.fail_next("InternalError.Timeout")      # the whole next call
        ...
        assert [s.phone for s in sms.sent] == ["+8613800000001"]

Authentication is checked the way Tencent does, with this module's own implementation of
TC3-HMAC-SHA256 (written apart from ``notify/sms_tencent/signing.py`` so that one cannot hide a mistake of
the other): the canonical request is rebuilt from the headers *as received* that the client lists in
``SignedHeaders`` (which must include ``content-type`` and ``host``), the body as received, and the
configured SecretKey. Answers, in this order:

* ``MissingParameter`` (no ``X-TC-Action``/``X-TC-Version``/``X-TC-Timestamp``/``X-TC-Region``),
  ``InvalidAction`` (not ``SendSms``), ``NoSuchVersion`` (not ``2021-01-11``);
* ``AuthFailure.InvalidAuthorization`` (malformed header, unsigned content-type/host, service not
  ``sms``), ``AuthFailure.SecretIdNotFound``, ``AuthFailure.SignatureExpire`` (timestamp more than
  300 s from the fake's clock), ``AuthFailure.SignatureFailure`` (wrong signature, or a credential
  date that is not the UTC date of the timestamp);
* request checks: ``UnauthorizedOperation.SmsSdkAppIdVerifyFail``, ``MissingParameter.EmptyPhoneNumberSet``,
  ``LimitExceeded.PhoneNumberCountLimit`` (> 200), ``UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber``,
  ``InvalidParameter`` (wrong types), ``InvalidParameterValue`` (SessionContext of 512 bytes or more);
* per number, in ``SendStatusSet``: ``Ok``, ``InvalidParameterValue.IncorrectPhoneNumber``,
  ``FailedOperation.SignatureIncorrectOrUnapproved`` (sign name other than the configured one),
  ``FailedOperation.TemplateIncorrectOrUnapproved`` (see :meth:`SmsFake.allow_templates`), or what
  :meth:`SmsFake.fail_number` scripted.

Scripting: :meth:`~SmsFake.fail_next` (a request-level ``Response.Error``), :meth:`~SmsFake.fail_next_http`
(a non-JSON HTTP error page, as a gateway in front would give), both in one FIFO queue and answered
before any check (like the WeChat fake); :meth:`~SmsFake.delay_next` (sleeps before processing: a client
that gives up still leaves the SMS sent, which is what happens for real); :meth:`~SmsFake.fail_number`.

Recording: :attr:`~SmsFake.calls` (with :attr:`RecordedCall.auth_error`, computed for every call,
scripted or not), :attr:`~SmsFake.sent`, :meth:`~SmsFake.sent_to`, :meth:`~SmsFake.wait_for_calls`.

Status callbacks: :meth:`SmsFake.status_report` builds one report of Tencent's "短信下发状态回调" for
a recorded send; :func:`post_status_callback` / :func:`post_status_callback_async` POST a list of
them to a URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support import fake_base
from tests.support.fake_base import LoopbackFake, Request, Response, Scripted, html_page

__all__ = [
    "DEFAULT_SDK_APP_ID",
    "DEFAULT_SECRET_ID",
    "DEFAULT_SECRET_KEY",
    "DEFAULT_SIGN_NAME",
    "MESSAGES",
    "RecordedCall",
    "SentSms",
    "SmsFake",
    "post_status_callback",
    "post_status_callback_async",
]

DEFAULT_SECRET_ID = "AKIDfakeSmsSecretId0000000000000000"
DEFAULT_SECRET_KEY = "fake-secret-key-0123456789abcdef"
DEFAULT_SDK_APP_ID = "1400000001"
DEFAULT_SIGN_NAME = "光明e证"
REGIONS = frozenset({"ap-guangzhou", "ap-beijing", "ap-nanjing"})
MAX_SKEW = 300
"""Seconds between ``X-TC-Timestamp`` and the fake's clock beyond which it answers SignatureExpire."""
MAX_NUMBERS = 200

MESSAGES: dict[str, str] = {
    "Ok": "send success",
    "AuthFailure.SignatureFailure": (
        "The provided credentials could not be validated. Please check your signature is correct."
    ),
    "AuthFailure.SecretIdNotFound": "The SecretId is not found, please ensure that your SecretId is correct.",
    "AuthFailure.InvalidAuthorization": "Authorization is invalid.",
    "InternalError.Timeout": "request timeout",
    "InternalError.OtherError": "other error",
    "RequestLimitExceeded": "Your current request times equals to `3000` in a second, please try again later.",
    "LimitExceeded.PhoneNumberDailyLimit": (
        "the number of sms messages sent from a single mobile number every day exceeds the upper limit"
    ),
    "LimitExceeded.PhoneNumberOneHourLimit": (
        "the number of sms messages sent from a single mobile number within 1 hour exceeds the upper limit"
    ),
    "LimitExceeded.PhoneNumberThirtySecondLimit": (
        "the number of sms messages sent from a single mobile number within 30 seconds exceeds the upper limit"
    ),
    "InvalidParameterValue.IncorrectPhoneNumber": "incorrect number format",
    "FailedOperation.PhoneNumberInBlacklist": "the mobile number is in the blacklist",
    "FailedOperation.TemplateIncorrectOrUnapproved": "template is not approved or request content does not match",
    "FailedOperation.SignatureIncorrectOrUnapproved": "signature format is error or signature is not approved",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "SmsSdkAppId verify fail",
    "LimitExceeded.PhoneNumberCountLimit": "the number of phone numbers in a single request exceeds the limit of 200",
    "MissingParameter.EmptyPhoneNumberSet": "the phone number set is empty",
    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber": (
        "both domestic and international mobile numbers in one request"
    ),
}
"""Default ``Message`` per code (the fake's wording, close to Tencent's)."""

_AUTH_RE = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<sid>[^/,\s]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z0-9]+)/tc3_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)
_MAINLAND = re.compile(r"^\+861[3-9]\d{9}$")
_INTERNATIONAL = re.compile(r"^\+[1-9]\d{6,14}$")
_ISO = {"+852": "HK", "+853": "MO", "+886": "TW", "+1": "US", "+44": "GB", "+65": "SG"}
_CHINA_TZ = dt.timezone(dt.timedelta(hours=8))


# --------------------------------------------------------------------------- records


@dataclass
class RecordedCall(fake_base.RecordedCall):
    """One request the fake received. ``status``/``response`` are filled once answered.

    ``auth_error`` is the AuthFailure code the request deserved (None when correctly signed), computed
    even when a scripted answer replaced the normal one.
    """

    auth_error: str | None = None

    @property
    def error_code(self) -> str | None:
        """``Response.Error.Code`` of the answer (None for successes and non-JSON answers)."""
        if isinstance(self.response, dict):
            error = self.response.get("Response", {}).get("Error")
            if isinstance(error, dict):
                return str(error.get("Code"))
        return None


@dataclass
class SentSms:
    """A message the fake accepted for one number (``Code`` "Ok")."""

    serial_no: str
    phone: str
    template_id: str
    params: list[str]
    sign_name: str | None
    session_context: str | None
    extend_code: str | None
    sender_id: str | None
    request_id: str
    time: float


@dataclass
class _Scripted(Scripted):
    code: str | None = None
    message: str | None = None


@dataclass
class _NumberFailure:
    code: str
    message: str | None
    remaining: int | None  # None: for ever


class _ApiError(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.message = message if message is not None else MESSAGES.get(code, code)


# --------------------------------------------------------------------------- TC3, independently


def _hmac256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def expected_signature(secret_key: str, *, date: str, service: str, timestamp: str, canonical_request: str) -> str:
    """Hex signature of ``canonical_request`` (the fake's own TC3-HMAC-SHA256)."""
    derived = _hmac256(_hmac256(_hmac256(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{digest}"
    return hmac.new(derived, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- the fake


class SmsFake(LoopbackFake[RecordedCall]):
    """Loopback ``SendSms`` server. Use ``with SmsFake() as sms:`` or ``start()``/``stop()``."""

    thread_name = "sms-fake"
    call_type = RecordedCall

    def __init__(
        self,
        *,
        secret_id: str = DEFAULT_SECRET_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        sdk_app_id: str = DEFAULT_SDK_APP_ID,
        sign_name: str = DEFAULT_SIGN_NAME,
    ) -> None:
        super().__init__()
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.sent: list[SentSms] = []
        """Accepted messages, one per number, in order."""
        self._scripts: dict[str, deque[_Scripted]] = {}  # one queue, under "", for every call
        self._number_failures: dict[str, _NumberFailure] = {}
        self._templates: set[str] | None = None
        self._serial = 0
        self._push: tuple[str, float] | None = None  # the status callback's URL, delay
        self.pushes: list[tuple[str, int]] = []
        """Status reports pushed to :meth:`set_push`'s URL: (serial number, the app's HTTP status)."""

    # ------------------------------------------------------------------ pointing a client at the fake

    def client_settings(self) -> dict[str, str]:
        """Keyword arguments for a client pointed at the fake: secret_id, secret_key, sdk_app_id,
        sign_name, endpoint (``TencentSmsConfig(**sms.client_settings())``)."""
        return {
            "secret_id": self.secret_id,
            "secret_key": self.secret_key,
            "sdk_app_id": self.sdk_app_id,
            "sign_name": self.sign_name,
            "endpoint": self.base_url,
        }

    # ------------------------------------------------------------------ scripting

    def fail_next(self, code: str, message: str | None = None, *, times: int = 1) -> None:
        """The next ``times`` calls answer ``{"Response": {"Error": {code, message}, "RequestId"}}``
        (HTTP 200) before any check; nothing is sent."""
        self._enqueue(self._scripts, "", _Scripted(times, code=code, message=message))

    def fail_next_http(self, status: int = 502, *, times: int = 1) -> None:
        """The next ``times`` calls answer HTTP ``status`` with an HTML page; nothing is sent."""
        self._enqueue(self._scripts, "", _Scripted(times, http_status=status))

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` calls sleep ``seconds`` before being processed (cut short by stop()).
        The message is still sent after the sleep, even if the client has given up."""
        self._delay("", seconds, times)

    def fail_number(self, phone: str, code: str, message: str | None = None, *, times: int | None = None) -> None:
        """Sends to ``phone`` (E.164) get ``code`` in their ``SendStatusSet`` entry: for the next
        ``times`` sends, or until :meth:`clear_number` when ``times`` is None."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        with self.lock:
            self._number_failures[phone] = _NumberFailure(code, message, times)

    def clear_number(self, phone: str) -> None:
        with self.lock:
            self._number_failures.pop(phone, None)

    def allow_templates(self, *template_ids: str) -> None:
        """Only these template ids are approved (others: TemplateIncorrectOrUnapproved per number);
        by default every non-empty id is."""
        with self.lock:
            self._templates = set(self._templates or ()) | set(template_ids)

    def set_push(self, url: str, *, delay: float = 0.0) -> None:
        """Post each accepted message's delivery report to ``url`` (the status callback configured in
        Tencent's console, its token in the query) ``delay`` seconds after it was accepted, as Tencent does
        once the handset answers: a JSON array of one :meth:`status_report`."""
        with self.lock:
            self._push = (url, delay)

    def _schedule_push(self, sent: SentSms) -> None:
        # Called under the lock when a message is accepted.
        if self._push is None:
            return
        url, delay = self._push
        report = self.status_report(sent)

        def post() -> int:
            return httpx.post(url, json=[report], timeout=5).status_code

        self.push_later(delay, post, lambda code: self.pushes.append((sent.serial_no, code)))

    # ------------------------------------------------------------------ inspection

    def sent_to(self, phone: str) -> list[SentSms]:
        with self.lock:
            return [s for s in self.sent if s.phone == phone]

    def wait_for_calls(self, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until ``count`` answered calls exist; returns them (in async tests, via ``asyncio.to_thread``)."""
        return self.wait_for(count, timeout, lambda c: True, "calls")

    # ------------------------------------------------------------------ status callbacks

    def status_report(
        self,
        sent: SentSms | str,
        *,
        delivered: bool = True,
        errmsg: str | None = None,
        description: str | None = None,
        received_at: dt.datetime | None = None,
        ext: Any = None,
    ) -> dict[str, Any]:
        """One entry of Tencent's status callback for a recorded send (or its serial number).

        ``user_receive_time`` is Beijing time ``YYYY-MM-DD HH:MM:SS``; ``ext`` defaults to the
        send's SessionContext when it had one (pass ``ext=""`` to leave it empty).
        """
        if isinstance(sent, str):
            with self.lock:
                matches = [s for s in self.sent if s.serial_no == sent]
            if not matches:
                raise KeyError(sent)
            sent = matches[0]
        nation, mobile = _split_e164(sent.phone)
        when = received_at or dt.datetime.fromtimestamp(self.now(), dt.UTC)
        report: dict[str, Any] = {
            "user_receive_time": when.astimezone(_CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"),
            "nationcode": nation,
            "mobile": mobile,
            "report_status": "SUCCESS" if delivered else "FAIL",
            "errmsg": errmsg if errmsg is not None else ("DELIVRD" if delivered else "MK:0001"),
            "description": description
            if description is not None
            else ("用户短信送达成功" if delivered else "用户短信未送达"),
            "sid": sent.serial_no,
        }
        context = ext if ext is not None else sent.session_context
        if context:
            report["ext"] = context
        return report

    # ------------------------------------------------------------------ request handling

    def record(self, request: Request) -> RecordedCall:
        call = super().record(request)
        call.auth_error = self._auth_error(request.method, request.target, request.headers, request.body)
        return call

    def bug_response(self) -> Response:
        return Response(500, {"Response": {"Error": {"Code": "InternalError", "Message": "fake bug"}}})

    def answer(self, request: Request, call: RecordedCall) -> Response:
        method, path, headers, parsed = request.method, request.path, request.headers, request.json
        request_id = str(uuid.uuid4())
        scripted = self._take(self._scripts, "")
        if scripted is not None:
            if scripted.http_status is not None:
                status = scripted.http_status
                return html_page(status, f"<h1>{status}</h1><p>tencentcloudapi gateway</p>")
            assert scripted.code is not None
            return self._error(_ApiError(scripted.code, scripted.message), request_id)
        if path != "/":
            return html_page(404)
        try:
            if method != "POST":
                raise _ApiError("InvalidParameter", "only POST with a JSON body is supported by this fake")
            self._check_common(headers)
            if call.auth_error is not None:
                raise _ApiError(call.auth_error, self._auth_message(call.auth_error, headers))
            return self._send(parsed, request_id)
        except _ApiError as exc:
            return self._error(exc, request_id)

    @staticmethod
    def _error(exc: _ApiError, request_id: str) -> Response:
        return Response(
            200, {"Response": {"Error": {"Code": exc.code, "Message": exc.message}, "RequestId": request_id}}
        )

    def _check_common(self, headers: dict[str, str]) -> None:
        for name in ("x-tc-action", "x-tc-version", "x-tc-timestamp", "x-tc-region"):
            if not headers.get(name):
                raise _ApiError("MissingParameter", f"The request is missing a required parameter `{name}`.")
        if headers["x-tc-action"] != "SendSms":
            raise _ApiError("InvalidAction", f"The requested action `{headers['x-tc-action']}` is not found.")
        if headers["x-tc-version"] != "2021-01-11":
            raise _ApiError(
                "NoSuchVersion", f"The requested version `{headers['x-tc-version']}` of service `sms` is not found."
            )
        if not headers.get("content-type", "").lower().startswith("application/json"):
            raise _ApiError("InvalidParameter", "Content-Type must be application/json")

    def _auth_error(self, method: str, target: str, headers: dict[str, str], body: bytes) -> str | None:
        match = _AUTH_RE.match(headers.get("authorization", ""))
        if match is None:
            return "AuthFailure.InvalidAuthorization"
        signed = match["signed"].split(";")
        if "content-type" not in signed or "host" not in signed or signed != sorted(set(signed)):
            return "AuthFailure.InvalidAuthorization"
        if match["service"] != "sms":
            return "AuthFailure.InvalidAuthorization"
        if match["sid"] != self.secret_id:
            return "AuthFailure.SecretIdNotFound"
        raw_ts = headers.get("x-tc-timestamp", "")
        if not raw_ts.isdigit():
            return "AuthFailure.InvalidAuthorization"
        if abs(self.now() - int(raw_ts)) > MAX_SKEW:
            return "AuthFailure.SignatureExpire"
        if dt.datetime.fromtimestamp(int(raw_ts), dt.UTC).date().isoformat() != match["date"]:
            return "AuthFailure.SignatureFailure"
        lines = []
        for name in signed:
            if name not in headers:
                return "AuthFailure.SignatureFailure"
            lines.append(name + ":" + headers[name].strip().lower() + "\n")
        split = urlsplit(target)
        canonical = (
            f"{method}\n{split.path or '/'}\n{split.query}\n{''.join(lines)}\n{match['signed']}\n"
            + hashlib.sha256(body).hexdigest()
        )
        want = expected_signature(
            self.secret_key, date=match["date"], service="sms", timestamp=raw_ts, canonical_request=canonical
        )
        if not hmac.compare_digest(want, match["sig"]):
            return "AuthFailure.SignatureFailure"
        return None

    def _auth_message(self, code: str, headers: dict[str, str]) -> str:
        if code == "AuthFailure.SignatureExpire":
            return (
                f"Signature expired. Timestamp: {headers.get('x-tc-timestamp')}, "
                f"current server time: {int(self.now())}."
            )
        return MESSAGES.get(code, code)

    def _send(self, req: Any, request_id: str) -> Response:
        if not isinstance(req, dict):
            raise _ApiError("InvalidParameter", "the request body must be a JSON object")
        if req.get("SmsSdkAppId") != self.sdk_app_id:
            raise _ApiError("UnauthorizedOperation.SmsSdkAppIdVerifyFail")
        phones = req.get("PhoneNumberSet")
        if phones is None or phones == []:
            raise _ApiError("MissingParameter.EmptyPhoneNumberSet")
        if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
            raise _ApiError("InvalidParameter", "PhoneNumberSet must be an array of strings")
        if len(phones) > MAX_NUMBERS:
            raise _ApiError("LimitExceeded.PhoneNumberCountLimit")
        template_id = req.get("TemplateId")
        if not isinstance(template_id, str) or not template_id:
            raise _ApiError("MissingParameter", "The request is missing a required parameter `TemplateId`.")
        params = req.get("TemplateParamSet", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise _ApiError("InvalidParameter", "TemplateParamSet must be an array of strings")
        optional: dict[str, str | None] = {}
        for name in ("SignName", "SessionContext", "ExtendCode", "SenderId"):
            value = req.get(name)
            if value is not None and not isinstance(value, str):
                raise _ApiError("InvalidParameter", f"{name} must be a string")
            optional[name] = value
        if optional["SessionContext"] is not None and len(optional["SessionContext"].encode("utf-8")) >= 512:
            raise _ApiError("InvalidParameterValue", "SessionContext must be less than 512 bytes")
        normalized = [_normalize(p) for p in phones]
        kinds = {n.startswith("+86") for n in normalized}
        if len(kinds) > 1:
            raise _ApiError("UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber")
        statuses = []
        for phone in normalized:
            code, message = self._number_code(phone, template_id, optional["SignName"])
            entry: dict[str, Any] = {
                "SerialNo": "",
                "PhoneNumber": phone,
                "Fee": 0,
                "SessionContext": optional["SessionContext"] or "",
                "Code": code,
                "Message": message,
                "IsoCode": _iso_code(phone),
            }
            if code == "Ok":
                entry["SerialNo"] = self._next_serial()
                entry["Fee"] = 1
                accepted = SentSms(
                    serial_no=entry["SerialNo"],
                    phone=phone,
                    template_id=template_id,
                    params=list(params),
                    sign_name=optional["SignName"],
                    session_context=optional["SessionContext"],
                    extend_code=optional["ExtendCode"],
                    sender_id=optional["SenderId"],
                    request_id=request_id,
                    time=self.now(),
                )
                self.sent.append(accepted)
                self._schedule_push(accepted)
            statuses.append(entry)
        return Response(200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id}})

    def _number_code(self, phone: str, template_id: str, sign_name: str | None) -> tuple[str, str]:
        failure = self._number_failures.get(phone)
        if failure is not None:
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._number_failures[phone]
            return failure.code, failure.message or MESSAGES.get(failure.code, failure.code)
        if not _INTERNATIONAL.match(phone) or (phone.startswith("+86") and not _MAINLAND.match(phone)):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        elif phone.startswith("+86") and sign_name != self.sign_name:
            code = "FailedOperation.SignatureIncorrectOrUnapproved"
        elif self._templates is not None and template_id not in self._templates:
            code = "FailedOperation.TemplateIncorrectOrUnapproved"
        else:
            code = "Ok"
        return code, MESSAGES.get(code, code)

    def _next_serial(self) -> str:
        self._serial += 1
        return f"2640:{int(self.now())}{self._serial:08d}{secrets.randbelow(10**6):06d}"


# --------------------------------------------------------------------------- helpers


def _normalize(phone: str) -> str:
    """What Tencent does with the accepted spellings: ``+86...``, ``0086...``, ``86...``, bare 11 digits."""
    value = phone.strip()
    if re.fullmatch(r"1\d{10}", value):
        return "+86" + value
    if re.fullmatch(r"(0086|86)1\d{10}", value):
        return "+86" + value[-11:]
    return value


def _iso_code(phone: str) -> str:
    if phone.startswith("+86"):
        return "CN"
    for prefix in sorted(_ISO, key=len, reverse=True):
        if phone.startswith(prefix):
            return _ISO[prefix]
    return ""


def _split_e164(phone: str) -> tuple[str, str]:
    digits = phone.lstrip("+")
    for prefix in sorted([*_ISO, "+86"], key=len, reverse=True):
        if phone.startswith(prefix):
            return prefix[1:], digits[len(prefix) - 1 :]
    return digits[:2], digits[2:]


def post_status_callback(url: str, reports: list[dict[str, Any]], *, http_timeout: float = 5.0) -> httpx.Response:
    """POST ``reports`` (see :meth:`SmsFake.status_report`) as Tencent does; blocking (threads only)."""
    with httpx.Client(timeout=http_timeout) as client:
        return client.post(url, content=_callback_body(reports), headers=_CALLBACK_HEADERS)


async def post_status_callback_async(
    url: str, reports: list[dict[str, Any]], *, http_timeout: float = 5.0
) -> httpx.Response:
    """The same for async tests (e.g. against the app served in the test's own loop)."""
    async with httpx.AsyncClient(timeout=http_timeout) as client:
        return await client.post(url, content=_callback_body(reports), headers=_CALLBACK_HEADERS)


_CALLBACK_HEADERS = {"Content-Type": "application/json", "User-Agent": "sms-fake-callback"}


def _callback_body(reports: list[dict[str, Any]]) -> bytes:
    return json.dumps(reports, ensure_ascii=False).encode("utf-8")
