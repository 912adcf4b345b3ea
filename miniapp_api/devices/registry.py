"""The device registry: staff register devices in their area (a secret and a binding code shown once),
pair detectors with gateways and valves, rotate secrets; residents bind a device with the code in its box."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import cast

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity import hierarchy
from identity.models import Account
from identity.pii import current_vault
from identity.roles import NodeLevel, Role
from miniapp_api.buildings.models import Building
from miniapp_api.devices import rules
from miniapp_api.devices.labels import TYPE_ZH
from miniapp_api.devices.models import Device, DeviceAlarm, DeviceMember
from miniapp_api.devices.rules import DeviceType
from miniapp_api.devices.schemas import DeviceIn, DevicePatch
from miniapp_api.devices.signing import new_secret
from qr import kinds
from qr import service as qr_service
from qr.models import Credential
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("gmid.devices")

SECRET_FIELD = "device.secret"  # noqa: S105 - the vault field name, not a secret
MANAGERS = (Role.GRID_STAFF, Role.ADMIN)
READERS = (Role.GRID_STAFF, Role.OFFICER, Role.ADMIN)
RESIDENTS = (Role.RESIDENT, Role.PARTY_MEMBER)
PLACED_AT = (NodeLevel.COMMUNITY, NodeLevel.GRID)
BINDING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: read off a slip of paper
MAX_BINDING_FAILURES = 5


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    return public_ids.new("dv_")


def normalize_serial(serial: str) -> str:
    return serial.strip().upper()


def new_binding_code() -> str:
    raw = "".join(secrets.choice(BINDING_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def binding_hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().upper().encode()).hexdigest()


def secret_of(device: Device) -> str:
    return current_vault().decrypt(device.secret_enc, field=SECRET_FIELD)


@dataclass(frozen=True)
class Placement:
    node_path: str
    building: Building | None


async def placement(*, viewer: Principal, building: str | None, node: str | None) -> Placement:
    """Where a device goes: a building (its grid) or a community or grid node, inside the viewer's area."""
    if building:
        found = await Building.get_or_none(code=building.upper())
        if found is None or not viewer.covers(found.node_path):
            raise ValidationFailed.field("building", "no building with this code in your area", "unknown_building")
        return Placement(found.node_path, found)
    if not node:
        raise ValidationFailed.field("building", "give the building (or a community or grid node)", "missing_place")
    where = await hierarchy.get_by_code(node.upper())
    if where is None or not viewer.covers(where.path):
        raise ValidationFailed.field("node", "no hierarchy node with this code in your area", "unknown_node")
    if where.level not in PLACED_AT:
        raise ValidationFailed.field("node", "a device is placed in a community or a grid", "node_level")
    return Placement(where.path, None)


async def _paired(viewer: Principal, serial: str | None, kind: DeviceType, field: str) -> Device | None:
    if not serial:
        return None
    found = await Device.get_or_none(serial=normalize_serial(serial))
    if found is None or not viewer.covers(found.node_path) or found.type != kind.value or not found.active:
        raise ValidationFailed.field(field, f"no active {kind.value} with this serial in your area", f"unknown_{field}")
    return found


def checked_rules(device_type: DeviceType, overrides: list[dict[str, object]]) -> list[dict[str, object]]:
    cleaned = []
    for n, override in enumerate(overrides):
        try:
            cleaned.append(rules.check_override(device_type, override))
        except rules.RuleError as exc:
            raise ValidationFailed.field(f"rules.{n}.{exc.field}", exc.message, "invalid_rule") from None
    return cleaned


def _check_gateway_place(gateway: Device | None, node_path: str) -> None:
    """A gateway reports for devices at its own place or below it (never for another grid's)."""
    if gateway is not None and not node_path.startswith(gateway.node_path):
        raise ValidationFailed.field(
            "gateway", "the gateway is at the device's grid or community, or above it", "gateway_elsewhere"
        )


