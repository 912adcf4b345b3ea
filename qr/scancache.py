"""What a scan shows the public, kept in Redis so that a burst of scans does not read the database.

For the audiences whose view is the same for everyone (anonymous and resident scans), the answer's
ingredients are kept per credential: its status, serial and place, and its subject's public view
(``scan:{audience}:{public_id}``). Staff views are never cached (they differ by caller and record
sightings).

Freshness: whatever changes a credential or what its public view shows (revoke, reissue, a stolen-bike
alarm and its end, a transfer, a deregistration, an edited building or board) calls ``changed()``
after its transaction commits. That bumps the credential's version (``scanv:{public_id}``); an entry
is used only while it carries the current version, so a change is seen by the very next scan, on
every instance. An entry made from a read that raced a change carries the version read before it, so
it is never used after the bump. Entries also expire after ``TTL_SECONDS`` as a safety net. When Redis
is away, scans read the database as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("gmid.qr.scancache")

TTL_SECONDS = 60
VERSION_TTL_SECONDS = 600  # longer than TTL_SECONDS: see changed()

_client: aioredis.Redis | None = None


def set_client(client: aioredis.Redis | None) -> None:
    global _client
    _client = client


def _key(audience: str, public_id: str) -> str:
    return f"scan:{audience}:{public_id}"


def _version_key(public_id: str) -> str:
    return f"scanv:{public_id}"


@dataclass(frozen=True)
class Entry:
    kind: str
    status: str
    serial: int
    node_path: str | None
    view: dict[str, Any] | None  # None: kept for refusals (revoked, superseded), not to answer a valid code


@dataclass(frozen=True)
class Lookup:
    entry: Entry | None  # a usable entry, or None (then ``version`` is what to store a new one under)
    version: str


def keys(audience: str, public_id: str) -> list[str]:
    """The keys a lookup reads (a caller may read them in another round trip of its own: the scan
    route reads them with its rate limit)."""
    return [_key(audience, public_id), _version_key(public_id)]


def lookup_from(values: list[bytes | None]) -> Lookup:
    """The lookup from the values of ``keys()``."""
    raw, version = values
    current = version.decode() if isinstance(version, bytes) else "0"
    if isinstance(raw, bytes):
        try:
            stored = json.loads(raw)
            if stored.get("v") == current:
                return Lookup(
                    Entry(stored["kind"], stored["status"], int(stored["serial"]), stored["node"], stored["view"]),
                    current,
                )
        except (ValueError, KeyError, TypeError):
            pass
    return Lookup(None, current)


async def get(audience: str, public_id: str) -> Lookup | None:
    """The cached entry if it is current; None when there is no cache (no client, or Redis away)."""
    if _client is None:
        return None
    try:
        values = await _client.mget(*keys(audience, public_id))
    except RedisError:
        return None
    return lookup_from([value if isinstance(value, bytes) else None for value in values])


async def put(audience: str, public_id: str, version: str, entry: Entry) -> None:
    if _client is None:
        return
    document = {
        "v": version,
        "kind": entry.kind,
        "status": entry.status,
        "serial": entry.serial,
        "node": entry.node_path,
        "view": entry.view,
    }
    with contextlib.suppress(RedisError):  # a cache that is away only costs speed
        await _client.set(_key(audience, public_id), json.dumps(document, ensure_ascii=False), ex=TTL_SECONDS)


async def changed(*public_ids: str) -> None:
    """After a commit that changed these credentials or their subjects' public views: no entry made
    before is used again. (A version outlives every entry made under the previous one, so when it
    expires and counting starts over, no entry of an earlier count is left.)"""
    if _client is None or not public_ids:
        return
    try:
        for start in range(0, len(public_ids), 1000):
            async with _client.pipeline(transaction=False) as pipe:
                for public_id in public_ids[start : start + 1000]:
                    pipe.incr(_version_key(public_id))
                    pipe.expire(_version_key(public_id), VERSION_TTL_SECONDS)
                await pipe.execute()
    except RedisError as exc:
        # Entries expire within TTL_SECONDS; until then a scan may show the state before the change.
        log.warning("scan cache not invalidated count=%s error=%s", len(public_ids), exc.__class__.__name__)
