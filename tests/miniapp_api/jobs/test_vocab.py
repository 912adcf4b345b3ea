"""The shared vocabulary: education order, salary periods as monthly yuan, straight-line distance."""

from __future__ import annotations

import pytest

from miniapp_api.jobs import vocab


def test_education_is_ordered_from_none_to_doctor_with_a_chinese_label_each() -> None:
    assert vocab.EDUCATION == ("none", "primary", "junior", "senior", "college", "bachelor", "master", "doctor")
    assert vocab.education_rank("college") < vocab.education_rank("bachelor")
    assert vocab.EDUCATION_LABELS["college"] == "大专"
    assert vocab.EDUCATION_LABELS["senior"] == "高中/中专/技校"
    assert set(vocab.EDUCATION_LABELS) == set(vocab.EDUCATION)


def test_unknown_education_is_refused_not_ranked_as_none() -> None:
    with pytest.raises(ValueError, match="phd"):
        vocab.education_rank("phd")


def test_every_employment_type_shift_and_period_has_a_chinese_label() -> None:
    assert vocab.EMPLOYMENT_TYPES == ("full_time", "part_time", "contractor", "temporary", "intern", "per_diem")
    assert vocab.SHIFTS == ("day", "night", "rotating", "weekend", "flexible")
    assert vocab.SALARY_PERIODS == ("hour", "day", "month", "year")
    for names, labels in (
        (vocab.EMPLOYMENT_TYPES, vocab.EMPLOYMENT_TYPE_LABELS),
        (vocab.SHIFTS, vocab.SHIFT_LABELS),
        (vocab.SALARY_PERIODS, vocab.SALARY_PERIOD_LABELS),
    ):
        assert set(labels) == set(names)


@pytest.mark.parametrize(
    ("amount", "period", "expected"),
    [(25, "hour", 25 * 8 * 21.75), (200, "day", 200 * 21.75), (6000, "month", 6000), (96000, "year", 8000)],
)
def test_monthly_uses_8_hours_and_21_75_working_days(amount: float, period: str, expected: float) -> None:
    assert vocab.monthly(amount, period) == pytest.approx(expected)


def test_monthly_refuses_an_unknown_period() -> None:
    with pytest.raises(ValueError, match="week"):
        vocab.monthly(1000, "week")


def test_haversine_gives_kilometres_on_the_ground() -> None:
    # one degree of latitude is about 111.2 km anywhere; a point is 0 km from itself
    assert vocab.haversine_km(22.7, 113.9, 23.7, 113.9) == pytest.approx(111.19, abs=0.05)
    assert vocab.haversine_km(22.75, 113.93, 22.75, 113.93) == 0.0
    # a degree of longitude shrinks with cos(latitude): about 102.6 km at Guangming's 22.75° N
    assert vocab.haversine_km(22.75, 113.9, 22.75, 114.9) == pytest.approx(102.6, abs=0.2)
    assert vocab.haversine_km(22.7, 113.9, 22.8, 114.0) == vocab.haversine_km(22.8, 114.0, 22.7, 113.9)