async def _check_valve(
    viewer: Principal,
    device_type: DeviceType,
    serial: str | None,
    own_id: int | None,
    *,
    node_path: str,
    building_id: int | None,
) -> Device | None:
    valve = await _paired(viewer, serial, DeviceType.VALVE, "valve")
    if valve is None:
        return None
    if device_type is not DeviceType.GAS:
        raise ValidationFailed.field("valve", "only a gas detector is paired with a valve", "valve_not_for_type")
    # The valve shuts the gas of the detector's own home: another home's valve would be shut by this
    # detector's alarm and reopened by this detector's household.
    if valve.building_id != building_id or valve.node_path != node_path:
        raise ValidationFailed.field("valve", "the valve is installed where its detector is", "valve_elsewhere")
    taken = Device.filter(valve_id=valve.id)
    if own_id is not None:
        taken = taken.exclude(id=own_id)
    if await taken.exists():
        raise Conflict("This valve is already paired with another detector.", code="valve_taken")
    return valve


@dataclass(frozen=True)
class Checked:
    """A device's data that passed the registry's checks: where it goes, what it is paired with."""

    where: Placement
    gateway: Device | None
    valve: Device | None
    rules: list[dict[str, object]]


async def check(*, viewer: Principal, data: DeviceIn, own: Device | None = None) -> Checked:
    """The checks of a registration (also of a re-imported device, ``own``): its place in the viewer's
    area, an active gateway and a free valve in it, valid rule overrides. ValidationFailed or Conflict
    name the field."""
    where = await placement(viewer=viewer, building=data.building, node=data.node)
    gateway = await _paired(viewer, data.gateway, DeviceType.GATEWAY, "gateway")
    if gateway is not None and (data.type is DeviceType.GATEWAY or (own is not None and gateway.id == own.id)):
        raise ValidationFailed.field("gateway", "a gateway reports for itself", "gateway_not_for_type")
    _check_gateway_place(gateway, where.node_path)
    building_id = where.building.id if where.building else None
    valve = await _check_valve(
        viewer,
        data.type,
        data.valve,
        own.id if own is not None else None,
        node_path=where.node_path,
        building_id=building_id,
    )
    return Checked(where, gateway, valve, checked_rules(data.type, data.rules))


def columns_of(data: DeviceIn, checked: Checked) -> dict[str, object]:
    """The registry's columns a device's data sets (not its secret, binding code or times)."""
    return {
        "type": data.type.value,
        "model": data.model,
        "firmware": data.firmware,
        "building_id": checked.where.building.id if checked.where.building else None,
        "node_path": checked.where.node_path,
        "place": data.place,
        "gateway_id": checked.gateway.id if checked.gateway else None,
        "valve_id": checked.valve.id if checked.valve else None,
        "noise_zone": data.noise_zone,
        "rules": checked.rules,
        "auto_shutoff": data.auto_shutoff,
    }


def new_device(data: DeviceIn, checked: Checked) -> tuple[Device, str, str]:
    """An unsaved device with a new secret (kept encrypted) and binding code (kept as a hash)."""
    secret, code, now = new_secret(), new_binding_code(), utcnow()
    device = Device(
        public_id=new_public_id(),
        serial=normalize_serial(data.serial),
        **columns_of(data, checked),
        secret_enc=current_vault().encrypt(secret, field=SECRET_FIELD),
        secret_rotated_at=now,
        binding_code_hash=binding_hash(code),
        created_at=now,
        updated_at=now,
    )
    return device, secret, code


async def register(*, viewer: Principal, data: DeviceIn) -> tuple[Device, str, str]:
    """A new device in the viewer's area; its signing secret and binding code (shown once)."""
    device, secret, code = new_device(data, await check(viewer=viewer, data=data))
    try:
        async with in_transaction() as conn:
            await device.save(using_db=conn)
            await issue_code(device, conn)
    except IntegrityError:
        raise Conflict("A device with this serial is already registered.", code="serial_taken") from None
    log.info("device registered id=%s type=%s", device.public_id, device.type)
    return device, secret, code


