"""The revocation feed and the verifier bundle: what offline verifiers fetch (signed, with a lifetime)
to refuse revoked and superseded codes without asking the server at each scan."""

from __future__ import annotations

import secrets
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


def new_epoch_value() -> str:
    return secrets.token_hex(8)


async def head_and_epoch() -> tuple[int, str]:
    """The feed's head counter and its epoch. The epoch is random and kept in the head row: made on
    first use here (a conditional update, so concurrent first readers agree), replaced by
    ``new_epoch`` (``gmid restore``, ``gmid qr new-epoch``)."""
    head = await RevocationHead.get_or_none(id=1)
    if head is None:
        await RevocationHead.get_or_create(id=1, defaults={"counter": 0, "epoch": new_epoch_value()})
        head = await RevocationHead.get(id=1)
    if not head.epoch:
        await RevocationHead.filter(id=1, epoch__isnull=True).update(epoch=new_epoch_value())
        head = await RevocationHead.get(id=1)
    return head.counter, head.epoch or ""


async def new_epoch() -> str:
    """A new epoch: every verifier that syncs next drops what it holds and starts again from zero.
    Run after a restore: the restored counters may repeat numbers verifiers already saw with other
    entries, and a verifier following ``since`` would skip the revocations made after the restore."""
    await head_and_epoch()  # the row exists
    epoch = new_epoch_value()
    await RevocationHead.filter(id=1).update(epoch=epoch)
    return epoch


async def revocations(*, since: int, epoch: str | None, limit: int, issuer: str) -> dict[str, Any]:
    """The entries above ``since``; ``reset`` when the verifier's position is of another history (its
    ``epoch`` differs, or ``since`` is above the head): then the entries start from zero and the
    verifier must drop everything it holds first."""
    head, current = await head_and_epoch()
    reset = (epoch is not None and epoch != current) or since > head
    start = 0 if reset else since
    rows = await RevocationEntry.filter(counter__gt=start).order_by("counter").limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "epoch": current,
        "reset": reset,
        "since": start,
        "until": rows[-1].counter if rows else start,
        "head": head,
        "more": more,
        "entries": [_entry_json(e) for e in rows],
    }


async def verifier_bundle(*, issuer: str) -> dict[str, Any]:
    """The JWKS and the whole revocation state, compacted to the latest entry per credential."""
    _, epoch = await head_and_epoch()
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
            "epoch": epoch,
            "until": last,
            "entries": [_entry_json(e) for e in sorted(latest.values(), key=lambda e: e.counter)],
        },
        "format": "JWS compact, EdDSA; payload: version(1) kind(1) id(8) serial(4, BE) iat(4, BE)",
    }
