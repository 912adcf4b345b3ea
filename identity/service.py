"""Accounts: staff accounts, profiles and who may see whom (sign-in and tokens: ``signin``).

Service functions take keyword-only typed arguments and never touch the request.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from identity import audit, hierarchy
from identity.models import Account, Node, RefreshToken
from identity.passwords import check_strength, hash_password_async
from identity.pii import current_vault, mask_address, mask_id_number, mask_name, mask_phone
from identity.roles import Role
from identity.scope import account_scope, is_district_level, may_see
from identity.validators import normalize_id_number, normalize_mobile
from server.auth import ACTIVE_CACHE_SECONDS, Principal, active_state_key
from server.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from server.wire import wire_time

PUBLIC_ID_PREFIX = "acc_"
log = logging.getLogger("gmid.identity")


def new_public_id() -> str:
    return PUBLIC_ID_PREFIX + secrets.token_urlsafe(12)


# Staff accounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditContext:
    """Who did it, from where: recorded in the same transaction as the action."""

    actor: Principal
    client_addr: str
    request_id: str


async def create_staff(
    *, username: str, role: Role, node_code: str, password: str, by: AuditContext | None = None
) -> Account:
    if role in (Role.RESIDENT, Role.EMPLOYER):
        # Employer accounts are made by employment staff for a verified enterprise (miniapp_api.jobs).
        raise ValidationFailed("Residents sign in with WeChat; staff roles only.", code="not_a_staff_role")
    node = await hierarchy.get_by_code(node_code)
    if node is None:
        raise NotFound(f"There is no hierarchy node {node_code}.", code="node_not_found")
    username, password_hash = await prepare_password_account(username=username, password=password)
    try:
        async with in_transaction() as conn:
            account = await Account.create(
                public_id=new_public_id(),
                role=role,
                node=node,
                username=username,
                password_hash=password_hash,
                using_db=conn,
            )
            if by is not None:
                await audit.record(
                    actor=by.actor.account_id,
                    role=by.actor.role.value,
                    action="account.create",
                    target=account.public_id,
                    client_addr=by.client_addr,
                    request_id=by.request_id,
                    details={"role": role.value, "node": node_code},
                    scope=node.path,
                    using_db=conn,
                )
            return account
    except IntegrityError:
        raise Conflict("That username is taken.", code="username_taken") from None


async def prepare_password_account(*, username: str, password: str) -> tuple[str, str]:
    """The normalised username and the password's hash for a new password account (staff, employer):
    422 ``weak_password``, 409 ``username_taken``. The caller creates the row (and turns the unique
    index's IntegrityError into the same 409)."""
    username = username.strip().lower()
    try:
        check_strength(password)
    except ValueError as exc:
        raise ValidationFailed(
            "The password is too weak.",
            code="weak_password",
            details={"fields": [{"field": "password", "message": str(exc), "type": "weak_password"}]},
        ) from None
    if await Account.exists(username=username):
        raise Conflict("That username is taken.", code="username_taken")
    return username, await hash_password_async(password)  # outside any transaction: it takes ~0.1 s


async def get_account(*, public_id: str) -> Account | None:
    if not 0 < len(public_id) <= 32:  # no such id can exist; Tortoise would refuse the query itself
        return None
    return await Account.get_or_none(public_id=public_id).prefetch_related("node")


async def visible_account(*, viewer: Principal, public_id: str) -> Account:
    """The account, if ``viewer`` may see it; otherwise 404 (never 403, so ids cannot be probed)."""
    account = await get_account(public_id=public_id)
    if account is None or not may_see(viewer, account):
        raise NotFound("There is no such account.", code="account_not_found")
    return account


async def list_accounts(
    *, viewer: Principal, role: Role | None, node_code: str | None, limit: int, after: str | None
) -> list[Account]:
    if viewer.node_path is None:
        return []
    query = Account.filter(node__path__startswith=viewer.node_path)
    if is_district_level(viewer):
        query = Account.filter(Q(node__path__startswith=viewer.node_path) | Q(node_id__isnull=True))
    if role is not None:
        query = query.filter(role=role)
    if node_code is not None:
        node = await hierarchy.get_by_code(node_code)
        if node is None or not viewer.covers(node.path):
            return []
        query = query.filter(node__path__startswith=node.path)
    if after is not None:
        cursor = await Account.get_or_none(public_id=after)
        if cursor is None:  # not an id this list gave out: no silent restart from the first page
            raise ValidationFailed.field("after", "The cursor does not name an account.", "bad_cursor")
        query = query.filter(id__gt=cursor.id)
    return await query.order_by("id").limit(limit).prefetch_related("node")


async def set_active(
    *,
    viewer: Principal,
    public_id: str,
    active: bool,
    client_addr: str,
    request_id: str,
    redis: aioredis.Redis,
) -> Account:
    account = await visible_account(viewer=viewer, public_id=public_id)
    if account.public_id == viewer.account_id:
        raise Conflict("You cannot disable your own account.", code="cannot_disable_self")
    if account.role is Role.ADMIN and not is_district_level(viewer):
        node: Node | None = account.node
        if node is None or viewer.node_path is None or len(node.path) <= len(viewer.node_path):
            # An administrator manages administrators below their node, never peers.
            raise Forbidden("Only a higher level may enable or disable this administrator.", code="outside_scope")
    async with in_transaction() as conn:
        account.is_active = active
        await account.save(update_fields=["is_active", "updated_at"], using_db=conn)
        if not active:
            await (
                RefreshToken.filter(account_id=account.id, revoked_at__isnull=True)
                .using_db(conn)
                .update(revoked_at=datetime.now(UTC))
            )
        await audit.record(
            actor=viewer.account_id,
            role=viewer.role.value,
            action="account.enable" if active else "account.disable",
            target=account.public_id,
            client_addr=client_addr,
            request_id=request_id,
            scope=account_scope(account),
            using_db=conn,
        )
    # Access tokens already handed out follow at once (the middleware reads this state).
    await redis.set(active_state_key(account.public_id), b"1" if active else b"0", ex=ACTIVE_CACHE_SECONDS)
    return account


# Personal data ---------------------------------------------------------------------------------

NAME_FIELD = "account.name"
ADDRESS_FIELD = "account.address"
PHONE_FIELD = "account.phone"
ID_NUMBER_FIELD = "account.id_number"


@dataclass(frozen=True)
class Profile:
    name: str | None
    phone: str | None
    id_number: str | None
    address: str | None = None


# An ID number bound to property --------------------------------------------------------------------
#
# Once something is registered to a person (a bike, its transfer, its alarm), police find it by the
# person's ID number: the number on the account may then change only through a staff correction
# (``correct_id_number``: verified at a desk, with a reason and a case number, audited, the resident
# told). The resident's own routes (profile, registration, transfer acceptance) get one answer for
# every ID number they cannot bind, whatever the cause (the account's number is bound, the number is
# another account's, too many tries today), which never says which cause holds. An account with
# nothing bound can still tell a free number (it binds: 200) from another account's (409), inherent to
# a unique binding on first use; each account may try at most ID_NUMBER_TRIES_PER_DAY numbers other
# than its own, which bounds that to a few numbers a day.

ID_NUMBER_TRIES_PER_DAY = 5
PlacesOf = Callable[[int, BaseDBAsyncClient | None], Awaitable[list[str | None]]]
_bound_property: dict[str, PlacesOf] = {}

_COUNT_TRY = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def register_bound_property(name: str, places_of: PlacesOf) -> None:
    """A feature whose rows bind an account's identity says so: ``places_of(account id, conn)`` gives
    the node paths of that account's rows (empty: nothing bound)."""
    _bound_property[name] = places_of


async def bound_property_places(account_id: int, conn: BaseDBAsyncClient | None = None) -> list[str | None]:
    """Where the property bound to this account's identity is kept (empty: none is bound)."""
    places: list[str | None] = []
    for places_of in _bound_property.values():
        places.extend(await places_of(account_id, conn))
    return places


def identity_refused() -> Conflict:
    """The one answer to an ID number the caller may not bind, whatever the reason."""
    return Conflict(
        "This ID number cannot be bound to your account. An ID number on record is corrected only at a "
        "staff desk (社区工作站), with your ID card.",
        code="identity_mismatch",
    )


async def _count_id_number_try(account: Account, redis: aioredis.Redis | None) -> None:
    if redis is None:  # the command line and the service's own callers
        return
    try:
        count = int(await redis.eval(_COUNT_TRY, 1, f"gmid:identity:id-number-tries:{account.public_id}", 86400))
    except RedisError:
        raise ServiceUnavailable(
            "ID numbers cannot be checked for a moment; try again shortly.", code="identity_check_unavailable"
        ) from None
    if count > ID_NUMBER_TRIES_PER_DAY:
        log.warning("id number tries over the daily limit account=%s", account.public_id)
        raise identity_refused()


async def update_profile(
    *,
    account: Account,
    name: str | None,
    phone: str | None,
    id_number: str | None,
    address: str | None = None,
    using_db: BaseDBAsyncClient | None = None,
    redis: aioredis.Redis | None = None,
) -> Account:
    """Set the given fields (through the vault). Pass ``using_db`` to join the caller's transaction.
    An ID number other than the account's own is refused (``identity_refused``) when the account has
    property bound to its identity or the new number is another account's; with ``redis``, the tries
    of other numbers are counted and limited per account and day."""
    vault = current_vault()
    changes: list[str] = []
    if name is not None:
        account.name_enc = vault.encrypt(name, field=NAME_FIELD)
        changes.append("name_enc")
    if phone is not None:
        normalized = normalize_mobile(phone)
        account.phone_enc = vault.encrypt(normalized, field=PHONE_FIELD)
        account.phone_bidx = vault.blind_index(normalized, field=PHONE_FIELD)
        changes += ["phone_enc", "phone_bidx"]
    if id_number is not None:
        normalized = normalize_id_number(id_number)
        bidx = vault.blind_index(normalized, field=ID_NUMBER_FIELD)
        if bidx != account.id_number_bidx:
            await _count_id_number_try(account, redis)
            # Both checks, always, before deciding: the refusal takes the same work whichever holds.
            taken = await Account.filter(id_number_bidx=bidx).exclude(id=account.id).using_db(using_db).exists()
            # Property without a number (a staff correction removed a wrongly claimed one) binds too:
            # the next number for it is given at the desk as well.
            bound = bool(await bound_property_places(account.id, using_db))
            if taken or bound:
                raise identity_refused()
            account.id_number_enc = vault.encrypt(normalized, field=ID_NUMBER_FIELD)
            account.id_number_bidx = bidx
            changes += ["id_number_enc", "id_number_bidx"]
    if address is not None:
        account.address_enc = vault.encrypt(address, field=ADDRESS_FIELD)
        changes.append("address_enc")
    if changes:
        try:
            await account.save(update_fields=[*changes, "updated_at"], using_db=using_db)
        except IntegrityError:  # the unique blind index: another account bound it meanwhile
            raise identity_refused() from None
    return account


RESIDENT_ROLES = (Role.RESIDENT, Role.PARTY_MEMBER)
CORRECTING_ROLES = (Role.ADMIN, Role.OFFICER)
ID_NUMBER_CHANGED = "identity.id_number_changed"  # the notification the resident gets


def may_correct_identity(viewer: Principal, account: Account, places: list[str | None]) -> bool:
    """An administrator or officer corrects the ID number of a resident whose registered property (and
    grid, for a party member) all lies in their part of the hierarchy; the district, of any resident."""
    if viewer.role not in CORRECTING_ROLES or account.role not in RESIDENT_ROLES:
        return False
    if is_district_level(viewer):
        return True
    node = account.node if isinstance(account.node, Node) else None
    paths = [*places, *([node.path] if node is not None else [])]
    return bool(paths) and all(viewer.covers(path) for path in paths)


async def correct_id_number(
    *,
    viewer: Principal,
    public_id: str,
    id_number: str | None,
    reason: str,
    case_no: str,
    client_addr: str,
    request_id: str,
) -> Account:
    """The staff correction of a resident's ID number (checked at the desk against the ID card), or its
    removal (``id_number`` None: a number claimed by the wrong person). Audited with both numbers
    masked, the reason and the case number; the resident is told. A number another account holds is
    refused (``id_number_in_use``): that account's number is corrected first, by whoever may."""
    from notify import outbox  # notify depends on identity, not the other way round at import time

    account = await get_account(public_id=public_id)
    places = await bound_property_places(account.id) if account is not None else []
    if account is None or not may_correct_identity(viewer, account, places):
        raise NotFound("There is no such account.", code="account_not_found")
    vault = current_vault()
    normalized = normalize_id_number(id_number) if id_number is not None else None
    bidx = vault.blind_index(normalized, field=ID_NUMBER_FIELD) if normalized is not None else None
    old = read_profile(account).id_number
    scope = _scope_of(places, account)

    async def record(outcome: str, conn: BaseDBAsyncClient | None = None) -> None:
        await audit.record(
            actor=viewer.account_id,
            role=viewer.role.value,
            action="account.id_number_change",
            target=account.public_id,
            reason=reason,
            client_addr=client_addr,
            request_id=request_id,
            details={
                "case_no": case_no,
                "old": mask_id_number(old),
                "new": mask_id_number(normalized),
                "property": len(places),
                "outcome": outcome,
            },
            scope=scope,
            using_db=conn,
        )

    if bidx == account.id_number_bidx:
        await record("unchanged")
        raise Conflict("The account already has this ID number.", code="id_number_unchanged")
    if bidx is not None and await Account.filter(id_number_bidx=bidx).exclude(id=account.id).exists():
        await record("refused_in_use")
        raise Conflict("Another account holds this ID number; correct that account first.", code="id_number_in_use")
    now = datetime.now(UTC)
    try:
        async with in_transaction() as conn:
            locked = await Account.filter(id=account.id).using_db(conn).select_for_update().get()
            locked.id_number_enc = vault.encrypt(normalized, field=ID_NUMBER_FIELD) if normalized else None  # type: ignore[assignment]
            locked.id_number_bidx = bidx
            await locked.save(update_fields=["id_number_enc", "id_number_bidx", "updated_at"], using_db=conn)
            await record("changed" if normalized else "removed", conn)
            if outbox.reachable(locked, ID_NUMBER_CHANGED):
                await outbox.enqueue(
                    template=ID_NUMBER_CHANGED,
                    data={"at": wire_time(now)},
                    idempotency_key=f"id-number:{locked.public_id}:{now.timestamp()}",
                    account=locked,
                    using_db=conn,
                )
    except IntegrityError:  # bound to another account between the check and the write
        raise Conflict(
            "Another account holds this ID number; correct that account first.", code="id_number_in_use"
        ) from None
    log.info("id number corrected account=%s by=%s", account.public_id, viewer.account_id)
    refreshed = await get_account(public_id=public_id)
    assert refreshed is not None
    return refreshed


def _scope_of(places: list[str | None], account: Account) -> str:
    node = account.node if isinstance(account.node, Node) else None
    return hierarchy.common_path([*places, *([node.path] if node is not None else [])])


def read_profile(account: Account) -> Profile:
    vault = current_vault()
    return Profile(
        vault.decrypt(account.name_enc, field=NAME_FIELD) if account.name_enc else None,
        vault.decrypt(account.phone_enc, field=PHONE_FIELD) if account.phone_enc else None,
        vault.decrypt(account.id_number_enc, field=ID_NUMBER_FIELD) if account.id_number_enc else None,
        vault.decrypt(account.address_enc, field=ADDRESS_FIELD) if account.address_enc else None,
    )


def masked_profile(account: Account) -> Profile:
    full = read_profile(account)
    return Profile(
        mask_name(full.name) if full.name else None,
        mask_phone(full.phone) if full.phone else None,
        mask_id_number(full.id_number) if full.id_number else None,
        mask_address(full.address) if full.address else None,
    )


async def find_by_phone(*, phone: str) -> Account | None:
    normalized = normalize_mobile(phone)
    return await Account.get_or_none(phone_bidx=current_vault().blind_index(normalized, field=PHONE_FIELD))


async def find_by_id_number(*, id_number: str) -> Account | None:
    normalized = normalize_id_number(id_number)
    return await Account.get_or_none(id_number_bidx=current_vault().blind_index(normalized, field=ID_NUMBER_FIELD))


async def resident_for_desk(
    *, id_number: str, name: str, phone: str, using_db: BaseDBAsyncClient | None = None
) -> tuple[Account, bool]:
    """The resident account with this ID number (found by its blind index), or a new one without
    WeChat holding the name, phone and ID number (given at a staff desk, ID card in hand); the flag
    says whether it was created. A found account keeps its own name and phone."""
    normalized = normalize_id_number(id_number)
    bidx = current_vault().blind_index(normalized, field=ID_NUMBER_FIELD)
    found = await Account.get_or_none(id_number_bidx=bidx, using_db=using_db)
    if found is not None:
        return found, False
    account = await Account.create(public_id=new_public_id(), role=Role.RESIDENT, using_db=using_db)
    await update_profile(account=account, name=name, phone=phone, id_number=normalized, using_db=using_db)
    return account, True
