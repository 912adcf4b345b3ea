"""``ranking.top_jobs`` over columns: the same hard filters and scores for every posting at once, with numpy.

``Columns.build(postings)`` turns a list of ``PostingView`` into arrays: skills as uint64 bit words over the
slugs the postings name (so a seeker's skill no posting names changes nothing, and a taxonomy edit moves no
bit), shifts and employment types as small bit masks, education as its rank, the place in radians, the pay,
the crowding factor computed once per posting. ``scores(seeker, columns, related)`` gives each posting's rank
key (``-inf`` where a hard filter keeps them apart) by the very arithmetic of ``scores.parts`` / ``sides`` in
the same order, so the figures agree with the pure matcher to the last bits (the trigonometry within 1e-12).
Postings with free-text requirements (rare) are scored by the pure ``parts()`` row by row, so they are exact.
``top(...)`` is the n best (index, score), best first, ties in input order as ``top_jobs``.
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
    combine,
    crowding_factor,
    distance_between,
    near_skills,
    occupation_fit,
    parts,
    sides,
)
from miniapp_api.jobs.matching.views import PostingView, Related, SeekerView, no_related
from miniapp_api.jobs.vocab import EARTH_RADIUS_KM, EMPLOYMENT_TYPES, SHIFTS, education_rank

Floats = npt.NDArray[np.float64]
_SHIFT_BIT = {s: 1 << i for i, s in enumerate(SHIFTS) if s != FLEXIBLE}
_NO_PREFERRED_SHARE = 1 - JOB_WEIGHTS["preferred"]


def _words(slugs: frozenset[str], bits: dict[str, int], width: int) -> list[int]:
    out = [0] * width
    for s in slugs:
        b = bits.get(s)
        if b is not None:
            out[b >> 6] |= 1 << (b & 63)
    return out


@dataclass(frozen=True)
class Columns:
    """Postings as columns (row i is ``views[i]``)."""

    ids: list[object]
    bits: dict[str, int]  # slug -> bit position
    required: npt.NDArray[np.uint64]  # (n, words)
    preferred: npt.NDArray[np.uint64]
    n_required: Floats  # slugs + free texts
    n_preferred: Floats
    education: npt.NDArray[np.int64]
    experience: Floats
    low: Floats  # monthly pay, nan when not given
    high: Floats
    lat: Floats  # radians, nan without a place
    lon: Floats
    cos_lat: Floats
    employment_type: npt.NDArray[np.int64]  # index in EMPLOYMENT_TYPES (-1: another)
    shifts: npt.NDArray[np.int64]  # bit mask of the shifts worked, flexible left out
    damping: Floats  # crowding factor
    occupation: npt.NDArray[np.int64]  # index into codes
    codes: list[str]
    free: dict[int, PostingView]  # rows with free-text requirements, scored by the pure parts()

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, postings: Sequence[PostingView]) -> Columns:
        slugs = sorted({s for p in postings for s in p.required | p.preferred})
        bits = {s: i for i, s in enumerate(slugs)}
        width = max(1, (len(slugs) + 63) // 64)
        n = len(postings)
        codes: dict[str, int] = {}
        types = {t: i for i, t in enumerate(EMPLOYMENT_TYPES)}
        ranks: dict[str, int] = {}
        required = np.zeros((n, width), dtype=np.uint64)
        preferred = np.zeros((n, width), dtype=np.uint64)
        num = {k: np.empty(n) for k in ("nr", "np", "exp", "low", "high", "lat", "lon", "damp")}
        ints = {k: np.empty(n, dtype=np.int64) for k in ("edu", "type", "shifts", "occ")}
        free: dict[int, PostingView] = {}
        nan = float("nan")
        for i, p in enumerate(postings):
            if p.required:
                required[i] = _words(p.required, bits, width)
            if p.preferred:
                preferred[i] = _words(p.preferred, bits, width)
            if p.free_required:
                free[i] = p
            num["nr"][i] = len(p.required) + len(p.free_required)
            num["np"][i] = len(p.preferred)
            num["exp"][i] = p.experience_min_years
            num["low"][i] = nan if p.salary_monthly_min is None else p.salary_monthly_min
            num["high"][i] = nan if p.salary_monthly_max is None else p.salary_monthly_max
            placed = p.lat is not None and p.lon is not None
            num["lat"][i] = p.lat if placed else nan
            num["lon"][i] = p.lon if placed else nan
            num["damp"][i] = crowding_factor(p.applicants, p.openings)
            rank = ranks.get(p.education_min)
            if rank is None:
                rank = ranks[p.education_min] = education_rank(p.education_min)
            ints["edu"][i] = rank
            ints["type"][i] = types.get(p.employment_type, -1)
            ints["shifts"][i] = sum(_SHIFT_BIT.get(s, 1 << 7) for s in p.shifts if s != FLEXIBLE)
            ints["occ"][i] = codes.setdefault(p.occupation_code, len(codes))
        lat = np.radians(num["lat"])
        return cls(
            ids=[p.id for p in postings],
            bits=bits,
            required=required,
            preferred=preferred,
            n_required=num["nr"],
            n_preferred=num["np"],
            education=ints["edu"],
            experience=num["exp"],
            low=num["low"],
            high=num["high"],
            lat=lat,
            lon=np.radians(num["lon"]),
            cos_lat=np.cos(lat),
            employment_type=ints["type"],
            shifts=ints["shifts"],
            damping=num["damp"],
            occupation=ints["occ"],
            codes=list(codes),
            free=free,
        )


def _count(words: npt.NDArray[np.uint64], mask: npt.NDArray[np.uint64]) -> Floats:
    return np.bitwise_count(words & mask).sum(axis=1, dtype=np.int64).astype(np.float64)


def _salary(expected: float | None, low: Floats, high: Floats) -> Floats:
    """scores.salary_fit over columns."""
    if not expected or expected <= 0:
        return np.full(len(low), NEUTRAL)
    top = np.where(np.isnan(high), low, high)
    bottom = np.where(np.isnan(low), high, low)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = 0.8 + 0.2 * (top - expected) / (top - bottom)
    below = np.maximum(0.0, 0.8 * (1.0 - (expected - top) / expected / 0.4))
    out = np.where(bottom >= expected, 1.0, np.where(top >= expected, inside, below))
    return np.where(np.isnan(top), NEUTRAL, out)


def scores(
    seeker: SeekerView,
    columns: Columns,
    related: Related = no_related,
    *,
    crowding: bool = True,
    keep: npt.NDArray[np.bool_] | None = None,
) -> Floats:
    """Each posting's rank key for the seeker (``-inf`` where a hard filter, or ``keep`` False, leaves it out)."""
    s, c = seeker, columns
    rank = education_rank(s.education)
    ok = c.education <= rank if keep is None else keep & (c.education <= rank)
    if s.employment_types:
        ok &= np.isin(c.employment_type, [i for i, t in enumerate(EMPLOYMENT_TYPES) if t in s.employment_types])
    if s.shifts and FLEXIBLE not in s.shifts:
        ok &= (c.shifts & ~sum(_SHIFT_BIT.get(x, 0) for x in s.shifts)) == 0
    at = np.flatnonzero(ok)  # from here on only the rows the cheap filters kept
    distance = np.full(len(at), np.nan)
    if s.lat is not None and s.lon is not None:
        lat0, lon0 = np.radians(s.lat), np.radians(s.lon)
        h = np.sin((c.lat[at] - lat0) / 2) ** 2 + np.cos(lat0) * c.cos_lat[at] * np.sin((c.lon[at] - lon0) / 2) ** 2
        distance = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
        if s.radius_km is not None:
            inside = ~(distance > s.radius_km)  # nan (no place) passes
            at, distance = at[inside], distance[inside]
    width = c.required.shape[1]
    held = np.array(_words(s.skills, c.bits, width), dtype=np.uint64)
    near_slugs = near_skills(s.skills, related)
    near = np.array(_words(near_slugs, c.bits, width), dtype=np.uint64) & ~held
    req, pref = c.required[at], c.preferred[at]
    zero = np.zeros(len(at))
    r_exact, p_exact = (_count(req, held), _count(pref, held)) if held.any() else (zero, zero)
    r_part, p_part = (_count(req, near), _count(pref, near)) if near.any() else (zero, zero)
    n_req, n_pref, m = c.n_required[at], c.n_preferred[at], c.experience[at]
    held_req = r_exact + RELATED_CREDIT * r_part
    held_pref = p_exact + RELATED_CREDIT * p_part
    needs = n_req + PREFERRED_WEIGHT * n_pref
    with np.errstate(divide="ignore", invalid="ignore"):
        skill = np.where(needs > 0, (held_req + PREFERRED_WEIGHT * held_pref) / needs, NEUTRAL)
        required = np.where(n_req > 0, held_req / n_req, 1.0)
        preferred = np.where(n_pref > 0, held_pref / n_pref, -1.0)
        experience = np.where(m <= 0, 1.0, np.minimum(1.0, s.experience_years / m))
    education = np.minimum(1.0, 0.85 + 0.05 * np.maximum(rank - c.education[at], 0))
    salary = _salary(s.expected_salary_monthly, c.low[at], c.high[at])
    half = (s.radius_km if s.radius_km else 10.0) / 2
    near_fit = np.where(np.isnan(distance), NEUTRAL, 1.0 / (1.0 + (distance / half) ** 2))
    fits = np.array([occupation_fit(s.occupations, code) for code in c.codes] or [0.0])
    occupation = fits[c.occupation[at]]
    w, j = SEEKER_WEIGHTS, JOB_WEIGHTS
    a = w["skills"] * skill + w["salary"] * salary + w["distance"] * near_fit + w["occupation"] * occupation
    b = np.where(
        preferred < 0,
        (j["required"] * required + j["experience"] * experience + j["education"] * education) / _NO_PREFERRED_SHARE,
        j["required"] * required
        + j["preferred"] * preferred
        + j["experience"] * experience
        + j["education"] * education,
    )
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(total > 0, 2 * a * b / total, 0.0)
    if c.free:  # free-text requirements: the pure parts(), row by row
        for k in np.flatnonzero(np.isin(at, list(c.free))):
            p = c.free[int(at[k])]
            fit = occupation_fit(s.occupations, p.occupation_code)
            score[k] = combine(*sides(parts(s, p, near_slugs, fit, distance_between(s, p))))
    if crowding:
        score = score * c.damping[at]
    out = np.full(len(c), -np.inf)
    out[at] = score
    return out


def top(
    seeker: SeekerView,
    columns: Columns,
    n: int,
    related: Related = no_related,
    *,
    crowding: bool = True,
    keep: npt.NDArray[np.bool_] | None = None,
) -> list[tuple[int, float]]:
    """The n best (row, score), best first, ties in row order (as ``ranking.top_jobs``)."""
    if n <= 0 or not len(columns):
        return []
    return _best(scores(seeker, columns, related, crowding=crowding, keep=keep), n)


def _best(score: Floats, n: int) -> list[tuple[int, float]]:
    shown = np.flatnonzero(score > -np.inf)
    if len(shown) > n:
        cut = np.partition(score[shown], len(shown) - n)[len(shown) - n]
        shown = shown[score[shown] >= cut]
    order = np.lexsort((shown, -score[shown]))[:n]
    return [(int(i), float(score[i])) for i in shown[order]]
