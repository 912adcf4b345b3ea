"""Silences: staff quiet the alarms of a device, a building or a device type in their area for a
bounded time. A silenced alarm is still raised, recorded and shown; only its messages are not sent."""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from identity import audit, hierarchy, purpose
from identity.pii import has_personal_number
from miniapp_api.buildings.models import Building
from miniapp_api.devices import registry
from miniapp_api.devices.models import Device, DeviceSilence
from miniapp_api.devices.rules import DeviceType
from miniapp_api.devices.silence_schemas import SilenceIn
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("gmid.devices.silences")


async def covering(device: Device, at: dt.datetime, conn: BaseDBAsyncClient | None = None) -> DeviceSilence | None:
    """The silence in force over this device at ``at``, if any."""
    scope = Q(scope="device", device_id=device.id) | Q(scope="type", device_type=device.type)
    if device.building_id:
        scope |= Q(scope="building", building_id=device.building_id)
    candidates = (
        await DeviceSilence.filter(scope, ended_at=None, starts_at__lte=at, ends_at__gt=at)
        .using_db(conn)
        .order_by("-ends_at")
    )
    for silence in candidates:
        # A type silence holds only under the node it was set for.
        if silence.scope != "type" or device.node_path.startswith(silence.node_path):
            return silence
    return None


# Staff API -----------------------------------------------------------------------------------------

MAX_DAYS = 7
AUDIT_CREATE = "device.silence_create"
AUDIT_LIFT = "device.silence_lift"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    return public_ids.new("ds_")


@dataclass(frozen=True)
class Target:
    """What a silence covers, checked to lie in the viewer's area."""

    scope: str
    node_path: str
    device: Device | None = None
    building: Building | None = None
    device_type: DeviceType | None = None


async def target(*, viewer: Principal, data: SilenceIn) -> Target:
    """Exactly one of device, building or type (a type under ``node``, by default the viewer's node);
    404 for a device, building or node outside the viewer's area, as for one that does not exist."""
    given = [name for name in ("device", "building", "type") if getattr(data, name) is not None]
    if len(given) != 1:
        raise ValidationFailed.field("scope", "give exactly one of device, building or type", "silence_scope")
    if data.node is not None and data.type is None:
        raise ValidationFailed.field("node", "node goes with type only", "silence_scope")
    if data.device is not None:
        device = await registry.staff_device(viewer=viewer, public_id=data.device)
        return Target("device", device.node_path, device=device)
    if data.building is not None:
        building_id = await registry.building_in_area(viewer=viewer, code=data.building)
        building = await Building.get(id=building_id)
        return Target("building", building.node_path, building=building)
    under = await registry.area(viewer=viewer, node=data.node)
    if under is None:
        raise NotFound("No hierarchy node with this code in your area.", code="node_not_found")
    return Target("type", under, device_type=data.type)


def checked_reason(reason: str) -> str:
    problem = purpose.reason_problem(reason)
    if problem:
        raise ValidationFailed.field("reason", f"reason {problem}", "reason_required")
    text = unicodedata.normalize("NFC", reason).strip()
    if has_personal_number(text):
        raise ValidationFailed.field("reason", "no phone or ID numbers, no e-mail addresses", "personal_number")
    return text


def checked_end(ends_at: dt.datetime, now: dt.datetime) -> dt.datetime:
    if ends_at <= now:
        raise ValidationFailed.field("ends_at", "must be after now", "silence_end")
    if ends_at > now + dt.timedelta(days=MAX_DAYS):
        raise ValidationFailed.field("ends_at", f"at most {MAX_DAYS} days ahead", "silence_end")
    return ends_at.astimezone(dt.UTC)


async def create(*, viewer: Principal, data: SilenceIn, client_addr: str, request_id: str) -> DeviceSilence:
    """A silence from now to ``ends_at`` over a device, a building or a type in the viewer's area; the
    silence and its audit entry commit together."""
    now = utcnow()
    reason = checked_reason(data.reason)
    ends_at = checked_end(data.ends_at, now)
    where = await target(viewer=viewer, data=data)
    async with in_transaction() as conn:
        silence = await DeviceSilence.create(
            public_id=new_public_id(),
            scope=where.scope,
            device_id=where.device.id if where.device else None,
            building_id=where.building.id if where.building else None,
            device_type=where.device_type.value if where.device_type else None,
            node_path=where.node_path,
            starts_at=now,
            ends_at=ends_at,
            reason=reason,
            created_by=viewer.account_id,
            created_role=viewer.role.value,
            created_at=now,
            using_db=conn,
        )
        await audit.record(
            actor=viewer.account_id,
            role=viewer.role.value,
            action=AUDIT_CREATE,
            target=silence.public_id,
            reason=reason[:500],
            client_addr=client_addr,
            request_id=request_id,
            details={
                "scope": where.scope,
                "device": where.device.public_id if where.device else None,
                "building": where.building.code if where.building else None,
                "type": where.device_type.value if where.device_type else None,
                "node": hierarchy.code_of(where.node_path),
                "ends_at": ends_at.isoformat(),
            },
            scope=where.node_path,
            using_db=conn,
        )
    log.info("silence created id=%s scope=%s", silence.public_id, where.scope)
    return silence


async def staff_silence(*, viewer: Principal, public_id: str) -> DeviceSilence:
    silence = await DeviceSilence.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if silence is None or not viewer.covers(silence.node_path):
        raise NotFound("No silence with this id in your area.", code="silence_not_found")
    return silence


async def lift(*, viewer: Principal, silence: DeviceSilence, client_addr: str, request_id: str) -> DeviceSilence:
    """End a silence early (409 ``silence_over`` when it is already lifted or has run out)."""
    now = utcnow()
    async with in_transaction() as conn:
        locked = await DeviceSilence.filter(id=silence.id).using_db(conn).select_for_update().first()
        assert locked is not None
        if locked.ended_at is not None or locked.ends_at <= now:
            raise Conflict("This silence is already over.", code="silence_over")
        locked.ended_at = now
        await locked.save(using_db=conn, update_fields=["ended_at"])
        await audit.record(
            actor=viewer.account_id,
            role=viewer.role.value,
            action=AUDIT_LIFT,
            target=locked.public_id,
            client_addr=client_addr,
            request_id=request_id,
            details={"scope": locked.scope, "node": hierarchy.code_of(locked.node_path)},
            scope=locked.node_path,
            using_db=conn,
        )
    log.info("silence lifted id=%s", locked.public_id)
    return locked


async def list_in_area(
    *, under: str, state: str, cursor: str | None, limit: int, now: dt.datetime | None = None
) -> tuple[list[DeviceSilence], str | None]:
    """Newest first: those in force (``active``) or all of them."""
    now = now or utcnow()
    query = DeviceSilence.filter(node_path__startswith=under)
    if state == "active":
        query = query.filter(ended_at=None, ends_at__gt=now)
    if cursor:
        after = await DeviceSilence.get_or_none(public_id=cursor)
        if after is None or not after.node_path.startswith(under):
            raise ValidationFailed.field("cursor", "not a cursor of this list", "bad_cursor")
        query = query.filter(id__lt=after.id)
    rows = list(await query.order_by("-id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more and rows else None
