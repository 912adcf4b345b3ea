"""HTTP routes of enterprises: registration (residents, employment staff), verification and the
employer accounts (employment staff of the enterprise's area), the employer's own enterprise."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity.roles import Role
from miniapp_api.jobs import enterprises
from miniapp_api.jobs.models import Enterprise
from miniapp_api.jobs.schemas import (
    EmployerCreateIn,
    EmployerOut,
    EnterpriseIn,
    EnterpriseList,
    EnterpriseOut,
    EnterpriseQuery,
    ReasonIn,
)
from server.auth import require_principal, requires
from server.ratelimit import rate_limit
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("jobs_enterprises", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}


def who(request: Request) -> enterprises.Who:
    viewer = require_principal(request)
    return enterprises.Who(
        viewer.account_id, viewer.role.value, str(request.remote_addr or request.ip), request.ctx.request_id
    )


def enterprise_out(row: Enterprise, *, with_contact: bool) -> EnterpriseOut:
    return EnterpriseOut(
        id=row.public_id,
        name=row.name,
        uscc=row.uscc,
        address=row.address,
        node=row.node.code,
        status=row.status,  # type: ignore[arg-type]
        reason=row.reason or None,
        contact=enterprises.contact_of(row) if with_contact else None,
        created_at=row.created_at,
        verified_at=row.verified_at,
    )


def answer(row: Enterprise, status: int = 200, *, with_contact: bool = True) -> HTTPResponse:
    return json(enterprise_out(row, with_contact=with_contact).model_dump(mode="json"), status=status, headers=NO_STORE)


@bp.post("/jobs/enterprises", name="jobs.enterprise.register")
@requires(*enterprises.REGISTRANTS)
@rate_limit(account="10/hour")
@json_body(EnterpriseIn)
@responds(201, EnterpriseOut, "Registered, pending verification by the employment service")
@errors(404, 409, 422)
async def register(request: Request, body: EnterpriseIn) -> HTTPResponse:
    """Register an enterprise: its name, 统一社会信用代码 (checked with both check characters), address,
    node and a contact. It is `pending` until employment staff verify it. A code already registered is
    409 `uscc_taken` (nothing about the other registration is told)."""
    row = await enterprises.register(viewer=require_principal(request), body=body, who=who(request))
    return answer(row, 201)


@bp.get("/jobs/enterprises", name="jobs.enterprise.list")
@requires(*enterprises.STAFF)
@query_args(EnterpriseQuery)
@responds(200, EnterpriseList, "Enterprises of your area, newest first")
@errors(404, 422)
async def list_enterprises(request: Request, query: EnterpriseQuery) -> HTTPResponse:
    """The enterprises under your node (or `node` inside it), by `status`."""
    rows, cursor = await enterprises.list_in_area(
        viewer=require_principal(request), node=query.node, status=query.status, cursor=query.cursor, limit=query.limit
    )
    out = EnterpriseList(items=[enterprise_out(r, with_contact=True) for r in rows], next_cursor=cursor)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/jobs/enterprises/<enterprise_id:str>", name="jobs.enterprise.get")
@requires(*enterprises.STAFF)
@responds(200, EnterpriseOut, "The enterprise")
@errors(404)
async def get_enterprise(request: Request, enterprise_id: str) -> HTTPResponse:
    """One enterprise of your area (404 for any other)."""
    return answer(await enterprises.staff_enterprise(viewer=require_principal(request), public_id=enterprise_id))


@bp.post("/jobs/enterprises/<enterprise_id:str>/verify", name="jobs.enterprise.verify")
@requires(*enterprises.STAFF)
@responds(200, EnterpriseOut, "Verified: its postings may go live")
@errors(404, 409)
async def verify(request: Request, enterprise_id: str) -> HTTPResponse:
    """Verify a pending (or suspended) enterprise of your area. Audited."""
    row = await enterprises.decide(
        viewer=require_principal(request), public_id=enterprise_id, action="verify", reason=None, who=who(request)
    )
    return answer(row)


@bp.post("/jobs/enterprises/<enterprise_id:str>/reject", name="jobs.enterprise.reject")
@requires(*enterprises.STAFF)
@json_body(ReasonIn)
@responds(200, EnterpriseOut, "Rejected, with the reason")
@errors(404, 409, 422)
async def reject(request: Request, enterprise_id: str, body: ReasonIn) -> HTTPResponse:
    """Reject a pending enterprise of your area, with a reason. Audited."""
    row = await enterprises.decide(
        viewer=require_principal(request),
        public_id=enterprise_id,
        action="reject",
        reason=body.reason,
        who=who(request),
    )
    return answer(row)


@bp.post("/jobs/enterprises/<enterprise_id:str>/suspend", name="jobs.enterprise.suspend")
@requires(*enterprises.STAFF)
@json_body(ReasonIn)
@responds(200, EnterpriseOut, "Suspended: its postings leave the public list")
@errors(404, 409, 422)
async def suspend(request: Request, enterprise_id: str, body: ReasonIn) -> HTTPResponse:
    """Suspend a verified enterprise of your area, with a reason. Audited."""
    row = await enterprises.decide(
        viewer=require_principal(request),
        public_id=enterprise_id,
        action="suspend",
        reason=body.reason,
        who=who(request),
    )
    return answer(row)


@bp.post("/jobs/enterprises/<enterprise_id:str>/employers", name="jobs.enterprise.employer")
@requires(*enterprises.STAFF)
@json_body(EmployerCreateIn)
@responds(201, EmployerOut, "The employer account, bound to the enterprise")
@errors(404, 409, 422)
async def create_employer(request: Request, enterprise_id: str, body: EmployerCreateIn) -> HTTPResponse:
    """Create an employer (HR) account for a verified enterprise of your area: it signs in at
    /api/v1/auth/login with this username and password (the staff accounts' password rules)."""
    account = await enterprises.create_employer(
        viewer=require_principal(request),
        public_id=enterprise_id,
        username=body.username,
        password=body.password,
        who=who(request),
    )
    out = EmployerOut(id=account.public_id, username=account.username or "", enterprise=enterprise_id)
    return json(out.model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.get("/employer/enterprise", name="jobs.employer.enterprise")
@requires(Role.EMPLOYER)
@responds(200, EnterpriseOut, "Your enterprise")
@errors(404)
async def my_enterprise(request: Request) -> HTTPResponse:
    """The enterprise your employer account is bound to, with its status."""
    return answer(await enterprises.employer_enterprise(require_principal(request)))
