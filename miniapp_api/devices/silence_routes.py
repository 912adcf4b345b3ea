"""HTTP routes of alarm silences: staff quiet a device, a building or a device type in their area for
at most 7 days, list them and lift them early; every create and lift is audited."""

from __future__ import annotations

import datetime as dt

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import hierarchy
from miniapp_api.buildings.models import Building
from miniapp_api.devices import registry, silences
from miniapp_api.devices.models import Device, DeviceSilence
from miniapp_api.devices.silence_schemas import SilenceIn, SilenceList, SilenceOut, SilenceQuery
from server.auth import require_principal, requires
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("device_silences", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}


async def silences_out(rows: list[DeviceSilence]) -> list[SilenceOut]:
    now = dt.datetime.now(dt.UTC)
    devices = {d.id: d for d in await Device.filter(id__in=[r.device_id for r in rows if r.device_id is not None])}
    codes = dict(
        await Building.filter(id__in=[r.building_id for r in rows if r.building_id is not None]).values_list(
            "id", "code"
        )
    )
    out = []
    for row in rows:
        device = devices.get(row.device_id or 0)
        out.append(
            SilenceOut(
                id=row.public_id,
                scope=row.scope,  # type: ignore[arg-type]
                device=device.public_id if device else None,
                serial=device.serial if device else None,
                building=codes.get(row.building_id or 0),
                type=row.device_type,
                node=hierarchy.code_of(row.node_path),
                reason=row.reason,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                ended_at=row.ended_at,
                active=row.ended_at is None and row.starts_at <= now < row.ends_at,
                created_by=row.created_by,
                created_at=row.created_at,
            )
        )
    return out


def _client(request: Request) -> tuple[str, str]:
    return str(request.remote_addr or request.ip), request.ctx.request_id


@bp.post("/device-silences", name="device_silences.create")
@requires(*registry.READERS)
@json_body(SilenceIn)
@responds(201, SilenceOut, "The silence, in force from now")
@errors(404, 422)
async def create_silence(request: Request, body: SilenceIn) -> HTTPResponse:
    """Silence the alarm messages of one `device` (its id), a `building` (its code) or a `type` of device
    under `node` (default: your node), in your area, until `ends_at` (at most 7 days ahead), with a
    `reason` in words. Silenced alarms are still raised, recorded and listed; nobody is messaged about
    them. 404 for a device, building or node outside your area; 422 `silence_scope`, `silence_end`,
    `reason_required`, `personal_number`."""
    viewer = require_principal(request)
    addr, rid = _client(request)
    silence = await silences.create(viewer=viewer, data=body, client_addr=addr, request_id=rid)
    [out] = await silences_out([silence])
    return json(out.model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.get("/device-silences", name="device_silences.list")
@requires(*registry.READERS)
@query_args(SilenceQuery)
@responds(200, SilenceList, "Silences in your area, newest first")
@errors(404, 422)
async def list_silences(request: Request, query: SilenceQuery) -> HTTPResponse:
    """The silences under your node (or `node` inside it): in force (`state=active`, the default) or all."""
    viewer = require_principal(request)
    under = await registry.area(viewer=viewer, node=query.node)
    if under is None:
        return json(SilenceList(items=[], next_cursor=None).model_dump(mode="json"), headers=NO_STORE)
    rows, cursor = await silences.list_in_area(under=under, state=query.state, cursor=query.cursor, limit=query.limit)
    answer = SilenceList(items=await silences_out(rows), next_cursor=cursor)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/device-silences/<silence_id:str>/lift", name="device_silences.lift")
@requires(*registry.READERS)
@responds(200, SilenceOut, "Lifted: alarm messages flow again")
@errors(404, 409)
async def lift_silence(request: Request, silence_id: str) -> HTTPResponse:
    """End a silence in your area early (409 `silence_over` when it is already lifted or has run out)."""
    viewer = require_principal(request)
    silence = await silences.staff_silence(viewer=viewer, public_id=silence_id)
    addr, rid = _client(request)
    silence = await silences.lift(viewer=viewer, silence=silence, client_addr=addr, request_id=rid)
    [out] = await silences_out([silence])
    return json(out.model_dump(mode="json"), headers=NO_STORE)
