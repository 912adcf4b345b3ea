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

Where things are:

- :mod:`~notify.sms_tencent.client`: :class:`TencentSmsConfig` and :class:`TencentSmsClient` (the HTTP
  exchange, network failures as ``Transport.*`` codes, logging);
- :mod:`~notify.sms_tencent.request`: the request body (numbers to E.164, Tencent's limits);
- :mod:`~notify.sms_tencent.signing`: TC3-HMAC-SHA256 (:func:`sign_tc3`);
- :mod:`~notify.sms_tencent.codes`: what each answer code means (:func:`classify`, the table);
- :mod:`~notify.sms_tencent.results`: :class:`SmsResult` and :class:`SendReport`, read from the answer;
- :mod:`~notify.sms_tencent.receipts`: the delivery-status callback (:func:`parse_status_callback`).

Everything a caller needs is importable from ``notify.sms_tencent`` itself.
"""

from __future__ import annotations

from notify.sms_tencent.client import (
    API_VERSION,
    DEFAULT_ENDPOINT,
    DEFAULT_REGION,
    TencentSmsClient,
    TencentSmsConfig,
)
from notify.sms_tencent.codes import Classification, Outcome, classify
from notify.sms_tencent.receipts import CALLBACK_ACK, SmsCallbackError, SmsReceipt, parse_status_callback
from notify.sms_tencent.request import MAX_NUMBERS_PER_CALL, SmsRequestError, to_e164
from notify.sms_tencent.results import SendReport, SmsResult
from notify.sms_tencent.signing import ALGORITHM, CONTENT_TYPE, Tc3Signature, sign_tc3

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
