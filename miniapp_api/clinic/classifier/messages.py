"""The labelled messages bundled with the package: where they are, reading them, and their SHA-256."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from pathlib import Path

DATA = Path(__file__).parents[1] / "data"
BUNDLED = DATA / "messages.csv.gz"
# The shared data folder beside the repository (/work/shared on the dev machines); CI clones elsewhere.
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "civic-messages" / "messages.csv"


def messages_path() -> Path:
    """The labelled messages bundled with the package, else shared/ (``gmid reports train --messages FILE``
    and ``bench/classify_bench.py --messages FILE`` for others; GMID_ variables are reserved for settings)."""
    return BUNDLED if BUNDLED.exists() else SHARED


def _csv_bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def read_messages(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from a CSV with ``text`` and ``label`` columns (plain or gzipped)."""
    rows = csv.DictReader(io.StringIO(_csv_bytes(path).decode("utf-8-sig")))
    return [(row["text"], row["label"]) for row in rows if row.get("text") and row.get("label")]


def data_sha256(path: Path) -> str:
    """The SHA-256 of a messages file's CSV text (of what it decompresses to, for a .gz: the same as the
    shared plain copy's ``sha256sum``)."""
    return hashlib.sha256(_csv_bytes(path)).hexdigest()
