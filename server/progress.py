"""The progress bar the long CLI commands (building import, sticker sheets, reissuing codes) draw on
stderr: one line, redrawn in place, that says how far, how long and how fast."""

from __future__ import annotations

import sys
import time

WIDTH = 30


def draw(done: int, total: int, started: float, *, what: str, rate_unit: str = "/s") -> None:
    """``[######........] done/total <what>, seconds, rate<rate_unit>``; ``started`` is a
    ``time.monotonic()`` reading."""
    elapsed = time.monotonic() - started
    share = done / total if total else 1.0
    filled = int(share * WIDTH)
    rate = done / elapsed if elapsed > 0 else 0.0
    bar = "#" * filled + "." * (WIDTH - filled)
    sys.stderr.write(f"\r[{bar}] {done:,}/{total:,} {what}, {elapsed:5.1f} s, {rate:,.0f}{rate_unit}")
    sys.stderr.flush()
