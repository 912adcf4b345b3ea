"""The ``SendSms`` request body: numbers checked and written E.164, Tencent's limits enforced,
encoded once as the JSON bytes that are both signed and sent.

Everything wrong here raises :class:`SmsRequestError` before anything is sent; its messages never
contain an unmasked number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from identity.pii import mask_phone

MAX_NUMBERS_PER_CALL = 200
MAX_SESSION_CONTEXT_BYTES = 511  # "长度需小于512字节"

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


class SmsRequestError(ValueError):
    """The request is wrong before anything is sent (never contains an unmasked number)."""


def to_e164(phone: str) -> str:
    """``+8613812345678`` stays, ``13812345678`` (mainland mobile) becomes ``+8613812345678``."""
    value = phone.strip() if isinstance(phone, str) else ""
    if _E164.fullmatch(value):
        return value
    if MAINLAND_MOBILE.fullmatch(value):
        return "+86" + value
    raise SmsRequestError(f"not an E.164 or mainland mobile number: {mask_phone(value) or '(empty)'}")


def encode_send_request(
    phones: Sequence[str],
    *,
    sdk_app_id: str,
    sign_name: str,
    template_id: str,
    params: Sequence[str] = (),
    session_context: str | None = None,
    extend_code: str | None = None,
    sender_id: str | None = None,
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
        "SmsSdkAppId": sdk_app_id,
        "TemplateId": str(template_id),
        "TemplateParamSet": list(params),
    }
    if sign_name:
        body["SignName"] = sign_name
    if session_context is not None:
        if len(session_context.encode("utf-8")) > MAX_SESSION_CONTEXT_BYTES:
            raise SmsRequestError(f"session_context must be under {MAX_SESSION_CONTEXT_BYTES + 1} bytes")
        body["SessionContext"] = session_context
    if extend_code:
        body["ExtendCode"] = extend_code
    if sender_id:
        body["SenderId"] = sender_id
    return numbers, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
