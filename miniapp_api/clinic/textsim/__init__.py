"""Say the same thing: how surely two short Chinese complaint texts describe the same problem.

A text (its first 300 characters) becomes a bag of character bigrams and of Latin/number words such as
``110kv``, weighted by sublinear term frequency times an inverse document frequency frozen from 2,976
public citizen messages (the 2020 Teddy Cup board data, messages.csv), and L2-normalised; the score is
the cosine. Bigrams in more than about 8% of complaints (问题, 小区, 反映, 希望, 领导, 投诉 ...) are
dropped, rare ones weigh most. Anonymised place codes (A市, A3区) are removed and a place name (the rare
bigrams just before 路, 社区, 小区, 新城 ...) counts half: two reports from the same address about
different problems should not look alike. The weighting never depends on the texts at hand, so
``similarity(a, b)`` is the same number whatever else is being grouped and a threshold keeps its meaning.

``group`` vectorises all texts once and finds the pairs above the threshold with numpy only (postings
sorted by term; every pair of texts sharing a term expanded in blocks and summed with ``bincount``), takes
the connected components, and splits them by average link so that chains do not glue topics together.

The parts: ``vectors`` turns texts into weighted vectors (with the frozen table of ``idf_table``),
``pairs`` finds the pairs above a threshold and splits groups; this module is the API.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Final, Literal, TypeVar

import numpy as np

from miniapp_api.clinic.textsim.pairs import average_link, component_roots, pairs
from miniapp_api.clinic.textsim.vectors import idf, vectorise

__all__ = ["SAME_THING", "centrality", "group", "idf", "similarities", "similarity"]

K = TypeVar("K", bound=Hashable)

SAME_THING: Final = 0.18
"""Score from which two texts (of the same place and week) say the same thing. Chosen on hot-messages.csv:
about 80% of the pairs above it are duplicates (65% counting one author's 92 look-alike posts)."""

# Average link merges two parts of a connected group while their mean score reaches this share of the threshold.
_AVERAGE_SHARE: Final = 0.6
# A component larger than this (m x m floats twice) stays as single link found it.
_AVERAGE_MAX: Final = 3000


def similarity(a: str, b: str) -> float:
    """How surely ``a`` and ``b`` describe the same problem, in [0, 1]: 1.0 for the same text, 0.0 if one is empty."""
    return similarities(a, [b])[0]


def similarities(text: str, others: Sequence[str]) -> list[float]:
    """``similarity(text, other)`` for each of ``others``, vectorised together (one new text against many)."""
    v = vectorise([text, *others])
    t0, w0 = v.row(0)
    out: list[float] = []
    for r, other in enumerate(others, start=1):
        t, w = v.row(r)
        if not len(t0) or not len(t):
            out.append(0.0)
        elif other == text:
            out.append(1.0)
        else:
            _, i0, i1 = np.intersect1d(t0, t, assume_unique=True, return_indices=True)
            out.append(min(1.0, max(0.0, float(w0[i0] @ w[i1]))))
    return out


def group(
    items: Sequence[tuple[K, str]],
    threshold: float = SAME_THING,
    *,
    linkage: Literal["average", "single"] = "average",
) -> list[list[K]]:
    """Partition ``items`` (key, text) into groups of texts that say the same thing.

    Single link: the connected components of the pairs scoring >= ``threshold``. Average link (the default)
    then splits each component (up to 3,000 texts), merging its parts bottom-up while their mean pairwise
    score stays >= 0.6 x ``threshold``. Every key is in exactly one group (a text like no other is a group
    of one); groups come largest first, then by their first item; keys keep the input order in a group.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    n = len(items)
    if n == 0:
        return []
    v = vectorise([text for _, text in items])
    i, j, _ = pairs(v, threshold)
    roots = component_roots(n, i, j)
    components: dict[int, list[int]] = {}
    for index, root in enumerate(roots.tolist()):
        components.setdefault(root, []).append(index)
    groups: list[list[int]] = []
    for members in components.values():
        if linkage == "single" or len(members) <= 2 or len(members) > _AVERAGE_MAX:
            groups.append(members)
        else:
            groups.extend(average_link(v, np.asarray(members, dtype=np.int64), threshold * _AVERAGE_SHARE))
    groups.sort(key=lambda m: (-len(m), m[0]))
    return [[items[k][0] for k in m] for m in groups]


def centrality(texts: Sequence[str]) -> list[float]:
    """Mean score of each text against the others (0.0 for a single text): the highest is the group's most typical."""
    n = len(texts)
    if n < 2:
        return [0.0] * n
    i, j, s = pairs(vectorise(texts), 1e-9)
    sums = np.bincount(i, weights=s, minlength=n) + np.bincount(j, weights=s, minlength=n)
    return [float(x) for x in sums / (n - 1)]
