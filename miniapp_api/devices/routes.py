"""HTTP routes of sensor devices: the registry (staff), binding (residents), the signed readings ingest
(devices and gateways), and alarms (staff in their area, residents on their own devices)."""

from __future__ import annotations

from collections.abc import Callable

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import service as identity_service
from identity.models import Account
from miniapp_api.devices import alarms, events, ingest, registry, valve
from miniapp_api.devices.answers import (
    alarms_out,
    command_out,
    detail,
    device_out,
    my_devices_out,
)
from miniapp_api.devices.models import Device, DeviceAlarm, DeviceCommand
from miniapp_api.devices.schemas import (
    AlarmAckIn,
    AlarmClearIn,
    BindIn,
    DeviceAlarmDetail,
    DeviceAlarmList,
    DeviceAlarmQuery,
    DeviceCommandList,
    DeviceCommandOut,
    DeviceCreated,
    DeviceIn,
    DeviceList,
    DeviceListQuery,
    DeviceOut,
    DevicePatch,
    MyDevice,
    MyDeviceList,
    ReadingsAnswer,
    ReadingsIn,
    SecretOut,
    ValveOpenIn,
)
from server import live_stream
from server.auth import Principal, public, require_principal, requires, token_ignored
from server.errors import NotFound, UnsupportedMediaType, ValidationFailed
from server.openapi import doc_of
from server.ratelimit import rate_limit
from server.validation import Handler, check_json_bounds, errors, json_body, load_json, query_args, responds

bp = Blueprint("devices", url_prefix="/api/v1")

RESIDENTS = registry.RESIDENTS
NO_STORE = {"Cache-Control": "no-store"}


async def current_account(principal: Principal) -> Account:
    account = await identity_service.get_account(public_id=principal.account_id)
    if account is None:
        raise NotFound("Your account no longer exists.", code="account_not_found")
    return account


# Registry (staff) ---------------------------------------------------------------------------------


