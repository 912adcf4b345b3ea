"""A bike's owner: the identity (name, ID number, phone) a registration or a transfer binds to the
account, the bikes that identity is bound to (for the identity service), and the owner's row locked
while their bikes change, with the limit of bikes per owner."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from identity import service as identity_service
from identity.models import Account
from identity.validators import InvalidIdNumber, InvalidMobile, normalize_id_number, normalize_mobile
from miniapp_api.ebikes.models import BikeStatus, EBike, Transfer
from miniapp_api.ebikes.schemas import OwnerIdentityIn
from server.errors import Conflict, ValidationFailed


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


async def bind_identity(
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


async def lock_account(owner: Account, conn: BaseDBAsyncClient) -> Account:
    """The owner's row, locked and read afresh inside the transaction. Two registrations (or transfers)
    at once then run one after the other: the second sees the first's bike and the ID number it bound,
    not the copy read before either began (PostgreSQL; SQLite's single writer serialises them anyway)."""
    return await Account.filter(id=owner.id).using_db(conn).select_for_update().get()


async def check_capacity(owner: Account, max_per_owner: int, conn: BaseDBAsyncClient) -> None:
    # Call with the row locked by lock_account, so that two at once cannot both see room for one more.
    count = await EBike.filter(owner_id=owner.id).exclude(status=BikeStatus.DEREGISTERED).using_db(conn).count()
    if count >= max_per_owner:
        raise Conflict(
            f"At most {max_per_owner} e-bikes can be registered to one person.",
            code="too_many_bikes",
            details={"limit": max_per_owner},
        )
