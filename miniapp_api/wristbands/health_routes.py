"""HTTP routes of health statuses, quarantine orders and trips: health staff look after the people
of their communities; a resident declares trips and sees their own health data."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from miniapp_api.wristbands import bands, health, trips
from miniapp_api.wristbands.band_routes import current_account, my_band_out, who
from miniapp_api.wristbands.people_schemas import (
    HealthPeopleQuery,
    HealthPersonOut,
    HealthQuarantineIn,
    HealthQuarantineOut,
    HealthStatusIn,
    HealthTripIn,
    HealthTripList,
    HealthTripOut,
    MyHealthOut,
)
from server.auth import require_principal, requires
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("wristband_health", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}


def retention(request: Request) -> int:
    return int(request.app.ctx.settings.checkin_retention_days)


async def _person_answer(person_id: str, request: Request) -> HTTPResponse:
    account, person = await health.by_public_id(viewer=require_principal(request), public_id=person_id)
    out = await health.person_out(account, person)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/health/people", name="find_person")
@requires(*health.HEALTH)
@query_args(HealthPeopleQuery)
@responds(200, HealthPersonOut, "The person: masked name and phone, band, status and quarantine orders")
@errors(404, 409, 422, 429, 503)
async def find_person(request: Request, query: HealthPeopleQuery) -> HTTPResponse:
    """Find a person whose home community is in your area by `id_number` or `phone` (one of them);
    404 `person_not_found` for anyone else; 409 `several_people` when several of yours share the phone.
    Every search is audited (without what was searched for) and spends one lookup of
    GMID_POLICE_LOOKUP_RATE, the budget traces spend (429 past it, 503 when it cannot be checked)."""
    viewer = require_principal(request)
    account, person = await health.find(
        viewer=viewer,
        id_number=query.id_number,
        phone=query.phone,
        who=who(request),
        limiter=request.app.ctx.rate_limiter,
        rate=request.app.ctx.settings.police_lookup_rate,
    )
    return json((await health.person_out(account, person)).model_dump(mode="json"), headers=NO_STORE)


@bp.put("/health/people/<person_id:str>/status", name="set_status")
@requires(*health.HEALTH)
@json_body(HealthStatusIn)
@responds(200, HealthPersonOut, "The status is set")
@errors(404, 422)
async def set_status(request: Request, person_id: str, body: HealthStatusIn) -> HTTPResponse:
    """Set the person's health status (`green`, `yellow`, `red`) with a `reason_code` from the fixed
    list and `expires_at` (after now, at most GMID_CHECKIN_RETENTION_DAYS ahead). Audited without the
    status or the reason."""
    account, person = await health.by_public_id(viewer=require_principal(request), public_id=person_id)
    await health.set_status(
        account=account, person=person, data=body, retention_days=retention(request), who=who(request)
    )
    return await _person_answer(person_id, request)


@bp.delete("/health/people/<person_id:str>/status", name="clear_status")
@requires(*health.HEALTH)
@responds(200, HealthPersonOut, "The status is cleared")
@errors(404)
async def clear_status(request: Request, person_id: str) -> HTTPResponse:
    """Clear the person's health status (404 `no_status` when there is none)."""
    account, person = await health.by_public_id(viewer=require_principal(request), public_id=person_id)
    await health.clear_status(account=account, person=person, who=who(request))
    return await _person_answer(person_id, request)


@bp.post("/health/people/<person_id:str>/quarantines", name="order_quarantine")
@requires(*health.HEALTH)
@json_body(HealthQuarantineIn)
@responds(201, HealthQuarantineOut, "The order: the person stops at any gate while it is in force")
@errors(404, 422)
async def order_quarantine(request: Request, person_id: str, body: HealthQuarantineIn) -> HTTPResponse:
    """Order home quarantine from `starts_at` until `ends_at` with a `reason_code` (both within
    GMID_CHECKIN_RETENTION_DAYS of now, the end in the future)."""
    account, person = await health.by_public_id(viewer=require_principal(request), public_id=person_id)
    row = await health.order_quarantine(
        account=account, person=person, data=body, retention_days=retention(request), who=who(request)
    )
    return json(health.quarantine_out(row).model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.post("/health/people/<person_id:str>/quarantines/<order_id:str>/lift", name="lift_quarantine")
@requires(*health.HEALTH)
@responds(200, HealthQuarantineOut, "Lifted from now")
@errors(404, 409)
async def lift_quarantine(request: Request, person_id: str, order_id: str) -> HTTPResponse:
    """Lift a quarantine order early (409 `quarantine_over` when it is lifted or over already)."""
    account, person = await health.by_public_id(viewer=require_principal(request), public_id=person_id)
    row = await health.lift_quarantine(account=account, person=person, order_id=order_id, who=who(request))
    return json(health.quarantine_out(row).model_dump(mode="json"), headers=NO_STORE)


@bp.post("/me/trips", name="declare_trip")
@requires(*bands.RESIDENTS)
@json_body(HealthTripIn)
@responds(201, HealthTripOut, "The trip is declared")
@errors(409, 422)
async def declare_trip(request: Request, body: HealthTripIn) -> HTTPResponse:
    """Declare where you were (`place`: a GB/T 2260 code) `from` one day `until` another (days in
    China; not in the future, at most GMID_CHECKIN_RETENTION_DAYS ago). At most 50 are kept (409
    `too_many_trips`)."""
    account = await current_account(request)
    row = await trips.declare(account=account, data=body, retention_days=retention(request))
    return json(trips.trip_out(row).model_dump(mode="json", by_alias=True), status=201, headers=NO_STORE)


@bp.get("/me/trips", name="my_trips")
@requires(*bands.RESIDENTS)
@responds(200, HealthTripList, "Your declared trips, latest first")
async def my_trips(request: Request) -> HTTPResponse:
    """The trips you declared (deleted once older than the retention period)."""
    items = await trips.list_own(await current_account(request))
    return json(HealthTripList(items=items).model_dump(mode="json", by_alias=True), headers=NO_STORE)


@bp.delete("/me/trips/<trip_id:str>", name="delete_trip")
@requires(*bands.RESIDENTS)
@responds(204, None, "Deleted")
@errors(404)
async def delete_trip(request: Request, trip_id: str) -> HTTPResponse:
    """Delete a trip you declared."""
    await trips.delete_own(account=await current_account(request), public_id=trip_id)
    return HTTPResponse(status=204, headers=NO_STORE)


@bp.get("/me/health", name="mine")
@requires(*bands.RESIDENTS)
@responds(200, MyHealthOut, "Your status, quarantine orders, trips and band")
async def my_health(request: Request) -> HTTPResponse:
    """What is recorded about your health: your status and its reason, your quarantine orders, your
    declared trips and your band."""
    account = await current_account(request)
    band = await bands.own_band(account)
    answer = MyHealthOut(
        status=await health.status_of(account.id),
        quarantines=await health.quarantines_of(account.id),
        trips=await trips.list_own(account),
        band=await my_band_out(band) if band else None,
    )
    return json(answer.model_dump(mode="json", by_alias=True), headers=NO_STORE)
