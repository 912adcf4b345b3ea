"""Texts as vectors: a text (its first 300 characters) becomes a bag of character bigrams and of
Latin/number words, weighted by sublinear term frequency times the frozen inverse document frequency
(``idf_table``), with anonymised place codes removed and place names at half weight, L2-normalised."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt

from miniapp_api.clinic.textsim.idf_table import IDF_TIERS

# The subject and the first lines carry the problem; long bodies add noise and cost.
_MAX_CHARS: Final = 300
# Anonymised place codes of the public data (A市, A3区, K9县): every text has them.
_PLACE_CODE = re.compile(r"(?<![A-Za-zＡ-Ｚａ-ｚ])[A-ZＡ-Ｚ][0-9０-９]{0,2}[市区县]")
_LATIN_WORD = re.compile(r"[a-z0-9]{2,}")
# A place name is the run of unknown (rare) bigrams just before one of these: 东坑|路, 丽发|新城, 塘家|社区.
_PLACE_SUFFIX = re.compile(r"街道|社区|小区|花园|家园|新城|新村|公寓|大厦|广场|大道|路|街|巷|村|镇|苑|园|城|湾|府")
_PLACE_WEIGHT: Final = 0.5
_SEP: Final = "\x00"
# Bigrams missing from the frozen table are in fewer than 0.5% of the messages.
_UNKNOWN_IDF: Final = 5.5
# Bigrams in more than about 8% of the messages say nothing about the problem and cost most pairs: dropped.
_STOP_IDF: Final = 2.5
# Latin words are hashed above the bigram codes (two BMP code points need 32 bits).
_LATIN_BASE: Final = 1 << 32
_KEY_BITS: Final = 34


@dataclass(frozen=True, slots=True)
class Vectors:
    """L2-normalised rows, CSR-like: row r has ``terms[indptr[r]:indptr[r + 1]]`` (ascending) and their weights."""

    indptr: npt.NDArray[np.int64]
    terms: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]

    @property
    def sizes(self) -> npt.NDArray[np.int64]:
        return np.diff(self.indptr)

    def row(self, r: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        lo, hi = self.indptr[r], self.indptr[r + 1]
        return self.terms[lo:hi], self.weights[lo:hi]

    def subset(self, rows: npt.NDArray[np.int64]) -> Vectors:
        parts = [np.arange(self.indptr[r], self.indptr[r + 1]) for r in rows.tolist()]
        take = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(self.sizes[rows])]).astype(np.int64)
        return Vectors(indptr=indptr, terms=self.terms[take], weights=self.weights[take])


def idf(bigram: str) -> float:
    """The frozen inverse document frequency of a two-character term (low: every complaint says it)."""
    if len(bigram) != 2:
        raise ValueError("a bigram has two characters")
    return _idf_dict().get(bigram, _UNKNOWN_IDF)


@cache
def _idf_dict() -> dict[str, float]:
    table: dict[str, float] = {}
    for value, *chunks in IDF_TIERS:
        joined = "".join(chunks)
        table.update((joined[k : k + 2], value) for k in range(0, len(joined), 2))
    return table


@cache
def _idf_table() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The frozen IDF as sorted bigram codes (two code points in 32 bits) and their values."""
    table = _idf_dict()
    keys = np.asarray([ord(b[0]) << 16 | ord(b[1]) for b in table], dtype=np.int64)
    values = np.asarray(list(table.values()), dtype=np.float64)
    order = np.argsort(keys)
    return keys[order], values[order]


def vectorise(texts: Sequence[str]) -> Vectors:
    n = len(texts)
    joined = _PLACE_CODE.sub(" ", _SEP.join(t[:_MAX_CHARS].replace(_SEP, " ") for t in texts))
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    # Full-width Latin letters and digits to ASCII (as NFKC would), then lower case: in numpy, not per character.
    codes[(codes >= 0xFF01) & (codes <= 0xFF5E)] -= 0xFEE0
    codes[(codes >= 0x41) & (codes <= 0x5A)] += 0x20
    position_row = np.cumsum(codes == 0)
    cjk = ((codes >= 0x3400) & (codes <= 0x9FFF)) | ((codes >= 0xF900) & (codes <= 0xFAFF))
    bigram = cjk[:-1] & cjk[1:]
    all_keys = (codes[:-1] << 16) | codes[1:]
    place = _place_names(joined, all_keys, bigram)[bigram]
    keys = all_keys[bigram]
    rows = position_row[:-1][bigram]
    ascii_text = codes.astype(np.uint32).tobytes().decode("utf-32-le")
    latin = [
        (m.start(), _LATIN_BASE + zlib.crc32(m.group().encode()))
        for m in _LATIN_WORD.finditer(ascii_text)
        if not m.group().isdigit()
    ]
    if latin:
        at, latin_keys = np.asarray(latin, dtype=np.int64).T
        rows, keys = np.concatenate([rows, position_row[at]]), np.concatenate([keys, latin_keys])
        place = np.concatenate([place, np.zeros(len(at), dtype=bool)])
    combined, inverse, tf = np.unique((rows << _KEY_BITS) | keys, return_inverse=True, return_counts=True)
    in_name = np.bincount(inverse, weights=place, minlength=len(combined)) > 0
    rows, terms = combined >> _KEY_BITS, combined & ((1 << _KEY_BITS) - 1)
    table_keys, table_idf = _idf_table()
    at = np.minimum(np.searchsorted(table_keys, terms), len(table_keys) - 1)
    idf = np.where(table_keys[at] == terms, table_idf[at], _UNKNOWN_IDF)
    keep = idf >= _STOP_IDF
    rows, terms = rows[keep], terms[keep]
    weights = (1.0 + np.log(tf[keep])) * idf[keep] * np.where(in_name[keep], _PLACE_WEIGHT, 1.0)
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=n))
    weights /= norms[rows]
    indptr = np.searchsorted(rows, np.arange(n + 1)).astype(np.int64)
    return Vectors(indptr=indptr, terms=terms, weights=weights)


def _place_names(joined: str, keys: npt.NDArray[np.int64], bigram: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Bigram positions inside a place name: the run of unknown bigrams that ends in a place suffix (东坑|路)."""
    table_keys, _ = _idf_table()
    where = np.flatnonzero(bigram)
    at = np.minimum(np.searchsorted(table_keys, keys[where]), len(table_keys) - 1)
    unknown = np.zeros(len(keys), dtype=bool)
    unknown[where] = table_keys[at] != keys[where]
    starts = unknown & ~np.r_[False, unknown[:-1]]
    run = np.cumsum(starts) * unknown  # 0 outside runs
    reach = np.full(int(run.max()) + 1 if len(run) else 1, -1, dtype=np.int64)
    ends = np.asarray([m.start() - 1 for m in _PLACE_SUFFIX.finditer(joined) if m.start() > 0], dtype=np.int64)
    ends = ends[ends < len(run)]
    ends = ends[run[ends] > 0]
    np.maximum.at(reach, run[ends], ends)
    position = np.arange(len(run))
    result: npt.NDArray[np.bool_] = (run > 0) & (position <= reach[run])
    return result
