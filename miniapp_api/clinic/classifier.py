"""The report classifier: TF-IDF blocks of the text (character 1-3-grams of the whole text and, apart, of its
opening, which holds the subject; words and word pairs from rjieba's segmentation) and, per category, a
linear SVM on naive-Bayes log-count-ratio scaled features (NB-SVM, Wang & Manning 2012). Every part is
linear, so the model is one weight matrix over the blocks' columns. Advisory: it suggests a category with a
confidence, and nothing below its threshold.

The confidence is a softmax over the margins whose temperature is fitted on out-of-fold margins
(stratified k-fold at training time), so "0.8" means about 80 % right on messages the model did not see.

Saved without pickle: the blocks' terms (UTF-8 text), IDF weights and the int8 weight matrix (a scale per
category) in one ``.npz`` (read with ``allow_pickle=False``) beside a JSON header that describes the
features, so loading a file can never run code, and prediction needs numpy and the segmenter only
(scikit-learn is imported for training). The header records the SHA-256 of the arrays (checked on
loading) and of the public training data.

Where a model comes from: the newest version trained here (``gmid reports train``) under var/, each in a
new directory (``v1``, ``v2`` ...) written through a temporary folder and a rename, never over an existing
one (``load_latest`` skips a broken version for the one before); else the model shipped in the package
(``data/model``, made by ``make model`` from the bundled messages), refused when the bundled messages are
not the ones it was trained on.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gzip
import hashlib
import importlib.metadata
import io
import itertools
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("gmid.clinic.classifier")

DATA = Path(__file__).parent / "data"
BUNDLED = DATA / "messages.csv.gz"
SHIPPED = DATA / "model"  # the model trained on BUNDLED, shipped in the package (`make model`)
# The shared data folder beside the repository (/work/shared on the dev machines); CI clones elsewhere.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "civic-messages" / "messages.csv"

FORMAT = 3  # of the saved files: 2 had two fixed character blocks and float32 weights
HEADER = "model.json"
ARRAYS = "model.npz"
SHIPPED_PREFIX = "shipped-"
MAX_CHARS = 1500  # read no further: bounds the time of one prediction (1 in 20 messages is longer)
OPENING = 25  # characters: about the subject of a message (titles run 13 to 26 characters, 10th-90th pct)
SEPARATOR = "\n"  # between terms in the saved arrays: no term holds whitespace (normalisation removes it)
THRESHOLD = 0.5
TEMPERATURE = 3.0  # margins -> softmax when no cross-validation fitted one (folds < 2)
MIN_EVIDENCE = 8  # distinct known n-grams of the first block below which a text says too little
FOLDS = 5
MIN_DF = 3  # documents a term must appear in to be a feature (2 gives the same F1 with 1.6 times the terms)
SVM_C = 1.0
NB_ALPHA = 2.0  # smoothing of the log-count ratios (CV: 1 and 4 a little lower, 8 clearly)
QUANT = 127  # weights are stored as int8 with a scale per category (a quarter of float32's size)

_SPACES = re.compile(r"\s+")
_SURROGATES = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Suggestion:
    label: str
    confidence: float


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


# Features ---------------------------------------------------------------------------------------------


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


# What `train` fits: the whole text's characters, its opening's characters (at a lower weight: the opening
# is also part of the whole), and its words. Cross-validated on the 6,463 public messages (bench/).
BLOCKS: tuple[tuple[Analyzer, float], ...] = (
    (Analyzer("chars", 1, 3, MAX_CHARS), 1.0),
    (Analyzer("chars", 1, 3, OPENING), 0.7),
    (Analyzer("words", 1, 2, MAX_CHARS), 1.0),
)

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


@dataclass
class Classifier:
    labels: list[str]
    blocks: list[_Block]
    weights: np.ndarray  # (all blocks' columns, labels) float32: rows gathered per message
    intercept: np.ndarray  # (labels,) float32
    scale: np.ndarray  # (labels,) float32: the weights are int8 multiples of it (as saved)
    temperature: float = TEMPERATURE
    threshold: float = THRESHOLD
    version: str = ""  # set by save and load
    metadata: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # the public training data: file, rows, sha256

    def margins(self, text: str) -> tuple[np.ndarray, int]:
        """The margins per label, and how many distinct known n-grams the first block finds in the text."""
        normalized = normalize(text)
        margins = self.intercept.astype(np.float64)
        evidence, offset = -1, 0
        for block in self.blocks:
            columns, values = block.vector(normalized)
            if evidence < 0:
                evidence = len(columns)
            if len(columns):
                margins = margins + (block.weight * values) @ self.weights[columns + offset]
            offset += block.size
        return margins, max(evidence, 0)

    def scores(self, text: str) -> dict[str, float]:
        """A calibrated confidence per label, summing to 1."""
        return dict(zip(self.labels, _softmax(self.margins(text)[0], self.temperature).tolist(), strict=True))

    def predict(self, text: str) -> Suggestion | None:
        """The likeliest category, or None below the threshold or when the text says too little."""
        margins, evidence = self.margins(text)
        if evidence < MIN_EVIDENCE:
            return None
        probabilities = _softmax(margins, self.temperature)
        best = int(probabilities.argmax())
        if probabilities[best] < self.threshold:
            return None
        return Suggestion(self.labels[best], round(float(probabilities[best]), 4))

    def predict_many(self, texts: Sequence[str]) -> list[str]:
        """The top label of each text, whatever its confidence (for evaluation)."""
        return [self.labels[int(self.margins(t)[0].argmax())] for t in texts]


def _softmax(margins: np.ndarray, temperature: float) -> np.ndarray:
    scaled = np.exp((margins - margins.max()) * temperature)
    return np.asarray(scaled / scaled.sum())


# Training ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Counts:
    """One block's raw term counts over all training texts (counted once: each cross-validation fold
    takes its vocabulary and IDF from its own rows, as a TfidfVectorizer fitted on them would)."""

    analyzer: Analyzer
    weight: float
    terms: list[str]
    matrix: Any  # scipy.sparse.csr_matrix (texts, terms) float64


def _count(texts: Sequence[str]) -> list[_Counts]:
    """Each block's term counts (terms sorted, as CountVectorizer's; counted here at a fifth of its time)."""
    from scipy import sparse

    found = []
    for analyzer, weight in BLOCKS:
        vocabulary: dict[str, int] = {}
        indptr, indices, values = [0], list[int](), list[int]()
        for text in texts:
            counts = Counter(analyzer(text))
            indices.extend(vocabulary.setdefault(term, len(vocabulary)) for term in counts)
            values.extend(counts.values())
            indptr.append(len(indices))
        terms = sorted(vocabulary)
        rank = np.empty(len(terms), dtype=np.int64)
        rank[np.fromiter(map(vocabulary.__getitem__, terms), dtype=np.int64, count=len(terms))] = np.arange(len(terms))
        matrix = sparse.csr_matrix(
            (np.array(values, dtype=np.float64), rank[np.array(indices, dtype=np.int64)], np.array(indptr)),
            shape=(len(texts), len(terms)),
        )
        matrix.sort_indices()
        found.append(_Counts(analyzer, weight, terms, matrix))
    return found


def _tfidf(counts: _Counts, rows: np.ndarray) -> tuple[_Block, Any]:
    """The block fitted on ``rows`` (terms in at least MIN_DF of them, smoothed IDF) and the L2-normalised
    sublinear TF-IDF matrix of every text over its terms: scikit-learn's TfidfVectorizer(min_df=MIN_DF,
    sublinear_tf=True) fitted on those rows."""
    from scipy import sparse

    df = np.bincount(counts.matrix[rows].indices, minlength=counts.matrix.shape[1])
    keep = np.flatnonzero(df >= MIN_DF)
    idf = np.log((1.0 + len(rows)) / (1.0 + df[keep])) + 1.0
    x = counts.matrix[:, keep].tocsr()
    x.data = 1.0 + np.log(x.data)
    x = (x @ sparse.diags(idf)).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = (sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x).tocsr()
    block = _Block.of(counts.analyzer, [counts.terms[i] for i in keep], idf, counts.weight)
    return block, x


def _fit(counts: list[_Counts], rows: np.ndarray, truth: np.ndarray) -> tuple[Classifier, Any]:
    """One model on ``rows``, and the input matrix of every text under it: per label, a binary linear SVM
    on the features scaled by their log-count ratio r (label vs the rest, on binarised counts); its
    margin is x·(r∘w) + b, linear in x."""
    from scipy import sparse
    from sklearn.svm import LinearSVC

    blocks, matrices = [], []
    for block_counts in counts:
        block, matrix = _tfidf(block_counts, rows)
        blocks.append(block)
        matrices.append(matrix * block.weight)
    x = sparse.hstack(matrices).tocsr()
    fit_x = x[rows]
    present = fit_x.copy()
    present.data[:] = 1.0
    labels = truth[rows]
    names = sorted(set(labels.tolist()))
    weights = np.zeros((x.shape[1], len(names)))
    intercept = np.zeros(len(names))
    for k, name in enumerate(names):
        mine = labels == name
        p = NB_ALPHA + np.asarray(present[mine].sum(axis=0)).ravel()
        q = NB_ALPHA + np.asarray(present[~mine].sum(axis=0)).ravel()
        ratio = np.log(p / p.sum()) - np.log(q / q.sum())
        svm = LinearSVC(C=SVM_C, class_weight="balanced", max_iter=5000, random_state=0)
        svm.fit(fit_x @ sparse.diags(ratio), mine)
        weights[:, k] = ratio * svm.coef_.ravel()
        intercept[k] = svm.intercept_[0]
    quantized, scale = _quantize(weights)
    return Classifier(names, blocks, _dequantize(quantized, scale), intercept.astype(np.float32), scale), x


def _quantize(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and a float32 scale per label (column)."""
    scale = np.abs(weights).max(axis=0) / QUANT
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return np.clip(np.rint(weights / scale), -QUANT, QUANT).astype(np.int8), scale


