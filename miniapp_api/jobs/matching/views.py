"""The plain views the matcher reads and the result it gives (the service maps ORM rows onto the views)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

Related = Callable[[str], frozenset[str]]
Id = int | str

NO_SKILLS: Final[frozenset[str]] = frozenset()


def no_related(slug: str) -> frozenset[str]:
    """A taxonomy without related skills."""
    return NO_SKILLS


@dataclass(frozen=True, slots=True)
class SeekerView:
    id: Id
    occupations: tuple[str, ...] = ()  # codes at middle level or deeper
    skills: frozenset[str] = frozenset()  # taxonomy slugs
    free_skills: tuple[str, ...] = ()  # texts that map to no slug
    education: str = "none"
    experience_years: float = 0.0
    expected_salary_monthly: float | None = None
    lat: float | None = None  # home, rounded to 3 decimals upstream
    lon: float | None = None
    radius_km: float | None = None  # None: no distance filter
    employment_types: frozenset[str] = frozenset()  # empty: any
    shifts: frozenset[str] = frozenset()  # empty or containing "flexible": any


@dataclass(frozen=True, slots=True)
class PostingView:
    id: Id
    occupation_code: str = ""
    required: frozenset[str] = frozenset()
    preferred: frozenset[str] = frozenset()
    free_required: tuple[str, ...] = ()
    education_min: str = "none"
    experience_min_years: float = 0.0
    salary_monthly_min: float | None = None
    salary_monthly_max: float | None = None
    lat: float | None = None
    lon: float | None = None
    employment_type: str = "full_time"
    shifts: frozenset[str] = frozenset()  # the shifts the job works; "flexible" fits anyone
    openings: int = 1
    applicants: int = 0


@dataclass(frozen=True, slots=True)
class MatchResult:
    seeker_id: Id
    posting_id: Id
    score: float  # the rank key: combined x damping
    combined: float  # harmonic mean of the two sides
    seeker_score: float  # seeker → job
    job_score: float  # job → seeker
    damping: float  # crowding factor in (0, 1]
    seeker_parts: dict[str, float]  # skills, salary, distance, occupation
    job_parts: dict[str, float]  # required, preferred (when listed), experience, education
    matched: tuple[str, ...]  # the posting's skills the seeker holds (slugs, required first)
    related: tuple[tuple[str, str], ...]  # (needed slug, the seeker's related slug) that counted partly
    missing_required: tuple[str, ...]
    missing_preferred: tuple[str, ...]
    matched_free: tuple[str, ...]  # the posting's free-text requirements the seeker's free texts meet
    missing_free: tuple[str, ...]
    distance_km: float | None
    expected_salary_monthly: float | None
    salary_monthly_min: float | None
    salary_monthly_max: float | None
    applicants: int
    openings: int
    reasons: tuple[str, ...] = field(default=())  # codes, read out by explain.py
