"""Admin routes of the QR service: the signing keys (list, rotate, retire) and sticker-sheet print jobs.

The keys sign every code of the whole district: only the district administration manages them (an
administrator lower down gets 403 ``district_only``). Sheets print the codes of a node: an
administrator prints, follows and downloads the sheets of their own part of the hierarchy.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, json

from identity import audit
from identity.roles import Role
from identity.routes import client_addr
from identity.scope import require_district
from qr import key_admin, keys, sheet_jobs
from qr.schemas import KeyList, KeyOut, RetireIn, RetireOut, RotateIn, RotateOut, SheetIn, SheetJobOut
from server.auth import Principal, require_principal, requires
from server.errors import Conflict, NotFound, ValidationFailed
from server.validation import errors, json_body, responds

bp = Blueprint("qr_admin", url_prefix="/api/v1/admin/qr")


def district_admin(request: Request) -> Principal:
    return require_district(require_principal(request), "manages the QR signing keys")


def who(request: Request, principal: Principal) -> audit.Who:
    return audit.Who(principal.account_id, principal.role.value, client_addr(request), request.ctx.request_id)


def key_out(row: key_admin.KeyRow) -> KeyOut:
    info = row.info
    return KeyOut(
        kid=info.kid,
        status=info.status,
        created_at=info.created_at,
        retired_at=info.retired_at,
        active_codes=row.active_codes,
    )


@bp.get("/keys", name="admin.qr.keys")
@requires(Role.ADMIN)
@responds(200, KeyList, "The QR signing keys, newest first, with the active codes each one signed")
@errors(401, 403)
async def list_keys(request: Request) -> HTTPResponse:
    """The signing keys: `active` signs new codes, `verifying` keys' codes still verify, `retired`
    keys' codes are refused. District administration only."""
    district_admin(request)
    rows = await key_admin.list_keys(keys_path=request.app.ctx.settings.keys_path)
    active = next(row.info.kid for row in rows if row.info.status == keys.ACTIVE)
    body = KeyList(active_kid=active, items=[key_out(row) for row in rows])
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.post("/keys/rotate", name="admin.qr.keys.rotate")
@requires(Role.ADMIN)
@json_body(RotateIn)
@responds(200, RotateOut, "A new key signs from now on; the previous active key keeps verifying")
@errors(401, 403, 422)
async def rotate_key(request: Request, body: RotateIn) -> HTTPResponse:
    """Make a new signing key (what `gmid keys rotate` does), audited. `confirm` must be true. Codes
    signed before keep verifying until their key is retired."""
    principal = district_admin(request)
    kid = await key_admin.rotate(keys_path=request.app.ctx.settings.keys_path, who=who(request, principal))
    return json(RotateOut(active_kid=kid).model_dump(mode="json"))


@bp.post("/keys/<kid:str>/retire", name="admin.qr.keys.retire")
@requires(Role.ADMIN)
@json_body(RetireIn)
@responds(200, RetireOut, "Retired: the codes it signed are refused from now on")
@errors(401, 403, 404, 409, 422)
async def retire_key(request: Request, kid: str, body: RetireIn) -> HTTPResponse:
    """Retire a key (what `gmid keys retire` does), audited. `confirm_kid` repeats the kid. Refused
    for the active key (`active_key`: rotate first) and while active codes it signed remain
    (`codes_remain`, with their count: reissue them first, or send `force: true` to refuse them)."""
    principal = district_admin(request)
    if len(kid) > 64 or not kid.replace("-", "").replace("_", "").isalnum():
        raise NotFound("There is no such key.", code="key_not_found")
    if body.confirm_kid != kid:
        raise ValidationFailed.field("confirm_kid", "Repeat the key's kid to confirm.", code="confirmation_mismatch")
    try:
        done = await key_admin.retire(
            keys_path=request.app.ctx.settings.keys_path, kid=kid, force=body.force, who=who(request, principal)
        )
    except key_admin.ActiveKeyError:
        raise Conflict("This is the active key: rotate first, then retire it.", code="active_key") from None
    except key_admin.StillSigning as exc:
        raise Conflict(
            f"{exc.remaining} active codes are still signed by this key: reissue them first, or force.",
            code="codes_remain",
            details={"remaining": exc.remaining},
        ) from None
    except keys.KeyringError:
        raise NotFound("There is no such key.", code="key_not_found") from None
    out = RetireOut(kid=done.kid, refused_codes=done.refused_codes, already_retired=done.already)
    return json(out.model_dump(mode="json"))


# Sticker sheets --------------------------------------------------------------------------------------


def job_out(job: sheet_jobs.Job) -> dict[str, object]:
    return SheetJobOut(
        id=job.id,
        kind=job.kind,
        node=job.node,
        state=job.state,
        total=job.total,
        done=job.done,
        pages=job.pages,
        percent=job.percent,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
        pdf=f"/api/v1/admin/qr/sheets/{job.id}/sheets.pdf" if job.state == sheet_jobs.DONE else None,
    ).model_dump(mode="json")


@bp.post("/sheets", name="admin.qr.sheets.start")
@requires(Role.ADMIN)
@json_body(SheetIn)
@responds(202, SheetJobOut, "Printing: follow the job's progress at its address")
@errors(401, 403, 404, 409, 422, 503)
async def start_sheets(request: Request, body: SheetIn) -> HTTPResponse:
    """Print A4 sticker sheets (PDF) of every active code of a kind under a node of your part of the
    hierarchy (what `gmid qr sheet` does), in the background; audited. `nothing_to_print` (409) when
    no active code matches."""
    principal = require_principal(request)
    job = await sheet_jobs.start(
        redis=request.app.ctx.redis,
        settings=request.app.ctx.settings,
        viewer=principal,
        kind=body.kind,
        node=body.node,
        who=who(request, principal),
    )
    return json(job_out(job), status=202, headers={"Location": f"/api/v1/admin/qr/sheets/{job.id}"})


@bp.get("/sheets/<job_id:str>", name="admin.qr.sheets.get")
@requires(Role.ADMIN)
@responds(200, SheetJobOut, "The print job: its state and progress")
@errors(401, 403, 404)
async def get_sheets(request: Request, job_id: str) -> HTTPResponse:
    """A print job of your part of the hierarchy (others are 404)."""
    job = await sheet_jobs.get(redis=request.app.ctx.redis, viewer=require_principal(request), job_id=job_id)
    return json(job_out(job), headers={"Cache-Control": "no-store"})


@bp.get("/sheets/<job_id:str>/sheets.pdf", name="admin.qr.sheets.pdf")
@requires(Role.ADMIN)
@responds(200, None, "The sticker sheets", media="application/pdf")
@errors(401, 403, 404, 409)
async def sheets_pdf(request: Request, job_id: str) -> HTTPResponse:
    """The finished PDF of a print job of your part of the hierarchy (`sheet_not_ready` while it runs)."""
    path = await sheet_jobs.pdf(
        redis=request.app.ctx.redis,
        settings=request.app.ctx.settings,
        viewer=require_principal(request),
        job_id=job_id,
    )
    return await file(
        path,
        mime_type="application/pdf",
        filename=f"sheets-{job_id}.pdf",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
