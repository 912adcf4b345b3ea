"""A4 sticker sheets: the PDF is read back by hand (its 1-bit page images) and every code on a page is
decoded with zxing-cpp and scanned over HTTP. Also ``gmid qr sheet`` as an operator runs it."""

from __future__ import annotations

import asyncio
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image

from qr import service, sheets
from qr.models import Credential
from server.settings import Settings
from tests.factories import load_demo_hierarchy
from tests.qr.held_stderr import HeldGmid
from tests.support.cli import GMID, gmid, gmid_env

pytestmark = pytest.mark.usefixtures("running")

GRID_1 = "/GM/GM01/GM0101/GM010101/"
GRID_2 = "/GM/GM01/GM0101/GM010102/"
IMAGE = re.compile(rb"/Subtype /Image /Width (\d+) /Height (\d+) [^>]*/Length (\d+) >>\nstream\n")


@dataclass
class Issued:
    grid_1: list[Credential]
    grid_2: list[Credential]

    @property
    def all(self) -> list[Credential]:
        return sorted(self.grid_1 + self.grid_2, key=lambda c: c.id)


async def issue_buildings() -> Issued:
    """25 buildings in grid 1, 20 in grid 2 (interleaved), plus codes that must not be printed."""
    grid_1: list[Credential] = []
    grid_2: list[Credential] = []
    for i in range(45):
        target, path = (grid_1, GRID_1) if i % 9 < 5 else (grid_2, GRID_2)
        target.append(await service.issue(kind="building", subject_id=f"bld-{i}", node_path=path, label=f"{i}栋"))
    gone = await service.issue(kind="building", subject_id="bld-gone", node_path=GRID_1)
    await service.revoke(public_id=gone.public_id, reason="demolished")
    await service.issue(kind="ebike", subject_id="bike-1", node_path=GRID_1)
    assert (len(grid_1), len(grid_2)) == (25, 20)
    return Issued(grid_1, grid_2)


def page_count(pdf: bytes) -> int:
    pages = len(re.findall(rb"/Type /Page\b(?!s)", pdf))
    assert re.search(rb"/Type /Pages /Kids \[[^\]]*\] /Count %d >>" % pages, pdf)
    return pages


def page_images(pdf: bytes) -> list[Image.Image]:
    """Each page's bitmap, rebuilt from its Flate stream (1 bit per pixel, 1 = white)."""
    images = []
    for match in IMAGE.finditer(pdf):
        width, height, length = (int(g) for g in match.groups())
        start = match.end()
        data = pdf[start : start + length]
        assert pdf[start + length : start + length + 10] == b"\nendstream"
        images.append(Image.frombytes("1", (width, height), zlib.decompress(data)))
    return images


REPO = Path(__file__).resolve().parents[2]
# What a printed sticker's code carries: a code URL with a three-part token.
CODE_URL = re.compile(r"^https?://[^/\s]+(/[^\s]*)?/q/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def decoded(image: Image.Image) -> list[str]:
    """One text per printed sticker. zxing-cpp now and then reports a phantom symbol read from the
    printed text (a stray short text, seen with some fonts) and one symbol twice (two detections of
    the same finder patterns, at one place on the page); only QR symbols that carry a code URL count,
    once per place. The same text at two places would be a sticker printed twice, and is kept so the
    count catches it."""
    seen: list[tuple[str, float, float]] = []
    for found in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode):
        if not CODE_URL.match(found.text):
            continue
        corners = (found.position.top_left, found.position.bottom_right)
        x, y = sum(c.x for c in corners) / 2, sum(c.y for c in corners) / 2
        if not any(text == found.text and abs(x - sx) < 100 and abs(y - sy) < 100 for text, sx, sy in seen):
            seen.append((found.text, x, y))
    return [text for text, _, _ in seen]


def urls(credentials: list[Credential], base: str) -> set[str]:
    return {f"{base}/q/{c.token}" for c in credentials}


def check_pdf(pdf: bytes, pages: int) -> None:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) == pages


