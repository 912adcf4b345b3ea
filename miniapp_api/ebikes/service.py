"""E-bike services: the register (a bike's numbers, registration, changes, deregistration) and what
the answers about bikes show. Each concept beside it has its own module: ``owners`` (the identity bound
to an owner), ``transfer``, ``alarms`` (the one-key alarm and sightings), ``lookup`` (the police lookup
and its audit).

Each function takes keyword-only arguments and does its writes in one transaction, notifications
included (they go into the notify outbox in the same transaction, so an alarm that is not stored is
not announced, and one that is stored is announced).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity import hierarchy
from identity import scope as identity_scope
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from miniapp_api.ebikes.models import Alarm, AlarmStatus, BikeStatus, EBike, Sighting, Transfer, TransferStatus
from miniapp_api.ebikes.owners import bind_identity, check_capacity, check_identity, lock_account
from miniapp_api.ebikes.schemas import RegisterIn, UpdateIn
from qr import service as qr_service
from qr.models import Credential
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("gmid.ebikes")

_FRAME_RE = re.compile(r"^[A-Z0-9]{6,30}$")
_PLATE_RE = re.compile(r"^[\u4e00-\u9fa5A-Z0-9]{2,12}$")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id(prefix: str) -> str:
    return public_ids.new(prefix)


def normalize_frame_no(raw: str) -> str:
    """车架号: spaces, dashes and dots are ignored, letters upper-cased; 6-30 letters and digits."""
    value = re.sub(r"[\s\-_.]+", "", raw).upper()
    if not _FRAME_RE.fullmatch(value):
        raise ValidationFailed.field("frame_no", "a frame number is 6 to 30 letters and digits")
    return value


def normalize_plate(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    value = re.sub(r"[\s\-·.]+", "", raw).upper()
    if not _PLATE_RE.fullmatch(value):
        raise ValidationFailed.field("plate", "a plate is 2 to 12 Chinese characters, letters and digits")
    return value


# Where a bike is kept: its credential belongs to this node, so the community and grid staff who check
# bikes in the field hold it (kept at a street or the district, they would lose it).
KEPT_AT = (NodeLevel.COMMUNITY, NodeLevel.GRID)


async def node_of(code: str) -> Node:
    node = await hierarchy.get_by_code(code)
    if node is None:
        raise ValidationFailed.field("node", "no hierarchy node has this code", "unknown_node")
    if node.level not in KEPT_AT:
        raise ValidationFailed.field(
            "node", "a bike is kept in a community or a grid, not a street or the district", "node_level"
        )
    return node


def on_register() -> QuerySet[EBike]:
    """Bikes not deregistered: frame numbers and plates are unique among these."""
    return EBike.exclude(status=BikeStatus.DEREGISTERED)


def bike_label(bike: EBike) -> str:
    # Printed under the code: the make and colour, never the owner.
    return qr_service.printable_label(f"{bike.brand} {bike.colour}")


async def follow(bike: EBike, conn: BaseDBAsyncClient) -> None:
    """The bike's code where the bike is kept now (its area's staff manage it, its area's sheet
    prints it) and printing the bike as it is now; in the transaction that changed the bike."""
    await qr_service.follow(
        public_id=bike.credential_id, node_path=bike.node_path, label=bike_label(bike), using_db=conn
    )


# Registration and ownership -------------------------------------------------------------------------


async def register(
    *, owner: Account, data: RegisterIn, max_per_owner: int, redis: aioredis.Redis | None = None
) -> EBike:
    """Register a bike to the signed-in resident and issue its e-ID code (one transaction)."""
    frame_no = normalize_frame_no(data.frame_no)
    plate = normalize_plate(data.plate)
    identity = check_identity(data.owner)
    node = await node_of(data.node)
    # Among the bikes on the register: a deregistered bike's numbers can be registered again (the
    # partial unique indexes of migration 0016 hold the same rule when two registrations race).
    if await on_register().filter(frame_no=frame_no).exists():
        raise Conflict("This frame number (车架号) is already registered.", code="frame_no_taken")
    if plate is not None and await on_register().filter(plate=plate).exists():
        raise Conflict("This plate is already registered.", code="plate_taken")
    now = utcnow()
    try:
        async with in_transaction() as conn:
            locked_owner = await lock_account(owner, conn)
            await check_capacity(locked_owner, max_per_owner, conn)
            await bind_identity(locked_owner, identity, conn, redis)
            bike = EBike(
                public_id=new_public_id("eb_"),
                owner_id=owner.id,
                node_path=node.path,
                brand=data.brand,
                model=data.model,
                colour=data.colour,
                frame_no=frame_no,
                motor_no=data.motor_no,
                plate=plate,
                purchase_date=data.purchase_date,
                status=BikeStatus.ACTIVE,
                credential_id="",
                registered_at=now,
                updated_at=now,
            )
            credential = await qr_service.issue(
                kind="ebike", subject_id=bike.public_id, node_path=node.path, label=bike_label(bike), using_db=conn
            )
            bike.credential_id = credential.public_id
            await bike.save(using_db=conn)
    except IntegrityError:  # registered by someone else between the check and the insert
        raise Conflict("This frame number (车架号) or plate is already registered.", code="frame_no_taken") from None
    log.info("ebike registered id=%s", bike.public_id)
    return bike


async def own_bikes(*, owner: Account) -> list[EBike]:
    return list(await EBike.filter(owner_id=owner.id).exclude(status=BikeStatus.DEREGISTERED).order_by("registered_at"))


async def get_for(*, viewer: Principal, account: Account, public_id: str) -> EBike:
    """The owner's bike (or any, for an admin); others get 404, as if it did not exist."""
    # An id that cannot exist is not looked up (Tortoise refuses values longer than the column).
    bike = await EBike.get_or_none(public_id=public_id) if 0 < len(public_id) <= 16 else None
    admin_in_scope = viewer.role is Role.ADMIN and (
        identity_scope.is_district_level(viewer) or viewer.covers(bike.node_path if bike is not None else None)
    )
    if bike is None or (bike.owner_id != account.id and not admin_in_scope):
        raise NotFound("No e-bike with this id is registered to you.", code="ebike_not_found")
    return bike


