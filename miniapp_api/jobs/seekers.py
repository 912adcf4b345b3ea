"""Seeker profiles: a resident writes, reads and erases their own (one per account; nobody else reads it
whole). Skills are read through the taxonomy as staff have edited it (free text kept, id null); the home is
kept rounded to 3 decimals (about 100 m). Erasing it takes the seeker out of every candidate list at once
(those lists are computed from the profiles on each request)."""

from __future__ import annotations

from typing import Any

from tortoise.exceptions import IntegrityError

from identity.models import Account
from miniapp_api.jobs import occupations
from miniapp_api.jobs.enterprises import utcnow
from miniapp_api.jobs.models import SeekerProfile
from miniapp_api.jobs.postings import skills as read_skills
from miniapp_api.jobs.rows import skills as taxonomy
from miniapp_api.jobs.seeker_schemas import SeekerProfileIn, SeekerProfileOut, SeekerSkillOut
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

HOME_DECIMALS = 3
NO_PROFILE = "You have no job seeker profile yet: PUT /api/v1/me/jobs/profile first."


async def account_of(viewer: Principal) -> Account:
    account = await Account.get_or_none(public_id=viewer.account_id)
    if account is None:  # a token of an erased account
        raise NotFound("There is no such account.", code="account_not_found")
    return account


async def _fields(body: SeekerProfileIn) -> dict[str, Any]:
    for code in body.desired_occupations:
        if not occupations.valid(code):
            raise ValidationFailed.field(
                "desired_occupations", "not a code of the 2022 occupational classification", "unknown_occupation"
            )
    return {
        "desired_occupations": list(body.desired_occupations),
        "skills": await read_skills(body.skills),
        "education": body.education,
        "experience_years": body.experience_years,
        "expected_salary_monthly": body.expected_salary_monthly,
        "home_lat": None if body.lat is None else round(body.lat, HOME_DECIMALS),
        "home_lon": None if body.lon is None else round(body.lon, HOME_DECIMALS),
        "radius_km": float(body.radius_km),
        "employment_types": list(body.employment_types),
        "shifts": list(body.shifts),
        "available_from": body.available_from,
        "visible": body.visible,
        "subscribed": body.subscribed,
    }


async def put(*, viewer: Principal, body: SeekerProfileIn) -> tuple[SeekerProfile, bool]:
    """Create or replace the caller's profile; the flag says whether it was created. Nothing is written
    when a field is refused."""
    account = await account_of(viewer)
    fields = await _fields(body)
    now = utcnow()
    found = await SeekerProfile.get_or_none(account_id=account.id)
    if found is None:
        try:
            made = await SeekerProfile.create(account=account, created_at=now, updated_at=now, **fields)
        except IntegrityError:  # two first PUTs at once: the other one won
            raise Conflict("Your profile was written by another request; try again.", code="conflict") from None
        return made, True
    for name, value in fields.items():
        setattr(found, name, value)
    found.updated_at = now
    await found.save()
    return found, False


async def own(*, viewer: Principal) -> SeekerProfile:
    account = await account_of(viewer)
    found = await SeekerProfile.get_or_none(account_id=account.id)
    if found is None:
        raise NotFound(NO_PROFILE, code="profile_not_found")
    return found


async def erase(*, viewer: Principal) -> None:
    account = await account_of(viewer)
    if not await SeekerProfile.filter(account_id=account.id).delete():
        raise NotFound(NO_PROFILE, code="profile_not_found")


async def skills_out(stored: list[dict[str, Any]]) -> list[SeekerSkillOut]:
    """Stored skills with the taxonomy's name of each (how each typed text was read)."""
    current = await taxonomy.current()
    return [
        SeekerSkillOut(id=s.get("id"), text=str(s.get("text", "")), name=current.name(s["id"]) if s.get("id") else None)
        for s in stored
        if isinstance(s, dict)
    ]


async def profile_out(p: SeekerProfile) -> SeekerProfileOut:
    return SeekerProfileOut(
        desired_occupations=p.desired_occupations,
        skills=await skills_out(p.skills),
        education=p.education,  # type: ignore[arg-type]
        experience_years=p.experience_years,
        expected_salary_monthly=p.expected_salary_monthly,
        lat=p.home_lat,
        lon=p.home_lon,
        radius_km=p.radius_km,
        employment_types=p.employment_types,  # type: ignore[arg-type]
        shifts=p.shifts,  # type: ignore[arg-type]
        available_from=p.available_from,
        visible=p.visible,
        subscribed=p.subscribed,
    )
