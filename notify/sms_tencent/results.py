"""What a send returns: an :class:`SmsResult` per requested number inside a :class:`SendReport`,
read from ``SendSms``'s ``SendStatusSet`` (:func:`read_status_set`) or, when the whole call failed,
the same code for every number (:func:`failed_results`). Each result carries its
:class:`~notify.sms_tencent.codes.Classification`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from identity.pii import mask_phone
from notify.sms_tencent.codes import TRANSPORT_BAD_RESPONSE, TRANSPORT_MISSING_STATUS, Classification, Outcome, classify
from notify.sms_tencent.request import MAINLAND_MOBILE, to_e164


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


def read_status_set(numbers: list[str], status_set: Any, session_context: str | None) -> tuple[SmsResult, ...]:
    """A result per requested number from ``Response.SendStatusSet``, matched on the number (Tencent
    may answer in another spelling or order); a number it does not mention is ``Transport.MissingStatus``."""
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
                _result(phone, TRANSPORT_MISSING_STATUS, "no status for this number", session_context=session_context)
            )
            continue
        code = opt_str(item.get("Code")) or TRANSPORT_BAD_RESPONSE
        fee = item.get("Fee")
        results.append(
            _result(
                phone,
                code,
                opt_str(item.get("Message")) or "",
                serial_no=opt_str(item.get("SerialNo")) or None,
                fee=fee if isinstance(fee, int) and not isinstance(fee, bool) else 0,
                session_context=opt_str(item.get("SessionContext")),
                iso_code=opt_str(item.get("IsoCode")),
            )
        )
    return tuple(results)


def failed_results(
    numbers: list[str], code: str, message: str, session_context: str | None, *, http_status: int | None = None
) -> tuple[SmsResult, ...]:
    """The same failure for every number (a request-level error, or no readable answer at all)."""
    return tuple(_result(p, code, message, session_context=session_context, http_status=http_status) for p in numbers)


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


def opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _normalize_answer_phone(value: str) -> str:
    value = value.strip()
    if MAINLAND_MOBILE.fullmatch(value):
        return "+86" + value
    if value.startswith("00"):
        return "+" + value[2:]
    return value if value.startswith("+") else "+" + value
