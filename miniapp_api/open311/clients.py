"""The outside systems that may file reports through Open311 (its clients), and their API keys: made,
listed and revoked by an administrator within their area, each step in the audit log. Only a key's
SHA-256 is kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity import audit, hierarchy
from identity.scope import is_district_level
from miniapp_api.open311.models import Open311Client
from server.auth import Principal
from server.errors import Conflict, Forbidden, NotFound

log = logging.getLogger("gmid.open311")

KEY_PREFIX = "o311_"
MAX_KEY_LENGTH = 128


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


async def authenticate(api_key: str | None) -> Open311Client:
    """The active client whose key this is. The key is looked up by its SHA-256 (so the comparison
    does not depend on how much of a guess is right); unknown, revoked and missing keys get one answer."""
    refused = Forbidden("api_key is missing or not valid.", code="invalid_api_key")
    if not api_key or len(api_key) > MAX_KEY_LENGTH:
        raise refused
    digest = key_digest(api_key)
    client = await Open311Client.get_or_none(key_hash=digest)
    if client is None or not hmac.compare_digest(client.key_hash, digest) or not client.active:
        raise refused
    return client


# Clients (administration) ---------------------------------------------------------------------------


def node_code_of(path: str | None) -> str | None:
    return path.strip("/").rsplit("/", 1)[-1] if path else None


def _visible(principal: Principal, client: Open311Client) -> bool:
    # The district sees every client; an administrator lower down, those bound inside their area.
    if is_district_level(principal):
        return True
    return client.node_path is not None and principal.covers(client.node_path)


@dataclass(frozen=True)
class By:
    """Who acts, for the audit log."""

    principal: Principal
    client_addr: str = ""
    request_id: str = ""


async def create_client(*, by: By, name: str, node_code: str | None) -> tuple[Open311Client, str]:
    """A client and its API key: the key is returned here once and only its SHA-256 is kept."""
    node_path = None
    if node_code:
        node = await hierarchy.get_by_code(node_code)
        if node is None:
            raise NotFound("No hierarchy node has this code.", code="unknown_node")
        node_path = node.path
    if not is_district_level(by.principal) and (node_path is None or not by.principal.covers(node_path)):
        raise Forbidden("You can only make keys bound to your part of the hierarchy.", code="outside_scope")
    if await Open311Client.exists(name=name):
        raise Conflict("A client with this name exists.", code="name_taken")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        async with in_transaction() as conn:
            client = await Open311Client.create(
                public_id="oc_" + secrets.token_urlsafe(9)[:12],
                name=name,
                key_hash=key_digest(key),
                node_path=node_path,
                active=True,
                created_at=utcnow(),
                using_db=conn,
            )
            await audit.record(
                actor=by.principal.account_id,
                role=by.principal.role.value,
                action="open311.client.create",
                target=client.public_id,
                client_addr=by.client_addr,
                request_id=by.request_id,
                details={"node": node_code_of(node_path)},
                scope=node_path or "",
                using_db=conn,
            )
    except IntegrityError:
        raise Conflict("A client with this name exists.", code="name_taken") from None
    log.info("open311 client created id=%s", client.public_id)
    return client, key


async def list_clients(*, principal: Principal) -> list[Open311Client]:
    return [c for c in await Open311Client.all().order_by("id") if _visible(principal, c)]


async def revoke_client(*, by: By, public_id: str) -> Open311Client:
    """Its key stops working at once; revoking twice is the same as once."""
    client = await Open311Client.get_or_none(public_id=public_id) if 0 < len(public_id) <= 16 else None
    if client is None or not _visible(by.principal, client):
        raise NotFound("No Open311 client with this id.", code="client_not_found")
    if not client.active:
        return client
    async with in_transaction() as conn:
        client.active = False
        await client.save(using_db=conn, update_fields=["active"])
        await audit.record(
            actor=by.principal.account_id,
            role=by.principal.role.value,
            action="open311.client.revoke",
            target=client.public_id,
            client_addr=by.client_addr,
            request_id=by.request_id,
            scope=client.node_path or "",
            using_db=conn,
        )
    log.info("open311 client revoked id=%s", client.public_id)
    return client
