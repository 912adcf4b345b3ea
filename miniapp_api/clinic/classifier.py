"""The report classifier: character n-gram TF-IDF (1 to 3 characters, sublinear tf) of the whole text
and, apart, of its opening (the subject, which says most), and a linear SVM per category. Advisory: it
suggests a category with a confidence, and nothing below its threshold.

The confidence is a softmax over the SVM margins whose temperature is fitted on out-of-fold margins
(stratified k-fold at training time), so "0.8" means about 80 % right on messages the model did not see.

Saved without pickle: the n-gram vocabularies, IDF weights and the coefficient matrix in one ``.npz``
(read with ``allow_pickle=False``) beside a JSON header, so loading a file under var/ can never run
code, and prediction needs numpy only (scikit-learn is imported for training). Each training writes a
new version directory (``v1``, ``v2`` ...) through a temporary folder and a rename, never over an
existing one; ``load_latest`` skips a broken version for the one before.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("gmid.clinic.classifier")

BUNDLED = Path(__file__).parent / "data" / "messages.csv.gz"
# The shared data folder beside the repository (/work/shared on the dev machines); CI clones elsewhere.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "civic-messages" / "messages.csv"

FORMAT = 2  # of the saved files; version 1 (the first draft) kept scikit-learn vectorizers' settings implicit
HEADER = "model.json"
ARRAYS = "model.npz"
OPENING = 40  # characters: about the subject of a message (titles run 13 to 26 characters)
MAX_CHARS = 1500  # read no further: bounds the time of one prediction (1 in 20 messages is longer; F1 unchanged)
NGRAMS = (1, 3)
OPENING_WEIGHT = 1.0
SVM_C = 1.0
THRESHOLD = 0.5
TEMPERATURE = 3.0  # margins -> softmax when no cross-validation fitted one (folds < 2)
MIN_EVIDENCE = 8  # distinct known n-grams below which a text says too little to suggest anything
FOLDS = 5

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Suggestion:
    label: str
    confidence: float


def messages_path() -> Path:
    """The labelled messages bundled with the package, else shared/ (``gmid reports train --messages FILE``
    and ``bench/classify_bench.py --messages FILE`` for others; GMID_ variables are reserved for settings)."""
    return BUNDLED if BUNDLED.exists() else SHARED


def read_messages(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from a CSV with ``text`` and ``label`` columns (plain or gzipped)."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    return [(row["text"], row["label"]) for row in rows if row.get("text") and row.get("label")]


# Features ---------------------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    # "_x000D_" is a carriage return escaped by the spreadsheet export the public messages went through.
    return _SPACES.sub(" ", text.replace("_x000D_", " ")).strip().lower()


def _grams(text: str) -> list[str]:
    low, high = NGRAMS
    return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


def body_grams(text: str) -> list[str]:
    return _grams(_normalize(text)[:MAX_CHARS])


def opening_grams(text: str) -> list[str]:
    return _grams(_normalize(text)[:OPENING])


@dataclass(frozen=True)
class _Block:
    """One TF-IDF block: n-gram -> column, and the columns' IDF weights."""

    index: dict[str, int]
    idf: np.ndarray  # float32, one per column

    @classmethod
    def of(cls, terms: Sequence[str], idf: np.ndarray) -> _Block:
        return cls(dict(zip(terms, range(len(terms)), strict=True)), np.asarray(idf, dtype=np.float32))

    def terms(self) -> np.ndarray:
        ordered = sorted(self.index, key=self.index.__getitem__)
        return np.array(ordered, dtype=str)

    def vector(self, grams: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(columns, L2-normalised sublinear TF-IDF values), as scikit-learn's TfidfVectorizer computes them."""
        index = self.index
        counts = Counter(c for c in map(index.get, grams) if c is not None)
        if not counts:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
        columns = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[columns]
        return columns, values / np.linalg.norm(values)


@dataclass
class Classifier:
    labels: list[str]
    body: _Block
    opening: _Block
    weights: np.ndarray  # (body columns + opening columns, labels) float32: rows gathered per message
    intercept: np.ndarray  # (labels,) float32
    temperature: float = TEMPERATURE
    threshold: float = THRESHOLD
    version: str = ""  # set by save and load
    metadata: dict[str, Any] = field(default_factory=dict)

    def margins(self, text: str) -> tuple[np.ndarray, int]:
        """The SVM margins per label, and how many distinct known n-grams the text has."""
        columns, values = self.body.vector(body_grams(text))
        head_columns, head_values = self.opening.vector(opening_grams(text))
        margins = self.intercept.astype(np.float64)
        if len(columns):
            margins = margins + values @ self.weights[columns]
        if len(head_columns):
            margins = margins + (OPENING_WEIGHT * head_values) @ self.weights[head_columns + len(self.body.index)]
        return margins, len(columns)

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


def _fit(texts: Sequence[str], labels: Sequence[str]) -> tuple[_Block, _Block, list[str], np.ndarray, np.ndarray]:
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    blocks, matrices = [], []
    for analyzer, weight in ((body_grams, 1.0), (opening_grams, OPENING_WEIGHT)):
        vectorizer = TfidfVectorizer(analyzer=analyzer, min_df=2, sublinear_tf=True, dtype=np.float64)
        matrices.append(vectorizer.fit_transform(texts) * weight)
        terms = [""] * len(vectorizer.vocabulary_)
        for term, column in vectorizer.vocabulary_.items():
            terms[column] = term
        blocks.append(_Block.of(terms, vectorizer.idf_))
    svm = LinearSVC(C=SVM_C, class_weight="balanced", max_iter=5000)
    svm.fit(sparse.hstack(matrices).tocsr(), list(labels))
    weights = np.ascontiguousarray(svm.coef_.T, dtype=np.float32)
    return blocks[0], blocks[1], [str(c) for c in svm.classes_], weights, svm.intercept_.astype(np.float32)


def _model(texts: Sequence[str], labels: Sequence[str]) -> Classifier:
    body, opening, names, weights, intercept = _fit(texts, labels)
    return Classifier(names, body, opening, weights, intercept)


def _out_of_fold(
    samples: Sequence[tuple[str, str]], folds: int, seed: int
) -> tuple[list[str], np.ndarray, list[str], list[float]]:
    """Margins of every sample from a model that did not see it; the labels; per-fold macro-F1."""
    from sklearn.model_selection import StratifiedKFold

    texts = [t for t, _ in samples]
    truth = [label for _, label in samples]
    names = sorted(set(truth))
    margins = np.zeros((len(samples), len(names)))
    scores = []
    for fit_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, truth):
        model = _model([texts[i] for i in fit_rows], [truth[i] for i in fit_rows])
        if model.labels != names:
            raise ValueError("every label needs a few samples in every fold")
        for i in test_rows:
            margins[i] = model.margins(texts[i])[0]
        scores.append(macro_f1([truth[i] for i in test_rows], [names[int(margins[i].argmax())] for i in test_rows]))
    return names, margins, truth, scores


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


