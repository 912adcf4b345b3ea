"""The pairs of texts that say the same thing, and the groups they make: every pair of vectors sharing
a term expanded in blocks and summed with ``bincount`` (numpy only), the connected components of the
pairs above a threshold, and average link inside a component so that chains do not glue topics together."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from miniapp_api.clinic.textsim.vectors import Vectors

# Pair scores are summed into (rows x n) float64 blocks of about this many cells (32 MB).
_BLOCK_CELLS: Final = 4_000_000
_CHUNK_PAIRS: Final = 2_000_000


def pairs(v: Vectors, threshold: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """All (i, j, score) with i < j and score >= threshold, summing (rows x n) blocks of cosines at a time."""
    n = len(v.indptr) - 1
    sizes = v.sizes
    rows = np.repeat(np.arange(n, dtype=np.int64), sizes)
    order = np.argsort(v.terms, kind="stable")  # rows stay ascending within a term
    terms, rows, weights = v.terms[order], rows[order], v.weights[order]
    rows32 = rows.astype(np.int32)
    m = len(terms)
    starts = np.flatnonzero(np.r_[True, terms[1:] != terms[:-1]]) if m else np.zeros(0, dtype=np.int64)
    run_end = np.repeat(np.r_[starts[1:], m], np.diff(np.r_[starts, m]))
    later = run_end - np.arange(m) - 1  # postings of the same term in later rows
    pos = np.flatnonzero(later > 0)
    count = later[pos]
    block = max(1, _BLOCK_CELLS // max(n, 1))
    found: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]] = []
    for b0 in range(0, n, block):
        b1 = min(n, b0 + block)
        in_block = (rows[pos] >= b0) & (rows[pos] < b1)
        p, c = pos[in_block], count[in_block]
        if not len(p):
            continue
        cells = (b1 - b0) * n
        acc = np.zeros(cells)
        ends = np.cumsum(c)
        lo = 0
        while lo < len(p):
            base = ends[lo - 1] if lo else 0
            hi = max(lo + 1, int(np.searchsorted(ends, base + _CHUNK_PAIRS, side="right")))
            pc, cc = p[lo:hi], c[lo:hi]
            # Posting pc pairs with the cc postings after it: pc + 1 ... pc + cc.
            first = np.cumsum(cc) - cc
            right = np.repeat((pc + 1 - first).astype(np.int32), cc) + np.arange(int(cc.sum()), dtype=np.int32)
            cell = np.repeat((rows32[pc] - b0) * n, cc) + rows32[right]
            acc += np.bincount(cell, weights=np.repeat(weights[pc], cc) * weights[right], minlength=cells)
            lo = hi
        hit = np.flatnonzero(acc >= threshold * (1 - 1e-9))  # rounding; never 0, which would take empty cells
        found.append((b0 + hit // n, hit % n, np.minimum(acc[hit], 1.0)))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return (
        np.concatenate([f[0] for f in found]),
        np.concatenate([f[1] for f in found]),
        np.concatenate([f[2] for f in found]),
    )


def component_roots(n: int, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Root (smallest index) of each item's connected component."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.asarray([find(x) for x in range(n)], dtype=np.int64)


def average_link(v: Vectors, members: npt.NDArray[np.int64], cutoff: float) -> list[list[int]]:
    """UPGMA inside one component on exact pairwise scores; parts merge while their mean score >= cutoff.

    Each row keeps its best partner, so a merge costs O(m) numpy work instead of a scan of the m x m matrix.
    """
    m = len(members)
    i, j, s = pairs(v.subset(members), 1e-9)
    total = np.zeros((m, m))
    total[i, j] = s
    total[j, i] = s
    mean = total.copy()
    np.fill_diagonal(mean, -np.inf)
    size = np.ones(m)
    alive = np.ones(m, dtype=bool)
    label = np.arange(m)
    best = mean.argmax(axis=1)
    best_value = mean[np.arange(m), best]
    while True:
        a = int(np.argmax(best_value))
        if best_value[a] < cutoff:
            break
        a, b = sorted((a, int(best[a])))
        total[a, :] += total[b, :]
        total[:, a] = total[a, :]
        size[a] += size[b]
        alive[b] = False
        label[label == b] = a
        row = np.where(alive, total[a, :] / (size[a] * size), -np.inf)
        row[a] = -np.inf
        mean[a, :] = row
        mean[:, a] = row
        mean[b, :] = -np.inf
        mean[:, b] = -np.inf
        best_value[b] = -np.inf
        best[a] = int(np.argmax(row))
        best_value[a] = row[best[a]]
        # Rows that pointed at a or b may have lost their best; the others can only gain a.
        for r in np.flatnonzero(alive & ((best == a) | (best == b))).tolist():
            if r != a:
                best[r] = int(np.argmax(mean[r, :]))
                best_value[r] = mean[r, best[r]]
        gain = alive & (row > best_value)
        gain[a] = False
        best[gain] = a
        best_value[gain] = row[gain]
    parts: dict[int, list[int]] = {}
    for k, lab in enumerate(label.tolist()):
        parts.setdefault(lab, []).append(int(members[k]))
    return list(parts.values())
