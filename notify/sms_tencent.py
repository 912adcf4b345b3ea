"""Tencent Cloud SMS: ``SendSms`` (API 2021-01-11) over httpx, signed with TC3-HMAC-SHA256.

Quick start::

    config = TencentSmsConfig(secret_id="AKID...", secret_key="...", sdk_app_id="1400006666",
                              sign_name="光明e证")
    async with TencentSmsClient(config) as sms:
        report = await sms.send(["+8613812345678"], template_id="1110", params=["4370"],
                                session_context=notification_id)
    for result in report.results:          # one per requested number, in the order given
        if result.ok: ...                   # result.serial_no matches the status callback's ``sid``
        elif result.retryable: ...          # back off (``result.retry_after`` is a hint), then retry
        else: ...                           # permanent: next channel; ``result.alert`` -> tell an operator

``send`` never raises for provider or network failures: every outcome becomes a :class:`SmsResult`
per number (a top-level error is copied to every number). It raises :class:`SmsRequestError`
before sending anything when the request itself is wrong (no numbers, more than 200, duplicates,
a number that is neither E.164 nor an 11-digit mainland mobile).

Signing (签名方法 v3, https://cloud.tencent.com/document/api/213/30654)
-----------------------------------------------------------------------------
::

    CanonicalRequest = "POST\\n/\\n\\n" + CanonicalHeaders + "\\n" + SignedHeaders + "\\n" + hex(sha256(body))
    CanonicalHeaders = "content-type:application/json; charset=utf-8\\nhost:<host>\\n"
                       [+ "x-tc-action:sendsms\\n"]          (names and values lower-cased, sorted)
    StringToSign     = "TC3-HMAC-SHA256\\n<timestamp>\\n<YYYY-MM-DD>/sms/tc3_request\\n" + hex(sha256(CanonicalRequest))
    key              = HMAC(HMAC(HMAC("TC3" + SecretKey, date), "sms"), "tc3_request")
    Authorization    = "TC3-HMAC-SHA256 Credential=<SecretId>/<date>/sms/tc3_request, "
                       "SignedHeaders=<names>, Signature=" + hex(HMAC(key, StringToSign))

The date is the UTC date of the timestamp (not Beijing's). ``content-type`` and ``host`` are the
required signed headers; the current documentation also signs ``x-tc-action`` (the official Python
SDK does not). We sign it by default (``TencentSmsConfig.sign_action_header``): it binds the
signature to ``SendSms``, so a captured request cannot be replayed as another action within the
server's 5-minute window. The server accepts either form.

Failure classification
----------------------
Per-number codes come from ``Response.SendStatusSet[].Code``; request-level codes from
``Response.Error.Code`` (then every number gets that code); ``Transport.*`` codes are ours, for
answers that never came or could not be read. :func:`classify` maps a code to an
:class:`Outcome` plus three hints: ``alert`` (an operator must fix configuration, account or code;
the recipient's data is not the problem), ``retry_after`` (seconds before a retry can work) and
``maybe_sent`` (the gateway may have sent the SMS although we have no confirmation: ``SendSms`` has
no idempotency key, so a retry may deliver twice; the status callback, matched on the serial number
or the session context, settles it).

============================================================  ==========  =====  ===========  ==========
code                                                          outcome     alert  retry_after  maybe_sent
============================================================  ==========  =====  ===========  ==========
``Ok``                                                        sent
``InternalError.Timeout``, ``.SendAndRecvFail``,              retryable                       yes
``.OtherError``, ``.UnknownError``, other ``InternalError*``
``InternalError.SigVerificationFail``, ``.SigFieldMissing``,  permanent   yes
``.JsonParseFail``, ``.RestApiInterfaceNotExist``
``InternalError.RequestTimeException``,                       retryable   yes
``AuthFailure.SignatureExpire`` (our clock is off: once NTP
is fixed the same message goes through, so not dead-lettered)
``RequestLimitExceeded*`` (API call rate)                     retryable
``LimitExceeded.DeliveryFrequencyLimit``                      retryable
``LimitExceeded.PhoneNumberThirtySecondLimit``                retryable          30
``LimitExceeded.PhoneNumberOneHourLimit``                     retryable          3600
``LimitExceeded.PhoneNumberDailyLimit``,                      permanent
``.PhoneNumberSameContentDailyLimit`` (not before tomorrow:
fall back to the next channel)
``LimitExceeded.AppDailyLimit``, ``.DailyLimit``,             permanent   yes
``.PhoneNumberCountLimit``, other ``LimitExceeded.*``
``FailedOperation.PhoneNumberInBlacklist``, ``…OnBlacklist``  permanent
(the user unsubscribed / carrier do-not-disturb list)
``InvalidParameterValue.IncorrectPhoneNumber``                permanent
``UnsupportedOperation.UnsuportedRegion`` (sic)               permanent
``FailedOperation.TemplateIncorrectOrUnapproved``,            permanent   yes
``.SignatureIncorrectOrUnapproved``, ``.ContainSensitiveWord``,
``.InsufficientBalanceInSmsPackage``, other ``FailedOperation.*``
other ``InvalidParameterValue.*``, ``InvalidParameter*``,     permanent   yes
``MissingParameter*``
``AuthFailure.*`` (SignatureFailure, SecretIdNotFound, ...)   permanent   yes
``UnauthorizedOperation.*``, ``UnsupportedOperation.*``       permanent   yes
``Transport.Timeout`` (no answer in time)                     retryable                       yes
``Transport.ConnectFailed`` (nothing was sent)                retryable
``Transport.NetworkError`` (connection broke mid-exchange)    retryable                       yes
``Transport.HttpStatus`` 5xx / 408 / 429                      retryable                       5xx only
``Transport.HttpStatus`` other                                permanent   yes
``Transport.BadResponse``, ``Transport.MissingStatus``        retryable   yes                 yes
any other code                                                permanent   yes
============================================================  ==========  =====  ===========  ==========

Phone numbers never reach logs or exception messages unmasked (:func:`identity.pii.mask_phone`);
the secret key is never logged and is hidden from ``repr``.

Status callback ("短信下发状态回调", https://cloud.tencent.com/document/product/382/5807)
-------------------------------------------------------------------------------------
Tencent POSTs a JSON array of ``{user_receive_time, nationcode, mobile, report_status, errmsg,
description, sid[, ext]}`` to the configured URL and expects ``{"result": 0, "errmsg": "OK"}``
(:data:`CALLBACK_ACK`). :func:`parse_status_callback` turns it into :class:`SmsReceipt` objects.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from identity.pii import mask_phone

__all__ = [
    "ALGORITHM",
    "API_VERSION",
    "CALLBACK_ACK",
    "CONTENT_TYPE",
    "DEFAULT_ENDPOINT",
    "DEFAULT_REGION",
    "MAX_NUMBERS_PER_CALL",
    "Classification",
    "Outcome",
    "SendReport",
    "SmsCallbackError",
    "SmsReceipt",
    "SmsRequestError",
    "SmsResult",
    "Tc3Signature",
    "TencentSmsClient",
    "TencentSmsConfig",
    "classify",
    "parse_status_callback",
    "sign_tc3",
    "to_e164",
]

log = logging.getLogger("gmid.notify.sms")

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
ACTION = "SendSms"
API_VERSION = "2021-01-11"
DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com/"
DEFAULT_REGION = "ap-guangzhou"
CONTENT_TYPE = "application/json; charset=utf-8"
MAX_NUMBERS_PER_CALL = 200
MAX_SESSION_CONTEXT_BYTES = 511  # "长度需小于512字节"

CALLBACK_ACK: dict[str, Any] = {"result": 0, "errmsg": "OK"}
"""The body Tencent expects in answer to a status callback it delivered successfully."""

# Our own codes for failures that have no Tencent code.
TRANSPORT_TIMEOUT = "Transport.Timeout"
TRANSPORT_CONNECT_FAILED = "Transport.ConnectFailed"
TRANSPORT_NETWORK_ERROR = "Transport.NetworkError"
TRANSPORT_HTTP_STATUS = "Transport.HttpStatus"
TRANSPORT_BAD_RESPONSE = "Transport.BadResponse"
TRANSPORT_MISSING_STATUS = "Transport.MissingStatus"

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991


# --------------------------------------------------------------------------- errors


class SmsRequestError(ValueError):
    """The request is wrong before anything is sent (never contains an unmasked number)."""


class SmsCallbackError(ValueError):
    """A status callback body that is not what Tencent sends."""


# --------------------------------------------------------------------------- classification


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Classification:
    """What a code means for the message; see the table in the module docstring."""

    outcome: Outcome
    alert: bool = False
    retry_after: float | None = None
    maybe_sent: bool = False


_SENT = Classification(Outcome.SENT)
_RETRY = Classification(Outcome.RETRYABLE)
_RETRY_MAYBE_SENT = Classification(Outcome.RETRYABLE, maybe_sent=True)
_RETRY_ALERT = Classification(Outcome.RETRYABLE, alert=True)
_PERMANENT = Classification(Outcome.PERMANENT)
_PERMANENT_ALERT = Classification(Outcome.PERMANENT, alert=True)

_EXACT: dict[str, Classification] = {
    "Ok": _SENT,
    "InternalError": _RETRY_MAYBE_SENT,
    "InternalError.SigVerificationFail": _PERMANENT_ALERT,
    "InternalError.SigFieldMissing": _PERMANENT_ALERT,
    "InternalError.JsonParseFail": _PERMANENT_ALERT,
    "InternalError.RestApiInterfaceNotExist": _PERMANENT_ALERT,
    "InternalError.RequestTimeException": _RETRY_ALERT,
    "AuthFailure.SignatureExpire": _RETRY_ALERT,
    "RequestLimitExceeded": _RETRY,
    "LimitExceeded.DeliveryFrequencyLimit": _RETRY,
    "LimitExceeded.PhoneNumberThirtySecondLimit": Classification(Outcome.RETRYABLE, retry_after=30.0),
    "LimitExceeded.PhoneNumberOneHourLimit": Classification(Outcome.RETRYABLE, retry_after=3600.0),
    "LimitExceeded.PhoneNumberDailyLimit": _PERMANENT,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": _PERMANENT,
    "FailedOperation.PhoneNumberInBlacklist": _PERMANENT,
    "FailedOperation.PhoneNumberOnBlacklist": _PERMANENT,
    "InvalidParameterValue.IncorrectPhoneNumber": _PERMANENT,
    "UnsupportedOperation.UnsuportedRegion": _PERMANENT,  # Tencent's spelling
    "UnsupportedOperation.UnsupportedRegion": _PERMANENT,
    TRANSPORT_TIMEOUT: _RETRY_MAYBE_SENT,
    TRANSPORT_CONNECT_FAILED: _RETRY,
    TRANSPORT_NETWORK_ERROR: _RETRY_MAYBE_SENT,
    TRANSPORT_BAD_RESPONSE: Classification(Outcome.RETRYABLE, alert=True, maybe_sent=True),
    TRANSPORT_MISSING_STATUS: Classification(Outcome.RETRYABLE, alert=True, maybe_sent=True),
}

# Checked in order after the exact table; the first matching prefix wins.
_PREFIXES: tuple[tuple[str, Classification], ...] = (
    ("InternalError.", _RETRY_MAYBE_SENT),
    ("RequestLimitExceeded.", _RETRY),
    ("AuthFailure", _PERMANENT_ALERT),
    ("LimitExceeded", _PERMANENT_ALERT),
    ("FailedOperation", _PERMANENT_ALERT),
    ("InvalidParameter", _PERMANENT_ALERT),
    ("MissingParameter", _PERMANENT_ALERT),
    ("UnauthorizedOperation", _PERMANENT_ALERT),
    ("UnsupportedOperation", _PERMANENT_ALERT),
)


def classify(code: str, *, http_status: int | None = None) -> Classification:
    """Classify a ``SendSms`` code (``"Ok"``, a Tencent error code or one of our ``Transport.*``)."""
    if code == TRANSPORT_HTTP_STATUS:
        if http_status is not None and (http_status >= 500 or http_status in (408, 429)):
            return Classification(Outcome.RETRYABLE, maybe_sent=http_status >= 500)
        return _PERMANENT_ALERT
    exact = _EXACT.get(code)
    if exact is not None:
        return exact
    for prefix, classification in _PREFIXES:
        if code.startswith(prefix):
            return classification
    return _PERMANENT_ALERT


# --------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class Tc3Signature:
    """Every intermediate of a TC3-HMAC-SHA256 signature (handy against published examples)."""

    canonical_request: str
    string_to_sign: str
    signature: str
    authorization: str
    signed_headers: str
    date: str


def sign_tc3(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    timestamp: int,
    payload: bytes,
    content_type: str = CONTENT_TYPE,
    action: str | None = None,
) -> Tc3Signature:
    """Sign a JSON ``POST /`` for a Tencent Cloud API 3.0 service.

    ``action`` also signs the ``X-TC-Action`` header with that value (as the current docs do);
    ``None`` signs only ``content-type`` and ``host`` (the official Python SDK's choice).
    """
    headers = {"content-type": content_type, "host": host}
    if action is not None:
        headers["x-tc-action"] = action
    names = sorted(headers)
    canonical_headers = "".join(f"{name}:{headers[name].strip().lower()}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        ["POST", "/", "", canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest()]
    )
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = ("TC3" + secret_key).encode("utf-8")
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    return Tc3Signature(canonical_request, string_to_sign, signature, authorization, signed_headers, date)


# --------------------------------------------------------------------------- phone numbers


def to_e164(phone: str) -> str:
    """``+8613812345678`` stays, ``13812345678`` (mainland mobile) becomes ``+8613812345678``."""
    value = phone.strip() if isinstance(phone, str) else ""
    if _E164.fullmatch(value):
        return value
    if _MAINLAND_MOBILE.fullmatch(value):
        return "+86" + value
    raise SmsRequestError(f"not an E.164 or mainland mobile number: {mask_phone(value) or '(empty)'}")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SmsResult:
    """The outcome for one number. ``phone`` (E.164) is left out of ``repr``; log ``masked_phone``."""

    phone: str = field(repr=False)
    code: str
    message: str
    classification: Classification
    serial_no: str | None = None
    fee: int = 0
    session_context: str | None = None
    iso_code: str | None = None
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.classification.outcome is Outcome.SENT

    @property
    def retryable(self) -> bool:
        return self.classification.outcome is Outcome.RETRYABLE

    @property
    def permanent(self) -> bool:
        return self.classification.outcome is Outcome.PERMANENT

    @property
    def alert(self) -> bool:
        """The failure is ours or the account's (configuration, quota, clock): tell an operator."""
        return self.classification.alert

    @property
    def retry_after(self) -> float | None:
        return self.classification.retry_after

    @property
    def maybe_sent(self) -> bool:
        return self.classification.maybe_sent

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


@dataclass(frozen=True)
class SendReport:
    """One ``SendSms`` call: a result per requested number (same order), plus the request-level error."""

    results: tuple[SmsResult, ...]
    request_id: str | None = None
    error_code: str | None = None
    """``Response.Error.Code`` or a ``Transport.*`` code when the whole call failed; None otherwise."""
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def for_phone(self, phone: str) -> SmsResult:
        wanted = to_e164(phone)
        for result in self.results:
            if result.phone == wanted:
                return result
        raise KeyError(mask_phone(wanted))


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class TencentSmsConfig:
    """Credentials and defaults; ``secret_key`` never appears in ``repr``."""

    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    region: str = DEFAULT_REGION
    endpoint: str = DEFAULT_ENDPOINT
    timeout: float = 10.0
    sign_action_header: bool = True

    def __post_init__(self) -> None:
        for name in ("secret_id", "secret_key", "sdk_app_id", "region"):
            if not getattr(self, name):
                raise ValueError(f"TencentSmsConfig.{name} is required")
        url = httpx.URL(self.endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("TencentSmsConfig.endpoint must be an http(s) URL")
        if url.path not in ("", "/") or url.query:
            raise ValueError("TencentSmsConfig.endpoint must be the service root (API 3.0 signs the path '/')")
        if self.timeout <= 0:
            raise ValueError("TencentSmsConfig.timeout must be positive")

    @property
    def host(self) -> str:
        """The ``Host`` header value, signed as sent (``host[:port]``, port only when not the default)."""
        url = httpx.URL(self.endpoint)
        default_port = 443 if url.scheme == "https" else 80
        return url.host if url.port in (None, default_port) else f"{url.host}:{url.port}"


class TencentSmsClient:
    """Async ``SendSms`` client. Pass ``http_client`` to share a pool (it is then not closed here);
    ``clock`` (seconds since the epoch) is for tests of clock skew."""

    def __init__(
        self,
        config: TencentSmsConfig,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._http = http_client
        self._owns_http = http_client is None
        self._clock = clock

    def __repr__(self) -> str:
        return f"TencentSmsClient(secret_id={self.config.secret_id!r}, endpoint={self.config.endpoint!r})"

    async def __aenter__(self) -> TencentSmsClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.config.timeout))
        return self._http

    def build_request(
        self,
        phones: Sequence[str],
        *,
        template_id: str,
        params: Sequence[str] = (),
        session_context: str | None = None,
        extend_code: str | None = None,
        sender_id: str | None = None,
        sign_name: str | None = None,
    ) -> tuple[list[str], bytes]:
        """Validate and encode a request body: the E.164 numbers and the JSON bytes to sign and send."""
        if isinstance(phones, str):
            raise SmsRequestError("phones must be a sequence of numbers, not one string")
        numbers = [to_e164(p) for p in phones]
        if not numbers:
            raise SmsRequestError("no phone number given")
        if len(numbers) > MAX_NUMBERS_PER_CALL:
            raise SmsRequestError(f"{len(numbers)} numbers in one call; SendSms takes at most {MAX_NUMBERS_PER_CALL}")
        if len(set(numbers)) != len(numbers):
            raise SmsRequestError("the same number is given twice (it would receive the message twice)")
        if not template_id:
            raise SmsRequestError("template_id is required")
        if isinstance(params, str) or not all(isinstance(p, str) for p in params):
            raise SmsRequestError("template params must be a sequence of strings")
        body: dict[str, Any] = {
            "PhoneNumberSet": numbers,
            "SmsSdkAppId": self.config.sdk_app_id,
            "TemplateId": str(template_id),
            "TemplateParamSet": list(params),
        }
        sign = self.config.sign_name if sign_name is None else sign_name
        if sign:
            body["SignName"] = sign
        if session_context is not None:
            if len(session_context.encode("utf-8")) > MAX_SESSION_CONTEXT_BYTES:
                raise SmsRequestError(f"session_context must be under {MAX_SESSION_CONTEXT_BYTES + 1} bytes")
            body["SessionContext"] = session_context
        if extend_code:
            body["ExtendCode"] = extend_code
        if sender_id:
            body["SenderId"] = sender_id
        return numbers, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def sign_headers(self, payload: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """Every header of a signed ``SendSms`` request for ``payload``."""
        ts = int(self._clock()) if timestamp is None else timestamp
        cfg = self.config
        signed = sign_tc3(
            secret_id=cfg.secret_id,
            secret_key=cfg.secret_key,
            service=SERVICE,
            host=cfg.host,
            timestamp=ts,
            payload=payload,
            action=ACTION if cfg.sign_action_header else None,
        )
        return {
            "Authorization": signed.authorization,
            "Content-Type": CONTENT_TYPE,
            "Host": cfg.host,
            "X-TC-Action": ACTION,
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(ts),
            "X-TC-Region": cfg.region,
        }

    async def send(
        self,
        phones: Sequence[str],
        *,
        template_id: str,
        params: Sequence[str] = (),
        session_context: str | None = None,
        extend_code: str | None = None,
        sender_id: str | None = None,
        sign_name: str | None = None,
    ) -> SendReport:
        """Send one template SMS to up to 200 numbers (all mainland or all international).

        ``phones``: E.164 (``+8613812345678``) or 11-digit mainland mobiles. ``session_context``
        (< 512 bytes) is echoed in every result: put the notification id there.
        """
        numbers, payload = self.build_request(
            phones,
            template_id=template_id,
            params=params,
            session_context=session_context,
            extend_code=extend_code,
            sender_id=sender_id,
            sign_name=sign_name,
        )
        headers = self.sign_headers(payload)
        started = time.monotonic()
        try:
            response = await self._client().post(self.config.endpoint, content=payload, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return self._failed(numbers, TRANSPORT_CONNECT_FAILED, type(exc).__name__, session_context)
        except httpx.TimeoutException as exc:
            return self._failed(numbers, TRANSPORT_TIMEOUT, type(exc).__name__, session_context)
        except httpx.TransportError as exc:
            return self._failed(numbers, TRANSPORT_NETWORK_ERROR, type(exc).__name__, session_context)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        if response.status_code != 200:
            return self._failed(
                numbers,
                TRANSPORT_HTTP_STATUS,
                f"HTTP {response.status_code}",
                session_context,
                http_status=response.status_code,
            )
        try:
            data = response.json()
            body = data["Response"]
            if not isinstance(body, dict):
                raise TypeError("Response is not an object")
        except (ValueError, KeyError, TypeError):
            return self._failed(numbers, TRANSPORT_BAD_RESPONSE, "unreadable answer", session_context)
        request_id = _opt_str(body.get("RequestId"))
        error = body.get("Error")
        if error is not None:
            code = _opt_str(error.get("Code")) if isinstance(error, dict) else None
            message = _opt_str(error.get("Message")) if isinstance(error, dict) else None
            return self._failed(
                numbers, code or TRANSPORT_BAD_RESPONSE, message or "", session_context, request_id=request_id
            )
        report = SendReport(
            results=self._per_number(numbers, body.get("SendStatusSet"), session_context),
            request_id=request_id,
        )
        self._log(report, elapsed_ms)
        return report

    # -- helpers

    def _per_number(self, numbers: list[str], status_set: Any, session_context: str | None) -> tuple[SmsResult, ...]:
        by_phone: dict[str, dict[str, Any]] = {}
        if isinstance(status_set, list):
            for item in status_set:
                if isinstance(item, dict) and isinstance(item.get("PhoneNumber"), str):
                    by_phone.setdefault(_normalize_answer_phone(item["PhoneNumber"]), item)
        results = []
        for phone in numbers:
            item = by_phone.get(phone)
            if item is None:
                results.append(
                    _result(
                        phone, TRANSPORT_MISSING_STATUS, "no status for this number", session_context=session_context
                    )
                )
                continue
            code = _opt_str(item.get("Code")) or TRANSPORT_BAD_RESPONSE
            fee = item.get("Fee")
            results.append(
                _result(
                    phone,
                    code,
                    _opt_str(item.get("Message")) or "",
                    serial_no=_opt_str(item.get("SerialNo")) or None,
                    fee=fee if isinstance(fee, int) and not isinstance(fee, bool) else 0,
                    session_context=_opt_str(item.get("SessionContext")),
                    iso_code=_opt_str(item.get("IsoCode")),
                )
            )
        return tuple(results)

    def _failed(
        self,
        numbers: list[str],
        code: str,
        message: str,
        session_context: str | None,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> SendReport:
        results = tuple(
            _result(p, code, message, session_context=session_context, http_status=http_status) for p in numbers
        )
        report = SendReport(results=results, request_id=request_id, error_code=code, error_message=message)
        c = results[0].classification
        level = logging.WARNING if c.alert else logging.INFO
        log.log(
            level,
            "sms send failed numbers=%d code=%s http_status=%s outcome=%s alert=%s maybe_sent=%s request_id=%s",
            len(numbers),
            code,
            http_status,
            c.outcome.value,
            c.alert,
            c.maybe_sent,
            request_id,
        )
        return report

    def _log(self, report: SendReport, elapsed_ms: int) -> None:
        sent = sum(1 for r in report.results if r.ok)
        log.info(
            "sms sent numbers=%d ok=%d failed=%d request_id=%s elapsed_ms=%d",
            len(report.results),
            sent,
            len(report.results) - sent,
            report.request_id,
            elapsed_ms,
        )
        for r in report.results:
            if not r.ok:
                log.log(
                    logging.WARNING if r.alert else logging.INFO,
                    "sms to %s failed code=%s outcome=%s alert=%s request_id=%s",
                    r.masked_phone,
                    r.code,
                    r.classification.outcome.value,
                    r.alert,
                    report.request_id,
                )


def _result(
    phone: str,
    code: str,
    message: str,
    *,
    serial_no: str | None = None,
    fee: int = 0,
    session_context: str | None = None,
    iso_code: str | None = None,
    http_status: int | None = None,
) -> SmsResult:
    return SmsResult(
        phone=phone,
        code=code,
        message=message,
        classification=classify(code, http_status=http_status),
        serial_no=serial_no,
        fee=fee,
        session_context=session_context,
        iso_code=iso_code,
        http_status=http_status,
    )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _normalize_answer_phone(value: str) -> str:
    value = value.strip()
    if _MAINLAND_MOBILE.fullmatch(value):
        return "+86" + value
    if value.startswith("00"):
        return "+" + value[2:]
    return value if value.startswith("+") else "+" + value


# --------------------------------------------------------------------------- status callback


@dataclass(frozen=True)
class SmsReceipt:
    """One delivery report. ``serial_no`` is the ``SerialNo`` ``send`` returned for that number."""

    serial_no: str
    phone: str = field(repr=False)
    delivered: bool
    status: str
    """``SUCCESS`` or ``FAIL``."""
    errmsg: str
    """The carrier's status code (``DELIVRD`` on success, e.g. ``MK:0001`` on failure)."""
    description: str
    received_at: dt.datetime | None
    """``user_receive_time`` (Beijing time on the wire) as an aware UTC datetime."""
    session_context: str | None = None
    """``ext`` when it is a string (the request's ``SessionContext``), else None."""
    ext: Any = field(default=None, repr=False)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


def parse_status_callback(body: bytes | str | Iterable[Any]) -> list[SmsReceipt]:
    """Parse Tencent's status callback (a JSON array; one POST may carry several reports).

    Raises :class:`SmsCallbackError` for anything else; messages never contain a number.
    """
    if isinstance(body, bytes | str):
        try:
            data: Any = json.loads(body)
        except ValueError as exc:
            raise SmsCallbackError("status callback is not JSON") from exc
    else:
        data = list(body)
    if isinstance(data, dict):  # tolerate a single object
        data = [data]
    if not isinstance(data, list):
        raise SmsCallbackError("status callback must be a JSON array")
    receipts = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise SmsCallbackError(f"report {index} is not an object")
        sid = item.get("sid")
        status = item.get("report_status")
        mobile = item.get("mobile")
        if not isinstance(sid, str) or not sid:
            raise SmsCallbackError(f"report {index} has no sid")
        if status not in ("SUCCESS", "FAIL"):
            raise SmsCallbackError(f"report {index} has report_status {str(status)[:16]!r}")
        if not isinstance(mobile, str | int) or not str(mobile).strip():
            raise SmsCallbackError(f"report {index} has no mobile")
        nation = str(item.get("nationcode") or "86").strip().lstrip("+")
        mobile_text = str(mobile).strip()
        phone = mobile_text if mobile_text.startswith("+") else f"+{nation}{mobile_text}"
        ext = item.get("ext")
        receipts.append(
            SmsReceipt(
                serial_no=sid,
                phone=phone,
                delivered=status == "SUCCESS",
                status=status,
                errmsg=str(item.get("errmsg") or ""),
                description=str(item.get("description") or ""),
                received_at=_parse_beijing_time(item.get("user_receive_time")),
                session_context=ext if isinstance(ext, str) and ext else None,
                ext=ext,
            )
        )
    return receipts


def _parse_beijing_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        local = dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=_CHINA_TZ).astimezone(dt.UTC)
