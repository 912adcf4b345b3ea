"""Drawing codes: PNG, SVG, and the printed sticker with its Chinese title.

Codes use error correction M and the smallest version that holds the URL (the e-ID budget is
version 11: a 202-character token under a base URL of up to 46 characters), with the standard
4-module quiet zone. Images are drawn from the module matrix
directly: one pixel per module, then scaled with nearest-neighbour, so edges stay sharp.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from qr.matrix import Bits, symbol, with_quiet_zone

log = logging.getLogger("gmid.qr.render")

RENDER_VERSION = "1"  # part of the image cache key: bump when drawing changes
QUIET_ZONE = 4
MAX_VERSION = 11
MIN_SIZE, MAX_SIZE = 64, 2048


@dataclass(frozen=True)
class Matrix:
    version: int
    modules: Bits  # dark = True, including the quiet zone

    @property
    def width(self) -> int:
        return int(self.modules.shape[0])


def encode(text: str) -> Matrix:
    version, modules = symbol(text)
    return Matrix(version, with_quiet_zone(modules, QUIET_ZONE))


def _module_image(matrix: Matrix) -> Image.Image:
    return Image.fromarray(np.where(matrix.modules, 0, 255).astype(np.uint8), mode="L")


def code_image(matrix: Matrix, size: int) -> Image.Image:
    """The code as a black-on-white image of about ``size`` pixels (a whole number per module)."""
    scale = max(1, size // matrix.width)
    return _module_image(matrix).resize((matrix.width * scale,) * 2, Image.Resampling.NEAREST)


def png(text: str, size: int = 512) -> bytes:
    image = code_image(encode(text), size).convert("1")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def svg(text: str, size: int = 512) -> bytes:
    """A path per row of dark runs: small, and exact at any zoom."""
    matrix = encode(text)
    width = matrix.width
    parts: list[str] = []
    for y, row in enumerate(matrix.modules.tolist()):
        x = 0
        while x < width:
            if row[x]:
                start = x
                while x < width and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h{start - x}z")
            else:
                x += 1
    body = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {width}" width="{size}" height="{size}" '
        f'shape-rendering="crispEdges"><rect width="{width}" height="{width}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(parts)}"/></svg>'
    )
    return body.encode("ascii")


# Fonts ----------------------------------------------------------------------------------------------

_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


@functools.lru_cache(maxsize=8)
def find_cjk_font(configured: str = "") -> str | None:
    """The configured font file, else a CJK font on the system (fontconfig, then known paths)."""
    if configured:
        return configured if Path(configured).is_file() else None
    fc_match = shutil.which("fc-match")
    if fc_match:
        try:
            found = subprocess.run(  # noqa: S603 - fixed program and arguments
                [fc_match, "-f", "%{file}", ":lang=zh"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found and Path(found).is_file() and _draws_chinese(found):
            return found
    for path in _CANDIDATES:
        if Path(path).is_file():
            return path
    return None


def _draws_chinese(path: str) -> bool:
    # fc-match always answers something; a font without Chinese draws every character as the same
    # "missing glyph" box, so two different characters come out identical.
    try:
        font = ImageFont.truetype(path, 32)
    except OSError:
        return False
    first, second = font.getmask("光"), font.getmask("龘")
    if first.getbbox() is None:
        return False
    return bool(first.size != second.size or bytes(first) != bytes(second))


@dataclass(frozen=True)
class StickerFonts:
    title: ImageFont.FreeTypeFont | ImageFont.ImageFont
    label: ImageFont.FreeTypeFont | ImageFont.ImageFont
    small: ImageFont.FreeTypeFont | ImageFont.ImageFont
    cjk: bool


@functools.lru_cache(maxsize=8)
def sticker_fonts(configured: str = "", scale: float = 1.0) -> StickerFonts:
    path = find_cjk_font(configured)
    if path is not None:
        return StickerFonts(
            ImageFont.truetype(path, int(40 * scale)),
            ImageFont.truetype(path, int(34 * scale)),
            ImageFont.truetype(path, int(24 * scale)),
            True,
        )
    log.warning("no CJK font found: stickers carry Latin text only (set GMID_QR_FONT to a .ttf/.ttc/.otf)")
    return StickerFonts(
        ImageFont.load_default(int(36 * scale)),
        ImageFont.load_default(int(32 * scale)),
        ImageFont.load_default(int(22 * scale)),
        False,
    )


def group_id(public_id: str) -> str:
    return f"{public_id[:4]}-{public_id[4:8]}-{public_id[8:]}"


STICKER_W, STICKER_H = 600, 760


def sticker(
    text: str, *, title: str, public_id: str, caption: str = "", font: str = "", scale: float = 1.0
) -> Image.Image:
    """A white card: title, the code, the grouped id and a caption. Without a CJK font the Chinese
    title is replaced by "Guangming e-ID" so the sticker never shows empty boxes."""
    fonts = sticker_fonts(font, scale)
    width, height = int(STICKER_W * scale), int(STICKER_H * scale)
    card = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(card)
    margin = int(24 * scale)
    shown_title = title if fonts.cjk else "Guangming e-ID"
    _centered(draw, shown_title, fonts.title, width, margin)
    code = code_image(encode(text), int(520 * scale))
    top = margin + int(64 * scale)
    card.paste(code, ((width - code.width) // 2, top))
    y = top + code.height + int(8 * scale)
    _centered(draw, group_id(public_id), fonts.label, width, y)
    if caption:
        shown_caption = caption if fonts.cjk else "Scan to verify"
        _centered(draw, shown_caption, fonts.small, width, y + int(46 * scale))
    draw.rectangle((0, 0, width - 1, height - 1), outline=96, width=max(1, int(2 * scale)))  # cutting line
    return card


def _centered(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int, y: int
) -> None:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - (right - left)) // 2, y), text, font=font, fill=0)


def sticker_png(text: str, *, title: str, public_id: str, caption: str = "", font: str = "") -> bytes:
    out = io.BytesIO()
    sticker(text, title=title, public_id=public_id, caption=caption, font=font).save(out, format="PNG", optimize=True)
    return out.getvalue()
