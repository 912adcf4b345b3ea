"""The offline bundle: the stop list as a signed document a checkpoint app keeps, so that it decides
at the gate when the network is down.

Entries are ``{n, h, w}``: the feed counter, a salted hash of the band's BLE identifier (``h`` =
hex of SHA-256(salt || BLE id) cut to 16 bytes; the salt is the epoch's, in the document) and the
band's windows (reason category and epoch seconds). Nothing in it names a person, an account or a
band in clear. Without ``since`` the bundle is the whole list, compacted to each band's latest entry
with windows; with ``since`` it is the entries above it, lifts included. A ``since`` the feed can no
longer answer (another epoch, below what compaction kept, above the head) gets the whole list with
``reset: true``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Max
from tortoise.transactions import in_transaction

from miniapp_api.wristbands import codes, engine, facts, stoplist
from miniapp_api.wristbands.models import StopEntry, StopHead, Wristband

TYP = "gmid-checkin-bundle+jwt"
DEFAULT_LIMIT = 5000
MAX_LIMIT = 10000


def band_hash(salt: str, ble_id: str) -> str:
    """The bundle's name for a band: hex of SHA-256(salt bytes || normalised BLE id), 16 bytes."""
    normal = codes.normalize_ble_id(ble_id)
    if normal is None:
        raise ValueError("not a BLE identifier")
    return hashlib.sha256(bytes.fromhex(salt) + normal.encode("ascii")).hexdigest()[:32]


def rules_now_and_later(rule_sets: Sequence[engine.Rules], at: dt.datetime) -> list[engine.Rules]:
    current = engine.rules_at(rule_sets, at)
    return [current, *sorted((r for r in rule_sets if r.effective_from > at), key=lambda r: r.effective_from)]


async def _entries_json(rows: Sequence[StopEntry], salt: str, at: dt.datetime, *, skip_empty: bool) -> list[Any]:
    bles = dict(await Wristband.filter(id__in=[r.band_id for r in rows]).values_list("id", "ble_id"))
    out = []
    for row in rows:
        ble = bles.get(row.band_id)
        if ble is None:
            continue  # a band deleted since: nobody can present it
        windows = stoplist.live(stoplist.entry_windows(row), at)
        if skip_empty and not windows:
            continue
        out.append({"n": row.counter, "h": band_hash(salt, str(ble)), "w": stoplist.windows_json(windows)})
    return out


async def _latest_only(rows: Sequence[StopEntry]) -> list[StopEntry]:
    """The rows that are their band's latest entry."""
    if not rows:
        return []
    latest = dict(
        await StopEntry.filter(band_id__in={r.band_id for r in rows})
        .annotate(top=Max("counter"))
        .group_by("band_id")
        .values_list("band_id", "top")
    )
    return [r for r in rows if latest.get(r.band_id) == r.counter]


async def _page(start: int, limit: int) -> list[StopEntry]:
    return list(await StopEntry.filter(counter__gt=start).order_by("counter").limit(limit + 1))


async def document(*, issuer: str, since: int | None, epoch: int | None, limit: int) -> dict[str, Any]:
    """The bundle's payload (signed by the route)."""
    at = stoplist.now()
    # The head before the rows (entries up to its counter are committed, so ``until`` skips none),
    # compaction's floor after them: a compaction that deleted any entry above ``since`` before the
    # rows were read has raised the floor by then (same transaction), and the reader starts again.
    head = await stoplist.head()
    reset = since is not None and ((epoch is not None and epoch != head.epoch) or since > head.counter or since < 0)
    rows: list[StopEntry] = []
    if since is not None and not reset:
        rows = await _page(since, limit)
        reset = since < await stoplist.floor()
    full = since is None or reset
    start = 0 if full else int(since or 0)
    if full:
        rows = await _page(0, limit)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].counter if rows else start
    until = last if more else max(last, head.counter)
    if full:
        entries = await _entries_json(await _latest_only(rows), head.salt, at, skip_empty=True)
    else:
        entries = await _entries_json(rows, head.salt, at, skip_empty=False)
    return {
        "iss": issuer,
        "iat": int(time.time()),
        "epoch": head.epoch,
        "salt": head.salt,
        "head": head.counter,
        "full": full,
        "reset": reset,
        "since": None if full else start,
        "until": until,
        "more": more,
        "rules": [r.as_json() for r in rules_now_and_later(await facts.rule_sets(), at)],
        "entries": entries,
    }


async def etag_key(*, since: int | None, epoch: int | None, limit: int, kid: str) -> str:
    """What the document depends on (the hour keeps a revalidated copy from outliving its lifetime)."""
    head = await stoplist.head()
    rules = [r.as_json() for r in await facts.rule_sets()]
    text = repr((head.epoch, head.counter, await stoplist.floor(), since, epoch, limit, kid, rules))
    return hashlib.sha256(f"{text}|{int(time.time()) // 3600}".encode()).hexdigest()[:32]


# Compaction ---------------------------------------------------------------------------------------


async def compact(*, retention_days: int, batch: int = 500) -> int:
    """Delete, in bounded batches, the entries a later entry of the same band replaced, and the latest
    entries whose windows all ended more than ``retention_days`` ago (a lift counts from its time).
    Returns how many were deleted."""
    deleted = 0
    cutoff = stoplist.now() - dt.timedelta(days=retention_days)
    last = 0
    while True:
        rows = await StopEntry.filter(counter__gt=last).order_by("counter").limit(batch)
        if not rows:
            return deleted
        last = rows[-1].counter
        latest = set(r.counter for r in await _latest_only(rows))
        superseded = [r.counter for r in rows if r.counter not in latest]
        ended = [r for r in rows if r.counter in latest and _ended_before(r, cutoff)]
        async with in_transaction() as tx:
            if superseded:
                deleted += await StopEntry.filter(counter__in=superseded).using_db(tx).delete()
            if ended:
                top = max(r.counter for r in ended)
                # Still a band's latest when it goes: readers below it must start again.
                await stoplist.head(tx)
                await StopHead.filter(id=stoplist.HEAD_ID, floor__lt=top).using_db(tx).update(floor=top)
                deleted += await StopEntry.filter(Q(counter__in=[r.counter for r in ended])).using_db(tx).delete()


def _ended_before(entry: StopEntry, cutoff: dt.datetime) -> bool:
    windows = stoplist.entry_windows(entry)
    if not windows:
        return entry.at < cutoff
    return all(w.end is not None and w.end < cutoff for w in windows)


async def new_epoch() -> int:
    """A new salt: every band's hash changes, and every app fetches the whole list again."""
    async with in_transaction() as tx:
        head = await stoplist.head(tx)
        await StopHead.filter(id=stoplist.HEAD_ID).using_db(tx).update(epoch=head.epoch + 1, salt=stoplist.new_salt())
        return head.epoch + 1
