"""E-bike services: registration, ownership, transfer, the one-key alarm, sightings, the police lookup.

Each function takes keyword-only arguments and does its writes in one transaction, notifications
included (they go into the notify outbox in the same transaction, so an alarm that is not stored is
not announced, and one that is stored is announced).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity import audit, hierarchy
from identity import service as identity_service
from identity.models import Account, Node
from identity.pii import mask_id_number
from identity.roles import Role
from identity.validators import InvalidIdNumber, InvalidMobile, normalize_id_number, normalize_mobile
from miniapp_api.ebikes.models import Alarm, AlarmStatus, BikeStatus, EBike, Sighting, Transfer, TransferStatus
from miniapp_api.ebikes.schemas import AlarmIn, OwnerIdentityIn, RegisterIn, UpdateIn
from notify import outbox
from qr import codec
from qr import service as qr_service
from qr.models import Credential
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed
from server.wire import wire_time

log = logging.getLogger("gmid.ebikes")

ALARM_REPEAT_WINDOW = dt.timedelta(minutes=10)
TRANSFER_TTL = dt.timedelta(hours=24)
SIGHTING_BUCKET_SECONDS = 600  # one sighting notice per scanner per alarm per 10 minutes
_FRAME_RE = re.compile(r"^[A-Z0-9]{6,30}$")
_PLATE_RE = re.compile(r"^[\u4e00-\u9fa5A-Z0-9]{2,12}$")
_TRANSFER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(10)[:13]  # 78 random bits; 16 characters with the prefix


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


async def _node(code: str) -> Node:
    node = await hierarchy.get_by_code(code)
    if node is None:
        raise ValidationFailed.field("node", "no hierarchy node has this code", "unknown_node")
    return node


def on_register() -> QuerySet[EBike]:
    """Bikes not deregistered: frame numbers and plates are unique among these."""
    return EBike.exclude(status=BikeStatus.DEREGISTERED)


def bike_label(bike: EBike) -> str:
    # Printed under the code: the make and colour, never the owner.
    return f"{bike.brand} {bike.colour}"[:64]


# Identity -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedIdentity:
    name: str
    id_number: str
    phone: str


def check_identity(owner: OwnerIdentityIn) -> CheckedIdentity:
    try:
        id_number = normalize_id_number(owner.id_number)
    except InvalidIdNumber as exc:
        raise ValidationFailed.field("owner.id_number", str(exc), "invalid_id_number") from None
    try:
        phone = normalize_mobile(owner.phone)
    except InvalidMobile as exc:
        raise ValidationFailed.field("owner.phone", str(exc), "invalid_phone") from None
    return CheckedIdentity(owner.name, id_number, phone)


async def _bind_identity(
    account: Account, identity: CheckedIdentity, conn: BaseDBAsyncClient, redis: aioredis.Redis | None
) -> None:
    """The first registration sets the account's ID number; later ones must give the same one (the
    name and phone given then update the account's contact). A number the account may not take (its
    own is another, or the number is another account's) gets the one answer of identity_refused."""
    current = identity_service.read_profile(account)
    if current.id_number is not None and current.id_number != identity.id_number:
        raise identity_service.identity_refused()
    await identity_service.update_profile(
        account=account,
        name=identity.name,
        phone=identity.phone,
        id_number=identity.id_number if current.id_number is None else None,
        using_db=conn,
        redis=redis,
    )


async def _property_places(account_id: int, conn: BaseDBAsyncClient | None) -> list[str | None]:
    """Where the bikes bound to this identity are kept: those it owns (deregistered ones too: the
    police look their history up by the owner's number), and those it sold or bought."""
    owned = await EBike.filter(owner_id=account_id).using_db(conn).values_list("node_path", flat=True)
    transferred = (
        await Transfer.filter(Q(from_owner_id=account_id) | Q(to_owner_id=account_id))
        .using_db(conn)
        .values_list("bike__node_path", flat=True)
    )
    return [str(path) if path else None for path in [*owned, *transferred]]