@bp.post("/devices", name="devices.register")
@requires(*registry.MANAGERS)
@json_body(DeviceIn)
@responds(201, DeviceCreated, "Registered: the secret and the binding code are shown this once")
@errors(409, 422)
async def register_device(request: Request, body: DeviceIn) -> HTTPResponse:
    """Register a device in your area, in a rental building (`building`) or at a community or grid
    (`node`). Pair a detector with its `gateway` and a gas detector with its `valve`. The answer holds
    the device's signing `secret` and the `binding_code` for the box: neither is shown again."""
    viewer = require_principal(request)
    device, secret, code = await registry.register(viewer=viewer, data=body)
    out = device_out(request, device, await registry.related([device]))
    created = DeviceCreated(**out.model_dump(), secret=secret, binding_code=code)
    return json(created.model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.get("/devices", name="devices.list")
@requires(*registry.READERS)
@query_args(DeviceListQuery)
@responds(200, DeviceList, "Devices in your area, oldest first; follow `next_cursor` for more")
@errors(404, 422)
async def list_devices(request: Request, query: DeviceListQuery) -> HTTPResponse:
    """Devices under your node (narrowed to `node`, a `building` or a `type`)."""
    viewer = require_principal(request)
    rows, cursor = await registry.list_in_scope(
        viewer=viewer,
        node=query.node,
        building=query.building,
        device_type=query.type,
        cursor=query.cursor,
        limit=query.limit,
    )
    related = await registry.related(rows)
    answer = DeviceList(items=[device_out(request, d, related) for d in rows], next_cursor=cursor)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/devices/<device_id:str>", name="devices.get")
@requires(*registry.READERS)
@responds(200, DeviceOut, "The device")
@errors(404)
async def get_device(request: Request, device_id: str) -> HTTPResponse:
    """A device in your area (404 outside it)."""
    device = await registry.staff_device(viewer=require_principal(request), public_id=device_id)
    out = device_out(request, device, await registry.related([device]))
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.patch("/devices/<device_id:str>", name="devices.update")
@requires(*registry.MANAGERS)
@json_body(DevicePatch)
@responds(200, DeviceOut, "The device as changed")
@errors(404, 409, 422)
async def update_device(request: Request, device_id: str, body: DevicePatch) -> HTTPResponse:
    """Change where it is in the home, its gateway or valve (a serial, or null to unpair), its noise
    zone, automatic shut-off, rule overrides, or retire it (`active: false`)."""
    viewer = require_principal(request)
    device = await registry.staff_device(viewer=viewer, public_id=device_id)
    device = await registry.update(viewer=viewer, device=device, patch=body)
    out = device_out(request, device, await registry.related([device]))
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/devices/<device_id:str>/secret", name="devices.rotate_secret")
@requires(*registry.MANAGERS)
@responds(200, SecretOut, "The new secret, shown this once")
@errors(404)
async def rotate_secret(request: Request, device_id: str) -> HTTPResponse:
    """A new signing secret for the device; the old one stops signing at once."""
    device = await registry.staff_device(viewer=require_principal(request), public_id=device_id)
    secret, at = await registry.rotate_secret(device=device)
    answer = SecretOut(id=device.public_id, secret=secret, rotated_at=at)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


# Residents ---------------------------------------------------------------------------------------


@bp.post("/devices/bind", name="devices.bind")
@requires(*RESIDENTS)
# Each wrong code also counts against the device (five, and the code binds nothing).
@rate_limit(account="10/minute")
@json_body(BindIn)
@responds(201, MyDevice, "Bound to your household")
@errors(422)
async def bind_device(request: Request, body: BindIn) -> HTTPResponse:
    """Bind a device to your household with its serial and the code printed inside its box. A code
    binds once; after five wrong tries it binds nothing (422 `binding_code_invalid` either way)."""
    account = await current_account(require_principal(request))
    device = await registry.bind(account=account, serial=body.serial, code=body.code)
    [out] = await my_devices_out(account, [device])
    return json(out.model_dump(mode="json"), status=201, headers=NO_STORE)


@bp.get("/me/devices", name="devices.mine")
@requires(*RESIDENTS)
@responds(200, MyDeviceList, "The devices of your household")
async def my_devices(request: Request) -> HTTPResponse:
    """Your household's devices and how many open alarms each has."""
    account = await current_account(require_principal(request))
    items = await my_devices_out(account, await registry.household_devices(account))
    return json(MyDeviceList(items=items).model_dump(mode="json"), headers=NO_STORE)


# Readings in -------------------------------------------------------------------------------------


def documents_body(model: type[ReadingsIn]) -> Callable[[Handler], Handler]:
    """The body's schema in /docs, for a route that reads its body itself (to check the signature)."""

    def decorate(handler: Handler) -> Handler:
        doc_of(handler).body = model
        return handler

    return decorate


@bp.post("/devices/readings", name="devices.readings")
@public
@token_ignored
@rate_limit(ip="6000/minute")
@documents_body(ReadingsIn)
@responds(200, ReadingsAnswer, "The valid readings are stored; the refused ones are listed by index")
@errors(400, 401, 413, 415, 422, 503)
async def post_readings(request: Request) -> HTTPResponse:
    """A batch of up to 1,000 readings from a device or a gateway, signed with HMAC-SHA256 (headers
    X-GMID-Device, X-GMID-Timestamp, X-GMID-Nonce, X-GMID-Signature over `METHOD\\nPATH\\nTIMESTAMP\\n
    NONCE\\nhex(SHA-256(body))` with the signer's secret). A gateway reports for itself and its paired
    devices. Each reading is `{device, metric, value, at}` or `{device, event, at}`; the same device,
    metric and time counts once. 401: `signature_missing`, `timestamp_out_of_window` (beyond ±5 minutes),
    `bad_nonce`, `bad_signature`, `nonce_reused`. 422 `no_valid_readings` when every reading is refused."""
    if (request.content_type or "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType("Send the readings as application/json.", code="unsupported_media_type")
    body = request.body or b""
    check_json_bounds(body)  # nesting and number lengths first: cheaper than finding the signer
    signer = await ingest.authenticate(
        method=request.method, path=request.path, headers=request.headers, body=body, redis=request.app.ctx.redis
    )
    readings = ingest.body_readings(load_json(body))
    answer = await ingest.ingest(signer=signer, readings=readings, redis=request.app.ctx.redis)
    if answer.accepted == 0 and answer.duplicates == 0:
        raise ValidationFailed(
            "Every reading was refused.",
            code="no_valid_readings",
            details={"refused": [r.model_dump() for r in answer.refused]},
        )
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


# Alarms ------------------------------------------------------------------------------------------


async def alarm_for(request: Request, alarm_id: str) -> tuple[DeviceAlarm, Principal]:
    """Staff: an alarm in their area; residents: an alarm on their household's devices (404 otherwise)."""
    principal = require_principal(request)
    if principal.role in RESIDENTS:
        account = await current_account(principal)
        return await alarms.member_alarm(account=account, public_id=alarm_id), principal
    return await alarms.staff_alarm(viewer_node=principal.node_path, public_id=alarm_id), principal


@bp.get("/device-alarms", name="devices.alarms")
@requires(*registry.READERS)
@query_args(DeviceAlarmQuery)
@responds(200, DeviceAlarmList, "Alarms in your area, newest first")
@errors(404, 422)
async def list_alarms(request: Request, query: DeviceAlarmQuery) -> HTTPResponse:
    """Alarms under your node: open by default (`state`), by `severity`, `type`, `node` or `building`."""
    viewer = require_principal(request)
    under = await registry.area(viewer=viewer, node=query.node)
    if under is None:
        return json(DeviceAlarmList(items=[], next_cursor=None).model_dump(mode="json"), headers=NO_STORE)
    building_id = await registry.building_in_area(viewer=viewer, code=query.building) if query.building else None
    rows, cursor = await alarms.list_alarms(
        under=under,
        building_id=building_id,
        state=query.state,
        severity=query.severity,
        alarm_type=query.type,
        cursor=query.cursor,
        limit=query.limit,
    )
    answer = DeviceAlarmList(items=await alarms_out(rows), next_cursor=cursor)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/me/device-alarms", name="devices.my_alarms")
@requires(*RESIDENTS)
@query_args(DeviceAlarmQuery)
@responds(200, DeviceAlarmList, "Alarms of your household's devices, newest first")
@errors(422)
async def my_alarms(request: Request, query: DeviceAlarmQuery) -> HTTPResponse:
    """Your household's alarms: open by default (`state`), by `severity` or `type`."""
    account = await current_account(require_principal(request))
    devices = await registry.household_devices(account)
    rows, cursor = await alarms.list_alarms(
        under="",
        device_ids=[d.id for d in devices],
        retired={d.id: d.retired_at for d in devices if d.retired_at is not None},
        state=query.state,
        severity=query.severity,
        alarm_type=query.type,
        cursor=query.cursor,
        limit=query.limit,
    )
    answer = DeviceAlarmList(items=await alarms_out(rows), next_cursor=cursor)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/device-alarms/stream", name="devices.alarms_stream")
@requires(*registry.READERS)
@responds(
    200,
    None,
    "Server-Sent Events: `event: alarm`, `data: {id, device, type, severity, state, change}`, `id:` to resume",
    media="text/event-stream",
)
@errors(422, 429, 503)
async def alarms_stream(request: Request) -> HTTPResponse | None:
    """Alarms under your node as they are raised, change, are acknowledged or cleared, from any app
    instance: reconnect with `Last-Event-ID` for what you missed (like the grid feed's stream, and under
    the same limits: 5 live streams an account, ended when the token expires or the account is disabled)."""
    principal = require_principal(request)
    if principal.node_path is None:
        raise ValidationFailed("Only staff with a place in the hierarchy have an alarm board.", code="no_feed")
    prefix = principal.node_path

    def select(data: dict[str, str]) -> tuple[str, dict[str, str]] | None:
        if not data.get("node", "").startswith(prefix):
            return None
        keys = ("id", "device", "type", "severity", "state", "change")
        return "alarm", {key: data.get(key, "") for key in keys}

    return await live_stream.serve(
        request,
        principal,
        stream=events.STREAM,
        select=select,
        name="alarm board",
        unavailable="The live alarm board is unavailable now; read GET /api/v1/device-alarms and try again later.",
    )


@bp.get("/device-alarms/<alarm_id:str>", name="devices.alarm")
@requires(*registry.READERS, *RESIDENTS)
@responds(200, DeviceAlarmDetail, "The alarm and every transition, with the readings that caused it")
@errors(404)
async def get_alarm(request: Request, alarm_id: str) -> HTTPResponse:
    """Staff: an alarm in their area. Residents: an alarm on their household's devices."""
    alarm, principal = await alarm_for(request, alarm_id)
    return json((await detail(alarm, principal)).model_dump(mode="json"), headers=NO_STORE)


@bp.post("/device-alarms/<alarm_id:str>/ack", name="devices.alarm_ack")
@requires(*registry.READERS, *RESIDENTS)
@json_body(AlarmAckIn)
@responds(200, DeviceAlarmDetail, "Acknowledged")
@errors(404, 409, 422)
async def acknowledge_alarm(request: Request, alarm_id: str, body: AlarmAckIn) -> HTTPResponse:
    """Acknowledge an alarm (staff in their area, or the household): 409 `already_acknowledged`."""
    alarm, principal = await alarm_for(request, alarm_id)
    alarm = await alarms.acknowledge(
        alarm=alarm, actor=principal.account_id, actor_role=principal.role.value, note=body.note
    )
    return json((await detail(alarm, principal)).model_dump(mode="json"), headers=NO_STORE)


@bp.post("/device-alarms/<alarm_id:str>/clear", name="devices.alarm_clear")
@requires(*registry.READERS)
@json_body(AlarmClearIn)
@responds(200, DeviceAlarmDetail, "Cleared")
@errors(404, 409, 422)
async def clear_alarm(request: Request, alarm_id: str, body: AlarmClearIn) -> HTTPResponse:
    """Clear an alarm in your area with a note of what was found (409 `already_cleared`). If the
    condition lasts, the device's next readings raise a new alarm."""
    alarm, principal = await alarm_for(request, alarm_id)
    alarm = await alarms.clear(alarm=alarm, actor=principal.account_id, actor_role=principal.role.value, note=body.note)
    await ingest.forget_rule_state(alarm.device_id, alarm.alarm_type, request.app.ctx.redis)
    return json((await detail(alarm, principal)).model_dump(mode="json"), headers=NO_STORE)


# The gas valve --------------------------------------------------------------------------------------


async def valve_for(request: Request, device_id: str) -> tuple[Device, Principal]:
    """Staff: a valve in their area. Residents: a valve of their household (theirs, or the one their
    detector is paired with). 404 otherwise."""
    principal = require_principal(request)
    if principal.role in RESIDENTS:
        account = await current_account(principal)
        device = await Device.get_or_none(public_id=device_id) if len(device_id) <= 16 else None
        if device is None or not await valve.may_operate(account, device):
            raise NotFound("No device with this id in your household.", code="device_not_found")
        return device, principal
    return await registry.staff_device(viewer=principal, public_id=device_id), principal


@bp.post("/devices/<device_id:str>/open", name="devices.valve_open")
@requires(*registry.MANAGERS, *RESIDENTS)
@json_body(ValveOpenIn)
@responds(202, DeviceCommandOut, "The open command, waiting for the valve's confirmation")
@errors(404, 409, 422)
async def open_valve(request: Request, device_id: str, body: ValveOpenIn) -> HTTPResponse:
    """Reopen a shut gas valve (the household, or grid staff in the area), with `confirm: true`. A valve
    is never reopened automatically; this is refused (409 `alarm_open`) while the gas alarm of its detector
    is open, and audited."""
    device, principal = await valve_for(request, device_id)
    command = await valve.reopen(
        valve=device,
        actor=principal.account_id,
        role=principal.role.value,
        client_addr=str(request.remote_addr or request.ip),
        request_id=request.ctx.request_id,
    )
    return json(command_out(command).model_dump(mode="json"), status=202, headers=NO_STORE)


@bp.get("/devices/<device_id:str>/commands", name="devices.commands")
@requires(*registry.MANAGERS, *RESIDENTS)
@responds(200, DeviceCommandList, "The valve's commands, newest first (the last 50)")
@errors(404)
async def list_commands(request: Request, device_id: str) -> HTTPResponse:
    """The close and open commands of a valve, with their state."""
    device, _ = await valve_for(request, device_id)
    rows = await DeviceCommand.filter(device_id=device.id).order_by("-id").limit(50)
    answer = DeviceCommandList(items=[command_out(c) for c in rows])
    return json(answer.model_dump(mode="json"), headers=NO_STORE)
