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

The package: ``catalogue`` (types, metrics, events, heartbeats, noise zones), ``engine`` (levels, state,
``evaluate``), ``defaults`` (each type's rules), ``overrides`` (staff overrides, ``rules_for``).
"""

from miniapp_api.devices.rules.catalogue import (
    AVERAGE_BUCKETS,
    AVERAGE_MIN_COVERAGE,
    DEFAULT_NOISE_ZONE,
    EVENTS,
    HEARTBEAT_SECONDS,
    MAX_LEVELS,
    MAX_READING_SPAN_SECONDS,
    MAX_SAMPLES,
    MAX_SECONDS,
    METRIC_RANGES,
    METRICS_BY_TYPE,
    NOISE_ZONES,
    OFFLINE_ALARM,
    SHANGHAI,
    DeviceType,
    RuleError,
    Severity,
    is_night,
    is_offline,
    reading_refusal,
)
from miniapp_api.devices.rules.defaults import default_rules, noise_limits
from miniapp_api.devices.rules.engine import Change, Level, RuleState, ThresholdRule, evaluate
from miniapp_api.devices.rules.overrides import check_override, rules_for

__all__ = [
    "AVERAGE_BUCKETS",
    "AVERAGE_MIN_COVERAGE",
    "DEFAULT_NOISE_ZONE",
    "EVENTS",
    "HEARTBEAT_SECONDS",
    "MAX_LEVELS",
    "MAX_READING_SPAN_SECONDS",
    "MAX_SAMPLES",
    "MAX_SECONDS",
    "METRICS_BY_TYPE",
    "METRIC_RANGES",
    "NOISE_ZONES",
    "OFFLINE_ALARM",
    "SHANGHAI",
    "Change",
    "DeviceType",
    "Level",
    "RuleError",
    "RuleState",
    "Severity",
    "ThresholdRule",
    "check_override",
    "default_rules",
    "evaluate",
    "is_night",
    "is_offline",
    "noise_limits",
    "reading_refusal",
    "rules_for",
]
