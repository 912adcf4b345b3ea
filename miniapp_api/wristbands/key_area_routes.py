"""HTTP routes of key areas: public to read (the government publishes them); the district's
administrators add, correct, withdraw and import them from CSV."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity.roles import Role
from miniapp_api.wristbands import key_areas
from miniapp_api.wristbands.band_routes import who
from miniapp_api.wristbands.models import KeyArea
from miniapp_api.wristbands.people_schemas import (
    KeyAreaImportAnswer,
    KeyAreaIn,
    KeyAreaList,
    KeyAreaOut,
    KeyAreaPatch,
    KeyAreaQuery,
)
from server.auth import public, require_principal, requires
from server.errors import BadRequest, UnsupportedMediaType
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("wristband_key_areas", url_prefix="/api/v1/health/key-areas")

NO_STORE = {"Cache-Control": "no-store"}


def _out(row: KeyArea) -> dict[str, object]:
    return key_areas.area_out(row).model_dump(mode="json", by_alias=True)


@bp.get("", name="list")
@public
@query_args(KeyAreaQuery)
@responds(200, KeyAreaList, "The key areas in force (or all, with state=all)")
@errors(422)
async def list_key_areas(request: Request, query: KeyAreaQuery) -> HTTPResponse:
    """The key epidemic areas as published: GB/T 2260 area code, name, risk level, from and until
    (days in China; until empty while open) and the source document. Withdrawn ones only with
    `state=all`."""
    rows = await key_areas.list_areas(state=query.state)
    return json({"items": [_out(r) for r in rows]})


@bp.post("", name="create")
@requires(Role.ADMIN)
@json_body(KeyAreaIn)
@responds(201, KeyAreaOut, "The key area")
@errors(403, 422)
async def create_key_area(request: Request, body: KeyAreaIn) -> HTTPResponse:
    """Add a key area (the district's administrators): `area_code`, `risk_level`, `from`, `until`
    (optional), `source`, `name`. Audited."""
    key_areas.ensure_district(require_principal(request))
    row = await key_areas.create(data=body, who=who(request))
    return json(_out(row), status=201, headers=NO_STORE)


@bp.patch("/<area_id:str>", name="update")
@requires(Role.ADMIN)
@json_body(KeyAreaPatch)
@responds(200, KeyAreaOut, "The key area, corrected")
@errors(403, 404, 409, 422)
async def update_key_area(request: Request, area_id: str, body: KeyAreaPatch) -> HTTPResponse:
    """Correct a key area's name, risk level, dates or source (409 when it is withdrawn). Audited."""
    key_areas.ensure_district(require_principal(request))
    row = await key_areas.update(row=await key_areas.get(area_id), data=body, who=who(request))
    return json(_out(row), headers=NO_STORE)


@bp.delete("/<area_id:str>", name="withdraw")
@requires(Role.ADMIN)
@responds(200, KeyAreaOut, "Withdrawn: kept with its withdrawal time, it no longer counts")
@errors(403, 404, 409)
async def withdraw_key_area(request: Request, area_id: str) -> HTTPResponse:
    """Withdraw a key area entered by mistake (kept, with `withdrawn_at`). Audited."""
    key_areas.ensure_district(require_principal(request))
    row = await key_areas.withdraw(row=await key_areas.get(area_id), who=who(request))
    return json(_out(row), headers=NO_STORE)


@bp.post("/import", name="import")
@requires(Role.ADMIN)
@responds(200, KeyAreaImportAnswer, "How many were added, and the refused rows by line and column")
@errors(400, 403, 413, 415, 422)
async def import_key_areas(request: Request) -> HTTPResponse:
    """Import key areas from a `text/csv` body (UTF-8, header line: area_code, name, risk_level, from,
    until, source; at most 5,000 rows). A bad row is reported by line, column and reason (never its
    value); the good rows are added, all of them or none. Audited once."""
    key_areas.ensure_district(require_principal(request))
    if (request.content_type or "").split(";")[0].strip().lower() != "text/csv":
        raise UnsupportedMediaType("Send the file as text/csv.", code="unsupported_media_type")
    try:
        text = (request.body or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The file is not UTF-8 text.", code="not_utf8") from None
    if "\x00" in text:
        raise BadRequest("The file contains a NUL character.", code="nul_character")
    report = await key_areas.import_csv(text=text, who=who(request))
    answer = KeyAreaImportAnswer(created=report.created, rejected=report.rejected)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)
