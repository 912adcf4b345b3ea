"""TC3-HMAC-SHA256, the request signature of Tencent Cloud API 3.0 (签名方法 v3,
https://cloud.tencent.com/document/api/213/30654). Pure functions: no HTTP, no clock.

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
SDK does not). The client signs it by default (``TencentSmsConfig.sign_action_header``): it binds the
signature to ``SendSms``, so a captured request cannot be replayed as another action within the
server's 5-minute window. The server accepts either form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"


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
