"""The report classifier: character n-gram TF-IDF of the whole text and, apart, of its opening (the
subject, which says most), and a linear SVM per category. Advisory: it suggests a category with a
confidence, and nothing below its threshold.

Saved without pickle (a vocabulary, IDF weights and a coefficient matrix in one ``.npz`` with a JSON
header), so loading a file under var/ can never run code. Each training writes a new version
directory (``v1``, ``v2`` ...) through a temporary folder and a rename, never over an older one.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

BUNDLED = Path(__file__).parent / "data" / "messages.csv.gz"
FORMAT = 1
OPENING = 40  # characters: the subject of a message, weighed apart
NGRAMS = (1, 3)
THRESHOLD = 0.5
TEMPERATURE = 4.0  # scales SVM margins into a softmax confidence


@dataclass(frozen=True)
class Suggestion:
    label: str
    confidence: float


def messages_path() -> Path:
    """The labelled messages bundled with the package (`gmid reports train --messages FILE` for others)."""
    return BUNDLED


def read_messages(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from a CSV with ``text`` and ``label`` columns (plain or gzipped)."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    rows = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    return [(row["text"], row["label"]) for row in rows if row.get("text") and row.get("label")]


def _vectorizer(preprocessor: Any = None, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char",
        ngram_range=NGRAMS,
        min_df=2 if vocabulary is None else 1,
        sublinear_tf=True,
        dtype=np.float32,
        preprocessor=preprocessor,
        vocabulary=vocabulary,
    )


def _opening(text: str) -> str:
    return text[:OPENING].lower()


@dataclass
class Classifier:
    labels: list[str]
    body: TfidfVectorizer
    head: TfidfVectorizer
    coef: np.ndarray  # (labels, features) float32
    intercept: np.ndarray
    threshold: float = THRESHOLD
    version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return sparse.hstack([self.body.transform(texts), self.head.transform(texts)]).tocsr()

    def scores(self, text: str) -> dict[str, float]:
        """A confidence per label (softmax of the SVM margins), summing to 1."""
        margins = (self._features([text]) @ self.coef.T)[0] + self.intercept
        scaled = np.exp((margins - margins.max()) * TEMPERATURE)
        probabilities = scaled / scaled.sum()
        return {label: float(p) for label, p in zip(self.labels, probabilities, strict=True)}

    def predict(self, text: str) -> Suggestion | None:
        if not text or not text.strip():
            return None
        scores = self.scores(text)
        label = max(scores, key=scores.__getitem__)
        if scores[label] < self.threshold:
            return None
        return Suggestion(label, round(scores[label], 4))

    def predict_many(self, texts: Sequence[str]) -> list[str]:
        margins = self._features(texts) @ self.coef.T + self.intercept
        return [self.labels[i] for i in np.asarray(margins).argmax(axis=1)]


def _fit(texts: Sequence[str], labels: Sequence[str]) -> tuple[TfidfVectorizer, TfidfVectorizer, LinearSVC]:
    body, head = _vectorizer(), _vectorizer(preprocessor=_opening)
    features = sparse.hstack([body.fit_transform(texts), head.fit_transform(texts)]).tocsr()
    svm = LinearSVC(C=1.0, loss="hinge", class_weight="balanced", max_iter=5000)
    svm.fit(features, list(labels))
    return body, head, svm


def train(samples: Sequence[tuple[str, str]], *, threshold: float = THRESHOLD, folds: int = 0) -> Classifier:
    """Train on (text, label) pairs; with ``folds`` > 1, also measure stratified k-fold macro-F1 first
    (kept in the metadata)."""
    texts = [t for t, _ in samples]
    labels = [label for _, label in samples]
    metadata: dict[str, Any] = {"samples": len(samples), "trained_at": dt.datetime.now(dt.UTC).isoformat()}
    if folds > 1:
        metadata["cv_macro_f1"] = cross_validate(samples, folds=folds)
    started = time.monotonic()
    body, head, svm = _fit(texts, labels)
    metadata["train_seconds"] = round(time.monotonic() - started, 1)
    metadata["threshold"] = threshold
    return Classifier(
        labels=[str(c) for c in svm.classes_],
        body=body,
        head=head,
        coef=np.asarray(svm.coef_, dtype=np.float32),
        intercept=np.asarray(svm.intercept_, dtype=np.float32),
        threshold=threshold,
        metadata=metadata,
    )


def cross_validate(samples: Sequence[tuple[str, str]], *, folds: int = 5, seed: int = 7) -> list[float]:
    texts = np.array([t for t, _ in samples], dtype=object)
    labels = np.array([label for _, label in samples], dtype=object)
    scores = []
    for fit_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, labels):
        model = train([(texts[i], labels[i]) for i in fit_rows])
        predicted = model.predict_many(list(texts[test_rows]))
        scores.append(float(f1_score(list(labels[test_rows]), predicted, average="macro")))
    return scores


# Saving and loading ----------------------------------------------------------------------------------


def _vocabulary_arrays(vectorizer: TfidfVectorizer) -> tuple[np.ndarray, np.ndarray]:
    terms = np.empty(len(vectorizer.vocabulary_), dtype=object)
    for term, index in vectorizer.vocabulary_.items():
        terms[index] = term
    return terms.astype(str), np.asarray(vectorizer.idf_, dtype=np.float32)


def save(classifier: Classifier, directory: Path) -> Path:
    """Write the next version under ``directory`` and answer its path."""
    directory.mkdir(parents=True, exist_ok=True)
    number = 1 + max((_number(p.name) for p in directory.iterdir() if p.is_dir()), default=0)
    version = f"v{number}"
    body_terms, body_idf = _vocabulary_arrays(classifier.body)
    head_terms, head_idf = _vocabulary_arrays(classifier.head)
    header = {
        "format": FORMAT,
        "version": version,
        "labels": classifier.labels,
        "threshold": classifier.threshold,
        "metadata": classifier.metadata,
    }
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=directory))
    try:
        np.savez_compressed(
            staging / "model.npz",
            body_terms=body_terms,
            body_idf=body_idf,
            head_terms=head_terms,
            head_idf=head_idf,
            coef=classifier.coef,
            intercept=classifier.intercept,
        )
        (staging / "model.json").write_text(json.dumps(header, ensure_ascii=False, indent=1))
        target = directory / version
        staging.rename(target)  # atomic: a reader sees a whole version or none
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    classifier.version = version
    return target


def _number(name: str) -> int:
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else 0


def _restore(terms: np.ndarray, idf: np.ndarray, preprocessor: Any = None) -> TfidfVectorizer:
    vectorizer = _vectorizer(preprocessor, vocabulary={str(t): i for i, t in enumerate(terms)})
    vectorizer.idf_ = idf.astype(np.float32)
    return vectorizer


def load(path: Path) -> Classifier:
    """One saved version; ValueError when the directory does not hold a whole, readable model."""
    try:
        header = json.loads((path / "model.json").read_text())
        if header.get("format") != FORMAT:
            raise ValueError(f"unknown model format in {path.name}")
        with np.load(path / "model.npz", allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        labels = [str(label) for label in header["labels"]]
        coef, intercept = arrays["coef"], arrays["intercept"]
        body = _restore(arrays["body_terms"], arrays["body_idf"])
        head = _restore(arrays["head_terms"], arrays["head_idf"], _opening)
        if coef.shape != (len(labels), len(body.vocabulary_) + len(head.vocabulary_)) or intercept.shape != (
            len(labels),
        ):
            raise ValueError(f"inconsistent model in {path.name}")
    except (OSError, KeyError, TypeError, json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"not a usable model: {path.name} ({exc.__class__.__name__})") from exc
    return Classifier(
        labels=labels,
        body=body,
        head=head,
        coef=coef,
        intercept=intercept,
        threshold=float(header.get("threshold", THRESHOLD)),
        version=str(header["version"]),
        metadata=dict(header.get("metadata", {})),
    )


def load_latest(directory: Path) -> Classifier | None:
    """The newest whole version; a broken or half-written one is skipped for the one before."""
    if not directory.is_dir():
        return None
    for path in sorted(
        (p for p in directory.iterdir() if p.is_dir() and _number(p.name)), key=lambda p: -_number(p.name)
    ):
        try:
            return load(path)
        except ValueError:
            continue
    return None


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return float(f1_score(list(truth), list(predicted), average="macro"))
