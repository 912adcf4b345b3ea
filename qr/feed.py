"""The revocation feed and the verifier bundle: what offline verifiers fetch (signed, with a lifetime)
to refuse revoked and superseded codes without asking the server at each scan."""

from __future__ import annotations

import time
from typing import Any

import jwt

from qr import codec, kinds
from qr.models import RevocationEntry, RevocationHead
from qr.service import keyring


def _entry_json(e: RevocationEntry) -> dict[str, Any]:
    return {
        "n": e.counter,
        "id": e.public_id,
        "kind": e.kind,
        "min_serial": e.min_serial,
        "revoked": e.revoked,
        "at": int(e.at.timestamp()),
    }


# Offline verifiers must refresh at least this often: a feed or bundle older than this is stale.
DOCUMENT_LIFETIME_SECONDS = 24 * 3600


def sign_document(document: dict[str, Any], *, typ: str) -> str:
    """Sign a feed document. Its own ``typ`` keeps it from being taken for another kind of document
    signed by the same key, and ``exp`` bounds how long a replayed copy is believed."""
    ring = keyring()
    body = dict(document)
    body.setdefault("exp", int(body.get("iat", time.time())) + DOCUMENT_LIFETIME_SECONDS)
    token: str = jwt.encode(body, ring.signer, algorithm=codec.ALGORITHM, headers={"kid": ring.active_kid, "typ": typ})
    return token


async def revocation_head() -> int:
    head = await RevocationHead.get_or_none(id=1)
    return head.counter if head else 0


async def revocations(*, since: int, limit: int, issuer: str) -> dict[str, Any]:
    rows = await RevocationEntry.filter(counter__gt=since).order_by("counter").limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    head = await RevocationHead.get_or_none(id=1)
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "since": since,
        "until": rows[-1].counter if rows else since,
        "head": head.counter if head else 0,
        "more": more,
        "entries": [_entry_json(e) for e in rows],
    }


async def verifier_bundle(*, issuer: str) -> dict[str, Any]:
    """The JWKS and the whole revocation state, compacted to the latest entry per credential."""
    latest: dict[str, RevocationEntry] = {}
    last = 0
    while True:
        rows = await RevocationEntry.filter(counter__gt=last).order_by("counter").limit(5000)
        if not rows:
            break
        for row in rows:
            current = latest.get(row.public_id)
            if current is None or row.revoked or not current.revoked:
                latest[row.public_id] = row
        last = rows[-1].counter
    kinds_doc = {str(k.code): k.name for k in kinds.all_kinds()}
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "jwks": keyring().jwks(),
        "kinds": kinds_doc,
        "revocations": {
            "until": last,
            "entries": [_entry_json(e) for e in sorted(latest.values(), key=lambda e: e.counter)],
        },
        "format": "JWS compact, EdDSA; payload: version(1) kind(1) id(8) serial(4, BE) iat(4, BE)",
    }
