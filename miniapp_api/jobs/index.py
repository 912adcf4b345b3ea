"""Live postings in memory as columns (matching/vector.py), so a seeker's top postings take milliseconds.

One index per instance: every live, still-valid posting (of any enterprise) as of its build, in id order,
with its enterprise and last valid day. Built on first use, off the event loop where it is CPU work (the rows
are read in chunks). Every ``RECHECK_SECONDS`` a cheap stamp is read: the postings' latest ``updated_at`` and
the live ones' applicants (which change on every application without touching ``updated_at``), the day, and
the enterprises' count and latest change. A posting change rebuilds the index (inline while it is small, else
in the background at most once a minute while the old one serves); an enterprise change only re-reads the
verified enterprises.

The index only chooses candidates; ``matches.best_postings`` then loads them fresh and scores them with the
pure matcher, so a posting taken down, closed, expired or of a suspended enterprise never shows and every
score matches its explanation. Postings changed since the build (``changed_since``, an indexed read on every
request) are left out of the columns and read fresh instead: a new or edited posting ranks at once. What can
lag: a crowding change from applications (the applicants count; up to a minute on a large index), the
postings of an enterprise verified, or suspended, within the last two seconds (not yet among the candidates,
or taking candidate slots: then a shorter list, never a wrong entry). ``updated_at`` is written by each
instance's clock: clocks apart by more than a write's time could hide a change until the next rebuild. The bit
positions of skills come from the postings' own slugs, not from the taxonomy: a taxonomy edit (related skills)
is read per request and needs no rebuild.

``seekers`` (SeekerIndex): visible seeker profiles the same way for a posting's candidates
(matching/seeker_vector.py); their near skills depend on the taxonomy, so a taxonomy change rebuilds it first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from tortoise.functions import Count, Sum

from miniapp_api.jobs import rows
from miniapp_api.jobs.matching import PostingView
from miniapp_api.jobs.matching.seeker_vector import SeekerColumns
from miniapp_api.jobs.matching.vector import Columns
from miniapp_api.jobs.models import Enterprise, EnterpriseStatus, Posting, PostingStatus, SeekerProfile
from miniapp_api.jobs.taxonomy import Taxonomy

log = logging.getLogger(__name__)

RECHECK_SECONDS = 2.0
INLINE_ROWS = 5000  # an index up to this size is rebuilt before answering; a larger one in the background
REBUILD_SECONDS = 60.0  # ... at most this often
CHUNK = 10_000
CHANGED_MAX = 2000  # more postings changed since the build: rebuild before answering
COLUMNS = (*rows.POSTING_COLUMNS, "enterprise_id", "valid_through")


@dataclass(frozen=True)
class Snapshot:
    columns: Columns
    ids: npt.NDArray[np.int64]  # posting ids, ascending (row order)
    enterprise: npt.NDArray[np.int64]
    valid_through: npt.NDArray[np.int64]  # date ordinals
    since: dt.datetime | None  # the latest updated_at read before the rows (None: no posting at all)
    stamp: tuple[Any, ...] = field(default=())
    built: float = field(default_factory=time.monotonic)


def _today() -> dt.date:
    from miniapp_api.jobs.postings import today  # postings imports rows; keep the import graph flat

    return today()


def _build(found: list[dict[str, Any]], since: dt.datetime | None, stamp: tuple[Any, ...]) -> Snapshot:
    views: list[PostingView] = []
    for r in found:
        views.append(rows.posting_view(rows.as_row(Posting, r)))
    return Snapshot(
        columns=Columns.build(views),
        ids=np.array([r["id"] for r in found], dtype=np.int64),
        enterprise=np.array([r["enterprise_id"] for r in found], dtype=np.int64),
        valid_through=np.array([r["valid_through"].toordinal() for r in found], dtype=np.int64),
        since=since,
        stamp=stamp,
    )


async def _latest(model: type[Posting] | type[Enterprise]) -> dt.datetime | None:
    got = await model.all().order_by("-updated_at").first().values_list("updated_at", flat=True)
    return got  # type: ignore[return-value]


async def _posting_stamp() -> tuple[Any, ...]:
    return (_today().toordinal(), str(await _latest(Posting)), await _applicants())


async def _applicants() -> int:
    """The live postings' count and applicants in one number (an application changes no updated_at)."""
    got = (
        await Posting.filter(status=PostingStatus.LIVE.value)
        .annotate(n=Count("id"), a=Sum("applicants"))
        .first()
        .values("n", "a")
    )
    return 0 if not got else int(got["n"] or 0) * 1_000_003 + int(got["a"] or 0)


