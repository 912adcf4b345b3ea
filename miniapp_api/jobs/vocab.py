"""The words job matching shares: education levels, employment types, shifts, salary periods, distance.

Everything else in ``miniapp_api.jobs`` imports these rather than spelling them again.
"""

from __future__ import annotations

import math
from typing import Final

# Ordered: compare two levels by their index (``education_rank``), never by their text.
EDUCATION: Final = ("none", "primary", "junior", "senior", "college", "bachelor", "master", "doctor")
EDUCATION_LABELS: Final[dict[str, str]] = {
    "none": "不限",
    "primary": "小学",
    "junior": "初中",
    "senior": "高中/中专/技校",
    "college": "大专",
    "bachelor": "本科",
    "master": "硕士",
    "doctor": "博士",
}
_EDUCATION_RANK: Final[dict[str, int]] = {level: i for i, level in enumerate(EDUCATION)}

# schema.org JobPosting employmentType, in lower case.
EMPLOYMENT_TYPES: Final = ("full_time", "part_time", "contractor", "temporary", "intern", "per_diem")
EMPLOYMENT_TYPE_LABELS: Final[dict[str, str]] = {
    "full_time": "全职",
    "part_time": "兼职",
    "contractor": "劳务外包",
    "temporary": "临时工",
    "intern": "实习",
    "per_diem": "日结",
}

SHIFTS: Final = ("day", "night", "rotating", "weekend", "flexible")
SHIFT_LABELS: Final[dict[str, str]] = {
    "day": "白班",
    "night": "夜班",
    "rotating": "两班倒/三班倒",
    "weekend": "周末班",
    "flexible": "时间灵活",
}

SALARY_PERIODS: Final = ("hour", "day", "month", "year")
SALARY_PERIOD_LABELS: Final[dict[str, str]] = {"hour": "时", "day": "日", "month": "月", "year": "年"}

# 人社部: 月计薪天数 = (365 - 104) / 12 = 21.75 days; a working day has 8 hours.
WORKING_DAYS_PER_MONTH: Final = 21.75
HOURS_PER_DAY: Final = 8
_PER_MONTH: Final[dict[str, float]] = {
    "hour": HOURS_PER_DAY * WORKING_DAYS_PER_MONTH,
    "day": WORKING_DAYS_PER_MONTH,
    "month": 1.0,
    "year": 1 / 12,
}

EARTH_RADIUS_KM: Final = 6371.0088  # the mean radius (IUGG)


def education_rank(level: str) -> int:
    """The level's place in EDUCATION (0 for "none"); ValueError for a level not in it."""
    try:
        return _EDUCATION_RANK[level]
    except KeyError:
        raise ValueError(f"unknown education level {level!r}; expected one of {', '.join(EDUCATION)}") from None


def monthly(amount: float, period: str) -> float:
    """An amount paid per ``period`` as yuan per month (hour x 8 x 21.75, day x 21.75, year / 12)."""
    try:
        return amount * _PER_MONTH[period]
    except KeyError:
        raise ValueError(f"unknown salary period {period!r}; expected one of {', '.join(SALARY_PERIODS)}") from None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Straight-line (great-circle) distance in km between two WGS-84 points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
