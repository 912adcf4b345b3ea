"""Sensor alarm rules: thresholds with hysteresis, duration and moving averages, as pure data and functions.

Nothing here touches the database, Redis or the event loop. The caller keeps one ``RuleState`` per
(device, rule) as JSON (``RuleState.to_json`` / ``RuleState.from_json``) and calls ``evaluate`` for each
reading in time order; ``evaluate`` answers the new state and at most one ``Change`` (raise, severity, clear).

Comparison semantics (``ThresholdRule.direction``):

- ``above``: a level is *reached* at ``value >= raise_at`` (``value > raise_at`` when the rule is ``strict``)
  and *left* at ``value <= clear_at``; ``below`` is the mirror image. ``strict`` rules are the ones whose
  standard lets the limit value itself comply (GB 5749-2022 "pH not below 6.5 and not above 8.5",
  GB 3096-2008 "not above 60 dB(A)", "battery below 20 %").
- Hysteresis per level: ``clear_at`` lies strictly on the safe side of ``raise_at``. Within one raised
  alarm the severity rises to a higher level when that level is reached (and has held for the duration),
  and falls back one level at a time when the value is at or past that level's ``clear_at``; the alarm
  clears only at or past the lowest level's ``clear_at``. Values between ``clear_at`` and ``raise_at``
  change nothing, so a value that oscillates there never flaps.
- Duration: a level counts as reached only after ``samples`` consecutive readings beyond its ``raise_at``
  and ``seconds`` since the first of that run. Any reading not beyond it restarts its run; a clear restarts
  every run.
- ``average_seconds > 0``: the compared value is the time-weighted mean over that window (each reading
  stands for the time since the previous one, at most ``MAX_READING_SPAN_SECONDS``), and it is compared only
  once the readings cover ``AVERAGE_MIN_COVERAGE`` of the window.
- A reading at or before the state's last reading (a late upload or a duplicate) changes nothing, and so
  does a value outside ``METRIC_RANGES`` (the ingest refuses those first, with ``reading_refusal``).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


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


@dataclass(frozen=True)
class Level:
    severity: Severity
    raise_at: float
    clear_at: float


@dataclass(frozen=True)
class ThresholdRule:
    alarm_type: str
    metric: str
    direction: Literal["above", "below"]
    levels: tuple[Level, ...]
    samples: int = 1
    seconds: float = 0.0
    average_seconds: float = 0.0
    night_levels: tuple[Level, ...] | None = None
    # True: a level is reached only strictly beyond raise_at (the limit value itself complies).
    strict: bool = False

    def levels_at(self, at: datetime.datetime) -> tuple[Level, ...]:
        """The levels in force at ``at``: ``night_levels`` at night (Beijing time) when set, else ``levels``."""
        if self.night_levels is not None and is_night(at):
            return self.night_levels
        return self.levels

    def beyond(self, value: float, raise_at: float) -> bool:
        if self.direction == "above":
            return value > raise_at if self.strict else value >= raise_at
        return value < raise_at if self.strict else value <= raise_at

    def safe(self, value: float, clear_at: float) -> bool:
        return value <= clear_at if self.direction == "above" else value >= clear_at


@dataclass
class RuleState:
    severity: Severity | None = None  # None: no open alarm for this rule
    run_count: int = 0  # consecutive readings beyond the lowest level's raise_at
    run_since: float | None = None  # epoch seconds of the first reading of that run
    last_at: float | None = None  # epoch seconds of the last reading taken into account
    average: float | None = None  # the moving average (average rules), once any time is covered
    # Runs of the higher levels: upper_runs[i] = [count, since] for levels[i + 1].
    upper_runs: list[tuple[int, float | None]] = field(default_factory=list)
    # Moving-average window: bucket length and [bucket index, sum of value x seconds, seconds covered].
    bucket_seconds: float | None = None
    buckets: list[tuple[int, float, float]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": 1,
                "severity": None if self.severity is None else str(self.severity),
                "run_count": self.run_count,
                "run_since": self.run_since,
                "last_at": self.last_at,
                "average": self.average,
                "upper_runs": [list(r) for r in self.upper_runs],
                "bucket_seconds": self.bucket_seconds,
                "buckets": [list(b) for b in self.buckets],
            },
            separators=(",", ":"),
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> RuleState:
        """The state stored by ``to_json``; a fresh state for None, garbage or a state of another shape."""
        if raw is None:
            return cls()
        try:
            data = json.loads(raw)
            return cls._from_dict(data)
        except (ValueError, TypeError, KeyError, AttributeError):
            return cls()

    @classmethod
    def _from_dict(cls, data: Any) -> RuleState:
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("not a rule state")
        sev = data["severity"]
        runs = data["upper_runs"]
        buckets = data["buckets"]
        if not isinstance(runs, list) or not isinstance(buckets, list):
            raise ValueError("not a rule state")
        return cls(
            severity=None if sev is None else Severity(sev),
            run_count=_count(data["run_count"]),
            run_since=_opt_number(data["run_since"]),
            last_at=_opt_number(data["last_at"]),
            average=_opt_number(data["average"]),
            upper_runs=[(_count(c), _opt_number(s)) for c, s in runs],
            bucket_seconds=_opt_number(data["bucket_seconds"]),
            buckets=[(_count(k, allow_negative=True), _number(s), _number(t)) for k, s, t in buckets],
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: object) -> float:
    if not _is_number(value):
        raise ValueError("not a finite number")
    return float(value)  # type: ignore[arg-type]


def _opt_number(value: object) -> float | None:
    return None if value is None else _number(value)


def _count(value: object, *, allow_negative: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or (value < 0 and not allow_negative):
        raise ValueError("not a count")
    return value


@dataclass(frozen=True)
class Change:
    kind: Literal["raise", "severity", "clear"]
    severity: Severity | None  # None for a clear
    value: float  # the value compared: the reading, or the moving average


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


# ---------------------------------------------------------------------------------------------------------
# Evaluation


def evaluate(
    rule: ThresholdRule, state: RuleState, value: float, at: datetime.datetime
) -> tuple[RuleState, Change | None]:
    """Take one reading into account: the new state, and the alarm change it causes (or None)."""
    ts = _aware(at).timestamp()
    if state.last_at is not None and ts <= state.last_at:
        return state, None  # late or duplicate: never flaps an alarm
    low, high = METRIC_RANGES.get(rule.metric, (-math.inf, math.inf))
    if not _is_number(value) or not low <= value <= high:
        return state, None
    new = dataclasses.replace(state, upper_runs=list(state.upper_runs), buckets=list(state.buckets), last_at=ts)

    compared = float(value)
    if rule.average_seconds > 0:
        average, covered = _update_average(new, compared, ts, state.last_at, rule.average_seconds)
        new.average = average
        if average is None or covered < rule.average_seconds * AVERAGE_MIN_COVERAGE:
            return new, None  # not enough of the window covered yet to judge
        compared = average

    levels = rule.levels_at(at)
    held = _update_runs(rule, new, levels, compared, ts)
    reached = [i for i in range(len(levels)) if held[i]]

    if state.severity is None:
        if not reached:
            return new, None
        new.severity = levels[reached[-1]].severity
        return new, Change("raise", new.severity, compared)

    if rule.safe(compared, levels[0].clear_at):
        _reset_runs(new)
        new.severity = None
        return new, Change("clear", None, compared)

    current = _level_index(levels, state.severity)
    target = current
    if reached and reached[-1] > current:
        target = reached[-1]
    else:
        while target > 0 and rule.safe(compared, levels[target].clear_at):
            target -= 1
    new.severity = levels[target].severity
    if new.severity != state.severity:
        return new, Change("severity", new.severity, compared)
    return new, None


def _level_index(levels: tuple[Level, ...], severity: Severity) -> int:
    """The index of the highest level not above ``severity`` (levels may change between readings)."""
    index = 0
    for i, level in enumerate(levels):
        if level.severity.rank() <= severity.rank():
            index = i
    return index


def _update_runs(
    rule: ThresholdRule, state: RuleState, levels: tuple[Level, ...], value: float, ts: float
) -> list[bool]:
    """Advance each level's run of consecutive readings beyond its raise_at; which levels have held."""
    uppers = (state.upper_runs + [(0, None)] * len(levels))[: max(len(levels) - 1, 0)]
    runs: list[tuple[int, float | None]] = [(state.run_count, state.run_since), *uppers]
    held: list[bool] = []
    for i, level in enumerate(levels):
        count, since = runs[i]
        if rule.beyond(value, level.raise_at):
            count, since = count + 1, (ts if count == 0 or since is None else since)
        else:
            count, since = 0, None
        runs[i] = (count, since)
        held.append(since is not None and count >= rule.samples and ts - since >= rule.seconds)
    state.run_count, state.run_since = runs[0]
    state.upper_runs = runs[1:]
    return held


