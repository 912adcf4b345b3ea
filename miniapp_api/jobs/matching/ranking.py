"""Hard filters, full results with their reasons, and the top-n of postings for a seeker and of seekers for a
posting."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import replace

from miniapp_api.jobs.matching.scores import (
    CROWD_FREE_RATIO,
    FLEXIBLE,
    NEUTRAL,
    combine,
    crowding_factor,
    distance_between,
    free_hits,
    near_skills,
    occupation_fit,
    parts,
    shifts_fit,
    sides,
)
from miniapp_api.jobs.matching.views import NO_SKILLS, MatchResult, PostingView, Related, SeekerView, no_related
from miniapp_api.jobs.vocab import EARTH_RADIUS_KM, education_rank

ONE_SIDED = 0.2  # one side this far under the other is named as what pulls the harmonic mean down


def hard_filter(seeker: SeekerView, posting: PostingView) -> list[str]:
    """Why the posting can never be shown to the seeker (nor the seeker to the posting); [] when it can."""
    reasons = []
    if education_rank(seeker.education) < education_rank(posting.education_min):
        reasons.append("education_below_min")
    if seeker.employment_types and posting.employment_type not in seeker.employment_types:
        reasons.append("employment_type_not_wanted")
    if not shifts_fit(seeker.shifts, posting.shifts):
        reasons.append("shift_not_wanted")
    d = distance_between(seeker, posting)
    if d is not None and seeker.radius_km is not None and d > seeker.radius_km:
        reasons.append("beyond_radius")
    return reasons


def _reasons(r: MatchResult) -> tuple[str, ...]:
    out = []
    sp, jp = r.seeker_parts, r.job_parts
    skill = min(sp["skills"], jp["required"])
    if r.matched or r.matched_free or r.related:
        out.append("skills_high" if skill >= 0.8 else "skills_partial" if skill >= 0.4 else "skills_low")
    elif r.missing_required or r.missing_free:
        out.append("skills_low")
    if r.related:
        out.append("related_counted")
    if sp["occupation"] >= 0.8:
        out.append("occupation_wanted")
    elif sp["occupation"] == 0.0:
        out.append("occupation_other")
    if sp["salary"] >= 0.8 and r.expected_salary_monthly:
        out.append("salary_meets" if sp["salary"] == 1.0 else "salary_in_range")
    elif sp["salary"] < NEUTRAL:
        out.append("salary_below")
    if r.distance_km is not None:
        if sp["distance"] >= 0.8:
            out.append("near")
        elif sp["distance"] < 0.4:
            out.append("far")
    if jp["experience"] < 1.0:
        out.append("experience_short")
    if r.job_score < r.seeker_score - ONE_SIDED:
        out.append("job_side_low")
    elif r.seeker_score < r.job_score - ONE_SIDED:
        out.append("seeker_side_low")
    if r.damping < 1.0:
        out.append("crowded")
    return tuple(out)


def _result(
    s: SeekerView,
    p: PostingView,
    related: Related,
    near: frozenset[str],
    occupation: float,
    distance: float | None,
    crowding: bool,
) -> MatchResult:
    v = parts(s, p, near, occupation, distance)
    seeker_side, job_side = sides(v)
    combined = combine(seeker_side, job_side)
    damping = crowding_factor(p.applicants, p.openings) if crowding else 1.0
    needs = sorted(p.required) + sorted(p.preferred - p.required)
    partly = [n for n in needs if n not in s.skills and n in near]
    vias = [sorted(x for x in s.skills if n in related(x)) for n in partly]
    hit, miss = free_hits(p.free_required, s.free_skills)
    r = MatchResult(
        seeker_id=s.id,
        posting_id=p.id,
        score=combined * damping,
        combined=combined,
        seeker_score=seeker_side,
        job_score=job_side,
        damping=damping,
        seeker_parts={"skills": v[0], "salary": v[1], "distance": v[2], "occupation": v[3]},
        job_parts={
            "required": v[4],
            **({"preferred": v[5]} if v[5] >= 0 else {}),
            "experience": v[6],
            "education": v[7],
        },
        matched=tuple(n for n in needs if n in s.skills),
        related=tuple((n, via[0]) for n, via in zip(partly, vias, strict=True) if via),
        missing_required=tuple(n for n in sorted(p.required) if n not in s.skills and n not in near),
        missing_preferred=tuple(n for n in sorted(p.preferred - p.required) if n not in s.skills and n not in near),
        matched_free=hit,
        missing_free=miss,
        distance_km=distance,
        expected_salary_monthly=s.expected_salary_monthly,
        salary_monthly_min=p.salary_monthly_min,
        salary_monthly_max=p.salary_monthly_max,
        applicants=p.applicants,
        openings=p.openings,
    )
    return replace(r, reasons=_reasons(r))


def match(
    seeker: SeekerView, posting: PostingView, related: Related = no_related, *, crowding: bool = True
) -> MatchResult | None:
    """One pair's full result, or None when a hard filter keeps them apart."""
    if hard_filter(seeker, posting):
        return None
    occupation = occupation_fit(seeker.occupations, posting.occupation_code)
    near = near_skills(seeker.skills, related)
    return _result(seeker, posting, related, near, occupation, distance_between(seeker, posting), crowding)


