"""The skills taxonomy: canonical ASCII slugs with Chinese names, synonyms and related skills.

``Taxonomy.load()`` reads the shipped ``data/skills.yaml`` and applies staff overrides (a list of dicts
``{slug, name, synonyms, related, retired}``: a new slug adds a skill, a known slug replaces the fields it
names, ``retired`` stops a skill matching). ``normalize`` maps what a user typed to skills and never drops
text: a part that maps to nothing comes back with ``id`` None. ``check`` is the linter for staff edits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from miniapp_api.jobs import occupations

DATA = Path(__file__).parent / "data" / "skills.yaml"

SLUG = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
# Separators between skills in one phrase: 和 / 及 / 与 / 、 / , / ; / slash / whitespace runs (after NFKC).
_SPLIT = re.compile(r"[和及与、,;/|\s]+")
_ASCII = re.compile(r"^[\x00-\x7f]+$")


def fold(text: str) -> str:
    """NFKC (full-width to half-width, compatibility forms), trimmed, case-folded, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class Skill:
    slug: str
    name: str
    synonyms: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    occupations: tuple[str, ...] = ()
    retired: bool = False


@dataclass
class Taxonomy:
    skills: dict[str, Skill]
    _index: dict[str, str] = field(default_factory=dict, repr=False)
    _related: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _claims: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, overrides: Iterable[Mapping[str, Any]] = (), path: Path = DATA) -> Taxonomy:
        """The shipped taxonomy with staff overrides applied in order."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))["skills"]
        skills: dict[str, Skill] = {}
        for item in raw:
            skills[item["id"]] = Skill(
                slug=item["id"],
                name=item["name"],
                synonyms=tuple(str(s) for s in item.get("synonyms") or ()),
                related=tuple(item.get("related") or ()),
                occupations=tuple(str(c) for c in item.get("occupations") or ()),
            )
        for override in overrides:
            slug = str(override["slug"])
            base = skills.get(slug) or Skill(slug=slug, name=str(override.get("name") or slug))
            skills[slug] = Skill(
                slug=slug,
                name=str(override.get("name") or base.name),
                synonyms=tuple(override["synonyms"]) if "synonyms" in override else base.synonyms,
                related=tuple(override["related"]) if "related" in override else base.related,
                occupations=tuple(override["occupations"]) if "occupations" in override else base.occupations,
                retired=bool(override.get("retired", base.retired)),
            )
        taxonomy = cls(skills)
        taxonomy._build()
        return taxonomy

    def _build(self) -> None:
        claims: dict[str, list[str]] = {}
        for skill in self.skills.values():
            if skill.retired:
                continue
            for surface in {fold(skill.slug), fold(skill.name), *(fold(s) for s in skill.synonyms)}:
                if surface:
                    claims.setdefault(surface, []).append(skill.slug)
        self._claims = claims
        # A surface claimed twice goes to the first claimant (check() reports it).
        self._index = {surface: slugs[0] for surface, slugs in claims.items()}
        related: dict[str, set[str]] = {slug: set() for slug in self.skills}
        for skill in self.skills.values():
            for other in skill.related:
                if other in self.skills and other != skill.slug:
                    related[skill.slug].add(other)
                    related[other].add(skill.slug)
        retired = {s.slug for s in self.skills.values() if s.retired}
        self._related = {slug: frozenset(r - retired) for slug, r in related.items()}
        # Longest surfaces first for compound phrases.
        self._surfaces = sorted(self._index, key=len, reverse=True)

    def name(self, slug: str) -> str | None:
        """The skill's Chinese name (retired skills keep theirs, for stored data); None if unknown."""
        skill = self.skills.get(slug)
        return skill.name if skill else None

    def related(self, slug: str) -> frozenset[str]:
        """Related skill ids, both directions (A lists B makes B related to A); empty for unknown/retired."""
        return self._related.get(slug, frozenset())

    def occupations(self, slug: str) -> tuple[str, ...]:
        skill = self.skills.get(slug)
        return skill.occupations if skill else ()

    def lookup(self, text: str) -> str | None:
        """The slug whose name, slug or synonym equals ``text`` after folding; None otherwise."""
        return self._index.get(fold(text))

    def _contained(self, folded: str) -> list[str]:
        """Slugs of the longest non-overlapping surfaces inside ``folded``, in reading order."""
        taken = [False] * len(folded)
        found: list[tuple[int, str]] = []
        for surface in self._surfaces:
            if len(surface) < 2 and not _ASCII.match(surface):
                continue
            start = folded.find(surface)
            while start != -1:
                end = start + len(surface)
                ascii_ok = not _ASCII.match(surface) or (
                    (start == 0 or not folded[start - 1].isascii() or not folded[start - 1].isalnum())
                    and (end == len(folded) or not folded[end].isascii() or not folded[end].isalnum())
                )
                if ascii_ok and not any(taken[start:end]):
                    for i in range(start, end):
                        taken[i] = True
                    found.append((start, self._index[surface]))
                start = folded.find(surface, start + 1)
        slugs: list[str] = []
        for _, slug in sorted(found):
            if slug not in slugs:
                slugs.append(slug)
        return slugs

    def normalize(self, text: str) -> list[dict[str, str | None]]:
        """What a user typed as skills: ``[{"id": slug or None, "text": the words}]``, never dropping text.

        ``text`` is what the user typed (trimmed) when the input is one phrase; the parts of a split phrase are
        taken from its NFKC form (full-width punctuation and letters made half-width).

        An exact name/synonym match (whole text) gives one item; otherwise the text is split on 和/及/与/、/,
        /;/slash/spaces and each part is matched exactly, else by the longest synonyms it contains
        ("会电焊" -> welding); a part that matches nothing stays as ``{"id": None, "text": part}``.
        """
        typed = text.strip()
        cleaned = unicodedata.normalize("NFKC", typed)
        if not cleaned:
            return []
        exact = self.lookup(cleaned)
        if exact:
            return [{"id": exact, "text": typed}]
        parts = [p.strip() for p in _SPLIT.split(cleaned) if p.strip()]
        if len(parts) == 1:
            parts = [typed]  # nothing to split: keep the words exactly as typed
        items: list[dict[str, str | None]] = []
        seen: set[str] = set()
        for part in parts:
            slug = self.lookup(part)
            slugs = [slug] if slug else self._contained(fold(part))
            if not slugs:
                items.append({"id": None, "text": part})
            for found in slugs:
                if found not in seen:
                    seen.add(found)
                    items.append({"id": found, "text": part})
        return items

    def check(self) -> list[str]:
        """Problems in the taxonomy (empty when clean): bad slugs, unknown related ids or occupation codes,
        a surface claimed by two skills. Related cycles are fine."""
        problems: list[str] = []
        for skill in self.skills.values():
            if not SLUG.match(skill.slug):
                problems.append(f"{skill.slug}: id is not a lower-case ASCII slug")
            if not skill.name.strip():
                problems.append(f"{skill.slug}: empty name")
            for other in skill.related:
                if other not in self.skills:
                    problems.append(f"{skill.slug}: unknown related id {other!r}")
                elif other == skill.slug:
                    problems.append(f"{skill.slug}: related to itself")
            for code in skill.occupations:
                if not occupations.valid(code):
                    problems.append(f"{skill.slug}: unknown occupation code {code!r}")
        for surface, slugs in sorted(self._claims.items()):
            if len(set(slugs)) > 1:
                problems.append(f"synonym {surface!r} claimed by {', '.join(sorted(set(slugs)))}")
        return problems
