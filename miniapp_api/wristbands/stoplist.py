"""The offline stop list: which bands must stop, kept as a change feed for checkpoint apps.

Each band's stop state is the list of its windows (engine.Window) under the rules in force now: a
bound band carries its wearer's windows (facts.person_windows), a band that is not bound (revoked, or
back in stock) one open-ended ``band_invalid`` window. When that list differs from the band's latest
StopEntry, a new entry is appended with the next counter, allocated under the StopHead row's lock (as
the QR revocation feed does), so a reader that has seen counter N never misses a change above N. An
empty list lifts every stop of the band. Windows that have ended are not carried.

Call ``person_changed`` or ``band_changed`` after any change that can move a band's windows (inside
the caller's transaction with ``conn``, or after its commit). A change of key areas or rule sets may
move everyone's windows: the sweep is the ``wristbands.stoplist`` job's, which notices the change by the
tables' fingerprint (gate_reads.rules_and_areas_fingerprint) within STOPLIST_SECONDS, so the admin's
request stays cheap; the online decision reads the same fingerprint and never lags.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from miniapp_api.wristbands import engine, facts, sealed
from miniapp_api.wristbands.models import (
    BandState,
    HealthStatus,
    QuarantineOrder,
    StopEntry,
    StopHead,
    Trip,
    Wristband,
)

HEAD_ID = 1
BATCH = 200


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Context:
    """The rules and key areas of one recomputation (read once for a batch of bands)."""

    def __init__(self, rules: engine.Rules, areas: Sequence[engine.AreaFact], at: dt.datetime) -> None:
        self.rules, self.areas, self.at = rules, areas, at

    @classmethod
    async def load(cls, conn: BaseDBAsyncClient | None) -> _Context:
        at = now()
        return cls(engine.rules_at(await facts.rule_sets(conn), at), await facts.key_areas(conn), at)


def live(windows: Sequence[engine.Window], at: dt.datetime) -> list[engine.Window]:
    """The windows that have not ended at ``at``."""
    return [w for w in windows if w.end is None or w.end > at]


def windows_json(windows: Sequence[engine.Window]) -> list[dict[str, Any]]:
    return [w.as_json() for w in windows]


def entry_windows(entry: StopEntry) -> list[engine.Window]:
    raw = sealed.unseal_json(entry.windows_enc, field=sealed.WINDOWS)
    return [engine.Window.from_json(item) for item in raw]


async def band_windows(band: Wristband, ctx: _Context, conn: BaseDBAsyncClient | None) -> list[engine.Window]:
    """What must stop this band from now on (ended windows dropped)."""
    if band.state == BandState.ACTIVE.value and band.account_id is not None:
        windows = await facts.person_windows(band.account_id, rules=ctx.rules, areas=ctx.areas, conn=conn)
    else:
        since = band.revoked_at or band.updated_at or band.created_at
        windows = [engine.Window(engine.Reason.BAND_INVALID, since, None)]
    return live(windows, ctx.at)


async def latest_entry(band_id: int, conn: BaseDBAsyncClient | None) -> StopEntry | None:
    return await StopEntry.filter(band_id=band_id).using_db(conn).order_by("-counter").first()


def _same(entry: StopEntry | None, windows: Sequence[engine.Window], at: dt.datetime) -> bool:
    if entry is None:
        return not windows  # no entry and nothing to stop: nothing to say
    return windows_json(live(entry_windows(entry), at)) == windows_json(windows)


async def head(conn: BaseDBAsyncClient | None = None) -> StopHead:
    """The feed's head row (made on first use, with the first epoch's salt)."""
    found = await StopHead.get_or_none(id=HEAD_ID, using_db=conn)
    if found is None:
        found, _ = await StopHead.get_or_create(
            id=HEAD_ID, defaults={"counter": 0, "epoch": 1, "salt": new_salt()}, using_db=conn
        )
    if not found.salt:
        found.salt = new_salt()
        await found.save(using_db=conn, update_fields=["salt"])
    return found


def new_salt() -> str:
    return secrets.token_hex(32)


async def floor(conn: BaseDBAsyncClient | None = None) -> int:
    """Compaction's floor (StopHead.floor): a ``since`` below it is answered with the whole list."""
    row = await StopHead.get_or_none(id=HEAD_ID, using_db=conn)
    return row.floor if row else 0


