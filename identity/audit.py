"""The audit log: append-only, each entry hash-chained to the one before.

``hash = SHA-256(prev_hash || canonical JSON of the entry)``. Changing, removing or reordering any
entry breaks every later link, and ``gmid audit verify`` names the first broken one.

Appends are serialised through the single ``audit_head`` row: the first statement of the append
transaction updates it, which takes a row lock on PostgreSQL and the write lock on SQLite, so
concurrent writers (several app instances) form one chain without gaps or forks.

Every value is masked on its way in (``_storable``, through ``identity.redaction``): anything shaped like
a mainland ID number, mobile or landline number or an e-mail address, in any field and at any depth of
``details``, keeps only its ends. Callers mask
what they know is personal; this catches what was typed where it did not belong (an ID number given
as a frame number, a phone in a reason).

``scope`` is the node path of the row an entry is about (a bike's, an account's node): an
administrator below the district sees an entry only when both its actor and its scope lie in their
part of the hierarchy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.transactions import in_transaction

from identity.redaction import mask_embedded

GENESIS = "0" * 64
_BUMP_HEAD = "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"  # SQLite >= 3.35 and PostgreSQL


class AuditEntry(Model):
    _no_comments = True
    seq = fields.BigIntField(primary_key=True, generated=False)
    at = fields.DatetimeField()
    actor = fields.CharField(max_length=64)
    role = fields.CharField(max_length=16)
    action = fields.CharField(max_length=64, db_index=True)
    target = fields.CharField(max_length=128, default="")
    reason = fields.CharField(max_length=500, default="")
    client_addr = fields.CharField(max_length=64, default="")
    request_id = fields.CharField(max_length=128, default="")
    details: dict[str, Any] = fields.JSONField(default=dict)
    # Node path of the row the entry is about ("" when it is about no row of the hierarchy).
    scope = fields.CharField(max_length=255, default="", db_index=True)
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_entry"
        indexes = (("actor", "at"),)


class AuditHead(Model):
    """One row (id 1): the last sequence number and hash of the chain."""

    _no_comments = True

    id = fields.IntField(primary_key=True, generated=False)
    seq = fields.BigIntField(default=0)
    hash = fields.CharField(max_length=64, default=GENESIS)

    class Meta:
        table = "audit_head"


# The append writes its entry by hand (below): every field of the model, as the ORM would write it.
_ENTRY_FIELDS = tuple(AuditEntry._meta.fields_db_projection)


def _insert_entry_sql(marks: list[str]) -> str:
    columns = ", ".join(f'"{AuditEntry._meta.fields_db_projection[name]}"' for name in _ENTRY_FIELDS)
    return f"INSERT INTO audit_entry ({columns}) VALUES ({', '.join(marks)})"  # noqa: S608 - the model's names


_APPEND_SQLITE = _insert_entry_sql(["?"] * len(_ENTRY_FIELDS))
# The entry and the head's hash in one round trip (a data-modifying WITH: PostgreSQL only).
_INSERT_ENTRY_PG = _insert_entry_sql([f"${n}" for n in range(1, len(_ENTRY_FIELDS) + 1)])
_APPEND_PG = (
    f"WITH appended AS ({_INSERT_ENTRY_PG} RETURNING hash) "  # noqa: S608 - the model's names
    "UPDATE audit_head SET hash = appended.hash FROM appended WHERE audit_head.id = 1"
)


_OUR_REQUEST_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex, made by the server: never personal


def _storable(value: Any) -> Any:
    """Text PostgreSQL can store and UTF-8 can encode: a NUL or a lone surrogate (from a malformed
    request, which is just what an audit log records) becomes U+FFFD instead of failing the append.
    Anything shaped like an ID, mobile or landline number is masked, in keys and values at any depth
    (a number given as a JSON number too)."""
    if isinstance(value, str):
        return mask_embedded(value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd"))
    if isinstance(value, dict):
        return {_storable(k if isinstance(k, str) else str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_storable(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        masked = mask_embedded(str(value))
        return value if masked == str(value) else masked
    return value


def _fitted(value: str, length: int) -> str:
    """``_storable`` text cut to its column after masking, not before: masking lengthens what it masks
    (``a@b.cn`` -> ``a***@b.cn``), and a cut made first could leave the start of a number unmasked.
    Only a bounded prefix is masked: the rest could never be stored."""
    return str(_storable(value[: 4 * length]))[:length]


def _storable_request_id(value: str) -> str:
    return value if _OUR_REQUEST_ID.fullmatch(value) else _fitted(value, 128)


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def chain_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + _canonical(entry)).hexdigest()


def _hashed_fields(e: AuditEntry) -> dict[str, Any]:
    hashed = {
        "seq": e.seq,
        "at": _iso(e.at),
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "target": e.target,
        "reason": e.reason,
        "client_addr": e.client_addr,
        "request_id": e.request_id,
        "details": e.details,
    }
    if e.scope:  # entries from before the scope column hash as they always did
        hashed["scope"] = e.scope
    return hashed


@dataclass(frozen=True)
class Who:
    """Who did it, from where: what a service passes down for the entries it writes."""

    actor: str
    role: str
    client_addr: str = ""
    request_id: str = ""


async def record_change(
    who: Who, action: str, target: str, scope: str, conn: BaseDBAsyncClient, **details: object
) -> None:
    """``record`` for a change made by ``who`` to a row under the node path ``scope``, inside ``conn``."""
    await record(
        actor=who.actor,
        role=who.role,
        action=action,
        target=target,
        client_addr=who.client_addr,
        request_id=who.request_id,
        details=dict(details),
        scope=scope,
        using_db=conn,
    )


async def record(
    *,
    actor: str,
    role: str,
    action: str,
    target: str = "",
    reason: str = "",
    client_addr: str = "",
    request_id: str = "",
    details: dict[str, Any] | None = None,
    scope: str | None = None,
    using_db: BaseDBAsyncClient | None = None,
) -> AuditEntry:
    """Append one entry. Callers never put personal data in ``target``, ``reason`` or ``details``
    (mask it or use a public id; whatever is shaped like an ID or phone number is masked here anyway).
    ``scope``: the node path of the row the entry is about, so that administrators of that part of
    the hierarchy (and only they, and the district) see it. Pass ``using_db`` to append inside the
    caller's transaction, so the action and its record commit together or not at all."""
    args = (actor, role, action, target, reason, client_addr, request_id, details, scope or "")
    if using_db is not None:
        return await _append(using_db, *args)
    async with in_transaction() as conn:
        return await _append(conn, *args)