async def _enterprise_stamp() -> tuple[Any, ...]:
    return (await Enterprise.all().count(), str(await _latest(Enterprise)))


def _due(old: tuple[Any, ...], new: tuple[Any, ...], built: float) -> bool:
    """A large index changed: rebuilt in the background at most every REBUILD_SECONDS (about 4 s of one core
    at 100,000 rows); meanwhile the changed rows are read fresh on every request."""
    return new != old and time.monotonic() - built >= REBUILD_SECONDS


class PostingIndex:
    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._verified: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._enterprise_stamp: tuple[Any, ...] | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self._rebuild: asyncio.Task[None] | None = None
        self._keep: tuple[Snapshot, Any, int, npt.NDArray[np.bool_]] | None = None  # rows that may show, cached

    async def current(self) -> tuple[Snapshot, npt.NDArray[np.bool_]]:
        """The snapshot and which of its rows may show now (verified enterprise, still valid)."""
        if self._snapshot is None or time.monotonic() - self._checked >= RECHECK_SECONDS:
            async with self._lock:
                if self._snapshot is None or time.monotonic() - self._checked >= RECHECK_SECONDS:
                    await self._check()
        snap = self._snapshot
        assert snap is not None
        day, cached = _today().toordinal(), self._keep
        if cached is None or cached[0] is not snap or cached[1] is not self._verified or cached[2] != day:
            cached = self._keep = (
                snap,
                self._verified,
                day,
                np.isin(snap.enterprise, self._verified) & (snap.valid_through >= day),
            )
        return snap, cached[3].copy()

    async def _check(self) -> None:
        stamp = await _enterprise_stamp()
        if stamp != self._enterprise_stamp:
            ids = await Enterprise.filter(status=EnterpriseStatus.VERIFIED.value).values_list("id", flat=True)
            self._verified = np.array(sorted(ids), dtype=np.int64)
            self._enterprise_stamp = stamp
        posting_stamp = await _posting_stamp()
        snap = self._snapshot
        if snap is None or (posting_stamp != snap.stamp and len(snap.ids) <= INLINE_ROWS):
            self._snapshot = await _load(posting_stamp)
        elif _due(snap.stamp, posting_stamp, snap.built) and (self._rebuild is None or self._rebuild.done()):
            self._rebuild = asyncio.create_task(self._background(posting_stamp))
        self._checked = time.monotonic()

    async def _background(self, stamp: tuple[Any, ...]) -> None:
        try:
            self._snapshot = await _load(stamp)
        except Exception:  # the old snapshot keeps serving; the next check tries again
            log.exception("job posting index rebuild failed")

    async def rebuilt(self, old: Snapshot) -> tuple[Snapshot, npt.NDArray[np.bool_]]:
        """Rebuild now (too many postings changed since ``old`` was built to read them fresh every time)."""
        async with self._lock:
            if self._snapshot is old:  # not already rebuilt by another request meanwhile
                self._snapshot = await _load(await _posting_stamp())
        return await self.current()

    def forget(self) -> None:
        """Drop the index (tests; the next read rebuilds)."""
        self._snapshot, self._enterprise_stamp, self._checked, self._keep = None, None, 0.0, None


async def _load(stamp: tuple[Any, ...]) -> Snapshot:
    since = await _latest(Posting)
    found: list[dict[str, Any]] = []
    last = 0
    while True:
        chunk = (
            await Posting.filter(status=PostingStatus.LIVE.value, valid_through__gte=_today(), id__gt=last)
            .order_by("id")
            .limit(CHUNK)
            .values(*COLUMNS)
        )
        found += chunk
        if len(chunk) < CHUNK:
            break
        last = chunk[-1]["id"]
    return await asyncio.to_thread(_build, found, since, stamp)


async def changed_since(snap: Snapshot) -> list[int]:
    """Postings changed since the snapshot was read (any status: the caller reads them fresh)."""
    query = Posting.all() if snap.since is None else Posting.filter(updated_at__gt=snap.since)
    return list(await query.limit(CHANGED_MAX + 1).values_list("id", flat=True))  # type: ignore[arg-type]


