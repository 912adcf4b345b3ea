"""Rows the wristband tests start from, written straight to the database (the routes that write them
have their own tests): bands, wearers, statuses, orders, trips, key areas and checkpoints."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from identity.models import Account, Node
from miniapp_api.wristbands import codes, sealed
from miniapp_api.wristbands.models import (
    BandState,
    Checkpoint,
    CheckpointStaff,
    HealthStatus,
    KeyArea,
    QuarantineOrder,
    Trip,
    Wristband,
    WristbandPerson,
)

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_ble_id() -> str:
    return secrets.token_hex(6).upper()


def new_code() -> str:
    return "".join(secrets.choice(CROCKFORD) for _ in range(12))


def _pid(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(9)[:12]


async def node_path(code: str) -> str:
    return (await Node.get(code=code)).path


async def band(
    *, node: str = "GM0101", wearer: Account | None = None, home: str = "GM0101", revoked: bool = False
) -> tuple[Wristband, str]:
    """A band in stock at ``node`` (bound to ``wearer`` when given), and its printed code."""
    code = new_code()
    at = now()
    row = await Wristband.create(
        public_id=_pid("wb_"),
        ble_id=new_ble_id(),
        code_hash=codes.code_hash(code),
        node_path=await node_path(node),
        state=BandState.STOCK.value,
        created_at=at,
        updated_at=at,
    )
    if wearer is not None:
        await person(wearer, home=home)
        row.state, row.account_id, row.bound_at, row.bound_by = BandState.ACTIVE.value, wearer.id, at, "self"
        await row.save()
    if revoked:
        row.state, row.revoked_at, row.revoke_reason = BandState.REVOKED.value, at, "lost"
        await row.save()
    return row, code


async def person(account: Account, *, home: str = "GM0101") -> WristbandPerson:
    at = now()
    found, _ = await WristbandPerson.get_or_create(
        account_id=account.id,
        defaults={"home_node_path": await node_path(home), "created_at": at, "updated_at": at, "updated_by": "seed"},
    )
    return found


async def status(
    account: Account,
    value: str,
    *,
    since: dt.timedelta = dt.timedelta(hours=1),
    lasts: dt.timedelta = dt.timedelta(days=3),
) -> HealthStatus:
    at = now() - since
    await HealthStatus.filter(account_id=account.id).delete()
    return await HealthStatus.create(
        account_id=account.id,
        status_enc=sealed.seal(value, field=sealed.STATUS),
        reason_enc=sealed.seal("close_contact", field=sealed.STATUS_REASON),
        set_at=at,
        expires_at=at + lasts,
        set_by="seed",
    )


async def quarantine(account: Account, *, starts: dt.datetime, ends: dt.datetime) -> QuarantineOrder:
    return await QuarantineOrder.create(
        public_id=_pid("qo_"),
        account_id=account.id,
        starts_at=starts,
        ends_at=ends,
        reason_enc=sealed.seal("close_contact", field=sealed.QUARANTINE_REASON),
        created_at=now(),
        created_by="seed",
    )


async def trip(account: Account, place: str, first: dt.date, last: dt.date) -> Trip:
    return await Trip.create(
        public_id=_pid("tr_"),
        account_id=account.id,
        place_enc=sealed.seal(place, field=sealed.TRIP_PLACE),
        from_date=first,
        until_date=last,
        declared_at=now(),
    )


async def key_area(code: str, first: dt.date, last: dt.date | None, *, level: str = "high") -> KeyArea:
    at = now()
    return await KeyArea.create(
        public_id=_pid("ka_"),
        area_code=code,
        risk_level=level,
        from_date=first,
        until_date=last,
        source="国务院联防联控机制公告 2026-88",
        created_at=at,
        updated_at=at,
        updated_by="seed",
    )


async def checkpoint(*, node: str = "GM010101", staff: Sequence[Account] = (), name: str = "一号门") -> Checkpoint:
    at = now()
    row = await Checkpoint.create(
        public_id=_pid("cp_"), name=name, kind="gate", node_path=await node_path(node), created_at=at, created_by="seed"
    )
    for account in staff:
        await CheckpointStaff.create(checkpoint_id=row.id, account_id=account.id, assigned_at=at, assigned_by="seed")
    return row