def _reset_runs(state: RuleState) -> None:
    state.run_count, state.run_since = 0, None
    state.upper_runs = [(0, None) for _ in state.upper_runs]


def _update_average(
    state: RuleState, value: float, ts: float, previous: float | None, window: float
) -> tuple[float | None, float]:
    """Add the reading to the window's buckets; answer the time-weighted mean (None if nothing) and its cover."""
    width = window / AVERAGE_BUCKETS
    if state.bucket_seconds != width:  # first reading, or the window was changed by an override
        state.bucket_seconds, state.buckets = width, []
    sums = {k: (s, t) for k, s, t in state.buckets}
    if previous is not None:
        start = max(ts - min(ts - previous, MAX_READING_SPAN_SECONDS), ts - window)
        k = math.floor(start / width)
        while start < ts:
            end = min((k + 1) * width, ts)
            if end > start:
                s, t = sums.get(k, (0.0, 0.0))
                sums[k] = (s + value * (end - start), t + (end - start))
                start = end
            k += 1
    oldest = math.floor(ts / width) - AVERAGE_BUCKETS
    state.buckets = sorted((k, s, t) for k, (s, t) in sums.items() if k > oldest)
    covered = sum(t for _, _, t in state.buckets)
    if covered <= 0:
        return None, 0.0
    return sum(s for _, s, _ in state.buckets) / covered, covered


