"""Staff overrides of the default rules: checked one by one (``check_override``) and merged in order,
the building's then the device's (``rules_for``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from miniapp_api.devices.rules.catalogue import (
    MAX_LEVELS,
    MAX_SAMPLES,
    MAX_SECONDS,
    METRIC_RANGES,
    DeviceType,
    RuleError,
    Severity,
    _is_number,
)
from miniapp_api.devices.rules.defaults import default_rules
from miniapp_api.devices.rules.engine import Level, ThresholdRule

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
