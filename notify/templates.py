"""The message template registry: what each event says on each channel, in Chinese.

A template key (``ebike.stolen``) maps to a WeChat message (subscribe message of the mini-program, or
template message of the official account) with its field names and page, an SMS template's
parameters, and an email subject and body. WeChat and SMS template *ids* belong to each deployment's
accounts: they come from ``GMID_NOTIFY_WECHAT_TEMPLATES`` / ``GMID_NOTIFY_SMS_TEMPLATES``; a channel
without an id for a key does not carry that key (the next channel does).

Values are formatted with ``str.format`` over the notification's data (all strings); ``{x:time}``
turns an ISO 8601 instant into Beijing time (``2026-11-25 21:30``). WeChat's per-field limits (thing
20 characters, phrase 5 ...) are applied by cutting the value, never by failing the message.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class TemplateError(ValueError):
    """Unknown template key or data that does not fit it (a programming error in the caller)."""


@dataclass(frozen=True)
class WeChatSpec:
    kind: Literal["subscribe", "template"]
    fields: tuple[tuple[str, str], ...]  # (WeChat data key, value format)
    page: str = ""  # mini-program page (subscribe) or pagepath (template), a format


@dataclass(frozen=True)
class Template:
    key: str
    title: str  # short, for the console and logs: no data
    required: tuple[str, ...]
    wechat: WeChatSpec
    sms_params: tuple[str, ...]
    sms_text: str  # what the approved SMS template says, {1}.. = sms_params (documentation and email)
    email_subject: str
    email_body: str
    extra: Mapping[str, Any] = field(default_factory=dict)


# WeChat value limits by field kind (key "thing1" -> kind "thing").
_LIMITS = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
    "amount": 11,
}
_KEY_KIND = re.compile(r"^([a-z_]+?)\d+$")
# Official-account template fields are at most 20 characters since 2023-05.
_TEMPLATE_FIELD_LIMIT = 20


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "time":
            return display_time(str(value))
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()


def display_time(value: str) -> str:
    """ISO 8601 -> ``YYYY-MM-DD HH:MM`` in Beijing time; anything else unchanged."""
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


_MAIL_FOOTER = (
    "\n\n——\n光明e证 · 深圳市光明区\n请在微信中打开“光明e证”小程序查看详情。本邮件由系统自动发送，请勿回复。\n"
)

TEMPLATES: dict[str, Template] = {}


def register(template: Template) -> Template:
    TEMPLATES[template.key] = template
    return template


def get(key: str) -> Template:
    try:
        return TEMPLATES[key]
    except KeyError:
        raise TemplateError(f"unknown notification template {key!r}") from None


def check_data(key: str, data: Mapping[str, Any]) -> dict[str, str]:
    """The data as strings, with the template's defaults; raises TemplateError when a value is missing."""
    template = get(key)
    values = {k: str(v) for k, v in template.extra.get("defaults", {}).items()}
    for name, value in data.items():
        if not isinstance(name, str) or not isinstance(value, str | int | float):
            raise TemplateError(f"template data of {key!r} must map names to strings or numbers")
        values[name] = str(value)
    missing = [name for name in template.required if not values.get(name)]
    if missing:
        raise TemplateError(f"template {key!r} needs {', '.join(missing)}")
    render_all(template, values)  # a bad format fails here, at enqueue, not in the dispatcher
    return values


def _fmt(pattern: str, data: Mapping[str, str]) -> str:
    try:
        return _FORMATTER.vformat(pattern, (), dict(data))
    except (KeyError, IndexError, ValueError) as exc:
        raise TemplateError(f"template field {pattern!r} cannot be filled: {exc}") from None


def wechat_data(template: Template, data: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, pattern in template.wechat.fields:
        value = _fmt(pattern, data).strip() or "-"
        if template.wechat.kind == "template":
            value = _cut(value, _TEMPLATE_FIELD_LIMIT)
        else:
            match = _KEY_KIND.match(key)
            limit = _LIMITS.get(match.group(1)) if match else None
            if limit is not None:
                value = _cut(value, limit)
        out[key] = {"value": value}
    return out


def wechat_page(template: Template, data: Mapping[str, str]) -> str:
    return _fmt(template.wechat.page, data) if template.wechat.page else ""


def sms_params(template: Template, data: Mapping[str, str]) -> list[str]:
    # Tencent limits each variable to 6..35 characters depending on the template type; cut at 35.
    return [_cut(_fmt(p, data), 35) for p in template.sms_params]


def email(template: Template, data: Mapping[str, str]) -> tuple[str, str]:
    return _fmt(template.email_subject, data), _fmt(template.email_body, data) + _MAIL_FOOTER


def render_all(template: Template, data: Mapping[str, str]) -> None:
    wechat_data(template, data)
    wechat_page(template, data)
    sms_params(template, data)
    email(template, data)


def parse_id_map(raw: str) -> dict[str, str]:
    """``key=ID,key=ID`` (settings) -> {key: ID}."""
    result: dict[str, str] = {}
    for part in raw.split(","):
        if part.strip():
            key, _, value = part.strip().partition("=")
            result[key.strip()] = value.strip()
    return result


# The templates themselves, registered on import (after everything above exists).
from notify import template_catalog  # noqa: E402,F401
