"""The trained model and its prediction: margins per category, the calibrated confidence, the suggestion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from miniapp_api.clinic.classifier.features import _Block, normalize

THRESHOLD = 0.5
TEMPERATURE = 3.0  # margins -> softmax when no cross-validation fitted one (folds < 2)
MIN_EVIDENCE = 8  # distinct known n-grams of the first block below which a text says too little
QUANT = 127  # weights are stored as int8 with a scale per category (a quarter of float32's size)


@dataclass(frozen=True)
class Suggestion:
    label: str
    confidence: float


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


def _quantize(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and a float32 scale per label (column)."""
    scale = np.abs(weights).max(axis=0) / QUANT
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return np.clip(np.rint(weights / scale), -QUANT, QUANT).astype(np.int8), scale


def _dequantize(quantized: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(quantized.astype(np.float32) * scale.astype(np.float32))
