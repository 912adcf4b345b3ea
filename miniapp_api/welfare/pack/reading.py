"""Reading a pack's files: safe YAML only, size-capped, no aliases, and the small value parsers (dates,
sources) that every part of the pack shares.

A problem (too big, unreadable, not YAML) is appended to ``problems`` and the file reads as None, so the linter
can go on and report every problem at once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from miniapp_api.welfare.pack.model import Source

# A pack is hand-written text: 256 KB per file is far beyond any real one and bounds what a hostile one costs.
MAX_FILE_BYTES = 256 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases (no "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"aliases are not allowed (line {event.start_mark.line + 1})")
        return super().compose_node(parent, index)


def read(path: Path, root: Path, problems: list[str]) -> Any:
    """The YAML in ``path`` (None, with a problem added, if it is too big, unreadable or not safe YAML)."""
    rel = str(path.relative_to(root))
    try:
        size = path.stat().st_size
    except OSError as exc:
        problems.append(f"{rel}: cannot read ({exc.strerror})")
        return None
    if size > MAX_FILE_BYTES:
        problems.append(f"{rel}: file larger than {MAX_FILE_BYTES // 1024} KB ({size:,} bytes)")
        return None
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(f"{rel}: not valid YAML ({str(exc).splitlines()[0]})")
        return None


def parse_date(value: Any) -> dt.date | None:
    """A date written in YAML (unquoted YAML dates arrive as ``date``, quoted ones as text), or None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def parse_source(raw: Any) -> Source | None:
    """A {title, url} mapping with both filled in, or None."""
    if not isinstance(raw, dict):
        return None
    title, url = raw.get("title"), raw.get("url")
    if isinstance(title, str) and isinstance(url, str) and title.strip() and url.strip():
        return Source(title.strip(), url.strip())
    return None
