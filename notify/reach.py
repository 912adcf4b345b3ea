"""Which messages the configured channels cannot carry, said out loud instead of found dead later.

A recipient is reached through the addresses it has: a WeChat openid (the mini-program's for subscribe
messages, the official account's for template messages) or a mobile phone (accounts carry these two;
no feature gives email addresses today). A template cannot reach recipients who have only one kind of
address when that address's channel is not configured, or has no template id for it: a police duty
phone with SMS unset is the case that matters. This is worked out from the settings alone and is:

- logged once per (template, recipient kind) when a dispatcher starts (``log_unreachable``);
- listed in ``/readyz`` under ``notify`` (readiness itself does not depend on it);
- recorded on each row that goes dead for it (an ``unreachable`` attempt with the reason as its code),
  and counted per template and reason in ``/metrics`` (``gmid_notify_unreachable``).

With no channel configured at all the console stands in for every channel (development): nothing is
unreachable then.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from notify import templates
from server.settings import Settings

log = logging.getLogger("gmid.notify")

UNREACHABLE_PREFIX = "unreachable: "  # last_error of a row that went dead for it, then the reason
RECIPIENT_KINDS = {"wechat": "a WeChat openid", "phone": "a mobile phone"}
CHANNEL_OF = {"wechat": "wechat", "phone": "sms"}


@dataclass(frozen=True)
class Unreachable:
    template: str
    recipients: str  # a key of RECIPIENT_KINDS: recipients who have only this kind of address
    reason: str  # e.g. sms_not_configured, wechat_no_template_id


def configured_channels(settings: Settings) -> list[str]:
    """The channels the dispatcher builds from these settings (mirrors their ``from_settings``)."""
    channels = []
    if (settings.wechat_appid and settings.wechat_secret) or (settings.wechat_oa_appid and settings.wechat_oa_secret):
        channels.append("wechat")
    if settings.sms_secret_id and settings.sms_secret_key and settings.sms_sdk_app_id:
        channels.append("sms")
    if settings.smtp_host and settings.smtp_from:
        channels.append("email")
    return channels


def _wechat_problem(settings: Settings, template: str) -> str | None:
    if "wechat" not in configured_channels(settings):
        return "wechat_not_configured"
    if template not in templates.parse_id_map(settings.notify_wechat_templates):
        return "wechat_no_template_id"
    if templates.get(template).wechat.kind == "subscribe":
        if not (settings.wechat_appid and settings.wechat_secret):
            return "wechat_miniprogram_not_configured"
    elif not (settings.wechat_oa_appid and settings.wechat_oa_secret):
        return "wechat_official_account_not_configured"
    return None


def _sms_problem(settings: Settings, template: str) -> str | None:
    if "sms" not in configured_channels(settings):
        return "sms_not_configured"
    if template not in templates.parse_id_map(settings.notify_sms_templates):
        return "sms_no_template_id"
    return None


def unreachable(settings: Settings) -> list[Unreachable]:
    """Every (template, recipient kind) the configured channels cannot deliver, by template key."""
    if not configured_channels(settings):
        return []  # the console stands in for every channel
    found = []
    for key in sorted(templates.TEMPLATES):
        for kind, problem in (("wechat", _wechat_problem(settings, key)), ("phone", _sms_problem(settings, key))):
            if problem:
                found.append(Unreachable(key, kind, problem))
    return found


def readiness(settings: Settings) -> dict[str, Any]:
    """The ``notify`` section of ``/readyz``: nothing personal, only configuration."""
    channels = configured_channels(settings)
    return {
        "mode": "channels" if channels else "console",
        "channels": channels,
        "unreachable": [asdict(u) for u in unreachable(settings)],
    }


def log_unreachable(settings: Settings) -> list[Unreachable]:
    """One warning line per (template, recipient kind) that cannot be delivered (no personal data)."""
    found = unreachable(settings)
    for item in found:
        log.warning(
            "notify template %s cannot reach recipients who have only %s: %s; their messages will go dead",
            item.template,
            RECIPIENT_KINDS[item.recipients],
            item.reason,
        )
    if not configured_channels(settings):
        log.warning("notify has no channel configured: messages are written to the log (console), not sent")
    return found


def channel_problem(name: str, channel: Any, template: str, has_address: bool) -> str:
    """Why the dispatcher's channel ``name`` (None: not configured) cannot carry a message."""
    if channel is None:
        return f"{name}_not_configured"
    ids = getattr(channel, "template_ids", None)
    if isinstance(ids, dict) and template not in ids:
        return f"{name}_no_template_id"
    if name == "wechat" and template in templates.TEMPLATES:
        kind = templates.get(template).wechat.kind
        if kind == "subscribe" and getattr(channel, "miniprogram", True) is None:
            return "wechat_miniprogram_not_configured"
        if kind == "template" and getattr(channel, "official_account", True) is None:
            return "wechat_official_account_not_configured"
    return f"{name}_no_address" if not has_address else f"{name}_cannot_carry"
