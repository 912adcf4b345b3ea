"""``ranking.top_seekers`` over columns: a posting's best seekers out of many, with numpy (see vector.py).

The same hard filters and parts as the pure matcher, in the same order of arithmetic; a seeker's near skills
(related to theirs, not held) are bit words built with the taxonomy, so the columns are rebuilt when it
changes. Seekers with free-text skills add their free hits row by row, as ``scores.free_hits`` counts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from miniapp_api.jobs.matching.scores import (
    FLEXIBLE,
    JOB_WEIGHTS,
    NEUTRAL,
    PREFERRED_WEIGHT,
    RELATED_CREDIT,
    SEEKER_WEIGHTS,
    free_hits,
    near_skills,
    occupation_fit,
)
from miniapp_api.jobs.matching.vector import _NO_PREFERRED_SHARE, _SHIFT_BIT, Floats, _best, _count, _words
from miniapp_api.jobs.matching.views import PostingView, Related, SeekerView, no_related
from miniapp_api.jobs.vocab import EARTH_RADIUS_KM, EMPLOYMENT_TYPES, education_rank


@dataclass(frozen=True)
class SeekerColumns:
    """Seekers as columns (row i is ``seekers[i]``), for ``ranking.top_seekers``. Each seeker's near skills
    (related to theirs, not held) are bit words too: rebuild when the taxonomy changes."""

    ids: list[object]
    bits: dict[str, int]
    held: npt.NDArray[np.uint64]
    near: npt.NDArray[np.uint64]
    education: npt.NDArray[np.int64]
    experience: Floats
    expected: Floats  # nan: no expectation
    lat: Floats  # radians, nan without a home
    lon: Floats  # degrees (vocab.haversine_km takes the difference in degrees)
    cos_lat: Floats
    radius: Floats  # nan: no distance filter
    types: npt.NDArray[np.int64]  # bit mask of wanted employment types, 0: any
    shifts: npt.NDArray[np.int64]  # bit mask of wanted shifts, -1: any
    occupation: npt.NDArray[np.int64]  # index into groups
    groups: list[tuple[str, ...]]
    free: dict[int, SeekerView]  # seekers with free-text skills

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, seekers: Sequence[SeekerView], related: Related = no_related) -> SeekerColumns:
        cache: dict[str, frozenset[str]] = {}
        nears = [near_skills(s.skills, related, cache) for s in seekers]
        slugs = sorted({x for s, near in zip(seekers, nears, strict=True) for x in s.skills | near})
        bits = {x: i for i, x in enumerate(slugs)}
        width = max(1, (len(slugs) + 63) // 64)
        n = len(seekers)
        held = np.zeros((n, width), dtype=np.uint64)
        near_words = np.zeros((n, width), dtype=np.uint64)
        num = {k: np.empty(n) for k in ("exp", "expected", "lat", "lon", "radius")}
        ints = {k: np.empty(n, dtype=np.int64) for k in ("edu", "types", "shifts", "occ")}
        groups: dict[tuple[str, ...], int] = {}
        type_bit = {t: 1 << i for i, t in enumerate(EMPLOYMENT_TYPES)}
        free: dict[int, SeekerView] = {}
        nan = float("nan")
        for i, (s, near) in enumerate(zip(seekers, nears, strict=True)):
            if s.skills:
                held[i] = _words(s.skills, bits, width)
            if near:
                near_words[i] = _words(near, bits, width)
            if s.free_skills:
                free[i] = s
            ints["edu"][i] = education_rank(s.education)
            num["exp"][i] = s.experience_years
            e = s.expected_salary_monthly
            num["expected"][i] = e if e and e > 0 else nan
            home = s.lat is not None and s.lon is not None
            num["lat"][i] = s.lat if home else nan
            num["lon"][i] = s.lon if home else nan
            num["radius"][i] = nan if s.radius_km is None else s.radius_km
            ints["types"][i] = sum(type_bit.get(t, 1 << 15) for t in s.employment_types)
            any_shift = not s.shifts or FLEXIBLE in s.shifts
            ints["shifts"][i] = -1 if any_shift else sum(_SHIFT_BIT.get(x, 0) for x in s.shifts)
            ints["occ"][i] = groups.setdefault(s.occupations, len(groups))
        lat = np.radians(num["lat"])
        return cls(
            ids=[s.id for s in seekers],
            bits=bits,
            held=held,
            near=near_words,
            education=ints["edu"],
            experience=num["exp"],
            expected=num["expected"],
            lat=lat,
            lon=num["lon"],
            cos_lat=np.cos(lat),
            radius=num["radius"],
            types=ints["types"],
            shifts=ints["shifts"],
            occupation=ints["occ"],
            groups=list(groups),
            free=free,
        )


def seeker_scores(posting: PostingView, columns: SeekerColumns, keep: npt.NDArray[np.bool_] | None = None) -> Floats:
    """Each seeker's rank key for the posting, as ``ranking.top_seekers`` (no crowding; ``-inf``: filtered)."""
    p, c = posting, columns
    rank = education_rank(p.education_min)
    ok = c.education >= rank if keep is None else keep & (c.education >= rank)
    bit = 1 << EMPLOYMENT_TYPES.index(p.employment_type) if p.employment_type in EMPLOYMENT_TYPES else 0
    ok &= (c.types == 0) | ((c.types & bit) != 0)
    worked = sum(_SHIFT_BIT.get(s, 1 << 7) for s in p.shifts if s != FLEXIBLE)
    ok &= (c.shifts == -1) | ((c.shifts & worked) == worked)
    at = np.flatnonzero(ok)
    distance = np.full(len(at), np.nan)
    if p.lat is not None and p.lon is not None:
        p2 = np.radians(p.lat)
        dp, dl = p2 - c.lat[at], np.radians(p.lon - c.lon[at])
        h = np.sin(dp / 2) ** 2 + c.cos_lat[at] * np.cos(p2) * np.sin(dl / 2) ** 2
        distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        inside = ~(distance > c.radius[at])  # nan (no home, no radius) passes
        at, distance = at[inside], distance[inside]
    width = c.held.shape[1]
    req = np.array(_words(p.required, c.bits, width), dtype=np.uint64)
    pref = np.array(_words(p.preferred, c.bits, width), dtype=np.uint64)
    held, near = c.held[at], c.near[at]
    r_exact, p_exact = _count(held, req), _count(held, pref)
    r_part, p_part = _count(near, req), _count(near, pref)
    if p.free_required:
        for k in np.flatnonzero(np.isin(at, list(c.free))):
            r_exact[k] += len(free_hits(p.free_required, c.free[int(at[k])].free_skills)[0])
    n_req = len(p.required) + len(p.free_required)
    n_pref = len(p.preferred)
    held_req = r_exact + RELATED_CREDIT * r_part
    held_pref = p_exact + RELATED_CREDIT * p_part
    needs = n_req + PREFERRED_WEIGHT * n_pref
    skill = (held_req + PREFERRED_WEIGHT * held_pref) / needs if needs else np.full(len(at), NEUTRAL)
    required = held_req / n_req if n_req else np.ones(len(at))
    preferred = held_pref / n_pref if n_pref else None
    m = p.experience_min_years
    experience = np.ones(len(at)) if m <= 0 else np.minimum(1.0, c.experience[at] / m)
    education = np.minimum(1.0, 0.85 + 0.05 * np.maximum(c.education[at] - rank, 0))
    expected = c.expected[at]
    if p.salary_monthly_min is None and p.salary_monthly_max is None:
        salary = np.full(len(at), NEUTRAL)
    else:
        top_pay = p.salary_monthly_max if p.salary_monthly_max is not None else p.salary_monthly_min
        bottom = p.salary_monthly_min if p.salary_monthly_min is not None else p.salary_monthly_max
        assert top_pay is not None and bottom is not None
        with np.errstate(divide="ignore", invalid="ignore"):
            inside_pay = 0.8 + 0.2 * (top_pay - expected) / (top_pay - bottom)
            below = np.maximum(0.0, 0.8 * (1.0 - (expected - top_pay) / expected / 0.4))
        salary = np.where(bottom >= expected, 1.0, np.where(top_pay >= expected, inside_pay, below))
        salary = np.where(np.isnan(expected), NEUTRAL, salary)
    radius = c.radius[at]
    half = np.where(np.isnan(radius) | (radius == 0), 10.0, radius) / 2
    near_fit = np.where(np.isnan(distance), NEUTRAL, 1.0 / (1.0 + (distance / half) ** 2))
    fits = np.array([occupation_fit(g, p.occupation_code) for g in c.groups] or [0.0])
    occupation = fits[c.occupation[at]]
    w, j = SEEKER_WEIGHTS, JOB_WEIGHTS
    a = w["skills"] * skill + w["salary"] * salary + w["distance"] * near_fit + w["occupation"] * occupation
    if preferred is None:
        b = (j["required"] * required + j["experience"] * experience + j["education"] * education) / _NO_PREFERRED_SHARE
    else:
        b = (
            j["required"] * required
            + j["preferred"] * preferred
            + j["experience"] * experience
            + j["education"] * education
        )
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(total > 0, 2 * a * b / total, 0.0)
    out = np.full(len(c), -np.inf)
    out[at] = score
    return out


def top_seekers(
    posting: PostingView, columns: SeekerColumns, n: int, keep: npt.NDArray[np.bool_] | None = None
) -> list[tuple[int, float]]:
    """The posting's n best (row, score), best first, ties in row order (as ``ranking.top_seekers``)."""
    if n <= 0 or not len(columns):
        return []
    return _best(seeker_scores(posting, columns, keep), n)
