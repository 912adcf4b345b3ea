"""Ownership transfer: the owner asks for a one-time code, the new owner takes the bike with it and
their own identity; the bike's code is reissued (the old one answers superseded)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

import redis.asyncio as aioredis
from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.ebikes.models import BikeStatus, EBike, Transfer, TransferStatus
from miniapp_api.ebikes.owners import bind_identity, check_capacity, check_identity, lock_account
from miniapp_api.ebikes.schemas import OwnerIdentityIn
from miniapp_api.ebikes.service import bike_label, ensure_registered, follow, utcnow
from notify import outbox
from qr import service as qr_service
from server.errors import Conflict, NotFound
from server.wire import wire_time

log = logging.getLogger("gmid.ebikes")

TRANSFER_TTL = dt.timedelta(hours=24)
_TRANSFER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


async def start_transfer(*, bike: EBike) -> tuple[str, dt.datetime]:
    """A one-time code for the new owner; an earlier pending code stops working."""
    ensure_registered(bike)
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
        ensure_registered(bike)
        if bike.status is BikeStatus.STOLEN:
            raise Conflict("A bike reported stolen cannot change owner.", code="ebike_stolen")
        if bike.owner_id == new_owner.id:
            raise Conflict("You already own this bike.", code="already_owner")
        buyer = await lock_account(new_owner, conn)
        await check_capacity(buyer, max_per_owner, conn)
        await bind_identity(buyer, identity, conn, redis)
        old_owner = await Account.get(id=bike.owner_id, using_db=conn)
        credential = await qr_service.reissue(public_id=bike.credential_id, reason="transferred", using_db=conn)
        bike.owner_id = new_owner.id
        bike.updated_at = now
        await bike.save(using_db=conn, update_fields=["owner_id", "updated_at"])
        # The owner is not on the code (it is checked live when they print it); its place and label
        # are re-derived all the same, as after every change to the bike.
        await follow(bike, conn)
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