async def issue_code(device: Device, conn: BaseDBAsyncClient | None = None) -> None:
    """The code of the device's sticker (QR kind ``device``), in the transaction that registers it
    (``conn``, or the transaction the caller is in)."""
    credential = await qr_service.issue(
        kind=kinds.DEVICE.name,
        subject_id=device.public_id,
        node_path=device.node_path,
        label=TYPE_ZH.get(device.type, "安全设备"),
        using_db=conn,
    )
    device.credential_id = credential.public_id
    await device.save(using_db=conn, update_fields=["credential_id"])


async def staff_device(*, viewer: Principal, public_id: str) -> Device:
    """A device in the viewer's area (404 otherwise, the same as a device that does not exist)."""
    device = await Device.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if device is None or not viewer.covers(device.node_path):
        raise NotFound("No device with this id in your area.", code="device_not_found")
    return device


async def member_device(*, account: Account, public_id: str) -> Device:
    device = await Device.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if device is None or not await DeviceMember.exists(device_id=device.id, account_id=account.id):
        raise NotFound("No device with this id in your household.", code="device_not_found")
    return device


async def area(*, viewer: Principal, node: str | None) -> str | None:
    """The node path a list covers: the viewer's node, or ``node`` inside it (404 outside); None for a
    viewer without a node."""
    if viewer.node_path is None:
        return None
    if not node:
        return viewer.node_path
    where = await hierarchy.get_by_code(node.upper())
    if where is None or not viewer.covers(where.path):
        raise NotFound("No hierarchy node with this code in your area.", code="node_not_found")
    return where.path


async def building_in_area(*, viewer: Principal, code: str) -> int:
    found = await Building.get_or_none(code=code.upper())
    if found is None or not viewer.covers(found.node_path):
        raise NotFound("No building with this code in your area.", code="building_not_found")
    return found.id


