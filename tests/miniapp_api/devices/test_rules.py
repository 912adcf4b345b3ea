"""The sensor alarm rules: what a household or the staff would see as raised, escalated, quiet or cleared."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from miniapp_api.devices.rules import (
    EVENTS,
    HEARTBEAT_SECONDS,
    METRIC_RANGES,
    METRICS_BY_TYPE,
    NOISE_ZONES,
    Change,
    DeviceType,
    Level,
    RuleError,
    RuleState,
    Severity,
    ThresholdRule,
    check_override,
    default_rules,
    evaluate,
    is_night,
    is_offline,
    reading_refusal,
    rules_for,
)

# 10:00 in Beijing: daytime.
T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
W, M, C = Severity.WARNING, Severity.MAJOR, Severity.CRITICAL


def feed(
    rule: ThresholdRule,
    values: Iterable[float],
    *,
    start: datetime = T0,
    step: float = 60.0,
    state: RuleState | None = None,
) -> tuple[RuleState, list[tuple[int, Change]]]:
    """Evaluate readings ``step`` seconds apart; the final state and the changes by reading index."""
    state = state or RuleState()
    changes: list[tuple[int, Change]] = []
    for i, value in enumerate(values):
        state, change = evaluate(rule, state, value, start + timedelta(seconds=i * step))
        if change is not None:
            changes.append((i, change))
    return state, changes


def kinds(changes: Sequence[tuple[int, Change]]) -> list[tuple[int, str, Severity | None]]:
    return [(i, c.kind, c.severity) for i, c in changes]


def rule_of(device_type: DeviceType, alarm_type: str, **kwargs: Any) -> ThresholdRule:
    return next(r for r in default_rules(device_type, **kwargs) if r.alarm_type == alarm_type)


GAS = rule_of(DeviceType.GAS, "gas")


def test_values_between_clear_and_raise_never_flap_the_alarm() -> None:
    state, changes = feed(GAS, [10, 9, 10.5, 8.5, 11, 9.9, 8.01, 12, 8, 9, 9.9, 10])
    assert kinds(changes) == [(0, "raise", W), (8, "clear", None), (11, "raise", W)]
    assert changes[0][1].value == 10
    assert state.severity is W


def test_severity_rises_and_falls_within_one_alarm() -> None:
    _, changes = feed(GAS, [12, 21, 17, 16, 19, 20, 9, 5])
    assert kinds(changes) == [
        (0, "raise", W),
        (1, "severity", C),
        # 17 is above critical's clear point (16): still critical
        (3, "severity", W),
        # 19 is under critical's raise point: still warning
        (5, "severity", C),
        (6, "severity", W),
        (7, "clear", None),
    ]
    # A first reading past the top level raises at that level at once.
    _, changes = feed(GAS, [25])
    assert kinds(changes) == [(0, "raise", C)]


def test_a_clear_restarts_the_run_of_samples() -> None:
    rule = ThresholdRule("x", "gas_lel_pct", "above", (Level(W, 10, 8),), samples=3)
    state, changes = feed(rule, [11, 11, 11, 5, 11, 11, 11])
    assert kinds(changes) == [(2, "raise", W), (3, "clear", None), (6, "raise", W)]
    state, _ = feed(rule, [11, 11], state=RuleState())
    assert state.run_count == 2
    state, change = evaluate(rule, state, 1, T0 + timedelta(hours=1))
    assert change is None and state.run_count == 0 and state.run_since is None


def test_samples_must_be_consecutive() -> None:
    rule = ThresholdRule("x", "gas_lel_pct", "above", (Level(W, 10, 8),), samples=3)
    # 9 is not beyond the raise point: it breaks the run even though it does not clear anything.
    _, changes = feed(rule, [11, 11, 9, 11, 11, 11])
    assert kinds(changes) == [(5, "raise", W)]


def test_seconds_count_from_the_first_reading_of_the_run() -> None:
    rule = ThresholdRule("x", "gas_lel_pct", "above", (Level(W, 10, 8),), seconds=300)
    _, changes = feed(rule, [11] * 8, step=60)
    assert kinds(changes) == [(5, "raise", W)]  # 0, 60, ..., 300 s
    _, changes = feed(rule, [11, 11, 11, 11, 5, 11, 11, 11, 11, 11, 11], step=60)
    assert kinds(changes) == [(10, "raise", W)]


def test_samples_and_seconds_both_hold_before_a_raise() -> None:
    rule = ThresholdRule("x", "gas_lel_pct", "above", (Level(W, 10, 8),), samples=3, seconds=600)
    _, changes = feed(rule, [11] * 4, step=300)
    assert kinds(changes) == [(2, "raise", W)]
    _, changes = feed(rule, [11] * 12, step=60)
    assert kinds(changes) == [(10, "raise", W)]


def test_a_higher_level_needs_its_own_duration() -> None:
    rule = ThresholdRule("x", "gas_lel_pct", "above", (Level(W, 10, 8), Level(C, 20, 16)), samples=2)
    _, changes = feed(rule, [12, 12, 25, 25])
    assert kinds(changes) == [(1, "raise", W), (3, "severity", C)]
    _, changes = feed(rule, [25, 25])
    assert kinds(changes) == [(1, "raise", C)]
    _, changes = feed(rule, [12, 25, 25])
    assert kinds(changes) == [(1, "raise", W), (2, "severity", C)]
    # The critical run restarts when the value drops under 20, even while the alarm stays raised.
    _, changes = feed(rule, [25, 25, 15, 25, 25])
    assert kinds(changes) == [(1, "raise", C), (2, "severity", W), (4, "severity", C)]


def test_late_and_duplicate_readings_change_nothing() -> None:
    state, changes = feed(GAS, [5, 15], start=T0)
    assert kinds(changes) == [(1, "raise", W)]
    at_last = T0 + timedelta(seconds=60)
    for at in (T0 - timedelta(hours=1), T0, at_last):
        same, change = evaluate(GAS, state, 0, at)
        assert same is state and change is None
    state, change = evaluate(GAS, state, 0, at_last + timedelta(seconds=1))
    assert change == Change("clear", None, 0)


def test_a_reading_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError):
        evaluate(GAS, RuleState(), 15, datetime(2026, 5, 1, 10, 0))
    with pytest.raises(ValueError):
        is_night(datetime(2026, 5, 1, 23, 0))


def test_impossible_values_are_ignored() -> None:
    state, _ = feed(GAS, [15])
    for value in (-1, 101, math.nan, math.inf):
        same, change = evaluate(GAS, state, value, T0 + timedelta(hours=1))
        assert same is state and change is None


# --- noise: day and night, zone classes -------------------------------------------------------------------

# Beijing = UTC+8
BJ_21_59 = datetime(2026, 5, 1, 13, 59, tzinfo=UTC)
BJ_22_00 = datetime(2026, 5, 1, 14, 0, tzinfo=UTC)
BJ_05_59 = datetime(2026, 5, 1, 21, 59, tzinfo=UTC)
BJ_06_00 = datetime(2026, 5, 1, 22, 0, tzinfo=UTC)


def test_night_is_22_00_to_06_00_beijing_time() -> None:
    assert [is_night(t) for t in (BJ_21_59, BJ_22_00, BJ_05_59, BJ_06_00)] == [False, True, True, False]
    shanghai = BJ_22_00.astimezone(ZoneInfo("Asia/Shanghai"))
    assert is_night(shanghai) and shanghai.hour == 22


@pytest.mark.parametrize(("at", "raised"), [(BJ_21_59, False), (BJ_22_00, True), (BJ_05_59, True), (BJ_06_00, False)])
def test_noise_limits_follow_the_hour_in_beijing(at: datetime, raised: bool) -> None:
    # Zone class 2 (the default): 60 dB(A) by day, 50 at night; 55 breaks only the night limit.
    (rule,) = rules_for(DeviceType.NOISE, overrides=[{"alarm_type": "noise", "samples": 1}])[:1]
    _, change = evaluate(rule, RuleState(), 55, at)
    assert (change == Change("raise", W, 55)) is raised
    assert (change is None) is not raised


def test_noise_needs_three_samples_and_a_night_alarm_clears_when_day_comes() -> None:
    rule = rule_of(DeviceType.NOISE, "noise")
    state, changes = feed(rule, [55, 55, 55], start=BJ_22_00)
    assert kinds(changes) == [(2, "raise", W)]
    state, changes = feed(rule, [55, 55], start=BJ_05_59 - timedelta(minutes=1), step=60, state=state)
    # 05:58 still night (raised, nothing new); 05:59 likewise
    assert changes == []
    state, change = evaluate(rule, state, 55, BJ_06_00)
    assert change == Change("clear", None, 55)  # 55 is under the day's clear point (57)


@pytest.mark.parametrize("zone", sorted(NOISE_ZONES))
def test_each_zone_class_uses_its_gb3096_limits(zone: str) -> None:
    day, night = NOISE_ZONES[zone]
    rule = rules_for(DeviceType.NOISE, noise_zone=zone, overrides=[{"alarm_type": "noise", "samples": 1}])[0]
    for at, limit in ((T0, day), (BJ_22_00, night)):
        assert evaluate(rule, RuleState(), limit, at)[1] is None  # at the limit: compliant
        assert evaluate(rule, RuleState(), limit + 0.5, at)[1] == Change("raise", W, limit + 0.5)
        assert evaluate(rule, RuleState(), limit + 10.5, at)[1] == Change("raise", M, limit + 10.5)


def test_zone_class_table_and_default() -> None:
    assert NOISE_ZONES == {
        "0": (50, 40),
        "1": (55, 45),
        "2": (60, 50),
        "3": (65, 55),
        "4a": (70, 55),
        "4b": (70, 60),
    }
    assert rule_of(DeviceType.NOISE, "noise") == rule_of(DeviceType.NOISE, "noise", noise_zone="2")
    assert rule_of(DeviceType.NOISE, "noise", noise_zone="4A") == rule_of(DeviceType.NOISE, "noise", noise_zone="4a")
    with pytest.raises(RuleError) as e:
        default_rules(DeviceType.NOISE, noise_zone="5")
    assert e.value.field == "noise_zone"


# --- PM2.5: 24 h time-weighted average ----------------------------------------------------------------------

PM25 = rule_of(DeviceType.AIR, "pm25")
TEN_MIN = 600.0
DAY = 144  # ten-minute readings in 24 h


def test_a_short_pm25_spike_does_not_raise() -> None:
    state, changes = feed(PM25, [30] * DAY + [400] * 6 + [30] * 12, step=TEN_MIN)
    assert changes == []
    assert state.average is not None and 40 < state.average < 50


def test_a_sustained_pm25_level_raises_once_the_24h_mean_crosses_75() -> None:
    state, changes = feed(PM25, [30] * DAY + [100] * DAY, step=TEN_MIN)
    assert kinds(changes) == [(changes[0][0], "raise", W)]
    i, change = changes[0]
    # The mean crosses 75 when about 64 % of the window is at 100: some 15-16 hours in, never at once.
    assert DAY + 6 * 14 <= i <= DAY + 6 * 17
    assert 75 < change.value < 77
    # ... and falls below its clear point a good while after the air is clean again.
    state, changes = feed(PM25, [20] * DAY, start=T0 + timedelta(seconds=2 * DAY * TEN_MIN), step=TEN_MIN, state=state)
    assert kinds(changes) == [(changes[0][0], "clear", None)]
    assert changes[0][0] > 6 * 3


def test_pm25_is_judged_only_once_20_of_24_hours_are_covered() -> None:
    _, changes = feed(PM25, [200] * DAY, step=TEN_MIN)
    assert kinds(changes) == [(changes[0][0], "raise", M)]
    assert 20 * 6 <= changes[0][0] <= 20 * 6 + 2
    assert changes[0][1].value == pytest.approx(200)


def test_silence_does_not_count_as_clean_or_dirty_air() -> None:
    # Readings an hour apart each stand for one hour; a 6-hour gap counts as one hour only.
    state, changes = feed(PM25, [200] * 25, step=3600)
    assert kinds(changes) == [(20, "raise", M)]
    state, change = evaluate(PM25, state, 10, T0 + timedelta(hours=30))
    assert change is None  # one clean hour among 23 dirty ones


# --- below-direction rules ----------------------------------------------------------------------------------


def test_ph_low_raises_below_6_5_and_clears_at_6_6() -> None:
    rule = rule_of(DeviceType.WATER, "ph_low")
    _, changes = feed(rule, [6.5] * 5)
    assert changes == []  # 6.5 complies with GB 5749-2022
    _, changes = feed(rule, [6.4, 6.4, 6.4, 6.55, 6.59, 6.4, 6.6, 6.4])
    assert kinds(changes) == [(2, "raise", W), (6, "clear", None)]


def test_ph_high_turbidity_and_chlorine_defaults() -> None:
    _, changes = feed(rule_of(DeviceType.WATER, "ph_high"), [8.5, 8.6, 8.6, 8.6, 8.45, 8.4])
    assert kinds(changes) == [(3, "raise", W), (5, "clear", None)]
    _, changes = feed(rule_of(DeviceType.WATER, "turbidity"), [1.0, 1.2, 1.2, 1.2, 0.9, 0.8])
    assert kinds(changes) == [(3, "raise", M), (5, "clear", None)]
    _, changes = feed(rule_of(DeviceType.WATER, "chlorine_low"), [0.05, 0.04, 0.04, 0.04, 0.07, 0.08])
    assert kinds(changes) == [(3, "raise", W), (5, "clear", None)]
    _, changes = feed(rule_of(DeviceType.WATER, "chlorine_high"), [2.0, 2.1, 2.1, 2.1, 1.9, 1.8])
    assert kinds(changes) == [(3, "raise", W), (5, "clear", None)]


def test_battery_below_20_warns_and_clears_only_at_25() -> None:
    rule = rule_of(DeviceType.SMOKE, "battery_low")
    _, changes = feed(rule, [20, 20, 20, 19, 19, 19, 22, 24.9, 19, 25])
    assert kinds(changes) == [(5, "raise", W), (9, "clear", None)]


def test_gas_and_smoke_defaults() -> None:
    _, changes = feed(rule_of(DeviceType.SMOKE, "smoke"), [0, 1, 1, 0])
    assert kinds(changes) == [(1, "raise", C), (3, "clear", None)]
    assert GAS.levels == (Level(W, 10, 8), Level(C, 20, 16))


def test_valves_and_gateways_have_no_threshold_rules_but_battery() -> None:
    assert [r.alarm_type for r in default_rules(DeviceType.VALVE)] == ["battery_low"]
    assert default_rules(DeviceType.GATEWAY) == []
    assert [r.alarm_type for r in default_rules(DeviceType.WATER)] == [
        "ph_low",
        "ph_high",
        "turbidity",
        "chlorine_low",
        "chlorine_high",
        "battery_low",
    ]


# --- overrides ----------------------------------------------------------------------------------------------


def lv(severity: str, raise_at: Any, clear_at: Any) -> dict[str, Any]:
    return {"severity": severity, "raise_at": raise_at, "clear_at": clear_at}


BAD_OVERRIDES: list[tuple[DeviceType, Any, str]] = [
    (DeviceType.GAS, [], "override"),
    (DeviceType.GAS, {}, "alarm_type"),
    (DeviceType.GAS, {"alarm_type": "nope"}, "alarm_type"),
    (DeviceType.GAS, {"alarm_type": 3}, "alarm_type"),
    (DeviceType.WATER, {"alarm_type": "gas"}, "alarm_type"),
    (DeviceType.GATEWAY, {"alarm_type": "battery_low", "disabled": True}, "alarm_type"),
    (DeviceType.GAS, {"alarm_type": "gas", "colour": "red"}, "override"),
    (DeviceType.GAS, {"alarm_type": "gas", "disabled": "yes"}, "disabled"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": "high"}, "levels"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": []}, "levels"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", i, i - 0.5) for i in range(1, 7)]}, "levels"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [5]}, "levels[0]"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", "10", 8)]}, "levels[0].raise_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", True, 0)]}, "levels[0].raise_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", math.nan, 8)]}, "levels[0].raise_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", 10, math.inf)]}, "levels[0].clear_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", 10, -math.inf)]}, "levels[0].clear_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", 150, 8)]}, "levels[0].raise_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", 10, -1)]}, "levels[0].clear_at"),
    (DeviceType.WATER, {"alarm_type": "ph_high", "levels": [lv("warning", 15, 8)]}, "levels[0].raise_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", 10, 10)]}, "levels[0].clear_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("warning", 10, 12)]}, "levels[0].clear_at"),
    (DeviceType.GAS, {"alarm_type": "battery_low", "levels": [lv("warning", 20, 15)]}, "levels[0].clear_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [lv("fatal", 10, 8)]}, "levels[0].severity"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [{"severity": "warning", "raise_at": 10}]}, "levels[0].clear_at"),
    (DeviceType.GAS, {"alarm_type": "gas", "levels": [{**lv("warning", 10, 8), "x": 1}]}, "levels[0]"),
    (
        DeviceType.GAS,
        {"alarm_type": "gas", "levels": [lv("critical", 10, 8), lv("warning", 20, 16)]},
        "levels[1].severity",
    ),
    (
        DeviceType.GAS,
        {"alarm_type": "gas", "levels": [lv("warning", 10, 8), lv("warning", 20, 16)]},
        "levels[1].severity",
    ),
    (
        DeviceType.GAS,
        {"alarm_type": "gas", "levels": [lv("warning", 20, 16), lv("critical", 10, 8)]},
        "levels[1].raise_at",
    ),
    (
        DeviceType.GAS,
        {"alarm_type": "gas", "levels": [lv("warning", 10, 8), lv("critical", 10, 9)]},
        "levels[1].raise_at",
    ),
    (
        DeviceType.GAS,
        {"alarm_type": "battery_low", "levels": [lv("warning", 10, 15), lv("major", 20, 25)]},
        "levels[1].raise_at",
    ),
    (DeviceType.NOISE, {"alarm_type": "noise", "night_levels": [lv("warning", 50, 55)]}, "night_levels[0].clear_at"),
    (DeviceType.NOISE, {"alarm_type": "noise", "night_levels": "quiet"}, "night_levels"),
    (DeviceType.GAS, {"alarm_type": "gas", "samples": 0}, "samples"),
    (DeviceType.GAS, {"alarm_type": "gas", "samples": 1001}, "samples"),
    (DeviceType.GAS, {"alarm_type": "gas", "samples": 2.5}, "samples"),
    (DeviceType.GAS, {"alarm_type": "gas", "samples": True}, "samples"),
    (DeviceType.GAS, {"alarm_type": "gas", "samples": "3"}, "samples"),
    (DeviceType.GAS, {"alarm_type": "gas", "seconds": -1}, "seconds"),
    (DeviceType.GAS, {"alarm_type": "gas", "seconds": 172801}, "seconds"),
    (DeviceType.GAS, {"alarm_type": "gas", "seconds": math.nan}, "seconds"),
    (DeviceType.GAS, {"alarm_type": "gas", "seconds": "60"}, "seconds"),
    (DeviceType.AIR, {"alarm_type": "pm25", "average_seconds": 172801}, "average_seconds"),
    (DeviceType.AIR, {"alarm_type": "pm25", "average_seconds": math.inf}, "average_seconds"),
    (DeviceType.AIR, {"alarm_type": "pm25", "average_seconds": -5}, "average_seconds"),
]


@pytest.mark.parametrize(("device_type", "override", "field"), BAD_OVERRIDES)
def test_bad_overrides_are_refused_naming_the_field(device_type: DeviceType, override: Any, field: str) -> None:
    with pytest.raises(RuleError) as e:
        check_override(device_type, override)
    assert isinstance(e.value, ValueError)
    assert e.value.field == field
    assert e.value.message
    with pytest.raises(RuleError):
        rules_for(device_type, overrides=[override])


def test_a_good_override_comes_back_cleaned() -> None:
    cleaned = check_override(
        DeviceType.GAS,
        {
            "alarm_type": "gas",
            "levels": [lv("warning", 5, 3), lv("major", 10, 8), lv("critical", 15, 12)],
            "samples": 2,
            "seconds": 30,
            "disabled": False,
        },
    )
    assert cleaned == {
        "alarm_type": "gas",
        "disabled": False,
        "levels": [
            {"severity": "warning", "raise_at": 5.0, "clear_at": 3.0},
            {"severity": "major", "raise_at": 10.0, "clear_at": 8.0},
            {"severity": "critical", "raise_at": 15.0, "clear_at": 12.0},
        ],
        "samples": 2,
        "seconds": 30.0,
    }
    three = [lv(s, 10 * i, 10 * i - 1) for i, s in enumerate(["warning", "major", "critical"], start=1)]
    assert len(check_override(DeviceType.GAS, {"alarm_type": "gas", "levels": three})["levels"]) == 3
    assert check_override(DeviceType.NOISE, {"alarm_type": "noise", "night_levels": None})["night_levels"] is None


def test_overrides_merge_in_order_building_then_device() -> None:
    building = {"alarm_type": "gas", "levels": [lv("warning", 5, 3), lv("critical", 15, 12)], "samples": 2}
    device = {"alarm_type": "gas", "levels": [lv("critical", 12, 9)]}
    (gas, battery) = rules_for(DeviceType.GAS, overrides=[building, device])
    assert gas.levels == (Level(C, 12, 9),)
    assert gas.samples == 2  # the building's, untouched by the device's override
    assert battery == rule_of(DeviceType.GAS, "battery_low")
    (gas, _) = rules_for(DeviceType.GAS, overrides=[device, building])
    assert gas.levels == (Level(W, 5, 3), Level(C, 15, 12))


def test_disabling_and_re_enabling_a_rule() -> None:
    off = {"alarm_type": "battery_low", "disabled": True}
    on = {"alarm_type": "battery_low", "disabled": False}
    tweak = {"alarm_type": "battery_low", "samples": 5}
    assert [r.alarm_type for r in rules_for(DeviceType.GAS, overrides=[off])] == ["gas"]
    assert [r.alarm_type for r in rules_for(DeviceType.GAS, overrides=[off, tweak])] == ["gas"]
    rules = rules_for(DeviceType.GAS, overrides=[off, tweak, on])
    assert [(r.alarm_type, r.samples) for r in rules] == [("gas", 1), ("battery_low", 5)]


def test_an_override_changes_the_severity_of_an_open_alarm() -> None:
    state, _ = feed(GAS, [25])
    assert state.severity is C
    (lowered, _) = rules_for(DeviceType.GAS, overrides=[{"alarm_type": "gas", "levels": [lv("warning", 10, 8)]}])
    state, change = evaluate(lowered, state, 25, T0 + timedelta(minutes=1))
    assert change == Change("severity", W, 25)


# --- state as JSON -----------------------------------------------------------------------------------------


def test_rule_state_survives_a_json_round_trip() -> None:
    rule = ThresholdRule("x", "gas_lel_pct", "above", (Level(W, 10, 8), Level(C, 20, 16)), samples=3)
    state, _ = feed(rule, [12, 12, 12, 25])
    assert state.severity is W and state.upper_runs == [(1, (T0 + timedelta(minutes=3)).timestamp())]
    for raw in (state.to_json(), state.to_json().encode()):
        assert RuleState.from_json(raw) == state
    pm_state, _ = feed(PM25, [200] * 30, step=TEN_MIN)
    assert pm_state.buckets and pm_state.average == pytest.approx(200)
    assert RuleState.from_json(pm_state.to_json()) == pm_state
    # Evaluating from the stored copy gives the same answer as from the live one.
    at = T0 + timedelta(minutes=4)
    assert evaluate(rule, RuleState.from_json(state.to_json()), 25, at) == evaluate(rule, state, 25, at)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        b"",
        "not json",
        b"\xff\xfe",
        "[]",
        "null",
        '{"v": 2}',
        '{"v": 1}',
        '{"v":1,"severity":"fatal","run_count":0,"run_since":null,"last_at":null,"average":null,'
        '"upper_runs":[],"bucket_seconds":null,"buckets":[]}',
        '{"v":1,"severity":null,"run_count":-1,"run_since":null,"last_at":null,"average":null,'
        '"upper_runs":[],"bucket_seconds":null,"buckets":[]}',
        '{"v":1,"severity":null,"run_count":0,"run_since":null,"last_at":NaN,"average":null,'
        '"upper_runs":[],"bucket_seconds":null,"buckets":[]}',
        '{"v":1,"severity":null,"run_count":0,"run_since":null,"last_at":"x","average":null,'
        '"upper_runs":[],"bucket_seconds":null,"buckets":[[1]]}',
    ],
)
def test_garbage_state_reads_as_a_fresh_state(raw: str | bytes | None) -> None:
    assert RuleState.from_json(raw) == RuleState()


# --- tables -------------------------------------------------------------------------------------------------


def test_every_metric_a_device_may_send_has_a_physical_range() -> None:
    assert set(METRICS_BY_TYPE) == set(DeviceType) == set(HEARTBEAT_SECONDS)
    for metrics in METRICS_BY_TYPE.values():
        assert metrics <= set(METRIC_RANGES)
    assert METRICS_BY_TYPE[DeviceType.GATEWAY] == {"signal_dbm"}
    for low, high in METRIC_RANGES.values():
        assert low < high
    assert HEARTBEAT_SECONDS[DeviceType.GATEWAY] == 300


ALL_DEFAULTS = [(t, z) for t in DeviceType for z in ([*NOISE_ZONES] if t is DeviceType.NOISE else [None])]


@pytest.mark.parametrize(("device_type", "zone"), ALL_DEFAULTS)
def test_every_default_rule_lies_in_range_and_passes_the_override_checks(
    device_type: DeviceType, zone: str | None
) -> None:
    rules = default_rules(device_type, noise_zone=zone)
    assert len({r.alarm_type for r in rules}) == len(rules)
    for rule in rules:
        assert rule.metric in METRICS_BY_TYPE[device_type]
        low, high = METRIC_RANGES[rule.metric]
        for level in rule.levels + (rule.night_levels or ()):
            assert low <= level.raise_at <= high and low <= level.clear_at <= high
        as_override: dict[str, Any] = {
            "alarm_type": rule.alarm_type,
            "levels": [lv(x.severity, x.raise_at, x.clear_at) for x in rule.levels],
            "samples": rule.samples,
            "seconds": rule.seconds,
            "average_seconds": rule.average_seconds,
            "night_levels": None
            if rule.night_levels is None
            else [lv(x.severity, x.raise_at, x.clear_at) for x in rule.night_levels],
        }
        assert rules_for(device_type, noise_zone=zone, overrides=[as_override]) == rules


def test_device_events_and_severity_order() -> None:
    assert EVENTS == {
        "tamper": ("tamper", M),
        "fault": ("fault", M),
        "low_battery": ("low_battery", W),
        "self_test": None,
    }
    assert W.rank() < M.rank() < C.rank()
    assert sorted([C, W, M], key=Severity.rank) == [W, M, C]


def test_reading_refusals_for_the_ingest() -> None:
    assert reading_refusal(DeviceType.GAS, "gas_lel_pct", 12.5) is None
    assert reading_refusal(DeviceType.GAS, "ph", 7) == "unknown_metric"
    assert reading_refusal(DeviceType.GATEWAY, "battery_pct", 50) == "unknown_metric"
    assert reading_refusal(DeviceType.GAS, "gas_lel_pct", math.nan) == "not_a_number"
    assert reading_refusal(DeviceType.GAS, "gas_lel_pct", "12") == "not_a_number"
    assert reading_refusal(DeviceType.GAS, "gas_lel_pct", True) == "not_a_number"
    assert reading_refusal(DeviceType.GAS, "gas_lel_pct", 100.5) == "out_of_range"
    assert reading_refusal(DeviceType.GATEWAY, "signal_dbm", -141) == "out_of_range"


def test_offline_after_the_heartbeat_bound() -> None:
    assert not is_offline(DeviceType.GATEWAY, T0, T0 + timedelta(seconds=300))
    assert is_offline(DeviceType.GATEWAY, T0, T0 + timedelta(seconds=301))
    assert not is_offline(DeviceType.GAS, T0, T0 + timedelta(minutes=59))
