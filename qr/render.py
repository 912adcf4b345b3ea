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

RENDER_VERSION = "2"  # part of the image cache key: bump when drawing changes
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

# Shipped with the package (OFL 1.1, see qr/fonts/README.md): stickers look the same on every machine,
# whatever fonts it has or lacks.
SHIPPED_FONT = Path(__file__).resolve().parent / "fonts" / "NotoSansCJKsc-Regular-GB2312.otf"
PROBE = "光明"  # a font that cannot draw these is no font for a Guangming sticker
_KNOWN_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
_NO_GLYPH = "\U0010fffd"  # private use, plane 16: no font maps it, so it draws the "missing glyph" box


class StickerFontError(RuntimeError):
    """No font that can draw Chinese: printing would give boxes or Latin stand-ins, so nothing is drawn."""


@functools.lru_cache(maxsize=64)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@functools.lru_cache(maxsize=4096)
def _draws(path: str, char: str) -> bool:
    """Whether the font has a real glyph for ``char``: not nothing, not its "missing glyph" box."""
    try:
        font = _truetype(path, 32)
    except OSError:
        return False
    glyph, missing = font.getmask(char), font.getmask(_NO_GLYPH)
    if glyph.getbbox() is None:
        return False
    return bool(glyph.size != missing.size or bytes(glyph) != bytes(missing))


def draws_text(path: str, text: str) -> bool:
    """Every visible character of ``text`` has a real glyph in the font at ``path``."""
    return Path(path).is_file() and all(_draws(path, char) for char in text if not char.isspace())


@functools.lru_cache(maxsize=1)
def system_cjk_fonts() -> tuple[str, ...]:
    """Font files on this machine that fontconfig says support Chinese, then the known paths; only
    those that really draw 光明 (fc-match answers DejaVu Sans to ``:lang=zh`` on some machines)."""
    found: list[str] = []
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            listed = subprocess.run(  # noqa: S603 - fixed program and arguments
                [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            listed = ""
        found += sorted(line.strip().rstrip(":") for line in listed.splitlines() if line.strip())
    found += [path for path in _KNOWN_PATHS if path not in found]
    return tuple(path for path in found if draws_text(path, PROBE))


@functools.lru_cache(maxsize=8)
def find_cjk_font(configured: str = "", *, shipped: Path = SHIPPED_FONT, search_system: bool = True) -> str:
    """The font stickers are drawn with: ``GMID_QR_FONT`` when set (it must draw Chinese), else the
    font the package ships, else a system font that draws Chinese. None: StickerFontError."""
    if configured:
        if not draws_text(configured, PROBE):
            raise StickerFontError(
                f"GMID_QR_FONT={configured} is not a font file that draws Chinese ({PROBE}); set it to a "
                ".ttf/.otf/.ttc with Chinese glyphs, or unset it to use the shipped font"
            )
        return configured
    if draws_text(str(shipped), PROBE):
        return str(shipped)
    for path in system_cjk_fonts() if search_system else ():
        log.warning("the shipped sticker font %s is missing: using %s", shipped, path)
        return path
    raise StickerFontError(
        f"no font that draws Chinese: the shipped {shipped.name} is missing and no system CJK font was "
        "found; set GMID_QR_FONT to a .ttf/.otf/.ttc file with Chinese glyphs"
    )


@functools.lru_cache(maxsize=1024)
def font_for(primary: str, text: str) -> str:
    """The sticker font, or for a text it cannot draw whole (a rare character in a label; digits in a
    CJK-only GMID_QR_FONT), the shipped font or a system font that can."""
    if draws_text(primary, text):
        return primary
    for path in (str(SHIPPED_FONT), *system_cjk_fonts()):
        if path != primary and draws_text(path, text):
            return path
    log.warning("no font draws every character of a sticker text; the missing ones print as boxes")
    return primary


def group_id(public_id: str) -> str:
    return f"{public_id[:4]}-{public_id[4:8]}-{public_id[8:]}"


STICKER_W, STICKER_H = 600, 760


def sticker(
    text: str, *, title: str, public_id: str, caption: str = "", font: str = "", scale: float = 1.0
) -> Image.Image:
    """A white card: the Chinese title, the code, the grouped id and a caption. ``font`` is the
    configured font (GMID_QR_FONT), empty for the shipped one; without a font that draws Chinese,
    StickerFontError (never a sticker in Latin letters or boxes)."""
    primary = find_cjk_font(font)
    width, height = int(STICKER_W * scale), int(STICKER_H * scale)
    card = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(card)
    margin = int(24 * scale)
    _centered(draw, title, _truetype(font_for(primary, title), int(40 * scale)), width, margin)
    code = code_image(encode(text), int(520 * scale))
    top = margin + int(64 * scale)
    card.paste(code, ((width - code.width) // 2, top))
    y = top + code.height + int(8 * scale)
    number = group_id(public_id)
    _centered(draw, number, _truetype(font_for(primary, number), int(34 * scale)), width, y)
    if caption:
        _centered(draw, caption, _truetype(font_for(primary, caption), int(24 * scale)), width, y + int(46 * scale))
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
