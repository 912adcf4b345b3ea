"""Evaluating one rule: levels with hysteresis, durations, moving averages; the state kept between
readings (``RuleState``, JSON) and the change a reading makes (``Change``)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from miniapp_api.devices.rules.catalogue import (
    AVERAGE_BUCKETS,
    AVERAGE_MIN_COVERAGE,
    MAX_READING_SPAN_SECONDS,
    METRIC_RANGES,
    Severity,
    _aware,
    _is_number,
    is_night,
)


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
