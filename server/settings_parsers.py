"""How each ``GMID_*`` value is read: the parsers ``server/settings.py``'s SPECS name, each taking the
raw text and answering the value, or raising ValueError with what is wrong (one line for the operator),
and the rate syntax ``COUNT/PERIOD`` every rate setting and every rate in the code shares."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlparse


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def parse_int(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"expected a number from {minimum} to {maximum}")
        return value

    return parse


def parse_http_url(raw: str) -> str:
    value = raw.strip()
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ValueError("expected an http:// or https:// URL")
    return value.rstrip("/")


def parse_database_url(raw: str) -> str:
    value = raw.strip()
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg", "psycopg"}:
        raise ValueError("expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB")
    return value


def parse_redis_url(raw: str) -> str:
    value = raw.strip()
    if urlparse(value).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("expected redis://HOST:PORT/DB, rediss://... or unix:///PATH")
    return value


def parse_mqtt_url(raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""
    parts = urlparse(value)
    if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
        raise ValueError("expected mqtt://USER:PASSWORD@HOST:PORT or mqtts://... (empty: HTTP ingest only)")
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError("the MQTT port is not a number") from None
    return value


RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MAX_RATE_COUNT = 1_000_000_000  # per period: past this a limit limits nothing (and stays exact below it)
_RATE_RE = re.compile(r"^\s*([+-]?\d+)\s*/\s*([a-z]+)\s*$")


def parse_rate(raw: str) -> tuple[int, int]:
    """``COUNT/PERIOD`` as (count, period in seconds); ValueError says what is wrong. Every rate
    setting and every rate in the code goes through here, so all accept the same."""
    match = _RATE_RE.match(raw.lower())
    if not match:
        raise ValueError(f"{raw.strip()!r} is not COUNT/PERIOD, e.g. 120/minute (period: second, minute, hour, day)")
    count, period = int(match.group(1)), match.group(2)
    if period not in RATE_PERIODS:
        raise ValueError(f"unknown period {period!r} in {raw.strip()!r} (use second, minute, hour or day)")
    if count < 1:
        raise ValueError(
            f"the count in {raw.strip()!r} must be at least 1 (to switch limits off use GMID_RATE_LIMIT_ENABLED=false)"
        )
    if count > MAX_RATE_COUNT:
        raise ValueError(f"the count in {raw.strip()!r} must be at most {MAX_RATE_COUNT:,}")
    return count, RATE_PERIODS[period]


def parse_rate_text(raw: str) -> str:
    parse_rate(raw)
    return raw.strip()


def parse_rate_list(raw: str) -> str:
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        raise ValueError("expected COUNT/PERIOD,..., e.g. 60/hour,300/day")
    for part in parts:
        parse_rate_text(part)
    return ",".join(parts)


def parse_rate_overrides(raw: str) -> str:
    # route.name=ip:10/minute|account:30/minute;other.route=...
    for item in filter(None, (part.strip() for part in raw.split(";"))):
        name, _, spec = item.partition("=")
        if not name.strip() or not spec:
            raise ValueError("expected ROUTE=ip:N/PERIOD|account:N/PERIOD;...")
        for part in spec.split("|"):
            scope, _, rate = part.partition(":")
            if scope.strip() not in {"ip", "account"}:
                raise ValueError(f"unknown scope {scope.strip()!r} (use ip or account)")
            parse_rate_text(rate)
    return raw.strip()


def parse_networks(raw: str) -> str:
    import ipaddress

    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ValueError(f"{part!r} is not an address or network (e.g. 10.0.0.0/8)") from None
    return raw.strip()


def parse_log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return value


def parse_str(raw: str) -> str:
    return raw.strip()


def parse_secret(raw: str) -> str:
    value = raw.strip()
    if len(value.encode("utf-8")) < 32:
        raise ValueError("expected at least 32 bytes of random text")
    return value


def parse_choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError("expected one of " + ", ".join(choices))
        return value

    return parse


_ID_MAP_RE = re.compile(r"^[a-z][a-z0-9_.]*=[A-Za-z0-9_\-]{1,128}$")


def parse_id_map(raw: str) -> str:
    """``key=ID,key=ID``: template ids per message template key."""
    for part in raw.split(","):
        if part.strip() and not _ID_MAP_RE.match(part.strip()):
            raise ValueError(f"{part.strip()!r} is not KEY=ID (e.g. ebike.stolen=AbC123)")
    return raw.strip()


def parse_channel_limits(raw: str) -> str:
    for part in raw.split(","):
        if not part.strip():
            continue
        channel, sep, rate = part.replace(" ", "").partition("=")
        if not sep or channel not in {"wechat", "sms", "email"}:
            raise ValueError(f"{part.strip()!r} is not CHANNEL=COUNT/PERIOD (e.g. sms=5/hour; wechat, sms or email)")
        parse_rate(rate)
    return raw.strip()


def parse_email(raw: str) -> str:
    value = raw.strip()
    if value and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", value):
        raise ValueError("expected an address like noreply@example.cn")
    return value


ESCALATION_SEVERITIES = ("critical", "major", "warning")
_ESCALATION_RE = re.compile(r"^([a-z]+)=(\d{1,4})\+(\d{1,4})$")


def escalation_minutes(raw: str) -> dict[str, tuple[int, int]]:
    """``critical=5+10,major=15+30``: minutes to the grid's staff, then further minutes to the
    community's duty staff, by severity (each 1-1440, each severity at most once)."""
    found: dict[str, tuple[int, int]] = {}
    for part in raw.split(","):
        item = part.replace(" ", "")
        if not item:
            continue
        match = _ESCALATION_RE.match(item)
        if match is None:
            raise ValueError(f"{part.strip()!r} is not SEVERITY=MINUTES+MINUTES (e.g. critical=5+10)")
        severity, first, second = match.group(1), int(match.group(2)), int(match.group(3))
        if severity not in ESCALATION_SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (use {', '.join(ESCALATION_SEVERITIES)})")
        if severity in found:
            raise ValueError(f"severity {severity!r} is given twice")
        if not (1 <= first <= 1440 and 1 <= second <= 1440):
            raise ValueError(f"{part.strip()!r}: minutes must be from 1 to 1440")
        found[severity] = (first, second)
    return found


def parse_escalation(raw: str) -> str:
    escalation_minutes(raw)
    return raw.strip()


def parse_device_heartbeats(raw: str) -> str:
    """``gas=3600,gateway=300``: seconds of silence after which a device of that type is offline."""
    device_heartbeat_seconds(raw)
    return raw.strip()


def device_heartbeat_seconds(raw: str) -> dict[str, int]:
    """The per-type overrides of ``parse_device_heartbeats`` (60 s to 7 days each)."""
    from miniapp_api.devices.rules import DeviceType  # pure module: no cycle, nothing started

    types = [t.value for t in DeviceType]
    out: dict[str, int] = {}
    for part in raw.split(","):
        name, sep, seconds = part.replace(" ", "").partition("=")
        if not part.strip():
            continue
        if not sep or name not in types:
            raise ValueError(f"{part.strip()!r} is not TYPE=SECONDS (TYPE one of {', '.join(types)})")
        if not seconds.isdigit() or not 60 <= int(seconds) <= 7 * 86400:
            raise ValueError(f"{part.strip()!r}: SECONDS is a whole number from 60 to 604800")
        out[name] = int(seconds)
    return out
