"""A4 sticker sheets for thousands of credentials, on every core, in bounded memory.

The credentials are read from the database in batches, each page is drawn in a worker process (the
QR encoder is pure Python: the work is CPU), and pages are written to the PDF in order as they come
back. At most a few pages per worker are in flight, so memory does not grow with the sheet.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import tempfile
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image
from tortoise.queryset import QuerySet

from qr import kinds, render
from qr.models import Credential, CredentialStatus
from qr.pdf import PdfWriter
from server import product, progress

DPI = 300
PAGE_PX = (2480, 3508)  # A4 at 300 dpi
COLUMNS, ROWS = 4, 5
STICKER_SCALE = 0.8  # 480 x 608 px: 40.6 x 51.5 mm, modules of about 0.5 mm
PER_PAGE = COLUMNS * ROWS


@dataclass(frozen=True)
class StickerSpec:
    url: str
    title: str
    public_id: str
    caption: str


def draw_page(stickers: list[StickerSpec], font: str) -> bytes:
    """One A4 page as a zlib-compressed 1-bit bitmap (runs in a worker process)."""
    page = Image.new("L", PAGE_PX, 255)
    width = int(render.STICKER_W * STICKER_SCALE)
    height = int(render.STICKER_H * STICKER_SCALE)
    gap_x = (PAGE_PX[0] - COLUMNS * width) // (COLUMNS + 1)
    gap_y = (PAGE_PX[1] - ROWS * height) // (ROWS + 1)
    for index, spec in enumerate(stickers):
        row, column = divmod(index, COLUMNS)
        card = render.sticker(
            spec.url, title=spec.title, public_id=spec.public_id, caption=spec.caption, font=font, scale=STICKER_SCALE
        )
        page.paste(card, (gap_x + column * (width + gap_x), gap_y + row * (height + gap_y)))
    bitmap = page.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)
    return zlib.compress(bitmap.tobytes(), 6)


def printable(*, kind: str, node_path: str | None, reissued_since: datetime | None = None) -> QuerySet[Credential]:
    """The credentials a sheet prints: the active ones of a kind, under a node; with
    ``reissued_since``, only those reissued since then (their old stickers answer ``superseded``)."""
    query = Credential.filter(kind=kind, status=CredentialStatus.ACTIVE)
    if node_path:
        query = query.filter(node_path__startswith=node_path)
    if reissued_since is not None:
        query = query.filter(serial__gt=1, issued_at__gte=reissued_since)
    return query


async def pages_from_db(
    *, kind: str, node_path: str | None, base_url: str, batch: int = 1000, reissued_since: datetime | None = None
) -> AsyncIterator[list[StickerSpec]]:
    from qr.service import printable_label  # here: the drawing workers import this module, not the registry

    spec = kinds.by_name(kind)
    title = spec.title if spec else product.NAME_ZH
    last_id = 0
    pending: list[StickerSpec] = []
    while True:
        query = printable(kind=kind, node_path=node_path, reissued_since=reissued_since).filter(id__gt=last_id)
        rows = await query.order_by("id").limit(batch).values("id", "public_id", "token", "label")
        if not rows:
            break
        last_id = rows[-1]["id"]
        for row in rows:
            caption = printable_label(row["label"])
            pending.append(StickerSpec(f"{base_url}/q/{row['token']}", title, row["public_id"], caption))
            if len(pending) == PER_PAGE:
                yield pending
                pending = []
    if pending:
        yield pending


@dataclass(frozen=True)
class SheetResult:
    pages: int
    stickers: int
    seconds: float
    path: Path


def progress_bar(done_stickers: int, total: int, pages: int, started: float) -> None:
    progress.draw(done_stickers, total, started, what=f"stickers, {pages:,} pages")


async def write_sheets(
    *,
    kind: str,
    node_path: str | None,
    base_url: str,
    out: Path,
    reissued_since: datetime | None = None,
    font: str = "",
    workers: int | None = None,
    total: int | None = None,
    on_progress: Callable[[int, int, int, float], None] | None = None,
) -> SheetResult:
    workers = workers or os.cpu_count() or 1
    # Checked here, before any file is made: every worker then draws with this one font file.
    font = render.find_cjk_font(font)
    window = workers * 2  # pages in flight: bounded memory, workers never idle
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    in_flight: deque[tuple[Future[bytes], int]] = deque()
    pages = stickers = 0
    total = total if total is not None else 0
    # A private temporary file beside the output: a run that fails or is interrupted leaves no
    # half-written PDF behind, and two runs for the same output never write into one file.
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        # spawn, not fork: the parent has an event loop and database threads a fork would copy mid-flight.
        context = multiprocessing.get_context("spawn")
        with os.fdopen(fd, "wb") as handle, ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            writer = PdfWriter(handle)

            async def drain(limit: int) -> None:
                nonlocal pages, stickers
                while len(in_flight) > limit:
                    future, count = in_flight.popleft()
                    data = await asyncio.wrap_future(future, loop=loop)
                    writer.add_bitmap_page(width=PAGE_PX[0], height=PAGE_PX[1], flate_1bit=data)
                    pages += 1
                    stickers += count
                    if on_progress is not None:
                        on_progress(stickers, max(total, stickers), pages, started)

            pages_in = pages_from_db(kind=kind, node_path=node_path, base_url=base_url, reissued_since=reissued_since)
            async for batch in pages_in:
                in_flight.append((pool.submit(draw_page, batch, font), len(batch)))
                await drain(window)
            await drain(0)
            writer.close()
        os.replace(tmp, out)
    except BaseException:
        for future, _ in in_flight:
            future.cancel()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return SheetResult(pages, stickers, time.monotonic() - started, out)