def _dequantize(quantized: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(quantized.astype(np.float32) * scale.astype(np.float32))


def _out_of_fold(
    counts: list[_Counts], truth: np.ndarray, folds: int, seed: int
) -> tuple[list[str], np.ndarray, list[float]]:
    """Margins of every sample from a model that did not see it (computed as ``margins`` does, from the
    matrices); the labels; per-fold macro-F1."""
    from sklearn.model_selection import StratifiedKFold

    names = sorted(set(truth.tolist()))
    margins = np.zeros((len(truth), len(names)))
    scores = []
    for fit_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(truth, truth):
        model, x = _fit(counts, fit_rows, truth)
        if model.labels != names:
            raise ValueError("every label needs a few samples in every fold")
        margins[test_rows] = x[test_rows] @ model.weights.astype(np.float64) + model.intercept
        predicted = [names[int(i)] for i in margins[test_rows].argmax(axis=1)]
        scores.append(macro_f1(truth[test_rows].tolist(), predicted))
    return names, margins, scores


def fit_temperature(margins: np.ndarray, truth_columns: np.ndarray) -> float:
    """The softmax temperature that minimises the log loss of out-of-fold margins."""

    def loss(t: float) -> float:
        scaled = margins * t
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(scaled).sum(axis=1))
        return float((log_z - scaled[np.arange(len(scaled)), truth_columns]).mean())

    grid = np.geomspace(0.1, 50.0, 120)
    best = grid[int(np.argmin([loss(t) for t in grid]))]
    fine = np.linspace(best * 0.9, best * 1.1, 41)
    return float(fine[int(np.argmin([loss(t) for t in fine]))])


