"""Bands: staff register them in stock at their node, a resident binds one to themselves by its
printed code (or staff issue one at a desk), a lost band is revoked. One active band per person
(the database's partial unique index backs it). A printed code is kept only as its SHA-256; an answer
about a code never tells whether a band with it exists."""

from __future__ import annotations

import datetime as dt

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity import hierarchy
from identity import service as identity_service

# One definition each, shared by the features (these modules' names are what their callers import).
from identity.audit import Who as Who
from identity.audit import record_change as audit_change
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from identity.validators import normalize_id_number, normalize_mobile
from miniapp_api.wristbands import codes, stoplist
from miniapp_api.wristbands.models import BandState, HealthStatus, QuarantineOrder, Wristband, WristbandPerson
from miniapp_api.wristbands.people_schemas import WristbandIn, WristbandIssueIn, WristbandRefused
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed
from server.public_ids import plausible as plausible_id

KEEPERS = (Role.HEALTH_STAFF, Role.ADMIN)  # register and list band stock
ISSUERS = (Role.HEALTH_STAFF, Role.GRID_STAFF, Role.ADMIN)  # issue and revoke at a desk
RESIDENTS = (Role.RESIDENT, Role.PARTY_MEMBER)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    return public_ids.new("wb_")


def who_of(viewer: Principal, client_addr: str, request_id: str) -> Who:
    return Who(viewer.account_id, viewer.role.value, client_addr, request_id)


async def area(*, viewer: Principal, node: str | None) -> str | None:
    """The node path a staff list covers: the viewer's node, or ``node`` inside it (404 outside)."""
    if node is None:
        return viewer.node_path
    found = await hierarchy.get_by_code(node.upper())
    if found is None or not viewer.covers(found.path):
        raise NotFound("No such node in your area.", code="node_not_found")
    return found.path


async def community(code: str) -> Node:
    found = await hierarchy.get_by_code(code.upper())
    if found is None or found.level != NodeLevel.COMMUNITY:
        raise ValidationFailed.field("community", "give the code of a community (社区)", "unknown_community")
    return found


# Stock ------------------------------------------------------------------------------------------


async def register(
    *, viewer: Principal, node: str | None, bands: list[WristbandIn], who: Who
) -> tuple[list[Wristband], list[WristbandRefused]]:
    """Register a batch in stock at ``node`` (default: the viewer's); bad or duplicate items are
    refused by index, the good ones registered together."""
    where = await area(viewer=viewer, node=node)
    if where is None:
        raise NotFound("No such node in your area.", code="node_not_found")
    refused: list[WristbandRefused] = []
    good: list[tuple[int, str, str]] = []
    seen_ble: set[str] = set()
    seen_code: set[str] = set()
    for index, item in enumerate(bands):
        ble = codes.normalize_ble_id(item.ble_id)
        code = codes.normalize_printed_code(item.code)
        if ble is None:
            refused.append(WristbandRefused(index=index, code="invalid_ble_id"))
        elif code is None:
            refused.append(WristbandRefused(index=index, code="invalid_code"))
        elif ble in seen_ble or codes.code_hash(code) in seen_code:
            refused.append(WristbandRefused(index=index, code="duplicate_in_batch"))
        else:
            seen_ble.add(ble)
            seen_code.add(codes.code_hash(code))
            good.append((index, ble, codes.code_hash(code)))
    taken_ble = set(await Wristband.filter(ble_id__in=list(seen_ble)).values_list("ble_id", flat=True))
    taken_code = set(await Wristband.filter(code_hash__in=list(seen_code)).values_list("code_hash", flat=True))
    now = utcnow()
    rows: list[Wristband] = []
    for index, ble, hashed in good:
        if ble in taken_ble or hashed in taken_code:
            refused.append(WristbandRefused(index=index, code="already_registered"))
            continue
        rows.append(
            Wristband(
                public_id=new_public_id(),
                ble_id=ble,
                code_hash=hashed,
                node_path=where,
                state=BandState.STOCK.value,
                created_at=now,
                updated_at=now,
            )
        )
    if rows:
        try:
            async with in_transaction() as conn:
                await Wristband.bulk_create(rows, using_db=conn)
                await audit_change(who, "wristband.registered", "", where, conn, count=len(rows))
        except IntegrityError:
            raise Conflict("Some bands were registered meanwhile; send the batch again.", code="bands_taken") from None
    refused.sort(key=lambda r: r.index)
    return rows, refused


