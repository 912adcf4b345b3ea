"""HTTP routes of binding requests: a resident who scanned a device's sticker asks to join its household,
grid staff of its area approve or refuse, the resident sees their own requests. The scan view of the
sticker (QR kind ``device``) is registered here too (``scan``)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import service as identity_service
from identity.models import Account
from miniapp_api.devices import binding, registry, scan
from miniapp_api.devices.models import BindingRequest, Device
from miniapp_api.devices.routes import NO_STORE, RESIDENTS, current_account
from miniapp_api.devices.rules import DeviceType
from miniapp_api.devices.schemas import (
    BindingDecisionIn,
    BindingRefusalIn,
    BindingRequestList,
    BindingRequestOut,
    BindingRequestQuery,
    RequesterOut,
)
from server.auth import require_principal, requires
from server.ratelimit import rate_limit
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("device_binding", url_prefix="/api/v1")
scan.register_kind()

DECIDERS = registry.MANAGERS  # grid staff and administrators of the device's area


async def requests_out(rows: list[BindingRequest], *, staff: bool) -> list[BindingRequestOut]:
    devices = {d.id: d for d in await Device.filter(id__in=list({r.device_id for r in rows}))}
    related = await registry.related(list(devices.values()))
    people: dict[int, Account] = {}
    if staff:
        people = {a.id: a for a in await Account.filter(id__in=list({r.account_id for r in rows}))}
    items = []
    for r in rows:
        device = devices[r.device_id]
        requester = None
        if staff and r.account_id in people:
            masked = identity_service.masked_profile(people[r.account_id])
            requester = RequesterOut(name=masked.name, phone=masked.phone)
        items.append(
            BindingRequestOut(
                id=r.public_id,
                device=device.public_id,
                device_type=DeviceType(device.type),
                building=related.buildings.get(device.building_id or 0),
                place=device.place,
                state=r.state,  # type: ignore[arg-type]
                created_at=r.created_at,
                decided_at=r.decided_at,
                note=r.note,
                requester=requester,
            )
        )
    return items


@bp.post("/devices/<device_id:str>/binding-requests", name="devices.binding_request")
@requires(*RESIDENTS)
@rate_limit(account="10/minute")
@responds(201, BindingRequestOut, "Asked: grid staff of the device's area decide")
@errors(404, 409)
async def ask_binding(request: Request, device_id: str) -> HTTPResponse:
    """Ask to join the household of the device whose sticker you scanned (the scan answer gives this
    address). One pending request per device: 409 `binding_request_pending`; 409 `already_member`
    when you are in its household already."""
    account = await current_account(require_principal(request))
    row, _ = await binding.ask(account=account, device_public_id=device_id)
    [out] = await requests_out([row], staff=False)
    return json(out.model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.get("/me/device-binding-requests", name="devices.my_binding_requests")
@requires(*RESIDENTS)
@query_args(BindingRequestQuery)
@responds(200, BindingRequestList, "Your binding requests, newest first")
@errors(422)
async def my_requests(request: Request, query: BindingRequestQuery) -> HTTPResponse:
    """Your own binding requests (pending by default; `state=all` for every one) and the staff's notes."""
    account = await current_account(require_principal(request))
    rows, cursor = await binding.list_own(account=account, state=query.state, cursor=query.cursor, limit=query.limit)
    answer = BindingRequestList(items=await requests_out(rows, staff=False), next_cursor=cursor)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/device-binding-requests", name="devices.binding_requests")
@requires(*DECIDERS)
@query_args(BindingRequestQuery)
@responds(200, BindingRequestList, "Binding requests in your area, newest first")
@errors(404, 422)
async def list_requests(request: Request, query: BindingRequestQuery) -> HTTPResponse:
    """Binding requests for devices under your node (pending by default), with who asks, masked."""
    viewer = require_principal(request)
    under = await registry.area(viewer=viewer, node=query.node)
    if under is None:
        return json(BindingRequestList(items=[], next_cursor=None).model_dump(mode="json"), headers=NO_STORE)
    rows, cursor = await binding.list_in_area(under=under, state=query.state, cursor=query.cursor, limit=query.limit)
    answer = BindingRequestList(items=await requests_out(rows, staff=True), next_cursor=cursor)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/device-binding-requests/<request_id:str>/approve", name="devices.binding_approve")
@requires(*DECIDERS)
@json_body(BindingDecisionIn)
@responds(200, BindingRequestOut, "Approved: the resident is in the device's household and is told")
@errors(404, 409, 422)
async def approve(request: Request, request_id: str, body: BindingDecisionIn) -> HTTPResponse:
    """Approve a pending request in your area (409 `binding_request_decided` when it is not pending)."""
    viewer = require_principal(request)
    row = await binding.staff_request(viewer=viewer, public_id=request_id)
    row = await binding.decide(viewer=viewer, request=row, approve=True, note=body.note)
    [out] = await requests_out([row], staff=True)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/device-binding-requests/<request_id:str>/refuse", name="devices.binding_refuse")
@requires(*DECIDERS)
@json_body(BindingRefusalIn)
@responds(200, BindingRequestOut, "Refused: the resident is told, with your note")
@errors(404, 409, 422)
async def refuse(request: Request, request_id: str, body: BindingRefusalIn) -> HTTPResponse:
    """Refuse a pending request in your area, saying why (`note`, told to the resident)."""
    viewer = require_principal(request)
    row = await binding.staff_request(viewer=viewer, public_id=request_id)
    row = await binding.decide(viewer=viewer, request=row, approve=False, note=body.note)
    [out] = await requests_out([row], staff=True)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/me/device-binding-requests/<request_id:str>/cancel", name="devices.binding_cancel")
@requires(*RESIDENTS)
@responds(200, BindingRequestOut, "Taken back: grid staff no longer see it as pending")
@errors(404, 409)
async def cancel_request(request: Request, request_id: str) -> HTTPResponse:
    """Take back your own request while it is pending (409 `binding_request_decided` once decided)."""
    account = await current_account(require_principal(request))
    row = await binding.cancel(account=account, public_id=request_id)
    [out] = await requests_out([row], staff=False)
    return json(out.model_dump(mode="json"), headers=NO_STORE)
