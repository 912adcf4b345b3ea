"""Tencent's delivery receipts ("短信下发状态回调", https://cloud.tencent.com/document/product/382/5807).

Tencent POSTs a JSON array of ``{user_receive_time, nationcode, mobile, report_status, errmsg,
description, sid[, ext]}`` to the configured URL and expects ``{"result": 0, "errmsg": "OK"}``
(:data:`CALLBACK_ACK`). :func:`parse_status_callback` turns it into :class:`SmsReceipt` objects;
``sid`` is the ``SerialNo`` that ``SendSms`` answered for that number, ``ext`` its ``SessionContext``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from identity.pii import mask_phone

CALLBACK_ACK: dict[str, Any] = {"result": 0, "errmsg": "OK"}
"""The body Tencent expects in answer to a status callback it delivered successfully."""

_CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991


class SmsCallbackError(ValueError):
    """A status callback body that is not what Tencent sends."""


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
