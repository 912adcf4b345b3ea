"""Trips a resident declares: where (a GB/T 2260 code, sealed) and from which day until which day
(days in China). Not in the future, not older than the retention period, at most MAX_TRIPS kept."""

from __future__ import annotations

import datetime as dt

from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.wristbands import codes, engine, sealed, stoplist
from miniapp_api.wristbands.bands import plausible_id
from miniapp_api.wristbands.models import Trip
from miniapp_api.wristbands.people_schemas import HealthTripIn, HealthTripOut
from server import public_ids
from server.errors import Conflict, NotFound, ValidationFailed

MAX_TRIPS = 50


def today() -> dt.date:
    return dt.datetime.now(engine.CHINA).date()


def trip_out(row: Trip) -> HealthTripOut:
    return HealthTripOut(
        id=row.public_id,
        place=sealed.unseal(row.place_enc, field=sealed.TRIP_PLACE),
        from_date=row.from_date,
        until_date=row.until_date,
        declared_at=row.declared_at,
    )


async def list_own(account: Account) -> list[HealthTripOut]:
    rows = await Trip.filter(account_id=account.id).order_by("-from_date", "-id")
    return [trip_out(r) for r in rows]


async def declare(*, account: Account, data: HealthTripIn, retention_days: int) -> Trip:
    if not codes.valid_place_code(data.place):
        raise ValidationFailed.field("place", "a GB/T 2260 administrative division code", "unknown_place")
    now = today()
    oldest = now - dt.timedelta(days=retention_days)
    if not (oldest <= data.from_date <= data.until_date <= now):
        raise ValidationFailed.field(
            "from", f"from on or before until, not in the future, at most {retention_days} days ago", "trip_dates"
        )
    async with in_transaction() as conn:
        if await Trip.filter(account_id=account.id).using_db(conn).count() >= MAX_TRIPS:
            raise Conflict(f"At most {MAX_TRIPS} trips are kept; delete one first.", code="too_many_trips")
        row = await Trip.create(
            public_id=public_ids.new("tr_"),
            account_id=account.id,
            place_enc=sealed.seal(data.place, field=sealed.TRIP_PLACE),
            from_date=data.from_date,
            until_date=data.until_date,
            declared_at=dt.datetime.now(dt.UTC),
            using_db=conn,
        )
    await stoplist.person_changed(account.id)
    return row


async def delete_own(*, account: Account, public_id: str) -> None:
    deleted = await Trip.filter(public_id=public_id, account_id=account.id).delete() if plausible_id(public_id) else 0
    if not deleted:
        raise NotFound("No such trip of yours.", code="trip_not_found")
    await stoplist.person_changed(account.id)