def _keep(heap: list[tuple[float, int]], n: int, score: float, i: int) -> None:
    """Keep the n best (score, -index) pairs: higher score first, then earlier in the input."""
    if len(heap) < n:
        heapq.heappush(heap, (score, -i))
    elif (score, -i) > heap[0]:
        heapq.heapreplace(heap, (score, -i))


def top_jobs(
    seeker: SeekerView, postings: Sequence[PostingView], n: int, related: Related = no_related, *, crowding: bool = True
) -> list[MatchResult]:
    """The seeker's n best postings, best first, after the hard filters."""
    if n <= 0:
        return []
    s = seeker
    rank = education_rank(s.education)
    ranks: dict[str, int] = {}
    types = s.employment_types
    shifts = s.shifts if s.shifts and FLEXIBLE not in s.shifts else None
    near = near_skills(s.skills, related)
    occupations: dict[str, float] = {}
    home = s.lat is not None and s.lon is not None
    radius = s.radius_km
    if home:
        assert s.lat is not None and s.lon is not None
        lat0, lon0 = math.radians(s.lat), math.radians(s.lon)
        cos0 = math.cos(lat0)
        max_dlat = radius / EARTH_RADIUS_KM if radius is not None else math.inf
    sin, cos, asin, sqrt, rad = math.sin, math.cos, math.asin, math.sqrt, math.radians
    heap: list[tuple[float, int]] = []
    distances: dict[int, float | None] = {}
    for i, p in enumerate(postings):
        need = ranks.get(p.education_min)
        if need is None:
            need = ranks[p.education_min] = education_rank(p.education_min)
        if need > rank or (types and p.employment_type not in types):
            continue
        if shifts is not None and p.shifts and not (p.shifts - {FLEXIBLE}) <= shifts:
            continue
        d = None
        if home and p.lat is not None and p.lon is not None:
            lat1 = rad(p.lat)
            dlat = lat1 - lat0
            if abs(dlat) > max_dlat:  # farther north or south than the radius: no need for the rest
                continue
            h = sin(dlat / 2) ** 2 + cos0 * cos(lat1) * sin((rad(p.lon) - lon0) / 2) ** 2  # as vocab.haversine_km
            d = 2 * EARTH_RADIUS_KM * asin(min(1.0, sqrt(h)))
            if radius is not None and d > radius:
                continue
        occupation = occupations.get(p.occupation_code)
        if occupation is None:
            occupation = occupations[p.occupation_code] = occupation_fit(s.occupations, p.occupation_code)
        a, b = sides(parts(s, p, near, occupation, d))
        score = 2 * a * b / (a + b) if a + b > 0 else 0.0
        if crowding and p.applicants > CROWD_FREE_RATIO * p.openings:
            score *= crowding_factor(p.applicants, p.openings)
        _keep(heap, n, score, i)
        distances[i] = d
    out = []
    for _, neg in sorted(heap, reverse=True):
        p = postings[-neg]
        out.append(_result(s, p, related, near, occupations[p.occupation_code], distances[-neg], crowding))
    return out


def top_seekers(
    posting: PostingView, seekers: Sequence[SeekerView], n: int, related: Related = no_related
) -> list[MatchResult]:
    """The posting's n best seekers, best first, after the hard filters (the posting's own crowding is the
    same for every seeker, so it does not change their order; each result still carries it)."""
    if n <= 0:
        return []
    p = posting
    needs = p.required | p.preferred
    cache: dict[str, frozenset[str]] = {}
    occupations: dict[tuple[str, ...], float] = {}
    heap: list[tuple[float, int]] = []
    for i, s in enumerate(seekers):
        if hard_filter(s, p):
            continue
        near = near_skills(s.skills, related, cache) if not needs <= s.skills else NO_SKILLS
        occupation = occupations.get(s.occupations)
        if occupation is None:
            occupation = occupations[s.occupations] = occupation_fit(s.occupations, p.occupation_code)
        a, b = sides(parts(s, p, near, occupation, distance_between(s, p)))
        _keep(heap, n, 2 * a * b / (a + b) if a + b > 0 else 0.0, i)
    out = []
    for _, neg in sorted(heap, reverse=True):
        s = seekers[-neg]
        near = near_skills(s.skills, related, cache)
        out.append(_result(s, p, related, near, occupations[s.occupations], distance_between(s, p), True))
    return out
