"""Text features: normalisation, the character and word n-grams of a block, and finding a text's known terms."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_CHARS = 1500  # read no further: bounds the time of one prediction (1 in 20 messages is longer)
SEPARATOR = "\n"  # between terms in the saved arrays: no term holds whitespace (normalisation removes it)

_SPACES = re.compile(r"\s+")
_SURROGATES = re.compile("[\ud800-\udfff]")


def normalize(text: str) -> str:
    # "_x000D_" is a carriage return escaped by the spreadsheet export the public messages went through;
    # whitespace goes altogether, as in the public messages (a space typed in a report is no signal).
    # A lone surrogate (valid in a Python str, not in UTF-8) becomes U+FFFD: the segmenter takes UTF-8 only.
    return _SURROGATES.sub("\ufffd", _SPACES.sub("", text.replace("_x000D_", " ")).lower())


def _segment(text: str) -> list[str]:
    import rjieba  # imported on first use: the app imports this module before any model is loaded

    return rjieba.cut(text)


@dataclass(frozen=True)
class Analyzer:
    """How one block reads a normalised text: character or word n-grams (``low`` to ``high`` long) of its
    first ``chars`` characters. A saved model names its analysers in its header."""

    kind: str  # "chars" or "words" (rjieba's segmentation; a word pair is joined by a space)
    low: int
    high: int
    chars: int

    def grams(self, normalized: str) -> list[str]:
        text = normalized[: self.chars]
        if self.kind == "chars":
            return [text[i : i + n] for n in range(self.low, self.high + 1) for i in range(len(text) - n + 1)]
        words = _segment(text)
        return [" ".join(words[i : i + n]) for n in range(self.low, self.high + 1) for i in range(len(words) - n + 1)]

    def __call__(self, text: str) -> list[str]:  # scikit-learn's analyzer: from the raw text
        return self.grams(normalize(text))

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "ngrams": [self.low, self.high], "chars": self.chars}

    @classmethod
    def parse(cls, spec: Any) -> Analyzer:
        low, high = spec["ngrams"]
        analyzer = cls(str(spec["kind"]), int(low), int(high), int(spec["chars"]))
        longest = {"chars": _KEY_CHARS, "words": 2}.get(analyzer.kind, 0)
        if not 1 <= low <= high <= longest or not 1 <= analyzer.chars <= 100_000:
            raise ValueError(f"unknown features {spec}")
        return analyzer


# Prediction finds a text's terms with numpy rather than a dict lookup each (a few thousand lookups into a
# dict of 200,000 strings took several ms on a busy machine): a character n-gram of up to 3 characters is
# one exact uint64 key (each code point + 1 in 21 bits), a word pair is the pair of its words' ids, and a
# text's keys are found at once with a binary search in the block's sorted keys.
_KEY_CHARS = 3
_KEY_BITS = 21  # code points end at 0x10FFFF
_NONE = np.empty(0, dtype=np.int64)


def _codes(text: str) -> np.ndarray:
    return np.fromiter(map(ord, text), dtype=np.uint64, count=len(text)) + np.uint64(1)


def _char_keys(codes: np.ndarray, low: int, high: int) -> np.ndarray:
    """The key of every n-gram (``low`` to ``high`` characters) of a text's codes."""
    parts = []
    for n in range(low, min(high, len(codes)) + 1):
        key = codes[: len(codes) - n + 1].copy()
        for j in range(1, n):
            key |= codes[j : len(codes) - n + 1 + j] << np.uint64(_KEY_BITS * j)
        parts.append(key)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


def _term_keys(terms: Sequence[str]) -> np.ndarray:
    """The key of each term (1 to 3 characters), as _char_keys makes them."""
    lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
    if len(terms) and not (lengths.min() >= 1 and lengths.max() <= _KEY_CHARS):
        raise ValueError("a character term is not 1 to 3 characters long")
    codes = _codes("".join(terms))
    starts = np.cumsum(lengths) - lengths
    keys = codes[starts] if len(terms) else np.empty(0, dtype=np.uint64)
    for j in range(1, _KEY_CHARS):
        longer = lengths > j
        keys[longer] |= codes[starts[longer] + j] << np.uint64(_KEY_BITS * j)
    return keys