# ---------------------------------------------------------------------------------------------------------
# Defaults


def _battery_rule() -> ThresholdRule:
    # Battery below 20 %: warning; cleared only at >= 25 % (a new battery), so the voltage that recovers
    # a little when the radio is idle does not clear it. Three readings: voltage sags while transmitting.
    return ThresholdRule(
        "battery_low", "battery_pct", "below", (Level(Severity.WARNING, 20.0, 25.0),), samples=3, strict=True
    )


def _noise_levels(limit: float) -> tuple[Level, ...]:
    # Warning above the zone's limit, major above limit + 10 dB (ten times the sound energy). Clear 3 dB
    # under each (half the sound energy): well outside a class 2 sound level meter's +-1.4 dB tolerance
    # (GB/T 3785.1-2023), so ordinary fluctuation around the limit does not flap.
    return (Level(Severity.WARNING, limit, limit - 3.0), Level(Severity.MAJOR, limit + 10.0, limit + 7.0))


def noise_limits(noise_zone: str | None) -> tuple[float, float]:
    """(day, night) dB(A) limits of a GB 3096-2008 zone class; class "2" when none is given."""
    key = DEFAULT_NOISE_ZONE if noise_zone is None else str(noise_zone).strip().lower()
    if key not in NOISE_ZONES:
        raise RuleError("noise_zone", f"unknown GB 3096-2008 zone class (one of {', '.join(NOISE_ZONES)})")
    return NOISE_ZONES[key]


