"""The 2022 national occupational classification (职业分类大典 2022年版): codes, names, ancestors, a picker search.

Shipped data (source and licence in ``data/SOURCE.md``): ``data/occupations_2022.tsv``, the 8 major groups
(大类), 79 middle groups (中类) and 449 small groups (小类) with their Chinese names, and
``data/occupations_2022_detail.tsv``, the detailed occupations (细类, e.g. ``6-18-02-04`` 焊工) of the small groups
most relevant to Guangming. The detail list is partial (and its source has gaps), so any two-digit detail code
under a shipped small group is accepted (``valid``); one not shipped is named by its small group (``name``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "occupations_2022.tsv"
DETAIL = Path(__file__).parent / "data" / "occupations_2022_detail.tsv"

_CODE = re.compile(r"^[1-8](?:-\d{2}(?:-\d{2}(?:-\d{2})?)?)?$")


@cache
def _table() -> dict[str, str]:
    """Code -> name, loaded once."""
    table: dict[str, str] = {}
    for path in (DATA, DETAIL):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            code, name = line.split("\t")
            table[code] = name
    # Details sorted in after their small group, so codes() keeps the classification's order.
    return dict(sorted(table.items(), key=lambda item: [int(part) for part in item[0].split("-")]))


def codes() -> list[str]:
    """Every shipped code (major, middle, small, the shipped details), in the classification's order."""
    return list(_table())


def level(code: str) -> str:
    """``major``, ``middle``, ``small`` or ``detail`` by the code's shape (not checked against the data)."""
    return ("major", "middle", "small", "detail")[code.count("-")]


def valid(code: object) -> bool:
    """True for a shipped major/middle/small code, or a detail code under a shipped small group."""
    if not isinstance(code, str) or not _CODE.match(code):
        return False
    table = _table()
    if code.count("-") == 3:
        return code in table or code.rsplit("-", 1)[0] in table
    return code in table


def name(code: str) -> str | None:
    """The Chinese name; a detail code that is not shipped gets its small group's name; None if unknown."""
    if not valid(code):
        return None
    table = _table()
    return table.get(code) or table[code.rsplit("-", 1)[0]]


def ancestors(code: str) -> list[str]:
    """The codes from the major group down to ``code`` itself (e.g. ["6", "6-18", "6-18-02"]); [] if unknown."""
    if not valid(code):
        return []
    parts = code.split("-")
    return ["-".join(parts[: i + 1]) for i in range(len(parts))]


def major(code: str) -> str | None:
    """The major group's code ("6" for "6-18-02"), None for an unknown code."""
    return code.split("-", 1)[0] if valid(code) else None


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().casefold()


def search(text: str, limit: int = 20, min_level: str = "middle") -> list[dict[str, str]]:
    """Groups whose code starts with, or whose name contains, ``text`` (NFKC, case-folded), for a picker.

    Results are middle level or deeper by default (postings and seekers name a middle group or deeper);
    names that start with the text come first, then shorter names. Each item: ``{"code", "name", "path"}``,
    ``path`` being the ancestors' names joined by " / ".
    """
    query = _fold(text)
    if not query:
        return []
    order = ("major", "middle", "small", "detail")
    floor = order.index(min_level)
    table = _table()
    hits: list[tuple[int, int, int, str]] = []
    for position, (code, group) in enumerate(table.items()):
        if order.index(level(code)) < floor:
            continue
        folded = _fold(group)
        if code.startswith(query):
            hits.append((0, len(code), position, code))
        elif query in folded:
            hits.append((1 if folded.startswith(query) else 2, len(folded), position, code))
    hits.sort()
    return [
        {"code": code, "name": table[code], "path": " / ".join(table[c] for c in ancestors(code))}
        for *_, code in hits[:limit]
    ]
