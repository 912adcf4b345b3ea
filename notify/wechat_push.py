"""The mini-program's message push (消息推送) as we read it: ``subscribe_msg_sent_event``, the result
of each subscribe message, in XML or JSON (the format is picked in the mini-program console; the
documentation shows XML first, and JSON is accepted too).

Shape (WeChat's documentation of subscribe-message events; SDKs such as royalrick/weapp parse it the
same way, with ``ErrorStatus`` a string and ``List`` an object when there is one item)::

    <xml><ToUserName>gh_...</ToUserName><FromUserName>OPENID</FromUserName><CreateTime>1620963428</CreateTime>
      <MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event>
      <SubscribeMsgSentEvent><List><TemplateId>ID</TemplateId><MsgID>1864323726461255680</MsgID>
        <ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List></SubscribeMsgSentEvent></xml>

    {"ToUserName": "gh_...", "FromUserName": "OPENID", "CreateTime": "1620963428", "MsgType": "event",
     "Event": "subscribe_msg_sent_event",
     "SubscribeMsgSentEvent": {"List": {"TemplateId": "ID", "MsgID": "...", "ErrorCode": "0",
                                        "ErrorStatus": "success"}}}
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import xmltodict

from notify.service import SubscribeReceipt
from server.validation import check_json_bounds

SENT_EVENT = "subscribe_msg_sent_event"
_MAX_ITEMS = 100


class BadEvent(ValueError):
    """Not a WeChat event (the reason names fields, never values)."""


def _text(value: Any, field: str, *, limit: int = 128) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > limit:
        raise BadEvent(f"{field} is missing or malformed")
    return value.strip()


def _load(body: bytes) -> dict[str, Any]:
    try:
        raw = body.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadEvent("the body is not UTF-8") from None
    if raw.startswith("{"):
        check_json_bounds(body)
        try:
            doc = json.loads(raw)
        except ValueError:
            raise BadEvent("the body is not JSON") from None
    elif raw.startswith("<"):
        try:
            doc = xmltodict.parse(raw, disable_entities=True).get("xml")
        except Exception:
            raise BadEvent("the body is not XML") from None
    else:
        raise BadEvent("the body is neither XML nor JSON")
    if not isinstance(doc, dict):
        raise BadEvent("the body is not an event")
    return doc


def parse_subscribe_results(body: bytes, *, now: dt.datetime | None = None) -> list[SubscribeReceipt]:
    """The subscribe-message results in a push body; [] for any other event. BadEvent when malformed."""
    doc = _load(body)
    if _text(doc.get("MsgType"), "MsgType") != "event":
        return []
    if _text(doc.get("Event"), "Event") != SENT_EVENT:
        return []
    openid = _text(doc.get("FromUserName"), "FromUserName", limit=64)
    try:
        created = int(_text(doc.get("CreateTime"), "CreateTime", limit=12))
        at = dt.datetime.fromtimestamp(created, dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise BadEvent("CreateTime is not a time") from None
    current = now or dt.datetime.now(dt.UTC)
    at = min(at, current)  # the body is not signed: a time in the future cannot widen the match
    holder = doc.get("SubscribeMsgSentEvent")
    items = holder.get("List") if isinstance(holder, dict) else None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items or len(items) > _MAX_ITEMS:
        raise BadEvent("SubscribeMsgSentEvent.List is missing or malformed")
    receipts = []
    for item in items:
        if not isinstance(item, dict):
            raise BadEvent("SubscribeMsgSentEvent.List is malformed")
        try:
            code = int(_text(item.get("ErrorCode"), "ErrorCode", limit=12))
        except ValueError:
            raise BadEvent("ErrorCode is not a number") from None
        receipts.append(
            SubscribeReceipt(
                openid=openid,
                template_id=_text(item.get("TemplateId"), "TemplateId"),
                msg_id=_text(item.get("MsgID"), "MsgID", limit=64),
                error_code=code,
                error_status=_text(item.get("ErrorStatus", ""), "ErrorStatus", limit=256),
                at=at,
            )
        )
    ids = [r.msg_id for r in receipts if r.msg_id]
    if len(set(ids)) != len(ids):  # one message has one result: two in one event cannot both be true
        raise BadEvent("the same MsgID twice in one event")
    return receipts