def method() -> dict[str, Any]:
    """What ``train`` fits, as recorded in a model's metadata."""
    return {
        "name": "nb-svm",
        "blocks": [analyzer.describe() | {"weight": weight} for analyzer, weight in BLOCKS],
        "min_df": MIN_DF,
        "svm_c": SVM_C,
        "nb_alpha": NB_ALPHA,
        "weights": "int8",
    }


def train(
    samples: Sequence[tuple[str, str]],
    *,
    threshold: float = THRESHOLD,
    folds: int = FOLDS,
    seed: int = 7,
    data: dict[str, Any] | None = None,
    stamp: bool = True,
) -> Classifier:
    """Train on (text, label) pairs. With ``folds`` > 1 (the default), stratified k-fold first measures
    macro-F1 (kept in the metadata) and fits the confidence temperature on out-of-fold margins; with
    fewer, the temperature is the default one and training takes a third of the time. ``data`` describes
    the public messages among the samples (file, rows, sha256); without ``stamp`` the metadata holds no
    time, so the same data gives the same model file (the shipped one)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must lie between 0 and 1")
    metadata: dict[str, Any] = {"samples": len(samples), "threshold": threshold, "method": method()}
    metadata["segmenter"] = f"rjieba {importlib.metadata.version('rjieba')}"  # its dictionary makes the words
    if stamp:
        metadata["trained_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    temperature = TEMPERATURE
    started = time.monotonic()
    counts = _count([text for text, _ in samples])
    truth = np.array([label for _, label in samples])
    if folds > 1:
        names, margins, scores = _out_of_fold(counts, truth, folds, seed)
        columns = np.array([names.index(label) for label in truth])
        temperature = fit_temperature(margins, columns)
        confidence = _softmax_rows(margins, temperature)
        kept = confidence.max(axis=1) >= threshold
        right = confidence.argmax(axis=1) == columns
        metadata |= {
            "cv_folds": folds,
            "cv_seed": seed,
            "cv_macro_f1": [round(s, 4) for s in scores],
            "cv_macro_f1_mean": round(float(np.mean(scores)), 4),
            "cv_accuracy": round(float(right.mean()), 4),
            "cv_coverage": round(float(kept.mean()), 4),  # share of messages that get a suggestion
            "cv_accuracy_suggested": round(float(right[kept].mean()), 4) if kept.any() else None,
        }
    model, _ = _fit(counts, np.arange(len(samples)), truth)
    model.temperature = round(temperature, 6)
    model.threshold = threshold
    metadata["temperature"] = model.temperature
    if stamp:
        metadata["train_seconds"] = round(time.monotonic() - started, 1)
    model.metadata = metadata
    model.data = dict(data or {})
    return model


def _softmax_rows(margins: np.ndarray, temperature: float) -> np.ndarray:
    scaled = np.exp((margins - margins.max(axis=1, keepdims=True)) * temperature)
    return np.asarray(scaled / scaled.sum(axis=1, keepdims=True))


def cross_validate(samples: Sequence[tuple[str, str]], *, folds: int = FOLDS, seed: int = 7) -> list[float]:
    """Macro-F1 of each stratified fold, the model trained on the others."""
    truth = np.array([label for _, label in samples])
    return _out_of_fold(_count([text for text, _ in samples]), truth, folds, seed)[2]


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """The mean over the labels present (in truth or predictions) of each label's F1."""
    labels = sorted(set(truth) | set(predicted))
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