def desk_area(viewer: Principal) -> str:
    """Where a desk hands out and revokes bands: the viewer's node, and for grid staff the community
    their grid belongs to (bands are kept in stock at the community)."""
    path = viewer.node_path or "//"
    if viewer.role == Role.GRID_STAFF:
        return path.rstrip("/").rsplit("/", 1)[0] + "/"
    return path


async def staff_band(*, viewer: Principal, public_id: str, desk: bool = False) -> Wristband:
    """A band held in the viewer's area, else 404 like a missing one. At a desk (``desk_area``) a worn
    band is the wearer's community's (who look after them), not the stock's it came from."""
    band = await Wristband.get_or_none(public_id=public_id) if plausible_id(public_id) else None
    under = desk_area(viewer) if desk else (viewer.node_path or "//")
    where = band.node_path if band is not None else ""
    if desk and band is not None and band.state == BandState.ACTIVE.value and band.account_id is not None:
        person = await WristbandPerson.get_or_none(account_id=band.account_id)
        where = person.home_node_path if person is not None else where
    if band is None or not where.startswith(under):
        raise NotFound("No such band in your area.", code="wristband_not_found")
    return band


async def list_in_area(
    *, under: str, state: str | None, cursor: str | None, limit: int
) -> tuple[list[Wristband], str | None]:
    query = Wristband.filter(node_path__startswith=under)
    if state:
        query = query.filter(state=state)
    if cursor:
        after = await Wristband.get_or_none(public_id=cursor) if plausible_id(cursor) else None
        if after is None or not after.node_path.startswith(under):
            raise ValidationFailed.field("cursor", "not a cursor of this list", "bad_cursor")
        query = query.filter(id__lt=after.id)
    rows = list(await query.order_by("-id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more and rows else None


async def wearers(rows: list[Wristband]) -> dict[int, str]:
    ids = [r.account_id for r in rows if r.account_id is not None]
    return dict(await Account.filter(id__in=ids).values_list("id", "public_id")) if ids else {}


# Binding ----------------------------------------------------------------------------------------


def band_unknown() -> NotFound:
    """The one answer to a code that binds nothing, whatever the cause (unknown, bound, revoked)."""
    return NotFound("No band can be bound with this code.", code="wristband_not_found")


def person_elsewhere() -> Conflict:
    return Conflict(
        "This person is registered in another community: they bind a band themselves in the mini program, "
        "or at their own community's desk.",
        code="person_elsewhere",
    )


async def under_care(account_id: int, conn: BaseDBAsyncClient | None = None) -> bool:
    """A health status not yet expired, or a quarantine order not lifted nor ended (even one that starts
    later): while one is in force the person's community, whose health staff look after them, stays."""
    now = utcnow()
    if await HealthStatus.filter(account_id=account_id, expires_at__gt=now).using_db(conn).exists():
        return True
    orders = QuarantineOrder.filter(account_id=account_id, lifted_at__isnull=True, ends_at__gt=now)
    return bool(await orders.using_db(conn).exists())


async def _check_home_move(
    person: WristbandPerson | None, home: Node, desk: str | None, conn: BaseDBAsyncClient
) -> None:
    """A bind may move the person's home community only when no care is escaped: a desk never takes
    over (nor hands a band to) a person of a community outside its area, and nobody moves while a
    status or an order is in force (409 ``community_locked``)."""
    if person is None or person.home_node_path == home.path:
        return
    if desk is not None and not person.home_node_path.startswith(desk):
        raise person_elsewhere()
    if await under_care(person.account_id, conn):
        raise Conflict(
            "While a health status or a quarantine order is in force the home community stays; ask its "
            "community health service.",
            code="community_locked",
        )


async def _bind(
    band: Wristband,
    account: Account,
    home: Node,
    *,
    by: str,
    who: Who,
    action: str,
    conn: BaseDBAsyncClient,
    desk: str | None = None,
) -> None:
    now = utcnow()
    person = await WristbandPerson.filter(account_id=account.id).using_db(conn).select_for_update().first()
    await _check_home_move(person, home, desk, conn)
    if await Wristband.filter(account_id=account.id, state=BandState.ACTIVE.value).using_db(conn).exists():
        raise Conflict(
            "This person has an active band; report it lost before binding another.", code="wristband_active"
        )
    updated = (
        await Wristband.filter(id=band.id, state=BandState.STOCK.value)
        .using_db(conn)
        .update(state=BandState.ACTIVE.value, account_id=account.id, bound_at=now, bound_by=by, updated_at=now)
    )
    if updated != 1:
        raise band_unknown()
    if person is None:
        await WristbandPerson.create(
            account_id=account.id,
            home_node_path=home.path,
            created_at=now,
            updated_at=now,
            updated_by=by,
            using_db=conn,
        )
    else:
        person.home_node_path, person.updated_at, person.updated_by = home.path, now, by
        await person.save(using_db=conn, update_fields=["home_node_path", "updated_at", "updated_by"])
    await audit_change(who, action, band.public_id, home.path, conn, account=account.public_id)


async def bind_own(*, account: Account, code: str, community_code: str, who: Who) -> Wristband:
    """The signed-in resident binds the stock band with this printed code to themselves."""
    home = await community(community_code)
    normalized = codes.normalize_printed_code(code)
    band = await Wristband.get_or_none(code_hash=codes.code_hash(normalized)) if normalized else None
    if band is None or band.state != BandState.STOCK.value:
        raise band_unknown()
    try:
        async with in_transaction() as conn:
            await _bind(band, account, home, by="self", who=who, action="wristband.bound", conn=conn)
    except IntegrityError:  # another bind of this person raced past the check: the unique index
        raise Conflict(
            "This person has an active band; report it lost before binding another.", code="wristband_active"
        ) from None
    await stoplist.band_changed(band.id)
    return await Wristband.get(id=band.id)


async def own_band(account: Account) -> Wristband | None:
    return await Wristband.get_or_none(account_id=account.id, state=BandState.ACTIVE.value)


async def revoke(*, band: Wristband, reason: str, who: Who) -> Wristband:
    async with in_transaction() as conn:
        now = utcnow()
        updated = (
            await Wristband.filter(id=band.id, state__in=[BandState.STOCK.value, BandState.ACTIVE.value])
            .using_db(conn)
            .update(state=BandState.REVOKED.value, revoked_at=now, revoke_reason=reason, updated_at=now)
        )
        if updated != 1:
            raise Conflict("The band is revoked already.", code="wristband_revoked")
        await audit_change(who, "wristband.revoked", band.public_id, band.node_path, conn, reason=reason)
    await stoplist.band_changed(band.id)
    if band.account_id is not None:
        await stoplist.person_changed(band.account_id)
    return await Wristband.get(id=band.id)


async def issue(*, viewer: Principal, data: WristbandIssueIn, who: Who) -> tuple[Wristband, Account]:
    """Staff hand a stock band of their area to a person at a desk: the person is found by ID number,
    or a resident account is created for them (without WeChat)."""
    if (data.code is None) == (data.ble_id is None):
        raise ValidationFailed.field("code", "give the band's printed code or its ble_id (one of them)", "band_key")
    home = await community(data.community)
    under = desk_area(viewer)
    if not home.path.startswith(under):
        raise ValidationFailed.field("community", "give the code of a community (社区)", "unknown_community")
    band: Wristband | None = None
    if data.code is not None:
        normalized = codes.normalize_printed_code(data.code)
        band = await Wristband.get_or_none(code_hash=codes.code_hash(normalized)) if normalized else None
    else:
        ble = codes.normalize_ble_id(data.ble_id)
        band = await Wristband.get_or_none(ble_id=ble) if ble else None
    if band is None or not band.node_path.startswith(under) or band.state != BandState.STOCK.value:
        raise NotFound("No band in stock in your area with this code.", code="wristband_not_found")
    try:
        normalize_id_number(data.id_number)
    except ValueError:
        raise ValidationFailed.field("id_number", "not a valid resident ID number", "invalid_id_number") from None
    try:
        normalize_mobile(data.phone)
    except ValueError:
        raise ValidationFailed.field("phone", "not a mainland China mobile number", "invalid_phone") from None
    account: Account | None = None
    try:
        async with in_transaction() as conn:
            account, _ = await identity_service.resident_for_desk(
                id_number=data.id_number, name=data.name, phone=data.phone, using_db=conn
            )
            if account.role not in RESIDENTS:
                raise ValidationFailed.field("id_number", "this ID number is a staff account's", "not_a_resident")
            if not account.is_active:
                raise ValidationFailed.field("id_number", "this person's account is disabled", "account_disabled")
            await _bind(
                band, account, home, by=viewer.account_id, who=who, action="wristband.issued", conn=conn, desk=under
            )
    except Conflict as exc:
        if exc.code == "person_elsewhere" and account is not None:  # leave a trace of who tried whom
            async with in_transaction() as conn:
                await audit_change(
                    who, "wristband.issue_refused", account.public_id, under, conn, why=exc.code, band=band.public_id
                )
        raise
    except IntegrityError:
        raise Conflict(
            "This person has an active band; report it lost before binding another.", code="wristband_active"
        ) from None
    await stoplist.band_changed(band.id)
    return await Wristband.get(id=band.id), account
