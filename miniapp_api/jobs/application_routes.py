"""HTTP routes of applications: the seeker's (apply, their list with history, accept, decline, withdraw) and the
employer's (invite a candidate, the applications of their posting, reject, hire). The state table is
``applications.TABLE``; a step it does not allow is 409, a row of someone else 404."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity.models import Account
from identity.pii import mask_public_text
from identity.roles import Role
from identity.service import read_profile
from miniapp_api.jobs import applications, candidates
from miniapp_api.jobs.application_schemas import (
    ApplicationEventOut,
    ApplicationQuery,
    EmployerApplicationList,
    EmployerApplicationOut,
    InviteIn,
    NoteIn,
    PostingRef,
    SeekerApplicationList,
    SeekerApplicationOut,
)
from miniapp_api.jobs.models import Application, ApplicationEvent
from server.auth import require_principal, requires
from server.openapi import doc_of
from server.ratelimit import rate_limit
from server.validation import errors, json_body, parse_json_body, query_args, responds

bp = Blueprint("jobs_applications", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}
SEEKERS = (Role.RESIDENT, Role.PARTY_MEMBER)
EMPLOYER = (Role.EMPLOYER,)
# Each application or invitation sends the other side a message (an SMS at worst): a seeker or an employer
# account cannot flood the other side (GMID_RATE_LIMITS overrides these by route name).
APPLY_RATE = "30/hour"
INVITE_RATE = "120/hour"


def note_body(handler: Callable[..., Any]) -> Callable[..., Any]:
    """An optional JSON body ``{"note": ...}``: no body at all is an empty note."""

    @wraps(handler)
    async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Any:
        kwargs["body"] = parse_json_body(request, NoteIn) if (request.body or b"").strip() else NoteIn()
        return await handler(request, *args, **kwargs)

    doc_of(wrapper).body = NoteIn
    return wrapper


def events_out(row: Application, events: list[ApplicationEvent], *, masked: bool = False) -> list[ApplicationEventOut]:
    """The history; ``masked``: the employer's view of a seeker not (or no longer) known to them, where a phone,
    ID number or e-mail the seeker wrote in a note is masked like the name and phone."""
    return [
        ApplicationEventOut(
            from_state=e.from_state,  # type: ignore[arg-type]
            to_state=e.to_state,  # type: ignore[arg-type]
            by="seeker" if e.actor_id == row.seeker_id else "employer",
            note=mask_public_text(e.note) if masked and e.actor_id == row.seeker_id else e.note,
            at=e.at,
        )
        for e in events
    ]


def seeker_out(row: Application, events: list[ApplicationEvent]) -> SeekerApplicationOut:
    posting = row.posting
    return SeekerApplicationOut(
        id=row.public_id,
        posting=PostingRef(
            id=posting.public_id, title=posting.title, enterprise=posting.enterprise.name, status=posting.status
        ),
        state=row.state,  # type: ignore[arg-type]
        initiated_by=row.initiated_by,  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=events_out(row, events),
    )


def employer_out(row: Application, events: list[ApplicationEvent], seeker: Account) -> EmployerApplicationOut:
    consented = row.state in applications.CONSENTED
    profile = read_profile(seeker) if consented else None
    return EmployerApplicationOut(
        id=row.public_id,
        posting=row.posting.public_id,
        candidate=candidates.candidate_id(row.posting.public_id, row.seeker_id),
        state=row.state,  # type: ignore[arg-type]
        initiated_by=row.initiated_by,  # type: ignore[arg-type]
        name=profile.name if profile else None,
        phone=profile.phone if profile else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=events_out(row, events, masked=not consented),
    )


async def _seeker_answer(row: Application, status: int = 200) -> HTTPResponse:
    await row.fetch_related("posting__enterprise")
    events = (await applications.history([row]))[row.id]
    return json(seeker_out(row, events).model_dump(mode="json", by_alias=True), status=status, headers=NO_STORE)


async def _employer_answer(row: Application, status: int = 200) -> HTTPResponse:
    await row.fetch_related("posting", "seeker")
    events = (await applications.history([row]))[row.id]
    out = employer_out(row, events, row.seeker)
    return json(out.model_dump(mode="json", by_alias=True), status=status, headers=NO_STORE)


@bp.post("/jobs/postings/<posting_id:str>/apply", name="jobs.application.apply")
@requires(*SEEKERS)
@rate_limit(account=APPLY_RATE)
@note_body
@responds(201, SeekerApplicationOut, "Applied (200 with the same application when asked again)")
@errors(404, 409, 422)
async def apply(request: Request, posting_id: str, body: NoteIn) -> HTTPResponse:
    """Apply to a live posting: the employer then sees your name and phone. Applying again answers the same
    application; an application in another state (invited, withdrawn ...) is 409."""
    row, made = await applications.apply(viewer=require_principal(request), posting_id=posting_id, note=body.note)
    return await _seeker_answer(row, 201 if made else 200)


@bp.get("/me/jobs/applications", name="jobs.application.mine")
@requires(*SEEKERS)
@query_args(ApplicationQuery)
@responds(200, SeekerApplicationList, "Your applications and invitations, newest first, each with its history")
@errors(422)
async def mine(request: Request, query: ApplicationQuery) -> HTTPResponse:
    rows, cursor = await applications.mine(
        viewer=require_principal(request), state=query.state, cursor=query.cursor, limit=query.limit
    )
    events = await applications.history(rows)
    out = SeekerApplicationList(items=[seeker_out(r, events[r.id]) for r in rows], next_cursor=cursor)
    return json(out.model_dump(mode="json", by_alias=True), headers=NO_STORE)


def _seeker_step(action: str) -> Callable[..., Any]:
    async def handler(request: Request, application_id: str, body: NoteIn) -> HTTPResponse:
        row = await applications.seeker_step(
            viewer=require_principal(request), public_id=application_id, action=action, note=body.note
        )
        return await _seeker_answer(row)

    handler.__name__ = f"seeker_{action}"
    handler.__doc__ = {
        "accept": "Accept an invitation: the employer then sees your name and phone.",
        "decline": "Decline an invitation: the employer never sees who you are.",
        "withdraw": "Withdraw an application or an accepted invitation: your name and phone leave the employer's list.",
    }[action]
    return handler


def _employer_step(action: str) -> Callable[..., Any]:
    async def handler(request: Request, application_id: str, body: NoteIn) -> HTTPResponse:
        row = await applications.employer_step(
            viewer=require_principal(request), public_id=application_id, action=action, note=body.note
        )
        return await _employer_answer(row)

    handler.__name__ = f"employer_{action}"
    handler.__doc__ = f"{action.capitalize()} an applied or accepted application to one of your postings."
    return handler


for _action in applications.SEEKER_STEPS:
    _ = bp.post(f"/me/jobs/applications/<application_id:str>/{_action}", name=f"jobs.application.{_action}")(
        requires(*SEEKERS)(
            note_body(
                responds(200, SeekerApplicationOut, f"The application, {applications.TABLE[_action].to.value}")(
                    errors(404, 409, 422)(_seeker_step(_action))
                )
            )
        )
    )
for _action in applications.EMPLOYER_STEPS:
    _ = bp.post(f"/employer/applications/<application_id:str>/{_action}", name=f"jobs.application.{_action}")(
        requires(*EMPLOYER)(
            note_body(
                responds(200, EmployerApplicationOut, f"The application, {applications.TABLE[_action].to.value}")(
                    errors(404, 409, 422)(_employer_step(_action))
                )
            )
        )
    )


@bp.post("/employer/postings/<posting_id:str>/invitations", name="jobs.application.invite")
@requires(*EMPLOYER)
@rate_limit(account=INVITE_RATE)
@json_body(InviteIn)
@responds(201, EmployerApplicationOut, "Invited (200 with the same invitation when asked again)")
@errors(404, 409, 422)
async def invite(request: Request, posting_id: str, body: InviteIn) -> HTTPResponse:
    """Invite a candidate of your live posting by the candidate id its candidate list gives. The seeker's name
    and phone stay masked until they accept."""
    row, made = await applications.invite(
        viewer=require_principal(request), posting_id=posting_id, candidate=body.candidate, note=body.note
    )
    return await _employer_answer(row, 201 if made else 200)


@bp.get("/employer/postings/<posting_id:str>/applications", name="jobs.application.of_posting")
@requires(*EMPLOYER)
@query_args(ApplicationQuery)
@responds(200, EmployerApplicationList, "The posting's applications and invitations, newest first")
@errors(404, 422)
async def of_posting(request: Request, posting_id: str, query: ApplicationQuery) -> HTTPResponse:
    """Applications to one of your postings, each with its history; a name and phone only where the seeker
    applied or accepted."""
    _, rows, cursor = await applications.of_posting(
        viewer=require_principal(request),
        posting_id=posting_id,
        state=query.state,
        cursor=query.cursor,
        limit=query.limit,
    )
    events = await applications.history(rows)
    out = EmployerApplicationList(items=[employer_out(r, events[r.id], r.seeker) for r in rows], next_cursor=cursor)
    return json(out.model_dump(mode="json", by_alias=True), headers=NO_STORE)
