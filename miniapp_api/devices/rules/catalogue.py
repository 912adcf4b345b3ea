"""What the rules speak of: device types, severities, metrics and their possible values, device events,
heartbeat bounds, GB 3096-2008 noise zones and Beijing's day and night."""

from __future__ import annotations

import datetime
import math
from enum import StrEnum


class DeviceType(StrEnum):
    GAS = "gas"
    SMOKE = "smoke"
    WATER = "water"
    NOISE = "noise"
    AIR = "air"
    VALVE = "valve"
    GATEWAY = "gateway"


class Severity(StrEnum):
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"

    def rank(self) -> int:
        """1 for warning, 2 for major, 3 for critical: compare severities with this, never as strings."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK: dict[Severity, int] = {Severity.WARNING: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class RuleError(ValueError):
    """A rule override that cannot be used; ``field`` names the offending field (the API answers 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Physically possible values; a reading outside its range is refused by the ingest and ignored here.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "gas_lel_pct": (0.0, 100.0),
    "smoke": (0.0, 1.0),  # 1 = smoke detected
    "ph": (0.0, 14.0),
    "turbidity_ntu": (0.0, 4000.0),  # the top of the ISO 7027 nephelometric range
    "free_chlorine_mg_l": (0.0, 100.0),
    "noise_dba": (0.0, 200.0),
    "pm25_ugm3": (0.0, 2000.0),
    "battery_pct": (0.0, 100.0),
    "valve_state": (0.0, 1.0),  # 1 open, 0 closed
    "temperature_c": (-40.0, 125.0),  # the industrial range of the sensors' electronics
    "humidity_pct": (0.0, 100.0),
    "signal_dbm": (-140.0, 0.0),  # NB-IoT reaches about -140 dBm
}

_RADIO = frozenset({"battery_pct", "signal_dbm"})
# Which metrics each device type may send (the ingest refuses the others).
METRICS_BY_TYPE: dict[DeviceType, frozenset[str]] = {
    DeviceType.GAS: frozenset({"gas_lel_pct", "temperature_c"}) | _RADIO,
    DeviceType.SMOKE: frozenset({"smoke", "temperature_c"}) | _RADIO,
    DeviceType.WATER: frozenset({"ph", "turbidity_ntu", "free_chlorine_mg_l", "temperature_c"}) | _RADIO,
    DeviceType.NOISE: frozenset({"noise_dba"}) | _RADIO,
    DeviceType.AIR: frozenset({"pm25_ugm3", "temperature_c", "humidity_pct"}) | _RADIO,
    DeviceType.VALVE: frozenset({"valve_state"}) | _RADIO,
    DeviceType.GATEWAY: frozenset({"signal_dbm"}),  # mains powered
}

# Device event -> (alarm_type, severity), or None: recorded only.
EVENTS: dict[str, tuple[str, Severity] | None] = {
    "tamper": ("tamper", Severity.MAJOR),
    "fault": ("fault", Severity.MAJOR),
    "low_battery": ("low_battery", Severity.WARNING),
    "self_test": None,
}

OFFLINE_ALARM: tuple[str, Severity] = ("offline", Severity.MAJOR)

# Silence after which a device is offline: twice the heartbeat period the device must be configured with,
# so one lost uplink (NB-IoT drops some) does not raise an offline alarm but two do.
HEARTBEAT_SECONDS: dict[DeviceType, int] = {
    # Life-safety detectors (heartbeat every 30 min): a gas or smoke detector silent for an hour is as good
    # as absent, and the household must learn that the same day, not the next.
    DeviceType.GAS: 3600,
    DeviceType.SMOKE: 3600,
    # The valve is what closes the gas on a critical gas alarm: the same bound as the gas detector.
    DeviceType.VALVE: 3600,
    # Online water-quality analysers, noise and air monitors report every few minutes (heartbeat 15 min).
    DeviceType.WATER: 1800,
    DeviceType.NOISE: 1800,
    DeviceType.AIR: 1800,
    # A gateway polls every 2-3 min and carries the devices behind it: its silence must show quickly.
    DeviceType.GATEWAY: 300,
}

# GB 3096-2008 Table 1, environmental noise limits by acoustic zone class: (day, night) dB(A);
# day is 06:00-22:00, night 22:00-06:00 local time.
NOISE_ZONES: dict[str, tuple[float, float]] = {
    "0": (50.0, 40.0),
    "1": (55.0, 45.0),
    "2": (60.0, 50.0),
    "3": (65.0, 55.0),
    "4a": (70.0, 55.0),
    "4b": (70.0, 60.0),
}
DEFAULT_NOISE_ZONE = "2"

# Asia/Shanghai is UTC+8 all year (no daylight saving since 1991), as identity/validators.py assumes too.
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8), "Asia/Shanghai")

# Moving averages: a reading stands for the time since the previous reading, at most one hour (GB 3095-2012
# builds daily means from hourly values); the mean counts only once the readings cover 20 of 24 hours of
# the window (GB 3095-2012 Table 4: a 24 h mean needs at least 20 hourly values). The window is kept as
# AVERAGE_BUCKETS sums, so the state stays small whatever the reading rate.
MAX_READING_SPAN_SECONDS = 3600.0
AVERAGE_MIN_COVERAGE = 20 / 24
AVERAGE_BUCKETS = 48

MAX_LEVELS = 5
MAX_SAMPLES = 1000
MAX_SECONDS = 2 * 86400.0


def is_night(at: datetime.datetime) -> bool:
    """22:00 <= local time < 06:00 in Asia/Shanghai (GB 3096-2008's night)."""
    hour = _aware(at).astimezone(SHANGHAI).hour
    return hour >= 22 or hour < 6


def _aware(at: datetime.datetime) -> datetime.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("reading time must carry a time zone")
    return at


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def reading_refusal(device_type: DeviceType, metric: str, value: object) -> str | None:
    """Why the ingest must refuse this reading (a short English reason), or None when it is acceptable."""
    if metric not in METRICS_BY_TYPE[device_type]:
        return "unknown_metric"
    if not _is_number(value):
        return "not_a_number"
    low, high = METRIC_RANGES[metric]
    if not low <= value <= high:  # type: ignore[operator]
        return "out_of_range"
    return None


def is_offline(device_type: DeviceType, last_seen: datetime.datetime, now: datetime.datetime) -> bool:
    """True when the device has been silent longer than its type's heartbeat bound."""
    return (_aware(now) - _aware(last_seen)).total_seconds() > HEARTBEAT_SECONDS[device_type]