def default_rules(device_type: DeviceType, *, noise_zone: str | None = None) -> list[ThresholdRule]:
    """The threshold rules a device of this type starts with (issue 14's defaults)."""
    device_type = DeviceType(device_type)
    rules: list[ThresholdRule] = []
    if device_type is DeviceType.GAS:
        # Issue 14: 10 %LEL warning, 20 %LEL critical (two-stage alarm points as in GB/T 50493-2019, whose
        # first stage is at most 25 %LEL). Clear at 80 % of each set point (8 / 16 %LEL): a margin above the
        # +-3 %LEL accuracy of household catalytic and semiconductor sensors, and a leak that is still at
        # 9 %LEL stays an alarm. One reading suffices: a leak is never waited for.
        rules.append(
            ThresholdRule(
                "gas",
                "gas_lel_pct",
                "above",
                (Level(Severity.WARNING, 10.0, 8.0), Level(Severity.CRITICAL, 20.0, 16.0)),
            )
        )
    elif device_type is DeviceType.SMOKE:
        # A smoke detector (GB 20517-2006) reports a decision, not a concentration: 1 is critical, 0 clears.
        rules.append(ThresholdRule("smoke", "smoke", "above", (Level(Severity.CRITICAL, 1.0, 0.0),)))
    elif device_type is DeviceType.WATER:
        # GB 5749-2022 drinking water at the tap. Online analysers see bubbles and electrode drift, and
        # compliance is judged on samples, not instants: three consecutive readings.
        rules += [
            # pH not below 6.5 and not above 8.5; clear 0.1 inside (pH electrodes are accurate to +-0.05).
            ThresholdRule("ph_low", "ph", "below", (Level(Severity.WARNING, 6.5, 6.6),), samples=3, strict=True),
            ThresholdRule("ph_high", "ph", "above", (Level(Severity.WARNING, 8.5, 8.4),), samples=3, strict=True),
            # Turbidity at most 1 NTU; clear at 0.8 NTU.
            ThresholdRule(
                "turbidity", "turbidity_ntu", "above", (Level(Severity.MAJOR, 1.0, 0.8),), samples=3, strict=True
            ),
            # Free chlorine at the tap at least 0.05 mg/L (disinfection) and at most 2 mg/L; clear at
            # 0.08 / 1.8 mg/L (amperometric sensors: +-0.02 mg/L at the low end).
            ThresholdRule(
                "chlorine_low",
                "free_chlorine_mg_l",
                "below",
                (Level(Severity.WARNING, 0.05, 0.08),),
                samples=3,
                strict=True,
            ),
            ThresholdRule(
                "chlorine_high",
                "free_chlorine_mg_l",
                "above",
                (Level(Severity.WARNING, 2.0, 1.8),),
                samples=3,
                strict=True,
            ),
        ]
    elif device_type is DeviceType.NOISE:
        day, night = noise_limits(noise_zone)
        # GB 3096-2008: a zone complies at or under its limit, so "above" is strict; three consecutive
        # samples so that a passing lorry or a door slam does not alarm.
        rules.append(
            ThresholdRule(
                "noise",
                "noise_dba",
                "above",
                _noise_levels(day),
                samples=3,
                night_levels=_noise_levels(night),
                strict=True,
            )
        )
    elif device_type is DeviceType.AIR:
        # GB 3095-2012 Table 1 class 2: PM2.5 24 h mean at most 75 ug/m3 (IAQI 100, HJ 633-2012); major above
        # 115 ug/m3 (IAQI 150, "light pollution" ends). Clear at 70 / 105: a 24 h mean moves slowly, a small
        # margin is enough.
        rules.append(
            ThresholdRule(
                "pm25",
                "pm25_ugm3",
                "above",
                (Level(Severity.WARNING, 75.0, 70.0), Level(Severity.MAJOR, 115.0, 105.0)),
                average_seconds=86400.0,
                strict=True,
            )
        )
    if "battery_pct" in METRICS_BY_TYPE[device_type]:
        rules.append(_battery_rule())
    return rules


# ---------------------------------------------------------------------------------------------------------
# Overrides

_OVERRIDE_KEYS = frozenset(
    {"alarm_type", "disabled", "levels", "samples", "seconds", "average_seconds", "night_levels"}
)


