"""HTTP routes of a resident's own job seeker profile: write (create or replace), read, erase."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from identity.roles import Role
from miniapp_api.jobs import seekers
from miniapp_api.jobs.seeker_schemas import SeekerProfileIn, SeekerProfileOut
from server.auth import require_principal, requires
from server.validation import errors, json_body, responds

bp = Blueprint("jobs_seekers", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}
SEEKERS = (Role.RESIDENT, Role.PARTY_MEMBER)  # residents only: not staff, not enterprises' accounts
PROFILE = "/me/jobs/profile"


@bp.put(PROFILE, name="jobs.seeker.put")
@requires(*SEEKERS)
@json_body(SeekerProfileIn)
@responds(200, SeekerProfileOut, "Your profile, replaced (201 when it was created)")
@errors(404, 409, 422)
async def put_profile(request: Request, body: SeekerProfileIn) -> HTTPResponse:
    """Write your job seeker profile (the whole of it). Enterprises find you only when `visible` is true,
    and then without your name and phone until you apply or accept an invitation."""
    profile, created = await seekers.put(viewer=require_principal(request), body=body)
    out = await seekers.profile_out(profile)
    return json(out.model_dump(mode="json"), status=201 if created else 200, headers=NO_STORE)


@bp.get(PROFILE, name="jobs.seeker.get")
@requires(*SEEKERS)
@responds(200, SeekerProfileOut, "Your profile, with how each skill was read")
@errors(404)
async def get_profile(request: Request) -> HTTPResponse:
    """Your job seeker profile (404 `profile_not_found` before you write one)."""
    profile = await seekers.own(viewer=require_principal(request))
    return json((await seekers.profile_out(profile)).model_dump(mode="json"), headers=NO_STORE)


@bp.delete(PROFILE, name="jobs.seeker.delete")
@requires(*SEEKERS)
@responds(204, None, "Erased: you leave every candidate list at once")
@errors(404)
async def delete_profile(request: Request) -> HTTPResponse:
    """Erase your job seeker profile."""
    await seekers.erase(viewer=require_principal(request))
    return empty(headers=NO_STORE)
