"""Rows onto the matcher's views, and the skills taxonomy as staff have edited it.

``seeker_view`` / ``posting_view`` map ORM rows onto the pure matcher's dataclasses (matching/views.py), so that
every route, the push and the bench score the same way. ``skills.current()`` is the shipped taxonomy with the
staff's SkillEntry overrides applied, rebuilt when they change (checked at most every 2 seconds per instance,
like the welfare pack), so a synonym added by staff on one instance reads the same on every other.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from miniapp_api.jobs.matching import PostingView, SeekerView
from miniapp_api.jobs.models import Posting, SeekerProfile, SkillEntry
from miniapp_api.jobs.taxonomy import Taxonomy

RECHECK_SECONDS = 2.0
M = TypeVar("M")
# The columns seeker_view and posting_view read: what a light read (``.values(*COLUMNS)``) must fetch.
POSTING_COLUMNS = (
    "id",
    "occupation_code",
    "skills_required",
    "skills_preferred",
    "education_min",
    "experience_min_years",
    "salary_monthly_min",
    "salary_monthly_max",
    "lat",
    "lon",
    "employment_type",
    "shifts",
    "openings",
    "applicants",
)
SEEKER_COLUMNS = (
    "account_id",
    "desired_occupations",
    "skills",
    "education",
    "experience_years",
    "expected_salary_monthly",
    "home_lat",
    "home_lon",
    "radius_km",
    "employment_types",
    "shifts",
)


def as_row(model: type[M], values: dict[str, Any]) -> M:
    """Light row values (``.values(*POSTING_COLUMNS)``) read as the model by the views, without building one."""
    return cast(M, SimpleNamespace(**values))


def _split(skills: list[dict[str, Any]]) -> tuple[frozenset[str], tuple[str, ...]]:
    """Stored skills ({id, text}) as taxonomy slugs and the free texts that map to none."""
    ids = frozenset(s["id"] for s in skills if isinstance(s, dict) and s.get("id"))
    free = tuple(s["text"] for s in skills if isinstance(s, dict) and not s.get("id") and s.get("text"))
    return ids, free


def seeker_view(p: SeekerProfile) -> SeekerView:
    ids, free = _split(p.skills)
    return SeekerView(
        id=p.account_id,
        occupations=tuple(p.desired_occupations),
        skills=ids,
        free_skills=free,
        education=p.education,
        experience_years=float(p.experience_years),
        expected_salary_monthly=None if p.expected_salary_monthly is None else float(p.expected_salary_monthly),
        lat=p.home_lat,
        lon=p.home_lon,
        radius_km=p.radius_km,
        employment_types=frozenset(p.employment_types),
        shifts=frozenset(p.shifts),
    )


def posting_view(p: Posting) -> PostingView:
    required, free_required = _split(p.skills_required)
    preferred, _ = _split(p.skills_preferred)
    return PostingView(
        id=p.id,
        occupation_code=p.occupation_code,
        required=required,
        preferred=preferred - required,
        free_required=free_required,
        education_min=p.education_min,
        experience_min_years=float(p.experience_min_years),
        salary_monthly_min=float(p.salary_monthly_min),
        salary_monthly_max=float(p.salary_monthly_max),
        lat=p.lat,
        lon=p.lon,
        employment_type=p.employment_type,
        shifts=frozenset(p.shifts),
        openings=p.openings,
        applicants=p.applicants,
    )


class _Skills:
    """The merged taxonomy, cached per instance; its stamp is the overrides' count and latest change."""

    def __init__(self) -> None:
        self._taxonomy: Taxonomy | None = None
        self._stamp: tuple[Any, ...] | None = None
        self._checked = 0.0

    async def current(self) -> Taxonomy:
        now = time.monotonic()
        if self._taxonomy is not None and now - self._checked < RECHECK_SECONDS:
            return self._taxonomy
        latest = await SkillEntry.all().order_by("-updated_at", "-id").first().values_list("updated_at", "id")
        stamp = (await SkillEntry.all().count(), str(latest))
        if self._taxonomy is None or stamp != self._stamp:
            overrides = [
                {"slug": e.slug, "name": e.name, "synonyms": e.synonyms, "related": e.related, "retired": e.retired}
                for e in await SkillEntry.all().order_by("id")
            ]
            # Parsing the YAML takes a few milliseconds: off the event loop.
            self._taxonomy = await asyncio.to_thread(Taxonomy.load, overrides)
            self._stamp = stamp
        self._checked = now
        return self._taxonomy

    def forget(self) -> None:
        """After a change made here: the next read rebuilds at once (other instances within RECHECK_SECONDS)."""
        self._checked = 0.0


skills = _Skills()
