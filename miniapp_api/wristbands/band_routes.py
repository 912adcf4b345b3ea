"""HTTP routes of bands: stock kept by health staff and administrators, binding by the resident,
issue and revocation at a staff desk."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import hierarchy
from identity import service as identity_service
from identity.models import Account
from miniapp_api.wristbands import bands
from miniapp_api.wristbands.models import Wristband, WristbandPerson
from miniapp_api.wristbands.people_schemas import (
    MyWristbandOut,
    WristbandBindIn,
    WristbandIssueIn,
    WristbandList,
    WristbandOut,
    WristbandQuery,
    WristbandRevokeIn,
    WristbandsAnswer,
    WristbandsIn,
)
from server.auth import require_principal, requires
from server.errors import NotFound
from server.ratelimit import rate_limit
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("wristbands", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}


def who(request: Request) -> bands.Who:
    viewer = require_principal(request)
    return bands.who_of(viewer, str(request.remote_addr or request.ip), request.ctx.request_id)


async def current_account(request: Request) -> Account:
    account = await identity_service.get_account(public_id=require_principal(request).account_id)
    if account is None:
        raise NotFound("Your account no longer exists.", code="account_not_found")
    return account


async def bands_out(rows: list[Wristband]) -> list[WristbandOut]:
    wearing = await bands.wearers(rows)
    return [
        WristbandOut(
            id=r.public_id,
            ble_id=r.ble_id,
            node=hierarchy.code_of(r.node_path),
            state=r.state,  # type: ignore[arg-type]
            wearer=wearing.get(r.account_id or 0) if r.state == "active" else None,
            bound_at=r.bound_at,
            revoked_at=r.revoked_at,
            revoke_reason=r.revoke_reason or None,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def my_band_out(band: Wristband) -> MyWristbandOut:
    person = await WristbandPerson.get_or_none(account_id=band.account_id)
    return MyWristbandOut(
        id=band.public_id,
        state=band.state,  # type: ignore[arg-type]
        community=hierarchy.code_of(person.home_node_path) if person else None,
        bound_at=band.bound_at,
    )


@bp.post("/wristbands", name="register")
@requires(*bands.KEEPERS)
@json_body(WristbandsIn)
@responds(201, WristbandsAnswer, "The bands registered in stock; refused items by index")
@errors(404, 409, 422)
async def register_bands(request: Request, body: WristbandsIn) -> HTTPResponse:
    """Register up to 1,000 bands in stock at `node` (default: yours; in your area): each the maker's
    `ble_id` and its printed `code` (kept only as a hash). An item is refused by its index (never its
    code): `invalid_ble_id`, `invalid_code`, `duplicate_in_batch`, `already_registered`."""
    viewer = require_principal(request)
    rows, refused = await bands.register(viewer=viewer, node=body.node, bands=body.bands, who=who(request))
    answer = WristbandsAnswer(registered=[r.public_id for r in rows], refused=refused)
    return json(answer.model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.get("/wristbands", name="list")
@requires(*bands.KEEPERS)
@query_args(WristbandQuery)
@responds(200, WristbandList, "Bands held under your node, newest first")
@errors(404, 422)
async def list_bands(request: Request, query: WristbandQuery) -> HTTPResponse:
    """The bands under your node (or `node` inside it), by `state`: stock and state, and the wearer
    only as an account id."""
    viewer = require_principal(request)
    under = await bands.area(viewer=viewer, node=query.node)
    if under is None:
        return json(WristbandList(items=[], next_cursor=None).model_dump(mode="json"), headers=NO_STORE)
    rows, cursor = await bands.list_in_area(under=under, state=query.state, cursor=query.cursor, limit=query.limit)
    answer = WristbandList(items=await bands_out(rows), next_cursor=cursor)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/wristbands/<band_id:str>", name="get")
@requires(*bands.KEEPERS)
@responds(200, WristbandOut, "The band")
@errors(404)
async def get_band(request: Request, band_id: str) -> HTTPResponse:
    """One band held in your area (404 for any other)."""
    band = await bands.staff_band(viewer=require_principal(request), public_id=band_id)
    [out] = await bands_out([band])
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/wristbands/issue", name="issue")
@requires(*bands.ISSUERS)
@json_body(WristbandIssueIn)
@responds(201, WristbandOut, "The band is bound to the person")
@errors(404, 409, 422)
async def issue_band(request: Request, body: WristbandIssueIn) -> HTTPResponse:
    """Hand a band in stock in your area (its printed `code` or its `ble_id`) to a person at the desk:
    their ID number, name, phone and home `community`. Their resident account is found by ID number or
    created (without WeChat). 409 `wristband_active` when they wear an active band already,
    `person_elsewhere` when their home community is outside your area, `community_locked` when moving
    them while a health status or quarantine order is in force; 422 `account_disabled` for an account an
    administrator disabled."""
    viewer = require_principal(request)
    band, _ = await bands.issue(viewer=viewer, data=body, who=who(request))
    [out] = await bands_out([band])
    return json(out.model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.post("/wristbands/<band_id:str>/revoke", name="revoke")
@requires(*bands.ISSUERS)
@json_body(WristbandRevokeIn)
@responds(200, WristbandOut, "Revoked: checking in with it is a stop")
@errors(404, 409, 422)
async def revoke_band(request: Request, band_id: str, body: WristbandRevokeIn) -> HTTPResponse:
    """Revoke a band held in your area (`lost`, `broken` or `withdrawn`), a worn one when its wearer's
    community is in your area (wherever it was stocked); 409 when it is revoked already."""
    band = await bands.staff_band(viewer=require_principal(request), public_id=band_id, desk=True)
    band = await bands.revoke(band=band, reason=body.reason, who=who(request))
    [out] = await bands_out([band])
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/me/wristband", name="bind")
@requires(*bands.RESIDENTS)
@rate_limit(account="10/hour")
@json_body(WristbandBindIn)
@responds(201, MyWristbandOut, "The band is yours")
@errors(404, 409, 422, 429)
async def bind_band(request: Request, body: WristbandBindIn) -> HTTPResponse:
    """Bind the band whose printed `code` you scanned to yourself, with the `community` you live in.
    404 `wristband_not_found` for any code that binds nothing (never telling why); 409
    `wristband_active` while you wear another band (report it lost first); 409 `community_locked` for
    another community while a health status or quarantine order of yours is in force. At most 10 tries
    an hour."""
    account = await current_account(request)
    band = await bands.bind_own(account=account, code=body.code, community_code=body.community, who=who(request))
    return json((await my_band_out(band)).model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.get("/me/wristband", name="mine")
@requires(*bands.RESIDENTS)
@responds(200, MyWristbandOut, "Your active band")
@errors(404)
async def my_band(request: Request) -> HTTPResponse:
    """Your active band (404 `no_wristband` when you wear none)."""
    band = await bands.own_band(await current_account(request))
    if band is None:
        raise NotFound("You wear no band.", code="no_wristband")
    return json((await my_band_out(band)).model_dump(mode="json"), headers=NO_STORE)


@bp.delete("/me/wristband", name="report_lost")
@requires(*bands.RESIDENTS)
@responds(200, MyWristbandOut, "Revoked: checking in with it is a stop; bind a new one")
@errors(404, 409)
async def report_lost(request: Request) -> HTTPResponse:
    """Report your band lost: it is revoked at once, and you may bind a new one."""
    band = await bands.own_band(await current_account(request))
    if band is None:
        raise NotFound("You wear no band.", code="no_wristband")
    band = await bands.revoke(band=band, reason="lost", who=who(request))
    return json((await my_band_out(band)).model_dump(mode="json"), headers=NO_STORE)