async def test_sheets_print_every_active_code_twenty_per_page(
    tmp_path: Path, settings: Settings, client: httpx.AsyncClient
) -> None:
    issued = await issue_buildings()
    base = settings.public_base_url
    out = tmp_path / "all.pdf"

    result = await sheets.write_sheets(kind="building", node_path=None, base_url=base, out=out, workers=2)
    assert (result.pages, result.stickers) == (3, 45)
    assert not out.with_name("all.pdf.part").exists()
    pdf = out.read_bytes()
    check_pdf(pdf, 3)

    images = page_images(pdf)
    assert len(images) == 3
    assert images[0].size == (2480, 3508)
    first_page = decoded(images[0])
    assert len(first_page) == 20
    assert set(first_page) == urls(issued.all[:20], base)
    for url in first_page:
        response = await client.post("/api/v1/scan", json={"payload": url})
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == "building"

    # The grid filter prints that grid's stickers only, all of them.
    only = tmp_path / "grid1.pdf"
    result = await sheets.write_sheets(kind="building", node_path=GRID_1, base_url=base, out=only, workers=2)
    assert (result.pages, result.stickers) == (2, 25)
    pdf = only.read_bytes()
    check_pdf(pdf, 2)
    found = [url for image in page_images(pdf) for url in decoded(image)]
    assert len(found) == 25
    assert set(found) == urls(issued.grid_1, base)


async def test_gmid_qr_sheet(tmp_path: Path, settings: Settings) -> None:
    issued = await issue_buildings()
    out = tmp_path / "stickers.pdf"

    code, stdout, stderr = await gmid(
        settings, "qr", "sheet", "--kind", "building", "--out", str(out), "--workers", "2"
    )
    assert code == 0, stderr
    [line] = stdout.strip().splitlines()
    assert re.match(r"^45 stickers on 3 A4 pages in [\d.]+ s \([\d,]+/s\) -> .*stickers\.pdf$", line), line
    assert "45/45" in stderr  # the progress bar
    check_pdf(out.read_bytes(), 3)

    grid = tmp_path / "grid2.pdf"
    await load_demo_hierarchy()
    code, stdout, stderr = await gmid(
        settings, "qr", "sheet", "--kind", "building", "--node", "GM010102", "--out", str(grid), "--quiet"
    )
    assert code == 0, stderr
    assert stdout.startswith("20 stickers on 1 A4 pages")
    [page] = page_images(grid.read_bytes())
    assert set(decoded(page)) == urls(issued.grid_2, settings.public_base_url)


async def test_gmid_qr_sheet_refusals(tmp_path: Path, settings: Settings) -> None:
    out = tmp_path / "x.pdf"
    await service.issue(kind="ebike", subject_id="bike-1")
    for args, needle, font in (
        (("--kind", "spaceship"), "unknown kind", ""),
        (("--kind", "building"), "no active credentials", ""),
        (("--kind", "building", "--node", "NOWHERE"), "no hierarchy node", ""),
        (("--kind", "building", "--reissued-since", "yesterday"), "ISO 8601", ""),
        # A font that cannot draw Chinese: refused before anything is drawn, never Latin letters.
        (("--kind", "ebike"), "GMID_QR_FONT=/nonexistent.ttf", "/nonexistent.ttf"),
        (("--kind", "ebike"), "GMID_QR_FONT=README.md", "README.md"),
    ):
        code, stdout, stderr = await gmid_with(
            settings, {"GMID_QR_FONT": font}, "qr", "sheet", *args, "--out", str(out)
        )
        assert code == 2, (args, stderr)
        assert stdout == ""
        [line] = stderr.strip().splitlines()
        assert line.startswith("gmid: ") and needle in line, line
        assert not out.exists()


async def gmid_with(settings: Settings, extra_env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**gmid_env(settings), **extra_env},
        cwd=str(REPO),  # README.md: a file that is not a font
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_an_interrupted_sheet_leaves_no_file_behind(settings: Settings, running: object, tmp_path: Path) -> None:
    for n in range(60):
        await service.issue(kind="building", subject_id=f"int-{n}", label=f"{n}号")
    out = tmp_path / "out" / "stickers.pdf"
    out.parent.mkdir()
    # The process waits at its first progress write (after its first page) until the test has sent
    # SIGINT: it cannot have finished first, however loaded the machine (see held_stderr.py).
    held = await HeldGmid(settings, "qr", "sheet", "--kind", "building", "--out", str(out), "--workers", "2").start()
    deadline = asyncio.get_running_loop().time() + 60
    while not any(out.parent.iterdir()):  # the sheet is being written
        assert held.running(), "the sheet ended before it was interrupted"
        assert asyncio.get_running_loop().time() < deadline, "the sheet never started"
        await asyncio.sleep(0.05)
    code, stdout, stderr = await held.interrupt_and_finish()
    assert code == 130, (code, stdout, stderr)
    assert stderr.rstrip().endswith("gmid: interrupted"), stderr
    assert "60/60" not in stderr  # it stopped before the last page
    assert list(out.parent.iterdir()) == []  # neither the PDF nor a .part file
