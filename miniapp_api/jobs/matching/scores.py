"""The parts of a match score and the constants behind them (one place for the fast path and the full result)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from miniapp_api.jobs.matching.views import PostingView, Related, SeekerView
from miniapp_api.jobs.vocab import education_rank, haversine_km

RELATED_CREDIT: Final = 0.5  # a related skill counts half an exact one
PREFERRED_WEIGHT: Final = 0.5  # on the seeker's side a preferred skill weighs half a required one
NEUTRAL: Final = 0.5  # a part nothing is known about (no expectation, no place, no skills listed)
DEFAULT_RADIUS_KM: Final = 10.0  # the distance scale for a seeker who gave no radius

# Seeker → job and job → seeker weights (each side sums to 1; an absent part's weight is spread on the rest).
SEEKER_WEIGHTS: Final = {"skills": 0.35, "salary": 0.25, "distance": 0.2, "occupation": 0.2}
JOB_WEIGHTS: Final = {"required": 0.55, "preferred": 0.15, "experience": 0.2, "education": 0.1}

# Occupation codes (职业分类大典 2022, "6-18-02-04"): the score by the number of leading parts two codes share.
OCCUPATION_BY_SHARED_PARTS: Final = (0.0, 0.2, 0.55, 0.8)  # none, same major, same middle, same small group
OCCUPATION_BROADER: Final = 0.8  # the posting names a group that contains what the seeker wants

# Crowding: factor = 1 / (1 + max(0, applicants/openings - CROWD_FREE_RATIO)) ** CROWD_ALPHA.
# Up to 3 applicants per opening nothing changes: employers interview a few per opening, and a posting with
# that many is not crowded. Past it, a gentle power law: 0.66 at 6 per opening, 0.54 at 10, 0.42 at 20,
# 0.30 at 60, 0.21 at 200. It never reaches 0, so an over-applied posting moves down, below comparable quiet
# ones, but stays in the list and still beats poor matches unless it is swamped (alpha 0.5 would put a
# perfect match at 20 per opening under a job whose skills the seeker lacks). bench/jobs_eval.py measures
# the effect: the share of all top-10 slots taken by the top 1 % of postings, with and without it.
CROWD_FREE_RATIO: Final = 3.0
CROWD_ALPHA: Final = 0.3

FLEXIBLE: Final = "flexible"


def combine(seeker_score: float, job_score: float) -> float:
    """Harmonic mean of the two sides (0 when either is 0)."""
    total = seeker_score + job_score
    return 2 * seeker_score * job_score / total if total > 0 else 0.0


def crowding_factor(applicants: int, openings: int) -> float:
    excess = applicants / max(openings, 1) - CROWD_FREE_RATIO
    return 1.0 if excess <= 0 else (1.0 + excess) ** -CROWD_ALPHA


def salary_fit(expected: float | None, low: float | None, high: float | None) -> float:
    """1 when the posting's lowest pay meets the expectation; 0.8-1 when its range spans it; falling to 0 when
    its highest pay is 40 % or more below it; NEUTRAL when either side gave no figure."""
    if not expected or expected <= 0 or (low is None and high is None):
        return NEUTRAL
    top = high if high is not None else low
    bottom = low if low is not None else high
    assert top is not None and bottom is not None
    if bottom >= expected:
        return 1.0
    if top >= expected:
        return 0.8 + 0.2 * (top - expected) / (top - bottom)
    return max(0.0, 0.8 * (1.0 - (expected - top) / expected / 0.4))


def distance_fit(distance_km: float | None, radius_km: float | None) -> float:
    """1 at home, 1/2 at half the seeker's radius, 1/5 at the radius (smooth); NEUTRAL without a distance."""
    if distance_km is None:
        return NEUTRAL
    half = (radius_km if radius_km else DEFAULT_RADIUS_KM) / 2
    return 1.0 / (1.0 + (distance_km / half) ** 2)


