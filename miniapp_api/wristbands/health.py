"""Health staff and the people they look after: find a person of their communities, set or clear
their health status, order home quarantine and lift it. Statuses and reasons are sealed in the vault;
the audit log records who changed what kind of thing for whom, never the status or the reason. A
search spends the person-lookup budget (GMID_POLICE_LOOKUP_RATE), one budget with the traces."""

from __future__ import annotations

import datetime as dt

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity import hierarchy, lookup_limit
from identity import service as identity_service
from identity.models import Account
from identity.pii import current_vault
from identity.roles import Role
from identity.validators import InvalidIdNumber, InvalidMobile, normalize_id_number, normalize_mobile
from miniapp_api.wristbands import sealed, stoplist
from miniapp_api.wristbands.bands import Who, audit_change, plausible_id
from miniapp_api.wristbands.models import HealthStatus, QuarantineOrder, Wristband, WristbandPerson
from miniapp_api.wristbands.people_schemas import (
    HealthPersonBand,
    HealthPersonOut,
    HealthQuarantineIn,
    HealthQuarantineOut,
    HealthStatusIn,
    HealthStatusOut,
)
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed
from server.ratelimit import RateLimiter

HEALTH = (Role.HEALTH_STAFF, Role.ADMIN)

# Why a status was set or a quarantine ordered: a fixed list, shown in Chinese.
REASONS: dict[str, str] = {
    "close_contact": "密切接触者",
    "secondary_contact": "密接的密接",
    "key_area_travel": "重点地区旅居史",
    "fever": "发热症状",
    "positive_test": "核酸或抗原检测阳性",
    "awaiting_result": "等待检测结果",
    "inbound_travel": "入境人员",
    "recovered": "康复观察",
    "other": "其他（见纸质记录）",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def label(code: str) -> str:
    return REASONS.get(code, code)


def check_reason(code: str) -> None:
    if code not in REASONS:
        raise ValidationFailed.field("reason_code", "one of: " + ", ".join(REASONS), "unknown_reason")


def not_found() -> NotFound:
    return NotFound("No such person among those you look after.", code="person_not_found")


async def person_in_scope(*, viewer: Principal, account_id: int) -> WristbandPerson:
    person = await WristbandPerson.get_or_none(account_id=account_id)
    if person is None or not viewer.covers(person.home_node_path):
        raise not_found()
    return person


async def by_public_id(*, viewer: Principal, public_id: str) -> tuple[Account, WristbandPerson]:
    """A person whose home community is in the viewer's area; 404 otherwise (as a missing one)."""
    account = await identity_service.get_account(public_id=public_id) if 0 < len(public_id) <= 32 else None
    if account is None:
        raise not_found()
    return account, await person_in_scope(viewer=viewer, account_id=account.id)


async def find(
    *, viewer: Principal, id_number: str | None, phone: str | None, who: Who, limiter: RateLimiter, rate: str
) -> tuple[Account, WristbandPerson]:
    """Find one person by ID number or phone (blind index), in the viewer's communities; audited, and
    one lookup of the person-lookup budget spent (``rate``; 429 past it, 503 when it cannot be checked),
    as for a trace: a search tells whether a number is one of the caller's people."""
    if (id_number is None) == (phone is None):
        raise ValidationFailed.field("id_number", "give an id_number or a phone (one of them)", "search_key")
    field = "id_number" if id_number is not None else "phone"
    try:
        key = normalize_id_number(id_number) if id_number is not None else normalize_mobile(phone or "")
    except (InvalidIdNumber, InvalidMobile):
        raise ValidationFailed.field(field, f"not a valid {field.replace('_', ' ')}", f"invalid_{field}") from None

    async def audited(outcome: str, target: str = "", matches: int = 0) -> None:
        async with in_transaction() as conn:
            await audit_change(
                who,
                "health.person_lookup",
                target,
                viewer.node_path or "",
                conn,
                by=field,
                found=outcome == "ok",
                matches=matches,
                outcome=outcome,
            )

    await lookup_limit.spend(limiter=limiter, rate_text=rate, viewer=viewer, refused=audited)
    if id_number is not None:
        bidx = current_vault().blind_index(key, field=identity_service.ID_NUMBER_FIELD)
        ids = await Account.filter(id_number_bidx=bidx).values_list("id", flat=True)
    else:
        bidx = current_vault().blind_index(key, field=identity_service.PHONE_FIELD)
        ids = await Account.filter(phone_bidx=bidx).values_list("id", flat=True)
    # A phone may be on several accounts: only the caller's own people count.
    people = [p for p in await WristbandPerson.filter(account_id__in=list(ids)) if viewer.covers(p.home_node_path)]
    person = people[0] if len(people) == 1 else None
    found = await Account.get_or_none(id=person.account_id) if person else None
    if len(people) > 1:
        await audited("several_people", matches=len(people))
        raise Conflict("Several of your people have this phone number; search by ID number.", code="several_people")
    if found is None or person is None:
        await audited("not_found")
        raise not_found()
    await audited("ok", found.public_id, 1)
    return found, person


async def lock(person: WristbandPerson, conn: BaseDBAsyncClient) -> None:
    """Take the person's row lock for the transaction: one health change of a person at a time (two
    first statuses never race into the one-status index), and none while a bind decides whether the
    home community may move (bands._bind locks the same row)."""
    await WristbandPerson.filter(id=person.id).using_db(conn).select_for_update().first()


def status_out(row: HealthStatus, now: dt.datetime | None = None) -> HealthStatusOut:
    reason = sealed.unseal(row.reason_enc, field=sealed.STATUS_REASON)
    return HealthStatusOut(
        status=sealed.unseal(row.status_enc, field=sealed.STATUS),  # type: ignore[arg-type]
        reason_code=reason,
        reason=label(reason),
        set_at=row.set_at,
        expires_at=row.expires_at,
        active=row.expires_at > (now or utcnow()),
    )


def quarantine_out(row: QuarantineOrder, now: dt.datetime | None = None) -> HealthQuarantineOut:
    at = now or utcnow()
    reason = sealed.unseal(row.reason_enc, field=sealed.QUARANTINE_REASON)
    return HealthQuarantineOut(
        id=row.public_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        reason_code=reason,
        reason=label(reason),
        lifted_at=row.lifted_at,
        active=row.lifted_at is None and row.starts_at <= at < row.ends_at,
    )


async def status_of(account_id: int) -> HealthStatusOut | None:
    row = await HealthStatus.get_or_none(account_id=account_id)
    return status_out(row) if row else None


async def quarantines_of(account_id: int) -> list[HealthQuarantineOut]:
    rows = await QuarantineOrder.filter(account_id=account_id).order_by("-starts_at", "-id")
    return [quarantine_out(r) for r in rows]


async def person_out(account: Account, person: WristbandPerson) -> HealthPersonOut:
    masked = identity_service.masked_profile(account)
    band = await Wristband.filter(account_id=account.id).order_by("-id").first()
    return HealthPersonOut(
        id=account.public_id,
        name=masked.name,
        phone=masked.phone,
        community=hierarchy.code_of(person.home_node_path),
        band=HealthPersonBand(id=band.public_id, state=band.state) if band else None,  # type: ignore[arg-type]
        status=await status_of(account.id),
        quarantines=await quarantines_of(account.id),
    )


def _check_expiry(expires_at: dt.datetime, retention_days: int, now: dt.datetime) -> None:
    if not now < expires_at <= now + dt.timedelta(days=retention_days):
        raise ValidationFailed.field(
            "expires_at", f"after now and at most {retention_days} days ahead", "status_expiry"
        )


async def set_status(
    *, account: Account, person: WristbandPerson, data: HealthStatusIn, retention_days: int, who: Who
) -> HealthStatus:
    check_reason(data.reason_code)
    now = utcnow()
    _check_expiry(data.expires_at, retention_days, now)
    async with in_transaction() as conn:
        await lock(person, conn)
        row = await HealthStatus.get_or_none(account_id=account.id, using_db=conn)
        values = {
            "status_enc": sealed.seal(data.status, field=sealed.STATUS),
            "reason_enc": sealed.seal(data.reason_code, field=sealed.STATUS_REASON),
            "set_at": now,
            "expires_at": data.expires_at,
            "set_by": who.actor,
        }
        if row is None:
            row = await HealthStatus.create(account_id=account.id, using_db=conn, **values)
        else:
            await row.update_from_dict(values).save(using_db=conn)
        await audit_change(who, "health.status_set", account.public_id, person.home_node_path, conn)
    await stoplist.person_changed(account.id)
    return row


async def clear_status(*, account: Account, person: WristbandPerson, who: Who) -> None:
    async with in_transaction() as conn:
        await lock(person, conn)
        deleted = await HealthStatus.filter(account_id=account.id).using_db(conn).delete()
        if not deleted:
            raise NotFound("This person has no health status.", code="no_status")
        await audit_change(who, "health.status_cleared", account.public_id, person.home_node_path, conn)
    await stoplist.person_changed(account.id)


async def order_quarantine(
    *, account: Account, person: WristbandPerson, data: HealthQuarantineIn, retention_days: int, who: Who
) -> QuarantineOrder:
    check_reason(data.reason_code)
    now = utcnow()
    horizon = dt.timedelta(days=retention_days)
    if not (now - horizon <= data.starts_at < data.ends_at and now < data.ends_at <= now + horizon):
        raise ValidationFailed.field(
            "ends_at",
            f"starts_at before ends_at; ends_at after now; both within {retention_days} days of now",
            "quarantine_period",
        )
    async with in_transaction() as conn:
        await lock(person, conn)
        row = await QuarantineOrder.create(
            public_id=public_ids.new("qo_"),
            account_id=account.id,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            reason_enc=sealed.seal(data.reason_code, field=sealed.QUARANTINE_REASON),
            created_at=now,
            created_by=who.actor,
            using_db=conn,
        )
        await audit_change(
            who, "health.quarantine_ordered", account.public_id, person.home_node_path, conn, order=row.public_id
        )
    await stoplist.person_changed(account.id)
    return row


async def lift_quarantine(*, account: Account, person: WristbandPerson, order_id: str, who: Who) -> QuarantineOrder:
    row = (
        await QuarantineOrder.get_or_none(public_id=order_id, account_id=account.id) if plausible_id(order_id) else None
    )
    if row is None:
        raise NotFound("No such quarantine order.", code="quarantine_not_found")
    async with in_transaction() as conn:
        await lock(person, conn)
        now = utcnow()
        lifted = (
            await QuarantineOrder.filter(id=row.id, lifted_at__isnull=True, ends_at__gt=now)
            .using_db(conn)
            .update(lifted_at=now, lifted_by=who.actor)
        )
        if not lifted:
            raise Conflict("The order is lifted or over already.", code="quarantine_over")
        await audit_change(
            who, "health.quarantine_lifted", account.public_id, person.home_node_path, conn, order=row.public_id
        )
    await stoplist.person_changed(account.id)
    return await QuarantineOrder.get(id=row.id)