identity_service.register_bound_property("ebikes", _property_places)


# Registration and ownership -------------------------------------------------------------------------


async def _lock_account(owner: Account, conn: BaseDBAsyncClient) -> Account:
    """The owner's row, locked and read afresh inside the transaction. Two registrations (or transfers)
    at once then run one after the other: the second sees the first's bike and the ID number it bound,
    not the copy read before either began (PostgreSQL; SQLite's single writer serialises them anyway)."""
    return await Account.filter(id=owner.id).using_db(conn).select_for_update().get()


async def _check_capacity(owner: Account, max_per_owner: int, conn: BaseDBAsyncClient) -> None:
    # Call with the row locked by _lock_account, so that two at once cannot both see room for one more.
    count = await EBike.filter(owner_id=owner.id).exclude(status=BikeStatus.DEREGISTERED).using_db(conn).count()
    if count >= max_per_owner:
        raise Conflict(
            f"At most {max_per_owner} e-bikes can be registered to one person.",
            code="too_many_bikes",
            details={"limit": max_per_owner},
        )


async def register(
    *, owner: Account, data: RegisterIn, max_per_owner: int, redis: aioredis.Redis | None = None
) -> EBike:
    """Register a bike to the signed-in resident and issue its e-ID code (one transaction)."""
    frame_no = normalize_frame_no(data.frame_no)
    plate = normalize_plate(data.plate)
    identity = check_identity(data.owner)
    node = await _node(data.node)
    # Among the bikes on the register: a deregistered bike's numbers can be registered again (the
    # partial unique indexes of migration 0016 hold the same rule when two registrations race).
    if await on_register().filter(frame_no=frame_no).exists():
        raise Conflict("This frame number (车架号) is already registered.", code="frame_no_taken")
    if plate is not None and await on_register().filter(plate=plate).exists():
        raise Conflict("This plate is already registered.", code="plate_taken")
    now = utcnow()
    try:
        async with in_transaction() as conn:
            locked_owner = await _lock_account(owner, conn)
            await _check_capacity(locked_owner, max_per_owner, conn)
            await _bind_identity(locked_owner, identity, conn, redis)
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
        identity_service.is_district_level(viewer) or viewer.covers(bike.node_path if bike is not None else None)
    )
    if bike is None or (bike.owner_id != account.id and not admin_in_scope):
        raise NotFound("No e-bike with this id is registered to you.", code="ebike_not_found")
    return bike


def _ensure_registered(bike: EBike) -> None:
    if bike.status is BikeStatus.DEREGISTERED:
        raise Conflict("This e-bike has been deregistered.", code="ebike_deregistered")


async def _lock_bike(bike: EBike, conn: BaseDBAsyncClient) -> EBike:
    """The bike's row, locked and read afresh, still with the owner the caller was allowed to act for
    (a transfer accepted since the bike was read leaves the old owner with nothing to act on)."""
    locked = await EBike.filter(id=bike.id).using_db(conn).select_for_update().get()
    if locked.owner_id != bike.owner_id:
        raise NotFound("No e-bike with this id is registered to you.", code="ebike_not_found")
    _ensure_registered(locked)
    return locked


async def update(*, bike: EBike, data: UpdateIn) -> EBike:
    _ensure_registered(bike)
    changes = data.model_dump(exclude_unset=True)
    fields: list[str] = []
    for name in ("brand", "model", "colour", "purchase_date"):
        if name in changes and changes[name] is not None:
            setattr(bike, name, changes[name])
            fields.append(name)
    if "plate" in changes:
        plate = normalize_plate(changes["plate"])
        if plate is not None and await on_register().filter(plate=plate).exclude(id=bike.id).exists():
            raise Conflict("This plate is already registered.", code="plate_taken")
        bike.plate = plate
        fields.append("plate")
    if changes.get("node"):
        bike.node_path = (await _node(changes["node"])).path
        fields.append("node_path")
    if fields:
        bike.updated_at = utcnow()
        try:
            await bike.save(update_fields=[*fields, "updated_at"])
        except IntegrityError:
            raise Conflict("This plate is already registered.", code="plate_taken") from None
        await qr_service.changed(bike.credential_id)  # make and colour are in the public scan view
    return bike


