"""The report classifier on messages it has never seen: a stratified held-out split (20 %, fixed seed) of
the labelled citizen messages, the model trained on the rest with 5-fold cross-validation on that part
(which also fits the confidence temperature). Prints the cross-validated macro-F1, the held-out
macro-F1, accuracy, per-class F1 and confusion matrix, coverage and accuracy above the confidence
threshold (and at a few other thresholds), save and load times, and the time per message on one core
(single predict calls).

    .venv/bin/python bench/classify_bench.py                      # the bundled messages
    .venv/bin/python bench/classify_bench.py --messages ../shared/data/civic-messages/messages.csv

The figures describe this machine and this run only.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the issue asks: set before numpy loads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import confusion_matrix, f1_score
from sklearn.model_selection import train_test_split

from miniapp_api.clinic import classifier


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=Path, default=None, help="CSV (or .csv.gz); default: the bundled copy")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds on the training part")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--threshold", type=float, default=classifier.THRESHOLD)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    path = args.messages or classifier.messages_path()
    samples = classifier.read_messages(path)
    texts = [t for t, _ in samples]
    labels = [label for _, label in samples]
    fit_texts, test_texts, fit_labels, test_labels = train_test_split(
        texts, labels, test_size=args.test_size, stratify=labels, random_state=args.seed
    )
    print(f"{path}: {len(samples):,} labelled messages, {len(fit_texts):,} to train, {len(test_texts):,} held out")
    started = time.monotonic()
    model = classifier.train(list(zip(fit_texts, fit_labels, strict=True)), threshold=args.threshold, folds=args.folds)
    print(f"trained in {time.monotonic() - started:.1f} s (with {args.folds}-fold cross-validation)")
    cv = model.metadata.get("cv_macro_f1", [])
    if len(cv) > 1:
        print(
            f"cross-validated macro-F1 on the training part: {statistics.mean(cv):.4f} ± {statistics.stdev(cv):.4f}"
            f" (folds {', '.join(f'{s:.4f}' for s in cv)}), softmax temperature {model.temperature:.3f}"
        )

    predicted = model.predict_many(test_texts)
    macro = f1_score(test_labels, predicted, average="macro")
    accuracy = sum(p == t for p, t in zip(predicted, test_labels, strict=True)) / len(test_labels)
    print(f"held out: macro-F1 {macro:.4f} (target at least 0.91: {'met' if macro >= 0.91 else 'NOT met'})")
    print(f"held out: accuracy {accuracy:.4f}")
    per_class = f1_score(test_labels, predicted, average=None, labels=model.labels)
    for label, score in zip(model.labels, per_class, strict=True):
        print(f"  {label}{' ' * (8 - len(label)) * 2} F1 {score:.4f}  ({test_labels.count(label)} messages)")

    matrix = confusion_matrix(test_labels, predicted, labels=model.labels)
    print("confusion matrix (rows: true label, columns: predicted, in the same order):")
    print(" " * 20 + "".join(f"{i:>6}" for i in range(len(model.labels))))
    for i, (label, row) in enumerate(zip(model.labels, matrix, strict=True)):
        print(f"  {i} {label}{' ' * (8 - len(label)) * 2}" + "".join(f"{n:>6}" for n in row))

    confidences = [max(model.scores(t).values()) for t in test_texts]
    for threshold in sorted({0.3, 0.5, 0.7, 0.9, model.threshold}):
        kept = [(p, t) for p, t, c in zip(predicted, test_labels, confidences, strict=True) if c >= threshold]
        right = sum(p == t for p, t in kept)
        mark = "  <- the model's threshold" if threshold == model.threshold else ""
        print(
            f"confidence >= {threshold:.2f}: {len(kept) / len(test_texts):6.1%} of messages get a suggestion, "
            f"{right / max(1, len(kept)):6.1%} of them right{mark}"
        )
    suggestions = [model.predict(t) for t in test_texts]
    print(f"predict() suggested a category for {sum(s is not None for s in suggestions) / len(test_texts):.1%}")

    with tempfile.TemporaryDirectory(prefix="gmidclf", dir="/tmp") as tmp:
        began = time.perf_counter()
        saved = classifier.save(model, Path(tmp))
        save_ms = (time.perf_counter() - began) * 1000
        size = sum(f.stat().st_size for f in saved.iterdir())
        began = time.perf_counter()
        loaded = classifier.load_latest(Path(tmp))
        load_ms = (time.perf_counter() - began) * 1000
        assert loaded is not None and loaded.scores(test_texts[0]) == model.scores(test_texts[0])
    print(f"saved {saved.name} ({size / 1e6:.1f} MB) in {save_ms:.0f} ms, loaded in {load_ms:.0f} ms")

    for text in test_texts[:50]:  # warm up
        model.predict(text)
    timings = []
    for text in test_texts:
        began = time.perf_counter()
        model.predict(text)
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    p99 = timings[round(0.99 * (len(timings) - 1))]
    lengths = sorted(len(t) for t in test_texts)
    print(
        f"time per message (one predict call, one core, median text {lengths[len(lengths) // 2]} characters): "
        f"median {statistics.median(timings):.2f} ms, p99 {p99:.2f} ms, max {timings[-1]:.2f} ms "
        f"(target under 5 ms: {'met' if p99 < 5 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
