"""What a ``SendSms`` answer code means: :func:`classify` maps it to an :class:`Outcome` and hints.

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
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Our own codes for failures that have no Tencent code.
TRANSPORT_TIMEOUT = "Transport.Timeout"
TRANSPORT_CONNECT_FAILED = "Transport.ConnectFailed"
TRANSPORT_NETWORK_ERROR = "Transport.NetworkError"
TRANSPORT_HTTP_STATUS = "Transport.HttpStatus"
TRANSPORT_BAD_RESPONSE = "Transport.BadResponse"
TRANSPORT_MISSING_STATUS = "Transport.MissingStatus"


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