async def deregister(*, bike: EBike) -> EBike:
    """The bike leaves the register; its code is revoked everywhere (feed included)."""
    now = utcnow()
    async with in_transaction() as conn:
        # The status is checked on the locked row: an alarm raised at the same moment either comes
        # first (refused here as stolen) or waits and finds the bike deregistered.
        locked = await _lock_bike(bike, conn)
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


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


async def start_transfer(*, bike: EBike) -> tuple[str, dt.datetime]:
    """A one-time code for the new owner; an earlier pending code stops working."""
    _ensure_registered(bike)
    if bike.status is BikeStatus.STOLEN:
        raise Conflict("A bike reported stolen cannot change owner; cancel the alarm first.", code="ebike_stolen")
    code = "".join(secrets.choice(_TRANSFER_ALPHABET) for _ in range(10))
    now = utcnow()
    expires = now + TRANSFER_TTL
    async with in_transaction() as conn:
        await (
            Transfer.filter(bike_id=bike.id, status=TransferStatus.PENDING)
            .using_db(conn)
            .update(status=TransferStatus.CANCELLED)
        )
        await Transfer.create(
            bike_id=bike.id,
            from_owner_id=bike.owner_id,
            code_hash=_code_hash(code),
            created_at=now,
            expires_at=expires,
            using_db=conn,
        )
    return code, expires


async def accept_transfer(
    *,
    new_owner: Account,
    code: str,
    owner: OwnerIdentityIn,
    max_per_owner: int,
    redis: aioredis.Redis | None = None,
) -> EBike:
    """The new owner takes the bike with their own identity; the old code is superseded by a new one."""
    identity = check_identity(owner)
    now = utcnow()
    async with in_transaction() as conn:
        transfer = (
            await Transfer.filter(code_hash=_code_hash(code), status=TransferStatus.PENDING)
            .using_db(conn)
            .select_for_update()
            .first()
        )
        if transfer is None or transfer.expires_at <= now:
            raise NotFound("This transfer code is unknown, used or expired.", code="transfer_not_found")
        bike = await EBike.filter(id=transfer.bike_id).using_db(conn).select_for_update().first()
        assert bike is not None
        _ensure_registered(bike)
        if bike.status is BikeStatus.STOLEN:
            raise Conflict("A bike reported stolen cannot change owner.", code="ebike_stolen")
        if bike.owner_id == new_owner.id:
            raise Conflict("You already own this bike.", code="already_owner")
        buyer = await _lock_account(new_owner, conn)
        await _check_capacity(buyer, max_per_owner, conn)
        await _bind_identity(buyer, identity, conn, redis)
        old_owner = await Account.get(id=bike.owner_id, using_db=conn)
        credential = await qr_service.reissue(public_id=bike.credential_id, reason="transferred", using_db=conn)
        bike.owner_id = new_owner.id
        bike.updated_at = now
        await bike.save(using_db=conn, update_fields=["owner_id", "updated_at"])
        transfer.status = TransferStatus.ACCEPTED
        transfer.to_owner_id = new_owner.id
        transfer.accepted_at = now
        await transfer.save(using_db=conn, update_fields=["status", "to_owner_id", "accepted_at"])
        for account, direction in ((old_owner, "转出"), (buyer, "转入")):
            if not outbox.reachable(account, "ebike.transferred"):
                continue
            await outbox.enqueue(
                template="ebike.transferred",
                data={
                    "bike": bike_label(bike),
                    "direction": direction,
                    "at": wire_time(now),
                    "bike_id": bike.public_id,
                },
                idempotency_key=f"transfer:{transfer.id}:{account.public_id}",
                account=account,
                using_db=conn,
            )
    await qr_service.changed(credential.public_id)  # after the commit: the old code answers superseded
    log.info("ebike transferred id=%s serial=%s", bike.public_id, credential.serial)
    return bike