async def list_in_scope(
    *,
    viewer: Principal,
    node: str | None,
    building: str | None,
    device_type: DeviceType | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Device], str | None]:
    under = await area(viewer=viewer, node=node)
    if under is None:
        return [], None
    query = Device.filter(node_path__startswith=under)
    if building:
        query = query.filter(building_id=await building_in_area(viewer=viewer, code=building))
    if device_type is not None:
        query = query.filter(type=device_type.value)
    if cursor:
        after = await Device.get_or_none(public_id=cursor)
        if after is None:
            raise ValidationFailed.field("cursor", "not a cursor of this list", "bad_cursor")
        query = query.filter(id__gt=after.id)
    rows = list(await query.order_by("id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more and rows else None


async def update(*, viewer: Principal, device: Device, patch: DevicePatch) -> Device:
    kind = DeviceType(device.type)
    fields = patch.model_fields_set
    changes: dict[str, object] = {}
    if "place" in fields and patch.place is not None:
        changes["place"] = patch.place
    if "gateway" in fields:
        gateway = await _paired(viewer, patch.gateway, DeviceType.GATEWAY, "gateway")
        if gateway is not None and (kind is DeviceType.GATEWAY or gateway.id == device.id):
            raise ValidationFailed.field("gateway", "a gateway reports for itself", "gateway_not_for_type")
        _check_gateway_place(gateway, device.node_path)
        changes["gateway_id"] = gateway.id if gateway else None
    if "valve" in fields:
        valve = await _check_valve(
            viewer, kind, patch.valve, device.id, node_path=device.node_path, building_id=device.building_id
        )
        changes["valve_id"] = valve.id if valve else None
    if "noise_zone" in fields:
        changes["noise_zone"] = patch.noise_zone
    if "auto_shutoff" in fields and patch.auto_shutoff is not None:
        changes["auto_shutoff"] = patch.auto_shutoff
    if "rules" in fields and patch.rules is not None:
        changes["rules"] = checked_rules(kind, patch.rules)
    if "active" in fields and patch.active is not None:
        changes["active"] = patch.active
        if not patch.active and device.active:
            changes["retired_at"] = utcnow()
        if not patch.active:
            # A retired device lets go of its valve (or its detector): the valve is free for the device
            # that replaces it, and the retired one's household no longer reaches it.
            changes["valve_id"] = None
    if changes:
        changes["updated_at"] = utcnow()
        async with in_transaction() as conn:
            await Device.filter(id=device.id).using_db(conn).update(**changes)
            if changes.get("active") is False:
                await Device.filter(valve_id=device.id).using_db(conn).update(valve_id=None, updated_at=utcnow())
                # Its household lets go of it too: brought back for a new tenant, it must not tell the last
                # one of that home's alarms (the new household binds it afresh, through grid staff).
                # (Its pending requests to join stay for grid staff to refuse, telling the asker why.)
                await DeviceMember.filter(device_id=device.id).using_db(conn).delete()
        await device.refresh_from_db()
    return device


async def rotate_secret(*, device: Device) -> tuple[str, dt.datetime]:
    """A new secret; the old one stops signing at once."""
    secret, now = new_secret(), utcnow()
    await Device.filter(id=device.id).update(
        secret_enc=current_vault().encrypt(secret, field=SECRET_FIELD), secret_rotated_at=now, updated_at=now
    )
    log.info("device secret rotated id=%s", device.public_id)
    return secret, now


async def bind(*, account: Account, serial: str, code: str) -> Device:
    """The code printed inside the box binds the device to the resident's household at once (once: a
    used code, or one tried wrongly five times, binds nothing; grid staff then confirm)."""
    refused = ValidationFailed.field("code", "this serial and code do not bind a device", "binding_code_invalid")
    async with in_transaction() as conn:
        device = await Device.filter(serial=normalize_serial(serial)).using_db(conn).select_for_update().first()
        if device is None or not device.active or device.binding_code_hash is None:
            raise refused
        if device.binding_failures >= MAX_BINDING_FAILURES:
            raise refused
        if not secrets.compare_digest(device.binding_code_hash, binding_hash(code)):
            device.binding_failures += 1
            await device.save(using_db=conn, update_fields=["binding_failures"])
            failed = True
        else:
            failed = False
            device.binding_code_hash = None
            await device.save(using_db=conn, update_fields=["binding_code_hash"])
            await DeviceMember.bulk_create(
                [DeviceMember(device_id=device.id, account_id=account.id, added_at=utcnow(), added_by="code")],
                ignore_conflicts=True,
                using_db=conn,
            )
    if failed:  # counted (committed) before the refusal leaves
        raise refused
    log.info("device bound by code id=%s", device.public_id)
    return device


async def household_devices(account: Account) -> list[Device]:
    ids = await DeviceMember.filter(account_id=account.id).values_list("device_id", flat=True)
    return list(await Device.filter(id__in=list(ids)).order_by("id"))


async def household_of(device_id: int) -> list[Account]:
    ids = await DeviceMember.filter(device_id=device_id).values_list("account_id", flat=True)
    return list(await Account.filter(id__in=list(ids), is_active=True).order_by("id"))


@dataclass(frozen=True)
class Related:
    """What a list of devices shows beside each row, read in a few queries."""

    buildings: dict[int, str]
    serials: dict[int, str]
    households: dict[int, int]
    open_alarms: dict[int, int]
    credentials: dict[str, Credential]  # by public id


async def related(devices: list[Device]) -> Related:
    building_ids = {d.building_id for d in devices if d.building_id}
    pair_ids = {d.gateway_id for d in devices if d.gateway_id} | {d.valve_id for d in devices if d.valve_id}
    ids = [d.id for d in devices]
    buildings = dict(await Building.filter(id__in=list(building_ids)).values_list("id", "code")) if building_ids else {}
    serials = dict(await Device.filter(id__in=list(pair_ids)).values_list("id", "serial")) if pair_ids else {}
    members = await DeviceMember.filter(device_id__in=ids).values_list("device_id", flat=True)
    alarmed = await DeviceAlarm.filter(device_id__in=ids, cleared_at=None).values_list("device_id", flat=True)
    households = Counter(cast(list[int], members))
    open_alarms = Counter(cast(list[int], alarmed))
    codes = [d.credential_id for d in devices if d.credential_id]
    credentials = {c.public_id: c for c in await Credential.filter(public_id__in=codes)} if codes else {}
    return Related(buildings, serials, dict(households), dict(open_alarms), credentials)