# Saving and loading -----------------------------------------------------------------------------------


def _arrays(classifier: Classifier) -> dict[str, np.ndarray]:
    # The weights are already int8 multiples of the scale: saved as they are, so a loaded model gives the
    # very same scores (quantising them again could give a scale a rounding apart).
    scale = classifier.scale.astype(np.float32)
    quantized = np.clip(np.rint(classifier.weights / scale), -QUANT, QUANT).astype(np.int8)
    arrays: dict[str, np.ndarray] = {}
    for i, block in enumerate(classifier.blocks):
        arrays[f"terms{i}"] = block.text
        arrays[f"idf{i}"] = block.idf
    return arrays | {"weights": quantized, "scale": scale, "intercept": classifier.intercept}


def _arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz that np.load reads, with fixed member dates: the same arrays give the same bytes."""
    with open(path, "wb") as out:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for name in sorted(arrays):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
        out.flush()
        os.fsync(out.fileno())


def _header(classifier: Classifier, version: str, arrays_sha256: str) -> str:
    header = {
        "format": FORMAT,
        "version": version,
        "labels": classifier.labels,
        "temperature": classifier.temperature,
        "threshold": classifier.threshold,
        "blocks": [
            block.analyzer.describe() | {"weight": block.weight, "terms": block.size} for block in classifier.blocks
        ],
        "arrays_sha256": arrays_sha256,
        "data": classifier.data,
        "metadata": classifier.metadata,
    }
    return json.dumps(header, ensure_ascii=False, indent=1) + "\n"


def _number(name: str) -> int:
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else 0


def save(classifier: Classifier, directory: Path) -> Path:
    """Write the next version under ``directory`` (created if need be) and answer its path. The files are
    written into a hidden temporary folder renamed into place, so a reader sees a whole version or none;
    an existing version, even a broken one, is never written over."""
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    try:
        arrays = _arrays(classifier)
        _write_arrays(staging / ARRAYS, arrays)
        digest = _arrays_sha256(arrays)
        for _ in range(100):  # another trainer may take the same number between our look and our rename
            number = 1 + max((_number(p.name) for p in directory.iterdir()), default=0)
            version = f"v{number}"
            (staging / HEADER).write_text(_header(classifier, version, digest), encoding="utf-8")
            target = directory / version
            try:
                os.rename(staging, target)  # fails on an existing non-empty folder: never over a version
            except OSError:
                if target.exists():
                    continue
                raise
            classifier.version = version
            return target
        raise RuntimeError("no free version number")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def save_shipped(classifier: Classifier, directory: Path = SHIPPED) -> Path:
    """Write the shipped model (``make model``): its version names its arrays' hash, and the same
    training data gives the same files."""
    arrays = _arrays(classifier)
    digest = _arrays_sha256(arrays)
    version = SHIPPED_PREFIX + digest[:12]
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory.parent))
    try:
        _write_arrays(staging / ARRAYS, arrays)
        (staging / HEADER).write_text(_header(classifier, version, digest), encoding="utf-8")
        for name in (ARRAYS, HEADER):  # the arrays first: a header never names arrays that are not there
            os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    classifier.version = version
    return directory


def load(path: Path) -> Classifier:
    """One saved version; ValueError when the folder does not hold a whole, consistent model."""
    try:
        header = json.loads((path / HEADER).read_text(encoding="utf-8"))
        if header.get("format") != FORMAT:
            raise ValueError("unknown model format")
        with np.load(path / ARRAYS, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        if _arrays_sha256(arrays) != header.get("arrays_sha256"):
            raise ValueError("arrays differ from the header's SHA-256")
        labels = [str(label) for label in header["labels"]]
        specs = header["blocks"]
        if not isinstance(specs, list) or not specs:
            raise ValueError("no feature blocks")
        blocks = []
        for i, spec in enumerate(specs):
            text = arrays[f"terms{i}"]
            if text.dtype != np.uint8 or text.ndim != 1:
                raise ValueError("terms are not UTF-8 text")
            terms = _split(text) if len(text) else []
            weight = float(spec["weight"])
            if not (math.isfinite(weight) and weight > 0) or len(terms) != int(spec["terms"]):
                raise ValueError("bad block")
            blocks.append(_Block.of(Analyzer.parse(spec), terms, arrays[f"idf{i}"], weight))
        quantized, scale = arrays["weights"], arrays["scale"]
        intercept = np.asarray(arrays["intercept"], dtype=np.float32)
        columns = sum(b.size for b in blocks)
        if (
            not labels
            or len(set(labels)) != len(labels)
            or any(not np.isfinite(b.idf).all() for b in blocks)
            or quantized.dtype != np.int8
            or quantized.shape != (columns, len(labels))
            or scale.shape != (len(labels),)
            or intercept.shape != (len(labels),)
            or not (np.isfinite(scale).all() and np.isfinite(intercept).all())
        ):
            raise ValueError("inconsistent arrays")
        temperature, threshold = float(header["temperature"]), float(header["threshold"])
        if not (math.isfinite(temperature) and temperature > 0 and 0.0 <= threshold <= 1.0):
            raise ValueError("bad temperature or threshold")
    except Exception as exc:  # a damaged .npz also raises zipfile.BadZipFile, zlib.error or EOFError
        raise ValueError(f"not a usable model: {path.name} ({exc.__class__.__name__}: {exc})") from exc
    return Classifier(
        labels=labels,
        blocks=blocks,
        weights=_dequantize(quantized, scale),
        intercept=intercept,
        scale=scale.astype(np.float32),
        temperature=temperature,
        threshold=threshold,
        version=str(header.get("version") or path.name),
        metadata=dict(header.get("metadata") or {}),
        data=dict(header.get("data") or {}),
    )


def load_latest(directory: Path) -> Classifier | None:
    """The newest whole version; a broken or half-written one is skipped for the one before."""
    if not directory.is_dir():
        return None
    versions = sorted((p for p in directory.iterdir() if _number(p.name) and p.is_dir()), key=lambda p: _number(p.name))
    for path in reversed(versions):
        try:
            return load(path)
        except ValueError as exc:
            log.warning("classifier version skipped version=%s error=%s", path.name, exc)
    return None


class StaleModel(ValueError):
    """The shipped model was trained on other messages than the bundled ones."""


def load_shipped(path: Path = SHIPPED, messages: Path = BUNDLED) -> Classifier:
    """The model shipped in the package, checked against the messages bundled beside it: ValueError
    (StaleModel) when they are not the messages it was trained on."""
    model = load(path)
    if not model.version.startswith(SHIPPED_PREFIX):
        raise ValueError(f"not a usable model: {path.name} (not a shipped model: {model.version})")
    recorded = str(model.data.get("sha256", ""))
    actual = data_sha256(messages)
    if recorded != actual:
        raise StaleModel(
            f"the shipped classifier {model.version} was trained on messages with SHA-256 {recorded[:16] or '?'}…, "
            f"but {messages.name} has {actual[:16]}…: regenerate it with `make model`"
        )
    return model


@functools.cache
def shipped(path: Path = SHIPPED, messages: Path = BUNDLED) -> Classifier | None:
    """The shipped model, loaded and checked once per process (it is never changed); None, logged as an
    error, when it is missing, broken or stale."""
    try:
        return load_shipped(path, messages)
    except (OSError, ValueError) as exc:
        log.error("shipped classifier refused: %s", exc)
        return None


def ship(messages: Path = BUNDLED, directory: Path = SHIPPED) -> Classifier:
    """Train the shipped model on the bundled messages alone (``make model``) and write it."""
    samples = read_messages(messages)
    data = {"file": messages.name, "rows": len(samples), "sha256": data_sha256(messages)}
    model = train(samples, data=data, stamp=False)
    save_shipped(model, directory)
    return model
