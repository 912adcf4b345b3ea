"""HTTP routes of postings: the employer's own (write, edit, publish, close), the staff's take-down,
and the public list and page of live postings (nothing of the enterprise's contact)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity.roles import Role
from miniapp_api.jobs import enterprises, postings, push
from miniapp_api.jobs.models import Posting
from miniapp_api.jobs.schemas import (
    OwnPostingQuery,
    PostingIn,
    PostingList,
    PostingOut,
    PublicPostingQuery,
    ReasonIn,
    SalaryOut,
    SkillOut,
)
from server.auth import public, require_principal, requires
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("jobs_postings", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}
EMPLOYER = (Role.EMPLOYER,)


def posting_out(row: Posting, *, own: bool) -> PostingOut:
    return PostingOut(
        id=row.public_id,
        enterprise=row.enterprise.name,
        enterprise_id=row.enterprise.public_id,
        title=row.title,
        description=row.description,
        occupation_code=row.occupation_code,
        skills_required=[SkillOut(**s) for s in row.skills_required],
        skills_preferred=[SkillOut(**s) for s in row.skills_preferred],
        education_min=row.education_min,  # type: ignore[arg-type]
        experience_min_years=row.experience_min_years,
        salary=SalaryOut(
            min=row.salary_min,
            max=row.salary_max,
            period=row.salary_period,  # type: ignore[arg-type]
            monthly_min=row.salary_monthly_min,
            monthly_max=row.salary_monthly_max,
        ),
        employment_type=row.employment_type,  # type: ignore[arg-type]
        shifts=row.shifts,  # type: ignore[arg-type]
        hours=row.hours,
        lat=row.lat,
        lon=row.lon,
        node=row.node.code,
        openings=row.openings,
        valid_through=row.valid_through,
        status=row.status,  # type: ignore[arg-type]
        take_down_reason=(row.take_down_reason or None) if own else None,
        published_at=row.published_at,
        updated_at=row.updated_at,
    )


def one(row: Posting, status: int = 200, *, own: bool = True) -> HTTPResponse:
    return json(posting_out(row, own=own).model_dump(mode="json"), status=status, headers=NO_STORE)


@bp.post("/employer/postings", name="jobs.posting.create")
@requires(*EMPLOYER)
@json_body(PostingIn)
@responds(201, PostingOut, "The posting, as a draft")
@errors(404, 422)
async def create(request: Request, body: PostingIn) -> HTTPResponse:
    """Write a posting of your enterprise (a draft until published)."""
    return one(await postings.create(viewer=require_principal(request), body=body), 201)


@bp.get("/employer/postings", name="jobs.posting.own_list")
@requires(*EMPLOYER)
@query_args(OwnPostingQuery)
@responds(200, PostingList, "Your enterprise's postings, newest first")
@errors(404, 422)
async def list_own(request: Request, query: OwnPostingQuery) -> HTTPResponse:
    """Your enterprise's postings, any status (or `status`)."""
    rows, cursor = await postings.list_own(
        viewer=require_principal(request), status=query.status, cursor=query.cursor, limit=query.limit
    )
    out = PostingList(items=[posting_out(r, own=True) for r in rows], next_cursor=cursor)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/employer/postings/<posting_id:str>", name="jobs.posting.own")
@requires(*EMPLOYER)
@responds(200, PostingOut, "The posting")
@errors(404)
async def get_own(request: Request, posting_id: str) -> HTTPResponse:
    """One posting of your enterprise (another enterprise's: 404)."""
    return one(await postings.own_posting(viewer=require_principal(request), public_id=posting_id))


@bp.put("/employer/postings/<posting_id:str>", name="jobs.posting.edit")
@requires(*EMPLOYER)
@json_body(PostingIn)
@responds(200, PostingOut, "The posting, edited")
@errors(404, 409, 422)
async def edit(request: Request, posting_id: str, body: PostingIn) -> HTTPResponse:
    """Replace a draft or live posting's fields (closed or taken down: 409)."""
    return one(await postings.edit(viewer=require_principal(request), public_id=posting_id, body=body))


@bp.post("/employer/postings/<posting_id:str>/publish", name="jobs.posting.publish")
@requires(*EMPLOYER)
@responds(200, PostingOut, "The posting is live")
@errors(404, 409)
async def publish(request: Request, posting_id: str) -> HTTPResponse:
    """Publish a draft: only when your enterprise is verified (409 `enterprise_not_verified`). Subscribed
    seekers it matches well hear of it shortly (the push)."""
    row = await postings.publish(viewer=require_principal(request), public_id=posting_id)
    await push.wake(request.app.ctx.redis)
    return one(row)


@bp.post("/employer/postings/<posting_id:str>/close", name="jobs.posting.close")
@requires(*EMPLOYER)
@responds(200, PostingOut, "The posting is closed")
@errors(404, 409)
async def close(request: Request, posting_id: str) -> HTTPResponse:
    """Close a draft or live posting: it leaves the public list."""
    return one(await postings.close(viewer=require_principal(request), public_id=posting_id))


@bp.post("/jobs/postings/<posting_id:str>/take-down", name="jobs.posting.take_down")
@requires(*enterprises.STAFF)
@json_body(ReasonIn)
@responds(200, PostingOut, "The posting is taken down")
@errors(404, 409, 422)
async def take_down(request: Request, posting_id: str, body: ReasonIn) -> HTTPResponse:
    """Take down a posting whose work place lies in your area, with a reason (the employer sees it). Audited."""
    viewer = require_principal(request)
    who = enterprises.Who(
        viewer.account_id, viewer.role.value, str(request.remote_addr or request.ip), request.ctx.request_id
    )
    return one(await postings.take_down(viewer=viewer, public_id=posting_id, reason=body.reason, who=who))


@bp.get("/jobs/postings", name="jobs.posting.public_list")
@public
@query_args(PublicPostingQuery)
@responds(200, PostingList, "Live postings, newest first")
@errors(422)
async def list_public(request: Request, query: PublicPostingQuery) -> HTTPResponse:
    """Live postings still valid, of verified enterprises: by `occupation` code prefix, `employment_type`,
    `salary_at_least` (monthly yuan, against the range's top), and `lat`/`lon` within `km` (straight line)."""
    rows, cursor = await postings.list_public(query=query)
    out = PostingList(items=[posting_out(r, own=False) for r in rows], next_cursor=cursor)
    return json(out.model_dump(mode="json"))


@bp.get("/jobs/postings/<posting_id:str>", name="jobs.posting.public")
@public
@responds(200, PostingOut, "The posting")
@errors(404)
async def get_public(request: Request, posting_id: str) -> HTTPResponse:
    """One live posting (a draft, closed or taken down one: 404). No contact data of the enterprise."""
    return one(await postings.public_posting(public_id=posting_id), own=False)
