"""The report classifier on messages it has never seen: a stratified held-out split (20 %, fixed seed)
of the labelled citizen messages, the model trained on the rest. Prints macro-F1, accuracy, per-class
F1, the confusion matrix, 5-fold cross-validated macro-F1 on the training part, coverage and accuracy
above the confidence threshold, and the time per message on one core (single predict calls).

    .venv/bin/python bench/classify_bench.py [--messages FILE] [--folds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the issue asks
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.metrics import confusion_matrix, f1_score
from sklearn.model_selection import train_test_split

from miniapp_api.clinic import classifier


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=Path, default=None, help="default: the bundled messages.csv")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds on the training part")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()

    samples = classifier.read_messages(args.messages or classifier.messages_path())
    texts = [t for t, _ in samples]
    labels = [label for _, label in samples]
    fit_texts, test_texts, fit_labels, test_labels = train_test_split(
        texts, labels, test_size=args.test_size, stratify=labels, random_state=args.seed
    )
    print(f"{len(samples):,} labelled messages: {len(fit_texts):,} to train, {len(test_texts):,} held out")
    started = time.monotonic()
    model = classifier.train(list(zip(fit_texts, fit_labels, strict=True)), folds=args.folds)
    print(f"trained in {time.monotonic() - started:.1f} s (with {args.folds}-fold cross-validation)")
    cv = model.metadata.get("cv_macro_f1", [])
    if cv:
        print(f"cross-validated macro-F1 on the training part: {statistics.mean(cv):.4f} ± {statistics.stdev(cv):.4f}")

    predicted = model.predict_many(test_texts)
    macro = f1_score(test_labels, predicted, average="macro")
    accuracy = sum(p == t for p, t in zip(predicted, test_labels, strict=True)) / len(test_labels)
    verdict = "met" if macro >= 0.91 else "NOT met"
    print(f"held out: macro-F1 {macro:.4f} (target at least 0.91: {verdict}), accuracy {accuracy:.4f}")
    per_class = f1_score(test_labels, predicted, average=None, labels=model.labels)
    for label, score in zip(model.labels, per_class, strict=True):
        print(f"  {label:<10} F1 {score:.4f}  ({test_labels.count(label)} messages)")
    matrix = confusion_matrix(test_labels, predicted, labels=model.labels)
    width = max(len(label) for label in model.labels) + 2
    print("confusion matrix (rows: true, columns: predicted):")
    print(" " * (width * 2) + "".join(f"{i:>6}" for i in range(len(model.labels))))
    for i, (label, row) in enumerate(zip(model.labels, matrix, strict=True)):
        print(f"  {i} {label:<{width * 2 - 4}}" + "".join(f"{n:>6}" for n in row))

    suggestions = [model.predict(t) for t in test_texts]
    made = [(s, t) for s, t in zip(suggestions, test_labels, strict=True) if s is not None]
    right = sum(s.label == t for s, t in made)
    print(
        f"above the confidence threshold {model.threshold}: {len(made) / len(test_texts):.1%} of messages get a "
        f"suggestion, {right / max(1, len(made)):.1%} of them right"
    )
    timings = []
    for text in test_texts:
        began = time.perf_counter()
        model.predict(text)
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    p99 = timings[int(0.99 * (len(timings) - 1))]
    print(
        f"time per message (one predict call, one core): median {statistics.median(timings):.2f} ms, "
        f"p99 {p99:.2f} ms (target under 5 ms: {'met' if p99 < 5 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