def ensure_registered(bike: EBike) -> None:
    if bike.status is BikeStatus.DEREGISTERED:
        raise Conflict("This e-bike has been deregistered.", code="ebike_deregistered")


async def lock_bike(bike: EBike, conn: BaseDBAsyncClient) -> EBike:
    """The bike's row, locked and read afresh, still with the owner the caller was allowed to act for
    (a transfer accepted since the bike was read leaves the old owner with nothing to act on)."""
    locked = await EBike.filter(id=bike.id).using_db(conn).select_for_update().get()
    if locked.owner_id != bike.owner_id:
        raise NotFound("No e-bike with this id is registered to you.", code="ebike_not_found")
    ensure_registered(locked)
    return locked


async def update(*, bike: EBike, data: UpdateIn) -> EBike:
    """The owner's corrections; the bike's code follows in the same transaction (a move hands it to
    the new area, a new make or colour is what its sticker prints)."""
    ensure_registered(bike)
    changes = data.model_dump(exclude_unset=True)
    plate = normalize_plate(changes["plate"]) if "plate" in changes else None
    node = await node_of(changes["node"]) if changes.get("node") else None
    fields: list[str] = []
    try:
        async with in_transaction() as conn:
            locked = await lock_bike(bike, conn)
            for name in ("brand", "model", "colour", "purchase_date"):
                if name in changes and changes[name] is not None:
                    setattr(locked, name, changes[name])
                    fields.append(name)
            if "plate" in changes:
                taken = on_register().filter(plate=plate).exclude(id=locked.id).using_db(conn)
                if plate is not None and await taken.exists():
                    raise Conflict("This plate is already registered.", code="plate_taken")
                locked.plate = plate
                fields.append("plate")
            if node is not None:
                locked.node_path = node.path
                fields.append("node_path")
            if fields:
                locked.updated_at = utcnow()
                await locked.save(using_db=conn, update_fields=[*fields, "updated_at"])
                await follow(locked, conn)
    except IntegrityError:
        raise Conflict("This plate is already registered.", code="plate_taken") from None
    if fields:
        await qr_service.changed(locked.credential_id)  # after the commit: make and colour are in the public scan
    return locked