def check_override(device_type: DeviceType, override: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one staff override of a default rule; the cleaned, JSON-ready dict, or ``RuleError``."""
    if not isinstance(override, Mapping):
        raise RuleError("override", "must be an object")
    for key in override:
        if key not in _OVERRIDE_KEYS:
            # Named by what is allowed, never by the key sent (it may be anything, of any length).
            raise RuleError("override", f"unknown field: the fields are {', '.join(sorted(_OVERRIDE_KEYS))}")
    alarm_type = override.get("alarm_type")
    rules = {r.alarm_type: r for r in default_rules(DeviceType(device_type))}
    if not isinstance(alarm_type, str) or alarm_type not in rules:
        known = ", ".join(rules) or "none"
        raise RuleError("alarm_type", f"not an alarm type of a {device_type} device (known: {known})")
    rule = rules[alarm_type]
    cleaned: dict[str, Any] = {"alarm_type": alarm_type}
    if "disabled" in override:
        if not isinstance(override["disabled"], bool):
            raise RuleError("disabled", "must be true or false")
        cleaned["disabled"] = override["disabled"]
    if "levels" in override:
        cleaned["levels"] = _check_levels(rule, "levels", override["levels"])
    if "night_levels" in override:
        raw = override["night_levels"]
        cleaned["night_levels"] = None if raw is None else _check_levels(rule, "night_levels", raw)
    if "samples" in override:
        samples = override["samples"]
        if not isinstance(samples, int) or isinstance(samples, bool):
            raise RuleError("samples", "must be a whole number")
        if not 1 <= samples <= MAX_SAMPLES:
            raise RuleError("samples", f"must be between 1 and {MAX_SAMPLES}")
        cleaned["samples"] = samples
    for key in ("seconds", "average_seconds"):
        if key in override:
            seconds = _check_number(key, override[key])
            if not 0 <= seconds <= MAX_SECONDS:
                raise RuleError(key, f"must be between 0 and {MAX_SECONDS:.0f} seconds")
            cleaned[key] = seconds
    return cleaned


def _check_number(name: str, value: object) -> float:
    if not _is_number(value):
        raise RuleError(name, "must be a finite number")
    return float(value)  # type: ignore[arg-type]


def _check_levels(rule: ThresholdRule, name: str, raw: object) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple):
        raise RuleError(name, "must be a list of levels")
    if not 1 <= len(raw) <= MAX_LEVELS:
        raise RuleError(name, f"must hold 1 to {MAX_LEVELS} levels")
    low, high = METRIC_RANGES[rule.metric]
    cleaned: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"{name}[{i}]"
        if not isinstance(item, Mapping):
            raise RuleError(where, "must be an object with severity, raise_at and clear_at")
        for key in item:
            if key not in ("severity", "raise_at", "clear_at"):
                raise RuleError(where, "unknown field: a level has only severity, raise_at and clear_at")
        for key in ("severity", "raise_at", "clear_at"):
            if key not in item:
                raise RuleError(f"{where}.{key}", "is required")
        try:
            severity = Severity(item["severity"])
        except (ValueError, TypeError):
            raise RuleError(f"{where}.severity", "must be warning, major or critical") from None
        raise_at = _check_number(f"{where}.raise_at", item["raise_at"])
        clear_at = _check_number(f"{where}.clear_at", item["clear_at"])
        for key, number in (("raise_at", raise_at), ("clear_at", clear_at)):
            if not low <= number <= high:
                raise RuleError(f"{where}.{key}", f"outside the possible {rule.metric} values ({low:g} to {high:g})")
        if rule.safe(raise_at, clear_at):
            side = "below" if rule.direction == "above" else "above"
            raise RuleError(f"{where}.clear_at", f"must be strictly {side} raise_at")
        if cleaned:
            previous = cleaned[-1]
            if severity.rank() <= Severity(previous["severity"]).rank():
                raise RuleError(f"{where}.severity", "severities must be ascending and distinct")
            further = raise_at > previous["raise_at"] if rule.direction == "above" else raise_at < previous["raise_at"]
            if not further:
                word = "above" if rule.direction == "above" else "below"
                raise RuleError(f"{where}.raise_at", f"a higher severity must be raised {word} the level before")
        cleaned.append({"severity": str(severity), "raise_at": raise_at, "clear_at": clear_at})
    return cleaned


def _levels(cleaned: list[dict[str, Any]]) -> tuple[Level, ...]:
    return tuple(Level(Severity(x["severity"]), x["raise_at"], x["clear_at"]) for x in cleaned)


def rules_for(
    device_type: DeviceType, *, noise_zone: str | None = None, overrides: Sequence[Mapping[str, Any]] = ()
) -> list[ThresholdRule]:
    """The rules in force: the defaults, then each override in order (building's, then device's; later wins).

    An override replaces only the fields it names; ``{"alarm_type": X, "disabled": true}`` turns the rule
    off and a later ``"disabled": false`` turns it back on. Raises ``RuleError`` on an invalid override.
    """
    rules = {r.alarm_type: r for r in default_rules(device_type, noise_zone=noise_zone)}
    disabled: set[str] = set()
    for override in overrides:
        cleaned = check_override(device_type, override)
        alarm_type = cleaned["alarm_type"]
        changes: dict[str, Any] = {}
        for key in ("samples", "seconds", "average_seconds"):
            if key in cleaned:
                changes[key] = cleaned[key]
        if "levels" in cleaned:
            changes["levels"] = _levels(cleaned["levels"])
        if "night_levels" in cleaned:
            night = cleaned["night_levels"]
            changes["night_levels"] = None if night is None else _levels(night)
        rules[alarm_type] = dataclasses.replace(rules[alarm_type], **changes)
        if cleaned.get("disabled") is True:
            disabled.add(alarm_type)
        elif cleaned.get("disabled") is False:
            disabled.discard(alarm_type)
    return [rule for alarm_type, rule in rules.items() if alarm_type not in disabled]