@dataclass(frozen=True)
class _Keys:
    """Sorted keys and the column of each: the columns of the keys found among them."""

    keys: np.ndarray  # uint64, sorted, unique
    columns: np.ndarray  # int64

    @classmethod
    def of(cls, keys: np.ndarray, columns: np.ndarray) -> _Keys:
        order = np.argsort(keys, kind="stable")
        if len(keys) > 1 and not (np.diff(keys[order]) > 0).all():
            raise ValueError("duplicate terms")
        return cls(keys[order], columns[order])

    def find(self, queries: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The columns of the queries found, and their counts."""
        if not len(self.keys) or not len(queries):
            return _NONE, _NONE
        at = np.minimum(np.searchsorted(self.keys, queries), len(self.keys) - 1)
        hit = self.keys[at] == queries
        return self.columns[at[hit]], counts[hit]


@dataclass(frozen=True)
class _Block:
    """One TF-IDF block: how it reads a text, its terms (column order), the columns' IDF weights, and the
    block's weight in the model's input."""

    analyzer: Analyzer
    text: np.ndarray  # the terms in column order, UTF-8, SEPARATOR between (not a list of 200,000
    # strings: the garbage collector would walk it on every full collection, a few ms in a prediction)
    size: int
    idf: np.ndarray  # float32, one per column
    weight: float
    keys: _Keys  # character n-grams, or word pairs
    words: dict[str, int]  # a words block: word -> id (its column when the word is a term itself)

    @classmethod
    def of(cls, analyzer: Analyzer, terms: Sequence[str], idf: np.ndarray, weight: float) -> _Block:
        terms = list(terms)
        idf = np.asarray(idf, dtype=np.float32)
        if len(idf) != len(terms):
            raise ValueError("bad block")  # duplicate terms: _Keys.of refuses them, or the word count below
        words: dict[str, int] = {}
        if analyzer.kind == "chars":
            keys = _Keys.of(_term_keys(terms), np.arange(len(terms), dtype=np.int64))
        else:
            split = [term.split(" ") for term in terms]
            if any(not all(parts) or not analyzer.low <= len(parts) <= analyzer.high for parts in split):
                raise ValueError("a word term is not 1 or 2 words")
            words = {parts[0]: column for column, parts in enumerate(split) if len(parts) == 1}
            if len(words) != sum(len(parts) == 1 for parts in split):
                raise ValueError("duplicate terms")
            for parts in split:  # a pair's words are terms too (min_df holds for them), but need not be
                for word in parts:
                    words.setdefault(word, len(terms) + len(words))
            pairs = [(column, parts) for column, parts in enumerate(split) if len(parts) == 2]
            first = np.array([words[parts[0]] for _, parts in pairs], dtype=np.uint64)
            second = np.array([words[parts[1]] for _, parts in pairs], dtype=np.uint64)
            keys = _Keys.of(_pair_keys(first, second), np.array([c for c, _ in pairs], dtype=np.int64))
        text = np.frombuffer(SEPARATOR.join(terms).encode("utf-8"), dtype=np.uint8)
        return cls(analyzer, text, len(terms), idf, weight, keys, words)

    def terms(self) -> list[str]:
        return _split(self.text) if self.size else []

    def counts(self, normalized: str) -> tuple[np.ndarray, np.ndarray]:
        """The columns of the known terms in a text and how often each occurs (columns unordered)."""
        text = normalized[: self.analyzer.chars]
        low, high = self.analyzer.low, self.analyzer.high
        if self.analyzer.kind == "chars":
            # Distinct keys first: a sorted, shorter search (1-grams repeat a lot).
            keys, counts = np.unique(_char_keys(_codes(text), low, high), return_counts=True)
            return self.keys.find(keys, counts)
        get = self.words.get
        words = _segment(text)
        ids = np.fromiter(map(get, words, itertools.repeat(-1, len(words))), dtype=np.int64, count=len(words))
        found = [ids[(ids >= 0) & (ids < self.size)]] if low == 1 else []
        if high == 2 and len(ids) > 1:
            both = (ids[:-1] >= 0) & (ids[1:] >= 0)
            pairs = _pair_keys(ids[:-1][both].astype(np.uint64), ids[1:][both].astype(np.uint64))
            found.append(self.keys.find(pairs, np.ones(len(pairs), dtype=np.int64))[0])
        columns, counts = np.unique(np.concatenate(found) if found else _NONE, return_counts=True)
        return columns, counts

    def vector(self, normalized: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, L2-normalised sublinear TF-IDF values), as scikit-learn's TfidfVectorizer computes them."""
        columns, counts = self.counts(normalized)
        if not len(columns):
            return columns, np.empty(0, dtype=np.float64)
        values = (1.0 + np.log(counts)) * self.idf[columns]
        return columns, values / np.linalg.norm(values)


def _split(text: np.ndarray) -> list[str]:
    return text.tobytes().decode("utf-8").split(SEPARATOR)


def _pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return ((first + np.uint64(1)) << np.uint64(32)) | (second + np.uint64(1))
