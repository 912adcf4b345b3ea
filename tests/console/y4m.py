"""A video file for Chromium's fake camera: YUV4MPEG2 ("C420") frames of one picture, made with Pillow.

Chromium plays the file in a loop (``--use-file-for-fake-video-capture=FILE.y4m``), so a few frames of
a still picture are a camera held steadily over a code.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from PIL import Image


def framed_code(png: bytes, *, width: int = 640, height: int = 480, fraction: float = 0.8) -> Image.Image:
    """The code large and centred on white (its own quiet zone kept), as a camera would see it."""
    code = Image.open(BytesIO(png)).convert("L")
    side = int(min(width, height) * fraction)
    code = code.resize((side, side), Image.Resampling.NEAREST)
    frame = Image.new("L", (width, height), 255)
    frame.paste(code, ((width - side) // 2, (height - side) // 2))
    return frame.convert("RGB")


def write_y4m(picture: Image.Image, path: Path, *, frames: int = 5, fps: int = 10) -> Path:
    """Write ``frames`` copies of ``picture`` as 4:2:0 YUV4MPEG2 (even width and height)."""
    width, height = picture.size
    assert width % 2 == 0 and height % 2 == 0, "4:2:0 needs an even width and height"
    y, u, v = picture.convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + u.resize(half, Image.Resampling.BILINEAR).tobytes()
    planes += v.resize(half, Image.Resampling.BILINEAR).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(planes)
    return path