postings = PostingIndex()


@dataclass(frozen=True)
class SeekerSnapshot:
    columns: SeekerColumns
    ids: npt.NDArray[np.int64]  # account ids, ascending (row order)
    since: dt.datetime | None
    taxonomy: Taxonomy  # the near skills are built with it
    stamp: tuple[Any, ...] = field(default=())
    built: float = field(default_factory=time.monotonic)


async def _seeker_stamp() -> tuple[Any, ...]:
    latest = await SeekerProfile.all().order_by("-updated_at").first().values_list("updated_at", flat=True)
    return (await SeekerProfile.filter(visible=True).count(), str(latest))


async def _load_seekers(taxonomy: Taxonomy, stamp: tuple[Any, ...]) -> SeekerSnapshot:
    since = await SeekerProfile.all().order_by("-updated_at").first().values_list("updated_at", flat=True)
    found: list[dict[str, Any]] = []
    while True:
        last = found[-1]["account_id"] if found else 0
        chunk = (
            await SeekerProfile.filter(visible=True, account_id__gt=last)
            .order_by("account_id")
            .limit(CHUNK)
            .values(*rows.SEEKER_COLUMNS)
        )
        found += chunk
        if len(chunk) < CHUNK:
            break

    def build() -> SeekerSnapshot:
        views = [rows.seeker_view(rows.as_row(SeekerProfile, r)) for r in found]
        return SeekerSnapshot(
            columns=SeekerColumns.build(views, taxonomy.related),
            ids=np.array([r["account_id"] for r in found], dtype=np.int64),
            since=since,  # type: ignore[arg-type]
            taxonomy=taxonomy,
            stamp=stamp,
        )

    return await asyncio.to_thread(build)


class SeekerIndex:
    """Visible seekers as columns, for a posting's candidates; the same checks as PostingIndex, and rebuilt
    before answering when the taxonomy changed (the near skills' bits)."""

    def __init__(self) -> None:
        self._snapshot: SeekerSnapshot | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()
        self._rebuild: asyncio.Task[None] | None = None

    async def current(self, taxonomy: Taxonomy) -> SeekerSnapshot:
        snap = self._snapshot
        if snap is None or snap.taxonomy is not taxonomy or time.monotonic() - self._checked >= RECHECK_SECONDS:
            async with self._lock:
                snap = self._snapshot
                if snap is None or snap.taxonomy is not taxonomy:
                    self._snapshot = await _load_seekers(taxonomy, await _seeker_stamp())
                elif time.monotonic() - self._checked >= RECHECK_SECONDS:
                    stamp = await _seeker_stamp()
                    if stamp != snap.stamp and len(snap.ids) <= INLINE_ROWS:
                        self._snapshot = await _load_seekers(taxonomy, stamp)
                    elif _due(snap.stamp, stamp, snap.built) and (self._rebuild is None or self._rebuild.done()):
                        self._rebuild = asyncio.create_task(self._background(taxonomy, stamp))
                self._checked = time.monotonic()
        assert self._snapshot is not None
        return self._snapshot

    async def _background(self, taxonomy: Taxonomy, stamp: tuple[Any, ...]) -> None:
        try:
            self._snapshot = await _load_seekers(taxonomy, stamp)
        except Exception:
            log.exception("job seeker index rebuild failed")

    async def rebuilt(self, old: SeekerSnapshot) -> SeekerSnapshot:
        async with self._lock:
            if self._snapshot is old:
                self._snapshot = await _load_seekers(old.taxonomy, await _seeker_stamp())
        assert self._snapshot is not None
        return self._snapshot

    def forget(self) -> None:
        self._snapshot, self._checked = None, 0.0


async def seekers_changed(snap: SeekerSnapshot) -> list[int]:
    """Seekers whose profile changed since the snapshot was read (the caller reads them fresh)."""
    query = SeekerProfile.all() if snap.since is None else SeekerProfile.filter(updated_at__gt=snap.since)
    return list(await query.limit(CHANGED_MAX + 1).values_list("account_id", flat=True))  # type: ignore[arg-type]


seekers = SeekerIndex()