# Alarms -------------------------------------------------------------------------------------------


async def open_alarm(bike: EBike) -> Alarm | None:
    return await Alarm.filter(bike_id=bike.id, status=AlarmStatus.OPEN).order_by("-created_at").first()


async def police_for(node_path: str | None, conn: BaseDBAsyncClient | None = None) -> list[Account]:
    """Active police accounts responsible for the place: their node is the bike's node or above it."""
    if node_path is None:
        return []
    ancestors = [node_path[: i + 1] for i, ch in enumerate(node_path) if ch == "/" and i > 0]
    nodes = await Node.filter(path__in=ancestors).using_db(conn).values_list("id", flat=True)
    return list(
        await Account.filter(role=Role.POLICE, is_active=True, node_id__in=list(nodes)).using_db(conn).order_by("id")
    )


async def _notify_police(
    *, template: str, data: dict[str, str], key: str, node_path: str | None, conn: BaseDBAsyncClient
) -> int:
    """Each responsible officer on every channel they have (an alarm is urgent: WeChat and SMS both)."""
    sent = 0
    for account in await police_for(node_path, conn):
        profile = identity_service.read_profile(account)
        routes = []
        if account.wechat_openid:
            routes.append(("wechat", {"openid": account.wechat_openid}))
        if profile.phone:
            routes.append(("sms", {"phone": profile.phone}))
        for channel, address in routes:
            # With the account, so that the row is in its administrators' outbox view.
            await outbox.enqueue(
                template=template,
                data=data,
                idempotency_key=f"{key}:police:{account.public_id}:{channel}",
                account=account,
                channels=[channel],
                using_db=conn,
                **address,  # type: ignore[arg-type]
            )
            sent += 1
    return sent


def alarm_data(bike: EBike, alarm: Alarm) -> dict[str, str]:
    return {
        "bike": bike_label(bike),
        "lost_at": wire_time(alarm.lost_at),
        "location": alarm.location,
        "alarm_id": alarm.public_id,
    }


async def raise_alarm(*, bike: EBike, owner: Account, data: AlarmIn) -> tuple[Alarm, bool]:
    """One-key alarm: the bike is stolen, police of its area and the owner are told. A second press
    within 10 minutes answers the same alarm (False: not created)."""
    now = utcnow()
    if data.lost_at.tzinfo is None:
        raise ValidationFailed.field("lost_at", "give the time with its offset, e.g. 2026-11-25T09:30:00+08:00")
    if data.lost_at > now + dt.timedelta(minutes=5):
        raise ValidationFailed.field("lost_at", "the time is in the future")
    async with in_transaction() as conn:
        # Checked on the locked row: a deregistration at the same moment is seen, not missed.
        locked = await _lock_bike(bike, conn)
        existing = await Alarm.filter(bike_id=bike.id, status=AlarmStatus.OPEN).using_db(conn).first()
        if existing is not None:
            if now - existing.created_at <= ALARM_REPEAT_WINDOW:
                return existing, False
            raise Conflict(
                "This bike is already reported stolen.",
                code="alarm_open",
                details={"alarm": existing.public_id},
            )
        alarm = await Alarm.create(
            public_id=new_public_id("al_"),
            bike_id=bike.id,
            owner_id=owner.id,
            lost_at=data.lost_at,
            location=data.location,
            lat=data.lat,
            lng=data.lng,
            description=data.description,
            node_path=locked.node_path,
            created_at=now,
            using_db=conn,
        )
        await EBike.filter(id=bike.id).using_db(conn).update(status=BikeStatus.STOLEN, updated_at=now)
        payload = alarm_data(locked, alarm)
        if outbox.reachable(owner, "ebike.stolen"):
            await outbox.enqueue(
                template="ebike.stolen",
                data=payload,
                idempotency_key=f"alarm:{alarm.public_id}:owner",
                account=owner,
                using_db=conn,
            )
        police = await _notify_police(
            template="ebike.stolen",
            data=payload,
            key=f"alarm:{alarm.public_id}",
            node_path=locked.node_path,
            conn=conn,
        )
    bike.status = BikeStatus.STOLEN
    await qr_service.changed(bike.credential_id)  # after the commit: the next scan says stolen
    log.info("ebike alarm raised id=%s bike=%s police_messages=%s", alarm.public_id, bike.public_id, police)
    return alarm, True