async def _append(
    conn: BaseDBAsyncClient,
    actor: str,
    role: str,
    action: str,
    target: str,
    reason: str,
    client_addr: str,
    request_id: str,
    details: dict[str, Any] | None,
    scope: str,
) -> AuditEntry:
    # The head row exists from migration 0002; updating it first takes the chain's lock, and
    # RETURNING reads it in the same round trip (the lock is held until commit: keep it short).
    rows = await conn.execute_query_dict(_BUMP_HEAD)  # execute_query drops what an UPDATE returns on asyncpg
    seq, prev_hash = int(rows[0]["seq"]), str(rows[0]["hash"])
    entry = AuditEntry(
        seq=seq,
        at=datetime.now(UTC),
        actor=_fitted(actor, 64),
        role=_fitted(role, 16),
        action=_fitted(action, 64),
        target=_fitted(target, 128),
        reason=_fitted(reason, 500),
        client_addr=_fitted(client_addr, 64),
        request_id=_storable_request_id(request_id),
        details=_storable(details or {}),
        scope=_fitted(scope, 255),
        prev_hash=prev_hash,
    )
    entry.hash = chain_hash(entry.prev_hash, _hashed_fields(entry))
    # The entry and the head's new hash are written as the ORM would write them (each field's own
    # to_db_value), in one statement on PostgreSQL: every round trip here is one the chain's lock is
    # held for, and an audited request (a police lookup) waits on them.
    fields_map = AuditEntry._meta.fields_map
    values = [fields_map[name].to_db_value(getattr(entry, name), entry) for name in _ENTRY_FIELDS]
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query(_APPEND_PG, values)
    else:
        await conn.execute_query(_APPEND_SQLITE, values)
        await conn.execute_query("UPDATE audit_head SET hash = ? WHERE id = 1", [entry.hash])
    entry._saved_in_db = True  # what save() would have marked: the entry is stored
    return entry


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    problem: str = ""


async def _iter_entries(batch: int = 1000) -> AsyncIterator[AuditEntry]:
    last = 0
    while True:
        rows = await AuditEntry.filter(seq__gt=last).order_by("seq").limit(batch)
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].seq


async def verify() -> VerifyResult:
    """Walk the chain from the start; report the first entry whose link does not hold."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    async for entry in _iter_entries():
        if entry.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev_hash:
            return VerifyResult(False, checked, entry.seq, "prev_hash does not match the previous entry")
        if chain_hash(prev_hash, _hashed_fields(entry)) != entry.hash:
            return VerifyResult(False, checked, entry.seq, "contents do not match the stored hash")
        prev_hash = entry.hash
        expected_seq += 1
        checked += 1
    head = await AuditHead.get_or_none(id=1)
    if head is not None and (head.seq != checked or head.hash != prev_hash):
        # Entries after the last stored one were removed (truncation at the end).
        return VerifyResult(False, checked, checked + 1, "the chain ends before its recorded head")
    return VerifyResult(True, checked)


async def search(
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
    within: str | None = None,
) -> list[AuditEntry]:
    """Entries oldest first. ``within`` (a node path): only what accounts under this node did to rows
    under it; an entry about a row elsewhere (its scope outside), or about a row of unknown place (a
    target without a scope), is not shown."""
    query = AuditEntry.all()
    if within is not None:
        from identity.models import Account

        query = query.filter(
            Q(actor__in=Subquery(Account.filter(node__path__startswith=within).values("public_id"))),
            Q(scope__startswith=within) | Q(scope="", target=""),
        )
    if actor:
        query = query.filter(actor=actor)
    if action:
        query = query.filter(action=action)
    if since:
        query = query.filter(at__gte=since)
    if until:
        query = query.filter(at__lt=until)
    if after is not None:
        query = query.filter(seq__gt=after)
    return await query.order_by("seq").limit(limit)
