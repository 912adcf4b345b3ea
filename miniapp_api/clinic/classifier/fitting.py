"""Training: term counts, TF-IDF blocks, the NB-SVM fit, out-of-fold margins and the confidence temperature."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from miniapp_api.clinic.classifier.features import (
    _KEY_BITS,
    MAX_CHARS,
    Analyzer,
    _Block,
    _char_keys,
    _codes,
    normalize,
)
from miniapp_api.clinic.classifier.model import TEMPERATURE, THRESHOLD, Classifier, _dequantize, _quantize

OPENING = 25  # characters: about the subject of a message (titles run 13 to 26 characters, 10th-90th pct)
FOLDS = 5
MIN_DF = 3  # documents a term must appear in to be a feature (2 gives the same F1 with 1.6 times the terms)
SVM_C = 1.0
NB_ALPHA = 2.0  # smoothing of the log-count ratios (CV: 1 and 4 a little lower, 8 clearly)

# What `train` fits: the whole text's characters, its opening's characters (at a lower weight: the opening
# is also part of the whole), and its words. Cross-validated on the 6,463 public messages (bench/).
BLOCKS: tuple[tuple[Analyzer, float], ...] = (
    (Analyzer("chars", 1, 3, MAX_CHARS), 1.0),
    (Analyzer("chars", 1, 3, OPENING), 0.7),
    (Analyzer("words", 1, 2, MAX_CHARS), 1.0),
)


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

    normalized = [normalize(text) for text in texts]
    found = []
    for analyzer, weight in BLOCKS:
        if analyzer.kind == "chars":
            terms, values, indices, indptr = _char_counts(analyzer, normalized)
        else:
            terms, values, indices, indptr = _term_counts(analyzer, normalized)
        matrix = sparse.csr_matrix((values, indices, indptr), shape=(len(texts), len(terms)))
        matrix.sort_indices()
        found.append(_Counts(analyzer, weight, terms, matrix))
    return found


_Columns = tuple[list[str], np.ndarray, np.ndarray, np.ndarray]  # terms, then the CSR arrays


def _term_counts(analyzer: Analyzer, normalized: Sequence[str]) -> _Columns:
    vocabulary: dict[str, int] = {}
    indptr, indices, values = [0], list[int](), list[int]()
    for text in normalized:
        counts = Counter(analyzer.grams(text))
        indices.extend(vocabulary.setdefault(term, len(vocabulary)) for term in counts)
        values.extend(counts.values())
        indptr.append(len(indices))
    terms = sorted(vocabulary)
    rank = np.empty(len(terms), dtype=np.int64)
    rank[np.fromiter(map(vocabulary.__getitem__, terms), dtype=np.int64, count=len(terms))] = np.arange(len(terms))
    return terms, np.array(values, dtype=np.float64), rank[np.array(indices, dtype=np.int64)], np.array(indptr)


def _char_counts(analyzer: Analyzer, normalized: Sequence[str]) -> _Columns:
    """As ``_term_counts`` for character n-grams, with numpy: each n-gram is one integer key whose order is
    the n-gram's string order (code points + 1 from the first, 21 bits each, 0 past the end)."""
    keys, counts, indptr = [], [], [0]
    for text in normalized:
        text_keys, text_counts = np.unique(
            _char_keys(_codes(text[: analyzer.chars]), analyzer.low, analyzer.high), return_counts=True
        )
        keys.append(text_keys)
        counts.append(text_counts)
        indptr.append(indptr[-1] + len(text_keys))
    every = np.concatenate(keys) if keys else np.empty(0, dtype=np.uint64)
    # _char_keys puts the first character in the lowest bits: reversed, keys sort as their strings do.
    bits, mask = np.uint64(_KEY_BITS), np.uint64(_KEY_MASK)
    ordered = ((every & mask) << (bits + bits)) | (((every >> bits) & mask) << bits) | (every >> (bits + bits))
    distinct, column = np.unique(ordered, return_inverse=True)
    values = np.concatenate(counts).astype(np.float64) if counts else np.empty(0)
    return _texts_of(distinct), values, column.ravel().astype(np.int64), np.array(indptr)


_KEY_MASK = (1 << _KEY_BITS) - 1


def _texts_of(ordered: np.ndarray) -> list[str]:
    """The n-grams of ordered keys, as strings (numpy makes them; one holding a NUL is made by hand, as
    numpy's strings end at one)."""
    bits, mask = np.uint64(_KEY_BITS), np.uint64(_KEY_MASK)
    places = np.stack([ordered >> (bits + bits), (ordered >> bits) & mask, ordered & mask], axis=1).astype(np.int64)
    present = places > 0
    texts: list[str] = np.where(present, places - 1, 0).astype("<u4").view("<U3").ravel().tolist()
    for row in np.flatnonzero((present & (places == 1)).any(axis=1)):
        texts[row] = "".join(chr(code - 1) for code in places[row] if code)
    return texts


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