async def cancel_alarm(*, bike: EBike) -> Alarm:
    """The owner found the bike: the alarm is closed and the police who were told hear so."""
    now = utcnow()
    async with in_transaction() as conn:
        alarm = await Alarm.filter(bike_id=bike.id, status=AlarmStatus.OPEN).using_db(conn).select_for_update().first()
        if alarm is None:
            raise Conflict("This bike has no open alarm.", code="no_open_alarm")
        alarm.status = AlarmStatus.FOUND
        alarm.closed_at = now
        await alarm.save(using_db=conn, update_fields=["status", "closed_at"])
        await EBike.filter(id=bike.id).using_db(conn).update(status=BikeStatus.ACTIVE, updated_at=now)
        await _notify_police(
            template="ebike.found",
            data={"bike": bike_label(bike), "at": wire_time(now), "alarm_id": alarm.public_id},
            key=f"alarm:{alarm.public_id}:found",
            node_path=alarm.node_path,
            conn=conn,
        )
    bike.status = BikeStatus.ACTIVE
    await qr_service.changed(bike.credential_id)
    return alarm


async def record_sighting(
    *, bike: EBike, alarm: Alarm, viewer: Principal, lat: float | None, lng: float | None
) -> bool:
    """An officer or police scan of a stolen bike: recorded, and the owner and the police told (once
    per scanner per alarm in 10 minutes). True when a new sighting was recorded."""
    now = utcnow()
    window = dt.timedelta(seconds=SIGHTING_BUCKET_SECONDS)
    place = f"{lat:.5f},{lng:.5f}" if lat is not None and lng is not None else "位置未提供"
    data = {"bike": bike_label(bike), "seen_at": wire_time(now), "place": place, "alarm_id": alarm.public_id}
    async with in_transaction() as conn:
        # The alarm's row is locked first: scans at the same moment by one officer make one sighting.
        await Alarm.filter(id=alarm.id).using_db(conn).select_for_update().first()
        recent = Sighting.filter(alarm_id=alarm.id, actor=viewer.account_id, at__gte=now - window).using_db(conn)
        if await recent.exists():
            return False
        sighting = await Sighting.create(
            alarm_id=alarm.id, actor=viewer.account_id, role=viewer.role.value, at=now, lat=lat, lng=lng, using_db=conn
        )
        key = f"sighting:{sighting.id}"
        owner = await Account.get(id=bike.owner_id, using_db=conn)
        if outbox.reachable(owner, "ebike.sighted"):
            await outbox.enqueue(
                template="ebike.sighted", data=data, idempotency_key=f"{key}:owner", account=owner, using_db=conn
            )
        await _notify_police(template="ebike.sighted", data=data, key=key, node_path=alarm.node_path, conn=conn)
    log.info("ebike sighting recorded alarm=%s", alarm.public_id)
    return True


# Scanning and lookups -----------------------------------------------------------------------------


async def bike_for_credential(credential: Credential) -> EBike | None:
    subject = credential.subject_id
    return await EBike.get_or_none(public_id=subject) if 0 < len(subject) <= 16 else None


async def credential_of(bike: EBike) -> Credential | None:
    return await Credential.get_or_none(public_id=bike.credential_id)


def mask_query_value(by: str, value: str) -> str:
    """What the audit log keeps of the query: an ID number masked (also one typed under another
    key), the rest as given."""
    if by == "owner_id_number":
        return mask_id_number(value)
    try:
        return mask_id_number(normalize_id_number(value))
    except InvalidIdNumber:
        return value[:64]