async def deregister(*, bike: EBike) -> EBike:
    """The bike leaves the register; its code is revoked everywhere (feed included)."""
    now = utcnow()
    async with in_transaction() as conn:
        # The status is checked on the locked row: an alarm raised at the same moment either comes
        # first (refused here as stolen) or waits and finds the bike deregistered.
        locked = await lock_bike(bike, conn)
        if locked.status is BikeStatus.STOLEN:
            raise Conflict(
                "A bike reported stolen cannot be deregistered; cancel the alarm first.", code="ebike_stolen"
            )
        await qr_service.revoke(public_id=locked.credential_id, reason="deregistered", using_db=conn)
        await (
            Alarm.filter(bike_id=bike.id, status=AlarmStatus.OPEN)
            .using_db(conn)
            .update(status=AlarmStatus.FOUND, closed_at=now)
        )
        await (
            Transfer.filter(bike_id=bike.id, status=TransferStatus.PENDING)
            .using_db(conn)
            .update(status=TransferStatus.CANCELLED)
        )
        locked.status = BikeStatus.DEREGISTERED
        locked.deregistered_at = now
        locked.updated_at = now
        await locked.save(using_db=conn, update_fields=["status", "deregistered_at", "updated_at"])
    await qr_service.changed(locked.credential_id)  # after the commit: the next scan says revoked
    return locked


# Scanning and the answers about bikes -------------------------------------------------------------


async def bike_for_credential(credential: Credential) -> EBike | None:
    subject = credential.subject_id
    return await EBike.get_or_none(public_id=subject) if 0 < len(subject) <= 16 else None


async def credential_of(bike: EBike) -> Credential | None:
    return await Credential.get_or_none(public_id=bike.credential_id)


@dataclass(frozen=True)
class Details:
    """What the answers about some bikes show besides the bikes: read in three statements for any
    number of bikes (a lookup by ID number finds several; one query per bike and per alarm made a
    lookup a dozen round trips)."""

    credentials: dict[str, Credential]  # by public id
    alarms: dict[int, list[Alarm]]  # by bike id, newest first
    sightings: dict[int, int]  # by alarm id

    def credential(self, bike: EBike) -> Credential | None:
        return self.credentials.get(bike.credential_id) if bike.status is not BikeStatus.DEREGISTERED else None

    def open_alarm(self, bike: EBike) -> Alarm | None:
        if bike.status is not BikeStatus.STOLEN:
            return None
        return next((a for a in self.alarms.get(bike.id, []) if a.status is AlarmStatus.OPEN), None)


async def details_of(bikes: Sequence[EBike], *, all_alarms: bool = False) -> Details:
    """Codes, alarms (every alarm with ``all_alarms``, else only stolen bikes' open ones) and sighting counts."""
    credentials = {
        c.public_id: c
        for c in await Credential.filter(
            public_id__in=[b.credential_id for b in bikes if b.status is not BikeStatus.DEREGISTERED]
        )
    }
    wanted = [b.id for b in bikes if all_alarms or b.status is BikeStatus.STOLEN]
    alarms: dict[int, list[Alarm]] = {}
    query = Alarm.filter(bike_id__in=wanted)
    for alarm in await (query if all_alarms else query.filter(status=AlarmStatus.OPEN)).order_by("-created_at", "-id"):
        alarms.setdefault(alarm.bike_id, []).append(alarm)
    alarm_ids = [a.id for listed in alarms.values() for a in listed]
    counted = (
        await Sighting.filter(alarm_id__in=alarm_ids)
        .annotate(n=Count("id"))
        .group_by("alarm_id")
        .values_list("alarm_id", "n")
        if alarm_ids
        else []
    )
    return Details(credentials, alarms, {int(alarm_id): int(n) for alarm_id, n in counted})