def occupation_fit(wanted: Sequence[str], code: str) -> float:
    """1 when the posting's code lies within a code the seeker wants; then same small, middle, major group."""
    if not wanted or not code:
        return NEUTRAL
    parts = code.split("-")
    best = 0.0
    for w in wanted:
        wparts = w.split("-")
        shared = 0
        for a, b in zip(parts, wparts, strict=False):
            if a != b:
                break
            shared += 1
        if shared == len(wparts):
            return 1.0
        fit = OCCUPATION_BROADER if shared == len(parts) else OCCUPATION_BY_SHARED_PARTS[min(shared, 3)]
        best = max(best, fit)
    return best


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


def free_hits(needed: tuple[str, ...], offered: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The posting's free-text requirements met by the seeker's free texts (equal, or one inside the other
    when at least two characters long), and those not met."""
    have = [_norm(t) for t in offered]
    hit: list[str] = []
    miss: list[str] = []
    for text in needed:
        n = _norm(text)
        ok = any(n == h or (len(n) >= 2 and len(h) >= 2 and (n in h or h in n)) for h in have)
        (hit if ok else miss).append(text.strip())
    return tuple(hit), tuple(miss)


def near_skills(
    skills: frozenset[str], related: Related, cache: dict[str, frozenset[str]] | None = None
) -> frozenset[str]:
    """Slugs related to a seeker's skills that the seeker does not hold."""
    out: set[str] = set()
    for s in skills:
        if cache is None:
            out.update(related(s))
        else:
            got = cache.get(s)
            if got is None:
                got = cache[s] = related(s)
            out.update(got)
    return frozenset(out - skills)


def parts(
    s: SeekerView, p: PostingView, near: frozenset[str], occupation: float, distance: float | None
) -> tuple[float, ...]:
    """(skills, salary, distance, occupation, required, preferred or -1 when none listed, experience,
    education): the numbers both sides are made of, computed once for the fast path and the full result."""
    skills, req, pref = s.skills, p.required, p.preferred
    r_exact = len(req & skills)
    r_part = len((req - skills) & near) if near and r_exact < len(req) else 0
    p_exact = len(pref & skills)
    p_part = len((pref - skills) & near) if near and p_exact < len(pref) else 0
    n_req = len(req) + len(p.free_required)
    if p.free_required:
        r_exact += len(free_hits(p.free_required, s.free_skills)[0])
    held_req = r_exact + RELATED_CREDIT * r_part
    held_pref = p_exact + RELATED_CREDIT * p_part
    needs = n_req + PREFERRED_WEIGHT * len(pref)
    skill = (held_req + PREFERRED_WEIGHT * held_pref) / needs if needs else NEUTRAL
    required = held_req / n_req if n_req else 1.0
    preferred = held_pref / len(pref) if pref else -1.0
    m = p.experience_min_years
    experience = 1.0 if m <= 0 else min(1.0, s.experience_years / m)
    above = education_rank(s.education) - education_rank(p.education_min)
    education = min(1.0, 0.85 + 0.05 * max(above, 0))
    salary = salary_fit(s.expected_salary_monthly, p.salary_monthly_min, p.salary_monthly_max)
    return (skill, salary, distance_fit(distance, s.radius_km), occupation, required, preferred, experience, education)


def sides(v: tuple[float, ...]) -> tuple[float, float]:
    w, j = SEEKER_WEIGHTS, JOB_WEIGHTS
    seeker_side = w["skills"] * v[0] + w["salary"] * v[1] + w["distance"] * v[2] + w["occupation"] * v[3]
    if v[5] < 0:  # no preferred skills listed: the other parts share their weight
        job_side = (j["required"] * v[4] + j["experience"] * v[6] + j["education"] * v[7]) / (1 - j["preferred"])
    else:
        job_side = j["required"] * v[4] + j["preferred"] * v[5] + j["experience"] * v[6] + j["education"] * v[7]
    return seeker_side, job_side


def shifts_fit(wanted: frozenset[str], worked: frozenset[str]) -> bool:
    if not wanted or FLEXIBLE in wanted:
        return True
    return (worked - {FLEXIBLE}) <= wanted


def distance_between(s: SeekerView, p: PostingView) -> float | None:
    if s.lat is None or s.lon is None or p.lat is None or p.lon is None:
        return None
    return haversine_km(s.lat, s.lon, p.lat, p.lon)