async def _refresh_band(band_id: int, ctx: _Context, conn: BaseDBAsyncClient | None) -> bool:
    """Append an entry when the band's windows moved; True when one was appended."""
    band = await Wristband.get_or_none(id=band_id, using_db=conn)
    if band is None:
        return False
    if _same(await latest_entry(band_id, conn), await band_windows(band, ctx, conn), ctx.at):
        return False  # the common case: nothing moved, no lock taken
    async with in_transaction() if conn is None else _Reuse(conn) as tx:
        await _next_counter_lock(tx)
        # Again under the lock: a concurrent change may have been recorded meanwhile, and the facts
        # read now are the latest (a stale reading never lands after a newer one).
        band = await Wristband.get(id=band_id, using_db=tx)
        windows = await band_windows(band, ctx, tx)
        if _same(await latest_entry(band_id, tx), windows, ctx.at):
            return False
        counter = await _take_counter(tx)
        await StopEntry.create(
            counter=counter,
            band_id=band_id,
            windows_enc=sealed.seal_json(windows_json(windows), field=sealed.WINDOWS),
            at=ctx.at,
            using_db=tx,
        )
    return True


async def _next_counter_lock(conn: BaseDBAsyncClient) -> None:
    await head(conn)
    await StopHead.filter(id=HEAD_ID).using_db(conn).update(counter=F("counter"))


async def _take_counter(conn: BaseDBAsyncClient) -> int:
    await StopHead.filter(id=HEAD_ID).using_db(conn).update(counter=F("counter") + 1)
    row = await StopHead.get(id=HEAD_ID, using_db=conn)
    return row.counter


class _Reuse:
    """The caller's transaction, as an ``async with`` that neither commits nor rolls back."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.conn = conn

    async def __aenter__(self) -> BaseDBAsyncClient:
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        return None


async def person_changed(account_id: int, *, conn: BaseDBAsyncClient | None = None) -> None:
    """A person's status, quarantine orders or trips changed, or their band did."""
    ctx = await _Context.load(conn)
    ids = await Wristband.filter(account_id=account_id).using_db(conn).values_list("id", flat=True)
    for band_id in ids:
        await _refresh_band(int(band_id), ctx, conn)  # type: ignore[call-overload]


async def band_changed(band_id: int, *, conn: BaseDBAsyncClient | None = None) -> None:
    """A band was bound, revoked or unbound."""
    await _refresh_band(band_id, await _Context.load(conn), conn)


async def candidate_bands() -> list[int]:
    """Every band that has a window or may get one: the bands of people with a status, an order or a
    trip, and every band the feed has spoken of (so that their stops are lifted when they end)."""
    accounts: set[int] = set()
    for model in (HealthStatus, QuarantineOrder, Trip):
        found = await model.all().distinct().values_list("account_id", flat=True)
        accounts.update(int(a) for a in found)  # type: ignore[call-overload]
    bands: set[int] = set(await StopEntry.all().distinct().values_list("band_id", flat=True))  # type: ignore[arg-type]
    ordered = sorted(accounts)
    for i in range(0, len(ordered), BATCH):
        chunk = ordered[i : i + BATCH]
        bands.update(await Wristband.filter(account_id__in=chunk).values_list("id", flat=True))  # type: ignore[arg-type]
    return sorted(bands)


async def sweep() -> int:
    """Recompute every candidate band in batches (the rules and key areas read once per batch);
    returns how many entries were appended. The stop-list job runs it when key areas or rule sets
    changed, or a rule set set for later took effect."""
    bands = await candidate_bands()
    appended = 0
    for i in range(0, len(bands), BATCH):
        ctx = await _Context.load(None)
        for band_id in bands[i : i + BATCH]:
            appended += await _refresh_band(band_id, ctx, None)
    return appended


__all__ = ["band_changed", "head", "person_changed", "sweep"]
