"""Sticker-sheet print jobs started from the admin API: ``qr.sheets.write_sheets`` (what ``gmid qr
sheet`` runs) as a background task of the web worker that took the request.

The job's state lives in Redis (``gmid:qr:sheet:<id>``, kept a week, as is the PDF): who started it, the node and
kind, stickers done of the total, pages, and ``running`` / ``done`` / ``failed`` / ``interrupted``.
The running task refreshes a heartbeat; a job whose heartbeat stops (its worker died or was stopped)
reads as ``interrupted``. The PDF is written under ``VAR_DIR/sheets/<id>.pdf`` (``write_sheets``
writes a temporary file and renames it when complete: a failed job leaves no PDF). Only an
administrator whose part of the hierarchy covers the job's node sees the job and its PDF.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from identity import audit, hierarchy
from qr import kinds, render, sheets
from server import public_ids
from server.auth import Principal
from server.errors import AppError, Conflict, Forbidden, NotFound
from server.settings import Settings

log = logging.getLogger("gmid.qr.sheets")

KEY = "gmid:qr:sheet:"
KEEP_SECONDS = 7 * 24 * 3600
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0  # no heartbeat for this long: the job's worker is gone
ID_RE = re.compile(r"^sj_[A-Za-z0-9_-]{13}$")
RUNNING, DONE, FAILED, INTERRUPTED = "running", "done", "failed", "interrupted"
# A web worker serves requests too: at most this many print jobs run in it at once, each drawing
# on at most this many processes (`gmid qr sheet` from a shell uses every core).
MAX_RUNNING = 2
MAX_DRAWING_PROCESSES = 2

_tasks: dict[str, asyncio.Task[None]] = {}  # this worker's running jobs (kept referenced)


class FontMissing(AppError):
    status_code = 503
    code = "sticker_font_missing"


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    node: str
    node_path: str
    state: str
    total: int
    done: int
    pages: int
    error: str
    created_at: str
    finished_at: str

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        return min(99, self.done * 100 // self.total) if self.total else 0


def pdf_path(settings: Settings, job_id: str) -> Path:
    if not ID_RE.fullmatch(job_id):  # checked before any path is made from it
        raise NotFound("There is no such print job.", code="sheet_not_found")
    return settings.var_path / "sheets" / f"{job_id}.pdf"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def start(
    *, redis: aioredis.Redis, settings: Settings, viewer: Principal, kind: str, node: str, who: audit.Who
) -> Job:
    """Start printing the active codes of ``kind`` under ``node`` (within the viewer's part of the
    hierarchy); returns the job at once, the work goes on in this worker."""
    if kinds.by_name(kind) is None:
        raise NotFound("There is no such kind of code.", code="unknown_kind")
    found = await hierarchy.get_by_code(node)
    if found is None:
        raise NotFound("There is no such node.", code="node_not_found")
    if not viewer.covers(found.path):
        raise Forbidden("You can only print the codes of your part of the hierarchy.", code="outside_scope")
    try:
        font = render.find_cjk_font(settings.qr_font)
    except render.StickerFontError:
        raise FontMissing("The server has no font that draws Chinese: stickers cannot be printed.") from None
    total = await sheets.printable(kind=kind, node_path=found.path).count()
    if total == 0:
        raise Conflict("No active codes of this kind under this node: nothing to print.", code="nothing_to_print")
    if len(_tasks) >= MAX_RUNNING:
        raise Conflict("Other print jobs are running: try again when they are done.", code="sheet_jobs_busy")
    await asyncio.to_thread(clean_up, settings)
    job_id = public_ids.new("sj_")
    now = _now()
    fields = {
        "kind": kind,
        "node": found.code,
        "node_path": found.path,
        "state": RUNNING,
        "total": total,
        "done": 0,
        "pages": 0,
        "error": "",
        "created_at": now,
        "finished_at": "",
        "heartbeat": time.time(),
        "by": who.actor,
    }
    await redis.hset(KEY + job_id, mapping=fields)  # type: ignore[arg-type]
    await redis.expire(KEY + job_id, KEEP_SECONDS)
    await audit.record(
        actor=who.actor,
        role=who.role,
        action="qr_sheet.start",
        target=job_id,
        client_addr=who.client_addr,
        request_id=who.request_id,
        details={"kind": kind, "node": found.code, "stickers": total},
        scope=found.path,
    )
    out = pdf_path(settings, job_id)
    task = asyncio.create_task(_run(redis, settings, job_id, kind, found.path, total, font, out))
    _tasks[job_id] = task
    task.add_done_callback(lambda _: _tasks.pop(job_id, None))
    return _job(job_id, fields)


async def _run(
    redis: aioredis.Redis, settings: Settings, job_id: str, kind: str, node_path: str, total: int, font: str, out: Path
) -> None:
    key = KEY + job_id
    writes: set[asyncio.Task[Any]] = set()

    async def record(done: int, pages: int) -> None:
        await redis.hset(key, mapping={"done": done, "pages": pages, "heartbeat": time.time()})

    def progressed(done: int, _total: int, pages: int, _started: float) -> None:
        write = asyncio.create_task(record(done, pages))
        writes.add(write)
        write.add_done_callback(writes.discard)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await redis.hset(key, "heartbeat", time.time())

    beating = asyncio.create_task(heartbeat())
    final: dict[Any, Any] = {"state": INTERRUPTED, "error": "stopped"}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        result = await sheets.write_sheets(
            kind=kind,
            node_path=node_path,
            base_url=settings.public_base_url,
            out=out,
            font=font,
            workers=1 if total <= sheets.PER_PAGE * 4 else MAX_DRAWING_PROCESSES,
            total=total,
            on_progress=progressed,
        )
        final = {"state": DONE, "done": result.stickers, "total": result.stickers, "pages": result.pages}
    except Exception as exc:
        log.warning("sheet job failed job=%s error=%s", job_id, exc.__class__.__name__)
        final = {"state": FAILED, "error": exc.__class__.__name__}
    finally:
        beating.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*writes, return_exceptions=True)
            await redis.hset(key, mapping={**final, "finished_at": _now(), "heartbeat": time.time()})


def _job(job_id: str, raw: dict[str, Any]) -> Job:
    def text(name: str) -> str:
        value = raw.get(name, "")
        return value.decode() if isinstance(value, bytes) else str(value)

    state = text("state")
    if state == RUNNING and time.time() - float(text("heartbeat") or 0) > STALE_SECONDS:
        state = INTERRUPTED
    return Job(
        id=job_id,
        kind=text("kind"),
        node=text("node"),
        node_path=text("node_path"),
        state=state,
        total=int(text("total") or 0),
        done=int(text("done") or 0),
        pages=int(text("pages") or 0),
        error=text("error"),
        created_at=text("created_at"),
        finished_at=text("finished_at"),
    )


async def get(*, redis: aioredis.Redis, viewer: Principal, job_id: str) -> Job:
    """A job of the viewer's part of the hierarchy (any other is not found, as if it did not exist)."""
    if not ID_RE.fullmatch(job_id):
        raise NotFound("There is no such print job.", code="sheet_not_found")
    raw = await redis.hgetall(KEY + job_id)
    if not raw:
        raise NotFound("There is no such print job.", code="sheet_not_found")
    job = _job(job_id, {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()})
    if not viewer.covers(job.node_path):
        raise NotFound("There is no such print job.", code="sheet_not_found")
    return job


async def pdf(*, redis: aioredis.Redis, settings: Settings, viewer: Principal, job_id: str) -> Path:
    """The finished PDF of a job of the viewer's part of the hierarchy."""
    job = await get(redis=redis, viewer=viewer, job_id=job_id)
    if job.state != DONE:
        raise Conflict("The sheets are not ready.", code="sheet_not_ready", details={"state": job.state})
    path = pdf_path(settings, job.id)
    if not path.is_file():
        raise NotFound("The sheets' file is gone (printed on another instance, or cleaned up).", code="sheet_not_found")
    return path


def clean_up(settings: Settings) -> int:
    """Delete the PDFs of jobs older than their Redis state (nobody can download them any more)."""
    folder = settings.var_path / "sheets"
    cutoff = time.time() - KEEP_SECONDS
    removed = 0
    for pdf_file in folder.glob("sj_*.pdf") if folder.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            if pdf_file.stat().st_mtime < cutoff:
                pdf_file.unlink()
                removed += 1
    return removed


async def stop_all() -> None:
    """Cancel this worker's running jobs (they read as interrupted)."""
    for task in list(_tasks.values()):
        task.cancel()
    await asyncio.gather(*_tasks.values(), return_exceptions=True)
