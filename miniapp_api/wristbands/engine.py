"""The gate's decision, as pure functions: the same code decides online, for an offline upload by its
original time, and builds the offline bundle's stop windows (so the three never disagree).

A person must stop while any of their *windows* covers the moment of the check-in: a health status
the rules stop (from when it was set until it expires), an active home-quarantine order, or a trip to
a key area (from the first day they were there while it was a key area until ``trip_window_days``
after the last such day). A band that is unknown, not bound or revoked is a stop of its own, and so is
a temperature at or above ``fever_celsius``. Staff learn only the reason categories.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Trip and key-area dates are days in China (UTC+8, no daylight saving).
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


class Reason(StrEnum):
    """What the staff at the gate are told, and nothing more."""

    BAND_INVALID = "band_invalid"
    TEMPERATURE = "temperature"
    HEALTH_CHECK_NEEDED = "health_check_needed"


REASON_ORDER = (Reason.BAND_INVALID, Reason.TEMPERATURE, Reason.HEALTH_CHECK_NEEDED)
STATUSES = ("green", "yellow", "red")
RISK_LEVELS = ("high", "medium", "low")


@dataclass(frozen=True)
class Rules:
    effective_from: dt.datetime
    fever_celsius: float = 37.3
    trip_window_days: int = 14
    stop_statuses: frozenset[str] = frozenset({"red", "yellow"})
    quarantine_stops: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "effective_from": self.effective_from.isoformat(),
            "fever_celsius": self.fever_celsius,
            "trip_window_days": self.trip_window_days,
            "stop_statuses": sorted(self.stop_statuses),
            "quarantine_stops": self.quarantine_stops,
        }


# In force when no administrator has set rules: the national protocol's 37.3 °C and 14 days.
DEFAULT_RULES = Rules(effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))


def rules_at(rule_sets: Iterable[Rules], at: dt.datetime) -> Rules:
    """The rule set in force at ``at``: the latest that took effect at or before it."""
    current = DEFAULT_RULES
    for rules in rule_sets:
        if rules.effective_from <= at and rules.effective_from >= current.effective_from:
            current = rules
    return current


@dataclass(frozen=True)
class Window:
    reason: Reason
    start: dt.datetime | None  # None: since ever
    end: dt.datetime | None  # None: until further notice (exclusive)

    def covers(self, at: dt.datetime) -> bool:
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)

    def as_json(self) -> dict[str, Any]:
        """Epoch seconds, as the offline bundle carries them."""
        return {
            "r": self.reason.value,
            "from": int(self.start.timestamp()) if self.start else None,
            "until": int(self.end.timestamp()) if self.end else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Window:
        def when(value: Any) -> dt.datetime | None:
            return None if value is None else dt.datetime.fromtimestamp(int(value), dt.UTC)

        return cls(Reason(raw["r"]), when(raw.get("from")), when(raw.get("until")))


@dataclass(frozen=True)
class StatusFact:
    status: str
    set_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class QuarantineFact:
    starts_at: dt.datetime
    ends_at: dt.datetime
    lifted_at: dt.datetime | None = None


@dataclass(frozen=True)
class TripFact:
    place_code: str
    from_date: dt.date
    until_date: dt.date


@dataclass(frozen=True)
class AreaFact:
    area_code: str
    from_date: dt.date
    until_date: dt.date | None  # None: still a key area


def area_covers(area_code: str, place_code: str) -> bool:
    """GB/T 2260: ``440000`` (a province) covers every ``44xxxx``, ``440300`` (a city) every
    ``4403xx``, a county code only itself."""
    if area_code.endswith("0000"):
        return place_code[:2] == area_code[:2]
    if area_code.endswith("00"):
        return place_code[:4] == area_code[:4]
    return place_code == area_code


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), CHINA)


def trip_window(trip: TripFact, area: AreaFact, window_days: int) -> Window | None:
    """The stop window of one trip to one key area, or None when they were not there in its period."""
    if not area_covers(area.area_code, trip.place_code):
        return None
    first = max(trip.from_date, area.from_date)
    last = trip.until_date if area.until_date is None else min(trip.until_date, area.until_date)
    if first > last:
        return None
    return Window(Reason.HEALTH_CHECK_NEEDED, day_start(first), day_start(last + dt.timedelta(days=1 + window_days)))


@dataclass(frozen=True)
class PersonFacts:
    status: StatusFact | None = None
    quarantines: Sequence[QuarantineFact] = ()
    trips: Sequence[TripFact] = ()


def person_windows(facts: PersonFacts, areas: Sequence[AreaFact], rules: Rules) -> list[Window]:
    """Every window in which this person must stop at a gate, under ``rules``."""
    windows: list[Window] = []
    status = facts.status
    if status is not None and status.status in rules.stop_statuses and status.set_at < status.expires_at:
        windows.append(Window(Reason.HEALTH_CHECK_NEEDED, status.set_at, status.expires_at))
    if rules.quarantine_stops:
        for order in facts.quarantines:
            end = order.ends_at if order.lifted_at is None else min(order.ends_at, order.lifted_at)
            if order.starts_at < end:
                windows.append(Window(Reason.HEALTH_CHECK_NEEDED, order.starts_at, end))
    for trip in facts.trips:
        for area in areas:
            window = trip_window(trip, area, rules.trip_window_days)
            if window is not None:
                windows.append(window)
    return merge(windows)


def merge(windows: Iterable[Window]) -> list[Window]:
    """Overlapping or touching windows of one reason become one (the bundle stays small)."""
    out: list[Window] = []
    lowest = dt.datetime.min.replace(tzinfo=dt.UTC)
    for reason in REASON_ORDER:
        mine = sorted((w for w in windows if w.reason is reason), key=lambda w: w.start or lowest)
        for window in mine:
            last = out[-1] if out and out[-1].reason is reason else None
            if last is not None and (last.end is None or (window.start is not None and window.start <= last.end)):
                end = None if last.end is None or window.end is None else max(last.end, window.end)
                out[-1] = Window(reason, last.start, end)
            else:
                out.append(window)
    return out


@dataclass(frozen=True)
class Verdict:
    decision: str  # pass or stop
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def stop(self) -> bool:
        return self.decision == "stop"


def decide(
    *, at: dt.datetime, temperature: float | None, band_valid: bool, windows: Sequence[Window], rules: Rules
) -> Verdict:
    """Pass or stop, with every reason that applies, in a fixed order."""
    reasons: set[Reason] = set()
    if not band_valid:
        reasons.add(Reason.BAND_INVALID)
    if temperature is not None and temperature >= rules.fever_celsius:
        reasons.add(Reason.TEMPERATURE)
    reasons.update(window.reason for window in windows if window.covers(at))
    ordered = tuple(r for r in REASON_ORDER if r in reasons)
    return Verdict("stop" if ordered else "pass", ordered)
