"""Cleaning an uploaded photo: decode it, refuse what is not a picture, re-encode it bare.

Only JPEG, PNG and WebP are decoded. A picture whose header declares more than ``MAX_PIXELS``, a
side longer than ``MAX_DECLARED_SIDE`` or a shape narrower than 1:``MAX_ASPECT`` is refused before
its pixels are decoded: a small file can declare an enormous image, and a 1 x 40,000,000 strip,
within the pixel count, costs seconds of CPU row by row. The EXIF orientation is applied, the
picture is shrunk to ``MAX_SIDE`` on its long side and written out as a new JPEG from the raw pixels,
so nothing of the original file survives: no EXIF (GPS position, camera serial, time), no XMP, no
ICC profile, no comments, no trailing data.

Decoding runs in a ``DecodePool``: a few threads per worker process with a short queue; when it is
full an upload is refused (``PoolBusy``) rather than queued without limit.
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image, ImageOps

ALLOWED_TYPES = ("image/jpeg", "image/png", "image/webp")
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_DECLARED_SIDE = 8000  # a phone's 200 MP sensor is 16,320 px wide; its usual output is under 8,000
MAX_ASPECT = 20  # a panorama is about 8:1
MAX_SIDE = 2048
JPEG_QUALITY = 85
# Pillow plugins allowed to open an upload (JPEG's also opens MPO, the variant many phones write).
_FORMATS = ("JPEG", "PNG", "WEBP")
T = TypeVar("T")


class NotAnImage(ValueError):
    """The bytes are not a picture we accept; ``code`` says why, for the API error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes  # a JPEG without any metadata
    width: int
    height: int
    source_format: str


class PoolBusy(Exception):
    """Every decoding thread is busy and the queue is full: come back in a few seconds."""


class DecodePool:
    """A bounded pool for the CPU-heavy part of an upload, one per worker process. Its own threads,
    not the loop's default executor (which WeChat calls share), ``workers`` of them, and at most
    ``queue`` jobs waiting: decoding a 40 MP picture takes up to 160 MB and a second of CPU, so a
    burst of uploads waits here, bounded, instead of slowing every other request."""

    def __init__(self, *, workers: int, queue: int) -> None:
        self.workers = workers
        self.limit = workers + queue
        self._pending = 0  # touched only on the event loop
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gmid-photo")

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on a pool thread; PoolBusy at once when ``limit`` jobs are already in."""
        if self._pending >= self.limit:
            raise PoolBusy()
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._pending -= 1

    async def clean(self, data: bytes) -> CleanPhoto:
        return await self.run(clean, data)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def check_declared_size(width: int, height: int) -> None:
    """NotAnImage unless a picture of ``width`` x ``height`` is worth decoding."""
    if width < 1 or height < 1 or max(width, height) > MAX_DECLARED_SIDE or width * height > MAX_PIXELS:
        raise NotAnImage(
            "image_too_large",
            f"The picture may have at most {MAX_DECLARED_SIDE} px on a side and "
            f"{MAX_PIXELS // 1_000_000} million pixels.",
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise NotAnImage("image_too_narrow", f"The picture may be at most {MAX_ASPECT} times as long as it is wide.")


def clean(data: bytes) -> CleanPhoto:
    """Decode and re-encode ``data``; NotAnImage when it is not an acceptable picture. Blocking:
    call it through a ``DecodePool`` from async code."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise NotAnImage("photo_too_large", f"A photo may have at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as opened:
            source_format = opened.format or "?"
            width, height = opened.size  # from the header: nothing is decoded yet
            check_declared_size(width, height)
            if source_format in ("JPEG", "MPO"):
                # Let libjpeg decode at a reduced scale when the result is shrunk anyway.
                ratio = min(1.0, MAX_SIDE / max(width, height))
                opened.draft(None, (math.ceil(width * ratio), math.ceil(height * ratio)))
            opened.load()
            picture = ImageOps.exif_transpose(opened)
            picture = _to_rgb(picture)
            picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            # A new image from the raw pixels: it carries no info dict, so no metadata can follow.
            bare = Image.frombytes("RGB", picture.size, picture.tobytes())
    except NotAnImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard (a warning becomes an error where warnings are errors, as in tests).
        raise NotAnImage(
            "image_too_large", f"The picture may have at most {MAX_PIXELS // 1_000_000} million pixels."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, KeyError, IndexError, MemoryError):
        # Pillow reports unreadable, truncated and unsupported files with any of these.
        raise NotAnImage("not_an_image", "The file is not a JPEG, PNG or WebP picture that can be read.") from None
    out = io.BytesIO()
    bare.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, exif=b"")
    return CleanPhoto(data=out.getvalue(), width=bare.width, height=bare.height, source_format=source_format)


def _to_rgb(picture: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency flattened onto white, 16-bit and float greys scaled to 8 bits."""
    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        picture = picture.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if picture.mode == "P":
        picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
    if picture.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = picture.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return picture.convert("RGB") if picture.mode != "RGB" else picture
