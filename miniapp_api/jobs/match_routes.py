"""HTTP routes of matching: a seeker's best postings, explained, and a posting's best candidates (masked)."""

from __future__ import annotations

import math
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity.roles import Role
from miniapp_api.jobs import matches, seekers
from miniapp_api.jobs.posting_routes import posting_out
from miniapp_api.jobs.seeker_routes import SEEKERS
from miniapp_api.jobs.seeker_schemas import (
    CandidateList,
    CandidateOut,
    ExplanationOut,
    IdentityOut,
    LimitQuery,
    MatchList,
    MatchOut,
    Scores,
)
from server.auth import require_principal, requires
from server.validation import errors, query_args, responds

bp = Blueprint("jobs_matches", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/jobs/matches", name="jobs.matches")
@requires(*SEEKERS)
@query_args(LimitQuery)
@responds(200, MatchList, "Your best postings, best first, each explained")
@errors(404, 409, 422)
async def my_matches(request: Request, query: LimitQuery) -> HTTPResponse:
    """Your top `limit` live postings (1-50, default 20): hard filters (education, employment type, shifts,
    your radius), a score each way combined by harmonic mean, damped when a posting is crowded, and why
    each ranks where it does (in Chinese). 409 `profile_missing` before you write a profile."""
    found = await matches.for_seeker(viewer=require_principal(request), limit=query.limit)
    out = MatchList(
        items=[
            MatchOut(
                posting=posting_out(m.posting, own=False),
                scores=Scores(**matches.scores(m.result)),
                distance_km=matches.km(m.result),
                explanation=ExplanationOut(**m.explanation),
            )
            for m in found
        ]
    )
    return json(out.model_dump(mode="json"), headers=NO_STORE)


def whole_km(km: float | None) -> float | None:
    """A candidate's distance as the employer reads it: whole kilometres, rounded up (at least 1). Finer
    distances from a few postings would place the seeker's home (kept to about 100 m)."""
    return None if km is None else float(max(1, math.ceil(km)))


def coarse(explanation: dict[str, Any], km: float | None) -> dict[str, Any]:
    """The explanation with its distance in whole kilometres (the seeker's own view keeps 0.1 km)."""
    exact = explanation.get("distance")
    if not exact or km is None:
        return explanation
    said = f"距家 {whole_km(km):.0f} 公里以内"
    return explanation | {"distance": said, "text": explanation["text"].replace(exact, said)}


@bp.get("/employer/postings/<posting_id:str>/candidates", name="jobs.candidates")
@requires(Role.EMPLOYER)
@query_args(LimitQuery)
@responds(200, CandidateList, "The posting's best candidates, best first, masked")
@errors(404, 409, 422)
async def candidates(request: Request, posting_id: str, query: LimitQuery) -> HTTPResponse:
    """Seekers who opted in, ranked for this live posting of your enterprise (another's: 404). Each is known
    by an id made for this posting only, with no name, phone or home (distance in whole km, rounded up);
    name and phone appear once the seeker applied to this posting or accepted your invitation."""
    found = await matches.for_posting(viewer=require_principal(request), public_id=posting_id, limit=query.limit)
    items = []
    for c in found:
        items.append(
            CandidateOut(
                id=c.id,
                scores=Scores(**matches.scores(c.result)),
                distance_km=whole_km(c.result.distance_km),
                education=c.profile["education"],
                experience_years=c.profile["experience_years"],
                skills=await seekers.skills_out(c.profile["skills"]),
                explanation=ExplanationOut(**coarse(c.explanation, c.result.distance_km)),
                application=c.application,
                identity=IdentityOut(**c.identity) if c.identity is not None else None,
            )
        )
    return json(CandidateList(items=items).model_dump(mode="json"), headers=NO_STORE)
