"""What devices, alarms and valve commands look like in an answer, for each reader (the routes draw on it)."""

from __future__ import annotations

from sanic import Request

from identity import hierarchy
from identity.models import Account
from miniapp_api.buildings.schemas import CredentialRef
from miniapp_api.devices import alarms, registry
from miniapp_api.devices.models import AlarmEvent, Device, DeviceAlarm, DeviceCommand
from miniapp_api.devices.rules import DeviceType, Severity
from miniapp_api.devices.schemas import (
    DeviceAlarmDetail,
    DeviceAlarmEventOut,
    DeviceAlarmOut,
    DeviceCommandOut,
    DeviceOut,
    MyDevice,
)
from qr.models import Credential
from qr.routes import code_url, image_urls
from server.auth import Principal


def credential_ref(request: Request, credential: Credential | None) -> CredentialRef | None:
    if credential is None:
        return None
    return CredentialRef(
        id=credential.public_id,
        serial=credential.serial,
        url=code_url(request, credential.token),
        images=image_urls(credential.public_id),
    )


def device_out(request: Request, device: Device, related: registry.Related) -> DeviceOut:
    return DeviceOut(
        id=device.public_id,
        serial=device.serial,
        type=DeviceType(device.type),
        model=device.model,
        firmware=device.firmware,
        building=related.buildings.get(device.building_id or 0),
        node=hierarchy.code_of(device.node_path),
        place=device.place,
        gateway=related.serials.get(device.gateway_id or 0),
        valve=related.serials.get(device.valve_id or 0),
        noise_zone=device.noise_zone,
        auto_shutoff=device.auto_shutoff,
        rules=device.rules,
        active=device.active,
        last_seen_at=device.last_seen_at,
        household=related.households.get(device.id, 0),
        credential=credential_ref(request, related.credentials.get(device.credential_id or "")),
        created_at=device.created_at,
        updated_at=device.updated_at,
    )


async def my_devices_out(account: Account, devices: list[Device]) -> list[MyDevice]:
    related = await registry.related(devices)
    return [
        MyDevice(
            id=d.public_id,
            serial=d.serial,
            type=DeviceType(d.type),
            place=d.place,
            active=d.active,
            auto_shutoff=d.auto_shutoff,
            last_seen_at=d.last_seen_at,
            open_alarms=related.open_alarms.get(d.id, 0),
        )
        for d in devices
    ]


def alarm_out(alarm: DeviceAlarm, device: Device, building: str | None) -> DeviceAlarmOut:
    return DeviceAlarmOut(
        id=alarm.public_id,
        device=device.serial,
        device_id=device.public_id,
        device_type=device.type,
        type=alarm.alarm_type,
        severity=Severity(alarm.severity),
        state=alarm.state,
        metric=alarm.metric,
        value=alarm.value,
        building=building,
        node=hierarchy.code_of(alarm.node_path),
        place=device.place,
        started_at=alarm.started_at,
        updated_at=alarm.updated_at,
        acked_at=alarm.acked_at,
        cleared_at=alarm.cleared_at,
    )


async def alarms_out(rows: list[DeviceAlarm]) -> list[DeviceAlarmOut]:
    devices = {d.id: d for d in await Device.filter(id__in=list({a.device_id for a in rows}))}
    related = await registry.related(list(devices.values()))
    return [
        alarm_out(a, devices[a.device_id], related.buildings.get(devices[a.device_id].building_id or 0)) for a in rows
    ]


def event_out(event: AlarmEvent, *, staff: bool) -> DeviceAlarmEventOut:
    if event.actor in ("device", "system"):
        by = event.actor
    elif event.actor_role in (r.value for r in registry.RESIDENTS):
        by = "household"
    else:  # staff ids are shown to staff; a household sees that staff acted
        by = event.actor if staff else "staff"
    return DeviceAlarmEventOut(
        at=event.at,
        action=event.action,
        from_state=event.from_state,
        to_state=event.to_state,
        severity=event.severity,
        by=by,
        note=event.note,
        readings=event.readings,
    )


async def detail(alarm: DeviceAlarm, principal: Principal) -> DeviceAlarmDetail:
    [out] = await alarms_out([alarm])
    events = await alarms.history(alarm)
    return DeviceAlarmDetail(
        **out.model_dump(), history=[event_out(e, staff=principal.role not in registry.RESIDENTS) for e in events]
    )


def command_out(command: DeviceCommand) -> DeviceCommandOut:
    return DeviceCommandOut(
        id=command.public_id,
        action=command.action,
        state=command.state,
        attempts=command.attempts,
        created_at=command.created_at,
        expires_at=command.expires_at,
        confirmed_at=command.confirmed_at,
        failed_at=command.failed_at,
    )
