"""Reading a pack's files: safe YAML only, size-capped, no aliases, and the small value parsers (dates,
sources) that every part of the pack shares.

A problem (too big, unreadable, not YAML) is appended to ``problems`` and the file reads as None, so the linter
can go on and report every problem at once.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from miniapp_api.welfare.pack.model import Source

# A pack is hand-written text: 256 KB per file is far beyond any real one and bounds what a hostile one costs.
MAX_FILE_BYTES = 256 * 1024
# No real pack nests deeper than a few levels; composing YAML recurses once per level (Python's limit is 1,000).
MAX_YAML_DEPTH = 64


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases (no "billion laughs"), nested at most MAX_YAML_DEPTH deep."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases are not allowed (line {event.start_mark.line + 1})")
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels (line {line})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def unsafe(path: Path, rel: str) -> str | None:
    """Why ``path`` may not be part of a pack, or None: a link (it could point anywhere outside the pack: a
    secret, /dev/zero), or anything but a regular file (a FIFO would block the load for ever)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"{rel}: cannot read ({exc.strerror})"
    if stat.S_ISLNK(mode):
        return f"{rel}: a link (a pack's files must be in its own folder, not linked)"
    if not stat.S_ISREG(mode):
        return f"{rel}: not a regular file"
    return None


def unsafe_folder(path: Path, rel: str) -> str | None:
    """Why the folder ``path`` (parameters/, policies/) may not be read, or None (also when it is missing)."""
    if path.is_symlink():
        return f"{rel}: a link (a pack's files must be in its own folder, not linked)"
    return None


def read_text(path: Path, rel: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, the problem): a regular file, not a link, at most MAX_FILE_BYTES, UTF-8."""
    problem = unsafe(path, rel)
    if problem is not None:
        return None, problem
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, f"{rel}: cannot read ({exc.strerror})"
    if len(data) > MAX_FILE_BYTES:
        return None, f"{rel}: file larger than {MAX_FILE_BYTES // 1024} KB"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, f"{rel}: not UTF-8 text"


def read(path: Path, root: Path, problems: list[str]) -> Any:
    """The YAML in ``path`` (None, with a problem added, if it is a link or not a regular file, too big,
    unreadable or not safe YAML)."""
    rel = str(path.relative_to(root))
    text, problem = read_text(path, rel)
    if text is None:
        problems.append(problem or f"{rel}: cannot read")
        return None
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, RecursionError) as exc:
        message = str(exc).splitlines()[0] if isinstance(exc, yaml.YAMLError) else "nested too deeply"
        problems.append(f"{rel}: not valid YAML ({message})")
        return None


def number_problem(value: Any) -> str | None:
    """Why a parameter's value cannot be used, or None: yes/no is not a number, nor is NaN or infinity, and a
    number written as text ("1,483", "1e400") would never compare with one."""
    if isinstance(value, bool):
        return "is yes/no, not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    if isinstance(value, str):
        try:
            float(value.replace(",", "").replace("_", "").strip())
        except ValueError:
            return None
        return "is a number written as text (write it without quotes or commas)"
    return None


# The dates a pack may name: far beyond any policy's, and the day after the last still exists (9999-12-31 as an
# end date made the push's "day after it ends" overflow).
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(value: Any) -> dt.date | None:
    """A date written in YAML as YYYY-MM-DD (unquoted it arrives as ``date``, quoted as text) from FIRST_DATE to
    LAST_DATE, or None: a time of day (with a zone it may be another day in China), a compact (20240101) or
    week date (2024-W01-1) are not taken."""
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.date) and FIRST_DATE <= value <= LAST_DATE:
        return value
    return None


def parse_source(raw: Any) -> Source | None:
    """A {title, url} mapping with both filled in, or None."""
    if not isinstance(raw, dict):
        return None
    title, url = raw.get("title"), raw.get("url")
    if isinstance(title, str) and isinstance(url, str) and title.strip() and url.strip():
        return Source(title.strip(), url.strip())
    return None