async def police_lookup(*, by: str, value: str, base_url: str) -> list[tuple[Account, list[EBike]]]:
    """Owners and their bikes for one search key; [] when nothing matches or the value is not valid."""
    bikes: list[EBike] = []
    if by == "frame_no":
        bikes = list(await EBike.filter(frame_no=normalize_frame_no(value)).select_related("owner"))
    elif by == "plate":
        plate = normalize_plate(value)
        bikes = list(await EBike.filter(plate=plate).select_related("owner")) if plate else []
    elif by == "qr":
        credential: Credential | None
        try:
            credential = (await qr_service.resolve(payload=value, base_url=base_url)).credential
        except codec.VerifyError as exc:
            # A genuine code that was replaced or revoked still names its bike; a forged one names nothing.
            credential = exc.credential if exc.code in ("superseded", "revoked") else None
        if credential is not None and credential.kind == "ebike":
            bikes = list(await EBike.filter(public_id=credential.subject_id).select_related("owner"))
    elif by == "owner_id_number":
        try:
            account = await identity_service.find_by_id_number(id_number=value)
        except InvalidIdNumber as exc:
            raise ValidationFailed.field("owner_id_number", str(exc), "invalid_id_number") from None
        bikes = list(await EBike.filter(owner_id=account.id).order_by("registered_at")) if account else []
        for bike in bikes:
            bike.owner = account  # type: ignore[assignment]
    owners: dict[int, list[EBike]] = {}
    accounts: dict[int, Account] = {}
    for bike in bikes:
        owners.setdefault(bike.owner_id, []).append(bike)
        accounts[bike.owner_id] = bike.owner
    return [(accounts[owner_id], owned) for owner_id, owned in owners.items()]


async def sighting_count(alarm: Alarm) -> int:
    return await Sighting.filter(alarm_id=alarm.id).count()


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


# The police lookup's audit trail and limit ---------------------------------------------------------

LOOKUP_KEYS = ("frame_no", "plate", "qr", "owner_id_number")


async def audit_lookup(
    *,
    viewer: Principal,
    by: str,
    value: str,
    reason: str,
    case_no: str,
    outcome: str,
    result_count: int,
    bikes: list[str],
    client_addr: str,
    request_id: str,
    scope: str = "",
) -> int:
    """One audit entry per lookup, found or not, refused or not; returns its sequence number.
    ``scope``: where the bikes found are kept (their common node), "" when none was found."""
    entry = await audit.record(
        actor=viewer.account_id,
        role=viewer.role.value,
        action="police.ebike_lookup",
        target=",".join(bikes)[:128],
        reason=reason[:500],
        client_addr=client_addr,
        request_id=request_id,
        details={
            "case_no": case_no[:64],
            "by": by,
            "query": mask_query_value(by, value),
            "result_count": result_count,
            "outcome": outcome,
        },
        scope=scope,
    )
    return entry.seq


async def tell_admins_about_limit(*, viewer: Principal, count: int) -> None:
    """The officer went past the lookup limit: district administrators hear once an hour."""
    now = utcnow()
    hour = now.strftime("%Y%m%d%H")
    admins = await Account.filter(role=Role.ADMIN, is_active=True).prefetch_related("node")
    for admin in admins:
        node = admin.node if isinstance(admin.node, Node) else None
        if node is not None and node.path.count("/") != 2:
            continue  # only the district level reviews police lookups
        profile = identity_service.read_profile(admin)
        address: dict[str, str] = {}
        if admin.wechat_openid:
            address["openid"] = admin.wechat_openid
        if profile.phone:
            address["phone"] = profile.phone
        if not address:
            log.warning("admin without a contact cannot be told of a lookup limit admin=%s", admin.public_id)
            continue
        await outbox.enqueue(
            template="police.lookup_limit",
            data={"officer": viewer.account_id, "count": str(count), "at": wire_time(now)},
            idempotency_key=f"lookup-limit:{viewer.account_id}:{hour}:{admin.public_id}",
            account=admin,
            **address,  # type: ignore[arg-type]
        )
