"""HTTP routes of rental buildings: staff list and read the buildings of their area, and correct them.

Scanning a building's code goes through ``POST /api/v1/scan`` (the view per role lives in ``scan``).
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import lookup_limit, purpose
from identity.pii import mask_public_text
from identity.roles import Role
from miniapp_api.buildings import scan, service
from miniapp_api.buildings.models import Building
from miniapp_api.buildings.schemas import (
    BuildingImportOut,
    BuildingList,
    BuildingListQuery,
    BuildingOut,
    BuildingPatch,
    BuildingSummary,
    CredentialRef,
    DetailQuery,
    ImportRejectedOut,
)
from qr.models import Credential
from qr.routes import code_url, image_urls
from server.auth import Principal, require_principal, requires
from server.errors import UnsupportedMediaType, ValidationFailed
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("buildings", url_prefix="/api/v1")
scan.register_kind()

READERS = (Role.GRID_STAFF, Role.OFFICER, Role.POLICE, Role.ADMIN)
EDITORS = (Role.GRID_STAFF, Role.OFFICER, Role.ADMIN)
NO_STORE = {"Cache-Control": "no-store"}


async def building_out(
    request: Request, building: Building, viewer: Principal, *, full: bool = False, audit_seq: int | None = None
) -> BuildingOut:
    credential = await Credential.get_or_none(public_id=building.credential_id)
    names = await service.grid_names({building.grid_code})
    fields = service.staff_fields(building, full_landlord=full)
    access = service.landlord_access(building) if service.full_landlord_allowed(viewer, building) and not full else None
    return BuildingOut.model_validate(
        {
            **service.public_view(building),
            **fields,
            "grid_name": names.get(building.grid_code),
            "credential": CredentialRef(
                id=credential.public_id,
                serial=credential.serial,
                url=code_url(request, credential.token),
                images=image_urls(credential.public_id),
            )
            if credential is not None
            else None,
            "created_at": building.created_at,
            "updated_at": building.updated_at,
            "audit_seq": audit_seq,
            "landlord_access": access,
        }
    )


@bp.get("/buildings", name="buildings.list")
@requires(*READERS)
@query_args(BuildingListQuery)
@responds(200, BuildingList, "Buildings under your node, by code; follow `next_cursor` for more")
@errors(404, 422, 429, 503)
async def list_buildings(request: Request, query: BuildingListQuery) -> HTTPResponse:
    """Rental buildings in your area (a grid worker: their grid; a street officer: the street).
    `grid` outside your area is 404. A search by the landlord's mobile finds a person's property: it is
    audited, and police give `reason` and `case_no` (else 422 `reason_required`, audited too) and
    spend one lookup of GMID_POLICE_LOOKUP_RATE, the budget of the e-bike owner lookup."""
    principal = require_principal(request)
    phone = service.landlord_phone_query(query.q)
    area = await service.search_area(viewer=principal, grid=query.grid)
    reason = case_no = ""
    if phone is not None and area is not None:

        async def audited(outcome: str, found: list[Building] | None = None) -> int:
            return await service.audit_landlord_search(
                viewer=principal,
                phone=phone,
                area=area,
                found=found or [],
                client_addr=str(request.remote_addr or request.ip),
                request_id=request.ctx.request_id,
                reason=reason,
                case_no=case_no,
                outcome=outcome,
            )

        if principal.role is Role.POLICE:
            reason, case_no = (query.reason or "").strip(), (query.case_no or "").strip()
            try:
                why = purpose.require_purpose(query.reason, query.case_no)
            except ValidationFailed:
                await audited("refused_no_reason")
                raise
            reason, case_no = why.reason, why.case_no
            await lookup_limit.spend(
                limiter=request.app.ctx.rate_limiter,
                rate_text=request.app.ctx.settings.police_lookup_rate,
                viewer=principal,
                refused=audited,
            )
    rows, next_cursor = await service.list_in_scope(
        viewer=principal, grid=query.grid, q=query.q, cursor=query.cursor, limit=query.limit
    )
    if phone is not None and area is not None:
        await audited("ok", rows)
    names = await service.grid_names({b.grid_code for b in rows})
    items = [
        BuildingSummary(
            code=b.code,
            address=mask_public_text(b.address),
            grid=b.grid_code,
            grid_name=names.get(b.grid_code),
            floors=b.floors,
            households=b.households,
            residents=b.residents,
            credential_id=b.credential_id,
            updated_at=b.updated_at,
        )
        for b in rows
    ]
    return json(BuildingList(items=items, next_cursor=next_cursor).model_dump(mode="json"), headers=NO_STORE)


@bp.get("/buildings/<code:str>", name="buildings.get")
@requires(*READERS)
@query_args(DetailQuery)
@responds(200, BuildingOut, "The building; the landlord masked, except for police with a reason and a case number")
@errors(404, 422, 429, 503)
async def get_building(request: Request, code: str, query: DetailQuery) -> HTTPResponse:
    """One building of your area by its code; others are 404. Police of the area see the landlord in
    full only with `reason` and `case_no` (the read is audited; a reason that is not real text is 422
    `reason_required`, audited too), and each such read spends one lookup of GMID_POLICE_LOOKUP_RATE,
    the budget of the e-bike owner lookup (429 past it, and the district's administrators are told);
    without them, the masked view (free) and `landlord_access`, how to ask."""
    principal = require_principal(request)
    building = await service.get_in_scope(viewer=principal, code=code)
    seq = None
    full = False
    if service.full_landlord_allowed(principal, building) and purpose.given(query.reason, query.case_no):

        async def audited(reason: str, case_no: str, outcome: str) -> int:
            return await service.audit_landlord_read(
                viewer=principal,
                building=building,
                via="api",
                client_addr=str(request.remote_addr or request.ip),
                request_id=request.ctx.request_id,
                reason=reason,
                case_no=case_no,
                outcome=outcome,
            )

        try:
            why = purpose.require_purpose(query.reason, query.case_no)
        except ValidationFailed:
            await audited(query.reason or "", query.case_no or "", "refused_no_reason")
            raise

        async def refused(outcome: str) -> int:
            return await audited(why.reason, why.case_no, outcome)

        # A full landlord is a person lookup: one of the budget the e-bike owner lookup spends.
        await lookup_limit.spend(
            limiter=request.app.ctx.rate_limiter,
            rate_text=request.app.ctx.settings.police_lookup_rate,
            viewer=principal,
            refused=refused,
        )
        seq = await audited(why.reason, why.case_no, "ok")
        full = True
    out = await building_out(request, building, principal, full=full, audit_seq=seq)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.patch("/buildings/<code:str>", name="buildings.update")
@requires(*EDITORS)
@json_body(BuildingPatch)
@responds(200, BuildingOut, "Updated (the code and the grid come only from the district's file)")
@errors(404, 422)
async def update_building(request: Request, code: str, body: BuildingPatch) -> HTTPResponse:
    """Correct a building of your area: occupancy, fire facilities, incidents, services, landlord."""
    principal = require_principal(request)
    building = await service.get_in_scope(viewer=principal, code=code)
    building = await service.update(building=building, changes=body.model_dump(exclude_unset=True))
    out = await building_out(request, building, principal)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


# Import (the district administration) ------------------------------------------------------------

IMPORT_TYPES = {
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}
SHOWN_REJECTIONS = 1000


def district_importer(request: Request) -> Principal:
    """Who may import buildings: the district administration only (a file's row may name any grid, or
    move a building into another street). The console's import page asks the same question."""
    from identity.scope import require_district

    return require_district(require_principal(request), "imports buildings")


@bp.post("/buildings/import", name="buildings.import")
@requires(Role.ADMIN)
@responds(200, BuildingImportOut, "What was imported, and the refused rows by line, column and reason")
@errors(401, 403, 413, 415, 422)
async def import_buildings(request: Request) -> HTTPResponse:
    """Import rental buildings (what `gmid import buildings` does) from the request body: a `text/csv`
    file (UTF-8, header on line 1) or an XLSX workbook (first sheet), at most the server's body size.
    Each row is checked on its own; the good rows are written, all of them or none, and the refused
    ones reported by line, column and reason (never the value). A re-import updates buildings by their
    code and keeps their QR e-ID. District administration only (a row may name any grid). Audited."""
    import asyncio
    import tempfile
    from pathlib import Path

    from identity import audit
    from identity.routes import client_addr
    from miniapp_api.buildings import importer

    principal = district_importer(request)
    suffix = IMPORT_TYPES.get((request.content_type or "").split(";")[0].strip().lower())
    if suffix is None:
        raise UnsupportedMediaType("Send the file as text/csv or XLSX.", code="unsupported_media_type")
    with tempfile.TemporaryDirectory(prefix="gmid-import-") as folder:
        path = Path(folder) / f"buildings{suffix}"
        path.write_bytes(request.body or b"")
        try:
            table = await asyncio.to_thread(importer.read_table, path)
            result = await importer.import_table(table)
        except importer.ImportFileError as exc:
            problems = [{"line": p.line, "column": p.column, "reason": p.reason} for p in exc.problems[:100]]
            raise ValidationFailed(
                f"The file cannot be imported: {exc.message}",
                code="import_file_invalid",
                details={"problems": problems},
            ) from None
    await audit.record(
        actor=principal.account_id,
        role=principal.role.value,
        action="buildings.import",
        client_addr=client_addr(request),
        request_id=request.ctx.request_id,
        details={
            "rows": result.rows,
            "created": result.created,
            "updated": result.updated,
            "rejected_lines": result.rejected_lines,
        },
    )
    answer = BuildingImportOut(
        rows=result.rows,
        imported=result.imported,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected_lines=result.rejected_lines,
        rejected=[
            ImportRejectedOut(line=r.line, column=r.column, reason=r.reason) for r in result.rejected[:SHOWN_REJECTIONS]
        ],
        ignored_columns=result.ignored_columns,
    )
    return json(answer.model_dump(mode="json"), headers=NO_STORE)
