"""The gate's rules as pure functions: each rule alone, together, at the edges of its windows."""

from __future__ import annotations

import datetime as dt

from miniapp_api.wristbands import engine
from miniapp_api.wristbands.engine import (
    AreaFact,
    PersonFacts,
    QuarantineFact,
    Reason,
    Rules,
    StatusFact,
    TripFact,
    Window,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
RULES = engine.DEFAULT_RULES


def decide(
    at: dt.datetime = NOW, temperature: float | None = 36.5, valid: bool = True, **facts: object
) -> engine.Verdict:
    windows = engine.person_windows(PersonFacts(**facts), AREAS, RULES)  # type: ignore[arg-type]
    return engine.decide(at=at, temperature=temperature, band_valid=valid, windows=windows, rules=RULES)


AREAS = [
    AreaFact("420100", dt.date(2026, 11, 1), dt.date(2026, 11, 20)),
    AreaFact("110105", dt.date(2026, 11, 25), None),
]


def test_a_healthy_person_with_a_valid_band_passes() -> None:
    assert decide() == engine.Verdict("pass", ())


def test_temperature_at_the_threshold_stops_and_just_below_passes() -> None:
    assert decide(temperature=37.3).reasons == (Reason.TEMPERATURE,)
    assert decide(temperature=37.2).decision == "pass"
    assert decide(temperature=None).decision == "pass"  # no thermometer at this gate


def test_red_and_yellow_stop_green_passes_and_expiry_ends_it() -> None:
    for status in ("red", "yellow"):
        fact = StatusFact(status, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1))
        assert decide(status=fact).reasons == (Reason.HEALTH_CHECK_NEEDED,)
    assert decide(status=StatusFact("green", NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1))).decision == "pass"
    expired = StatusFact("red", NOW - dt.timedelta(days=3), NOW)
    assert decide(status=expired).decision == "pass"  # the expiry is exclusive
    # An offline check-in from before the status was set is decided by its own time.
    later = StatusFact("red", NOW + dt.timedelta(minutes=5), NOW + dt.timedelta(days=3))
    assert decide(status=later).decision == "pass"


def test_quarantine_stops_while_active_and_not_after_being_lifted() -> None:
    order = QuarantineFact(NOW - dt.timedelta(days=2), NOW + dt.timedelta(days=5))
    assert decide(quarantines=[order]).reasons == (Reason.HEALTH_CHECK_NEEDED,)
    lifted = QuarantineFact(order.starts_at, order.ends_at, lifted_at=NOW - dt.timedelta(hours=1))
    assert decide(quarantines=[lifted]).decision == "pass"
    assert decide(at=NOW - dt.timedelta(hours=2), quarantines=[lifted]).decision == "stop"
    assert (
        decide(quarantines=[QuarantineFact(NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2))]).decision == "pass"
    )


def test_a_trip_to_a_key_area_stops_for_fourteen_days_after_the_last_day_there() -> None:
    # In Wuhan (420100 covers 420106) 15-18 Nov, a key area 1-20 Nov: stop until the end of 2 Dec (CST).
    trip = TripFact("420106", dt.date(2026, 11, 15), dt.date(2026, 11, 18))
    end = dt.datetime(2026, 12, 3, tzinfo=engine.CHINA)
    assert decide(at=end - dt.timedelta(seconds=1), trips=[trip]).reasons == (Reason.HEALTH_CHECK_NEEDED,)
    assert decide(at=end, trips=[trip]).decision == "pass"
    # Before the trip began, the person was not yet exposed.
    assert decide(at=dt.datetime(2026, 11, 14, 12, tzinfo=engine.CHINA), trips=[trip]).decision == "pass"


def test_a_trip_outside_the_areas_period_or_place_does_not_stop() -> None:
    after = TripFact("420106", dt.date(2026, 11, 21), dt.date(2026, 11, 30))  # the period ended on the 20th
    elsewhere = TripFact("440311", dt.date(2026, 11, 25), dt.date(2026, 11, 30))
    assert decide(trips=[after]).decision == "pass"
    assert decide(trips=[elsewhere]).decision == "pass"


def test_an_open_ended_area_counts_the_whole_trip() -> None:
    trip = TripFact("110105", dt.date(2026, 11, 20), dt.date(2026, 12, 1))
    assert decide(trips=[trip]).decision == "stop"  # 25 Nov - 1 Dec in Chaoyang, still a key area


def test_area_codes_cover_by_level() -> None:
    assert engine.area_covers("440000", "440311") and engine.area_covers("440300", "440311")
    assert engine.area_covers("440311", "440311")
    assert not engine.area_covers("440300", "440111") and not engine.area_covers("440311", "440312")
    assert not engine.area_covers("440000", "450311")


def test_every_reason_together_in_a_fixed_order() -> None:
    fact = StatusFact("red", NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1))
    verdict = decide(temperature=38.5, valid=False, status=fact)
    assert verdict.reasons == (Reason.BAND_INVALID, Reason.TEMPERATURE, Reason.HEALTH_CHECK_NEEDED)
    assert verdict.stop


def test_a_revoked_bands_window_is_band_invalid() -> None:
    windows = [Window(Reason.BAND_INVALID, NOW - dt.timedelta(days=1), None)]
    verdict = engine.decide(at=NOW, temperature=36.6, band_valid=True, windows=windows, rules=RULES)
    assert verdict.reasons == (Reason.BAND_INVALID,)


def test_rules_are_dated() -> None:
    stricter = Rules(effective_from=NOW, fever_celsius=37.0, trip_window_days=7)
    assert engine.rules_at([stricter], NOW - dt.timedelta(seconds=1)) == RULES
    assert engine.rules_at([stricter], NOW) == stricter
    windows: list[Window] = []
    verdict = engine.decide(at=NOW, temperature=37.1, band_valid=True, windows=windows, rules=stricter)
    assert verdict.reasons == (Reason.TEMPERATURE,)


def test_rules_can_leave_yellow_and_quarantine_out() -> None:
    relaxed = Rules(effective_from=NOW, stop_statuses=frozenset({"red"}), quarantine_stops=False)
    facts = PersonFacts(
        status=StatusFact("yellow", NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1)),
        quarantines=[QuarantineFact(NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1))],
    )
    assert engine.person_windows(facts, [], relaxed) == []


def test_windows_merge_and_round_trip_as_json() -> None:
    a = Window(Reason.HEALTH_CHECK_NEEDED, NOW, NOW + dt.timedelta(days=2))
    b = Window(Reason.HEALTH_CHECK_NEEDED, NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=3))
    c = Window(Reason.HEALTH_CHECK_NEEDED, NOW + dt.timedelta(days=5), None)
    merged = engine.merge([c, b, a])
    assert merged == [Window(Reason.HEALTH_CHECK_NEEDED, NOW, NOW + dt.timedelta(days=3)), c]
    assert [Window.from_json(w.as_json()) for w in merged] == merged
