"""What the clinic learns about each new report, after it was accepted: the classifier's suggested
category (advisory, with a confidence) and its duplicate group.

Nothing here is on a report's critical path. The web process analyses a new report in a background
task right after the commit; the background worker sweeps up any report that was missed (a crash, a
slow or broken model) every few seconds. Both may race: one insight row per report (unique), the
first one wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from pathlib import Path

from tortoise.expressions import Q, Subquery

from miniapp_api.clinic import classifier, textsim
from miniapp_api.clinic.models import NOT_YET, ReportInsight
from miniapp_api.reports import states
from miniapp_api.reports.models import Category, Report
from miniapp_api.reports.service import utcnow
from miniapp_api.reports.similar import SIMILAR_DAYS, SIMILAR_METRES, distance_m, near_box
from server.settings import Settings

log = logging.getLogger("gmid.clinic")

PREDICT_TIMEOUT = 2.0  # seconds (GMID_CLINIC_PREDICT_TIMEOUT_MS); a slower model is skipped for the report
RECHECK_SECONDS = 30.0  # how often the web process looks for a newer model on disk


def cache_for(settings: Settings) -> ModelCache:
    return ModelCache(model_dir(settings.var_dir), timeout=settings.clinic_predict_timeout_ms / 1000)


def model_dir(var_dir: str | Path) -> Path:
    return Path(var_dir) / "models" / "classifier"


class ModelCache:
    """The newest trained model under ``var/models/classifier``, reloaded when a retrain (in any process,
    on any machine sharing var/) writes a newer version; until one is there, the model shipped in the
    package (``fallback``: ``classifier.shipped``, checked against its training data)."""

    def __init__(
        self,
        directory: Path,
        *,
        timeout: float = PREDICT_TIMEOUT,
        fallback: Callable[[], classifier.Classifier | None] | None = classifier.shipped,
    ) -> None:
        self.directory = directory
        self.timeout = timeout  # seconds a prediction may take
        self.fallback = fallback
        self.model: classifier.Classifier | None = None
        self._checked = -RECHECK_SECONDS
        self._seen: str | None = None  # the newest version name seen on disk ("" for none)

    def _newest(self) -> str:
        with contextlib.suppress(OSError):
            return max((p.name for p in self.directory.iterdir() if p.is_dir()), default="", key=_version_key)
        return ""

    async def current(self) -> classifier.Classifier | None:
        if time.monotonic() - self._checked >= RECHECK_SECONDS:
            await self.refresh()
        return self.model

    async def refresh(self) -> classifier.Classifier | None:
        self._checked = time.monotonic()
        newest = await asyncio.to_thread(self._newest)
        if newest != self._seen:
            self._seen = newest
            loaded = None
            if newest:
                try:
                    loaded = await asyncio.to_thread(classifier.load_latest, self.directory)
                except Exception as exc:  # a broken model must not stop reports
                    log.warning("classifier not loaded error=%s", exc.__class__.__name__)
            # Nothing trained here (or nothing whole): the shipped model, unless one was loaded before.
            if loaded is None and self.model is None and self.fallback is not None:
                try:
                    loaded = await asyncio.to_thread(self.fallback)
                except Exception as exc:
                    log.warning("shipped classifier not loaded error=%s", exc.__class__.__name__)
            if loaded is not None:
                if self.model is None or loaded.version != self.model.version:
                    log.info("classifier loaded version=%s", loaded.version)
                self.model = loaded
        return self.model


def _version_key(name: str) -> tuple[int, str]:
    digits = name.lstrip("v")
    return (int(digits) if digits.isdigit() else -1, name)


_cache: ModelCache | None = None


def set_cache(cache: ModelCache | None) -> None:
    global _cache
    _cache = cache


async def suggest(text: str, cache: ModelCache | None = None) -> tuple[Category | None, float | None, str]:
    """(category, confidence, model version); no category when there is no model, the model is below
    its threshold, too slow, or fails."""
    cache = cache or _cache
    model = await cache.current() if cache is not None else None
    if cache is None or model is None:
        return None, None, ""
    try:
        suggestion = await asyncio.wait_for(asyncio.to_thread(model.predict, text), cache.timeout)
    except Exception as exc:  # TimeoutError included: advisory only
        log.warning("classifier failed version=%s error=%s", model.version, exc.__class__.__name__)
        return None, None, model.version
    if suggestion is None:
        return None, None, model.version
    category = await Category.get_or_none(name=suggestion.label, active=True)
    return category, round(float(suggestion.confidence), 4), model.version


async def group_of(report: Report) -> tuple[int | None, float | None]:
    """The duplicate group a new report joins: an open report of the last 7 days at the same building
    or within 100 m whose text says the same thing (the most similar one). Its group, or itself as the
    first of a new group."""
    since = report.created_at - dt.timedelta(days=SIMILAR_DAYS)
    query = Report.filter(created_at__gte=since, id__lt=report.id).exclude(state__in=list(states.FINAL_STATES))
    near = Q(id=-1)
    if report.building_code:
        near |= Q(building_code=report.building_code)
    if report.lat is not None and report.lng is not None:
        near |= near_box(report.lat, report.lng)
    if not report.building_code and report.lat is None:
        return None, None
    candidates = [c for c in await query.filter(near).order_by("-id").limit(200) if _same_place(report, c)]
    scores = await asyncio.to_thread(textsim.similarities, report.text, [c.text for c in candidates])
    best = max(zip(scores, candidates, strict=True), key=lambda pair: pair[0], default=None)
    if best is None or best[0] < textsim.SAME_THING:
        return None, None
    score, candidate = best
    # The earlier report starts the group unless it has one. Its own insight may not exist yet, or be
    # written by its own analysis at this very moment: insert-if-missing, then set-if-unset, then read
    # what won, so two analyses running side by side agree on one group.
    await _store(candidate, None, None, "", candidate.id, None, at=NOT_YET)
    await ReportInsight.filter(report_id=candidate.id, group_id=None).update(group_id=candidate.id)
    group_id = await ReportInsight.filter(report_id=candidate.id).first().values_list("group_id", flat=True)
    return group_id or candidate.id, round(score, 4)  # type: ignore[return-value]


def _same_place(a: Report, b: Report) -> bool:
    if a.building_code and a.building_code == b.building_code:
        return True
    if None in (a.lat, a.lng, b.lat, b.lng):
        return False
    return distance_m(a.lat, a.lng, b.lat, b.lng) <= SIMILAR_METRES  # type: ignore[arg-type]


async def _store(
    report: Report,
    category: Category | None,
    confidence: float | None,
    version: str,
    group_id: int | None,
    similarity: float | None,
    *,
    at: dt.datetime | None = None,
) -> None:
    await ReportInsight.bulk_create(
        [
            ReportInsight(
                report_id=report.id,
                suggested_category_id=category.id if category else None,
                confidence=confidence,
                model_version=version,
                group_id=group_id,
                similarity=similarity,
                node_path=report.node_path,
                analysed_at=at or utcnow(),
            )
        ],
        ignore_conflicts=True,
    )


async def analyse(report_id: int, cache: ModelCache | None = None) -> ReportInsight | None:
    """Suggest a category and find the group of one report, once."""
    report = await Report.get_or_none(id=report_id)
    if report is None:
        return None
    existing = await ReportInsight.get_or_none(report_id=report_id)
    if existing is not None and existing.analysed_at > NOT_YET:
        return existing
    category, confidence, version = await suggest(report.text, cache)
    if existing is None:
        group_id, similarity = await group_of(report)
        await _store(report, category, confidence, version, group_id, similarity)
    # It started a group before its own analysis ran, or while it ran (another report's group_of made its
    # row, not yet analysed, and our _store above was ignored for it): the row keeps its group and gets
    # the suggestion. A row already analysed is not touched.
    await ReportInsight.filter(report_id=report_id, analysed_at=NOT_YET).update(
        suggested_category_id=category.id if category else None,
        confidence=confidence,
        model_version=version,
        analysed_at=utcnow(),
    )
    return await ReportInsight.get_or_none(report_id=report_id)


async def analyse_now(report_id: int) -> None:
    """The web process's background task after a submit: never raises."""
    try:
        await analyse(report_id)
    except Exception as exc:
        log.warning("report analysis deferred to the sweep error=%s", exc.__class__.__name__)


async def analyse_pending(cache: ModelCache | None = None, *, limit: int = 200) -> int:
    """Reports of the last 7 days with no insight yet, oldest first (so groups form in order)."""
    since = utcnow() - dt.timedelta(days=SIMILAR_DAYS)
    done = Subquery(ReportInsight.filter(analysed_at__gt=NOT_YET).values("report_id"))
    pending = await Report.filter(created_at__gte=since, id__not_in=done).order_by("id").limit(limit)
    for report in pending:
        try:
            await analyse(report.id, cache)
        except Exception as exc:  # one bad report must not hold up the others
            log.warning("report analysis failed id=%s error=%s", report.public_id, exc.__class__.__name__)
    return len(pending)