def train(
    samples: Sequence[tuple[str, str]], *, threshold: float = THRESHOLD, folds: int = FOLDS, seed: int = 7
) -> Classifier:
    """Train on (text, label) pairs. With ``folds`` > 1 (the default), stratified k-fold first measures
    macro-F1 (kept in the metadata) and fits the confidence temperature on out-of-fold margins; with
    fewer, the temperature is the default one and training takes a sixth of the time."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must lie between 0 and 1")
    metadata: dict[str, Any] = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "samples": len(samples),
        "threshold": threshold,
        "features": {
            "ngrams": list(NGRAMS),
            "opening": OPENING,
            "opening_weight": OPENING_WEIGHT,
            "max_chars": MAX_CHARS,
            "svm_c": SVM_C,
        },
    }
    temperature = TEMPERATURE
    started = time.monotonic()
    if folds > 1:
        names, margins, truth, scores = _out_of_fold(samples, folds, seed)
        columns = np.array([names.index(label) for label in truth])
        temperature = fit_temperature(margins, columns)
        confidence = _softmax_rows(margins, temperature)
        kept = confidence.max(axis=1) >= threshold
        right = confidence.argmax(axis=1) == columns
        metadata |= {
            "cv_folds": folds,
            "cv_macro_f1": [round(s, 4) for s in scores],
            "cv_macro_f1_mean": round(float(np.mean(scores)), 4),
            "cv_accuracy": round(float(right.mean()), 4),
            "cv_coverage": round(float(kept.mean()), 4),  # share of messages that get a suggestion
            "cv_accuracy_suggested": round(float(right[kept].mean()), 4) if kept.any() else None,
        }
    model = _model([t for t, _ in samples], [label for _, label in samples])
    model.temperature = temperature
    model.threshold = threshold
    metadata["temperature"] = round(temperature, 4)
    metadata["train_seconds"] = round(time.monotonic() - started, 1)
    model.metadata = metadata
    return model


def _softmax_rows(margins: np.ndarray, temperature: float) -> np.ndarray:
    scaled = np.exp((margins - margins.max(axis=1, keepdims=True)) * temperature)
    return np.asarray(scaled / scaled.sum(axis=1, keepdims=True))


def cross_validate(samples: Sequence[tuple[str, str]], *, folds: int = FOLDS, seed: int = 7) -> list[float]:
    """Macro-F1 of each stratified fold, the model trained on the others."""
    return _out_of_fold(samples, folds, seed)[3]


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


def _number(name: str) -> int:
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else 0


def save(classifier: Classifier, directory: Path) -> Path:
    """Write the next version under ``directory`` (created if need be) and answer its path. The files are
    written into a hidden temporary folder renamed into place, so a reader sees a whole version or none;
    an existing version, even a broken one, is never written over."""
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
    try:
        with open(staging / ARRAYS, "wb") as out:
            np.savez_compressed(
                out,
                body_terms=classifier.body.terms(),
                body_idf=classifier.body.idf,
                opening_terms=classifier.opening.terms(),
                opening_idf=classifier.opening.idf,
                weights=classifier.weights,
                intercept=classifier.intercept,
            )
            out.flush()
            os.fsync(out.fileno())
        for _ in range(100):  # another trainer may take the same number between our look and our rename
            number = 1 + max((_number(p.name) for p in directory.iterdir()), default=0)
            version = f"v{number}"
            header = {
                "format": FORMAT,
                "version": version,
                "labels": classifier.labels,
                "temperature": classifier.temperature,
                "threshold": classifier.threshold,
                "opening": OPENING,
                "ngrams": list(NGRAMS),
                "opening_weight": OPENING_WEIGHT,
                "max_chars": MAX_CHARS,
                "metadata": classifier.metadata,
            }
            (staging / HEADER).write_text(json.dumps(header, ensure_ascii=False, indent=1), encoding="utf-8")
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


def load(path: Path) -> Classifier:
    """One saved version; ValueError when the folder does not hold a whole, consistent model."""
    try:
        header = json.loads((path / HEADER).read_text(encoding="utf-8"))
        if header.get("format") != FORMAT:
            raise ValueError("unknown model format")
        if header.get("opening") != OPENING or header.get("ngrams") != list(NGRAMS):
            raise ValueError("features differ from this code's")
        if header.get("opening_weight") != OPENING_WEIGHT or header.get("max_chars") != MAX_CHARS:
            raise ValueError("features differ from this code's")
        with np.load(path / ARRAYS, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        labels = [str(label) for label in header["labels"]]
        body = _Block.of(arrays["body_terms"].tolist(), arrays["body_idf"])
        opening = _Block.of(arrays["opening_terms"].tolist(), arrays["opening_idf"])
        weights = np.ascontiguousarray(arrays["weights"], dtype=np.float32)
        intercept = np.asarray(arrays["intercept"], dtype=np.float32)
        columns = len(body.index) + len(opening.index)
        if (
            not labels
            or len(set(labels)) != len(labels)
            or len(body.index) != len(body.idf)
            or len(opening.index) != len(opening.idf)
            or weights.shape != (columns, len(labels))
            or intercept.shape != (len(labels),)
            or not (np.isfinite(weights).all() and np.isfinite(intercept).all())
        ):
            raise ValueError("inconsistent arrays")
        temperature, threshold = float(header["temperature"]), float(header["threshold"])
        if not (math.isfinite(temperature) and temperature > 0 and 0.0 <= threshold <= 1.0):
            raise ValueError("bad temperature or threshold")
    except Exception as exc:  # a damaged .npz also raises zipfile.BadZipFile, zlib.error or EOFError
        raise ValueError(f"not a usable model: {path.name} ({exc.__class__.__name__}: {exc})") from exc
    return Classifier(
        labels=labels,
        body=body,
        opening=opening,
        weights=weights,
        intercept=intercept,
        temperature=temperature,
        threshold=threshold,
        version=str(header.get("version") or path.name),
        metadata=dict(header.get("metadata") or {}),
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
