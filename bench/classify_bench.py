"""The report classifier's figures: the model shipped in the package, its method on messages it did not see,
and a plain baseline (character 1-3-gram TF-IDF + linear SVM, scikit-learn's defaults) side by side.

1. The shipped model: version, data hash, size, load time (cold, checked against the bundled messages).
2. Cross-validation: stratified k-fold over several seeds; macro-F1 mean ± sd over all folds of the
   shipped model's method (as ``train`` fits it) and of the baseline, on the same folds, and their paired
   difference.
3. Held out: a stratified 20 % split; the method trained on the rest (with its own 5-fold cross-validation,
   as ``train`` does) and the baseline; macro-F1, accuracy, per-class F1, the confusion matrix, coverage
   and accuracy above the confidence threshold.
4. Time per message of the shipped model (single predict calls, one core): median, p99, max, as wall
   clock and as the thread's CPU time (on a busy machine the wall clock also counts other processes' turns).

    .venv/bin/python bench/classify_bench.py                      # the bundled messages (6,463)
    .venv/bin/python bench/classify_bench.py --seeds 1,2,3 --folds 5
    .venv/bin/python bench/classify_bench.py --timing-only          # load and predict times (seconds)
    .venv/bin/python bench/classify_bench.py --messages ../shared/data/civic-messages/messages.csv

About 8 minutes on one free core. The figures describe this machine and this run only.
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

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.metrics import confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.svm import LinearSVC

from miniapp_api.clinic import classifier


class Baseline:
    """TfidfVectorizer(analyzer="char", ngram_range=(1, 3)) + LinearSVC(), both with their defaults. The
    counts are taken once over all texts; each fit keeps the n-grams of its own rows (what a vectorizer
    fitted on them would know) and takes its IDF from them."""

    def __init__(self, texts: list[str]) -> None:
        self.counts = CountVectorizer(analyzer="char", ngram_range=(1, 3)).fit_transform(texts).tocsc()

    def margins(self, fit_rows: np.ndarray, labels: np.ndarray, test_rows: np.ndarray) -> np.ndarray:
        known = np.flatnonzero(np.diff(self.counts[fit_rows].tocsc().indptr))
        counts = self.counts[:, known].tocsr()
        tfidf = TfidfTransformer().fit(counts[fit_rows])
        svm = LinearSVC().fit(tfidf.transform(counts[fit_rows]), labels[fit_rows])
        return np.asarray(svm.decision_function(tfidf.transform(counts[test_rows])))


def method_margins(
    counts: list[classifier._Counts], truth: np.ndarray, fit_rows: np.ndarray, test_rows: np.ndarray
) -> np.ndarray:
    """The method's margins for ``test_rows`` from a model fitted on ``fit_rows``, as ``train`` fits it."""
    model, matrix = classifier._fit(counts, fit_rows, truth)
    return np.asarray(matrix[test_rows] @ model.weights.astype(np.float64) + model.intercept)


def summary(scores: list[float]) -> str:
    return f"{statistics.mean(scores):.4f} ± {statistics.stdev(scores):.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=Path, default=None, help="CSV (or .csv.gz); default: the bundled copy")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--seeds", default="1,2,3", help="cross-validation seeds, comma-separated")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=20261126, help="of the held-out split")
    parser.add_argument("--threshold", type=float, default=classifier.THRESHOLD)
    parser.add_argument("--skip-cv", action="store_true", help="the held-out split and timings only")
    parser.add_argument("--timing-only", action="store_true", help="the shipped model's load and predict times only")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    # 1. The shipped model.
    began = time.perf_counter()
    shipped = classifier.load_shipped()
    load_ms = (time.perf_counter() - began) * 1000
    size = sum(p.stat().st_size for p in classifier.SHIPPED.iterdir())
    meta = shipped.metadata
    print(
        f"shipped model {shipped.version}: {size / 1e6:.2f} MB, loaded and checked in {load_ms:.0f} ms; "
        f"trained on {shipped.data['rows']:,} messages of {shipped.data['file']} "
        f"(SHA-256 {shipped.data['sha256'][:16]}…, matches the bundled file);\n"
        f"  its own {meta['cv_folds']}-fold CV: macro-F1 {meta['cv_macro_f1_mean']:.4f}, "
        f"temperature {shipped.temperature:.3f}, {sum(b.size for b in shipped.blocks):,} features"
    )

    path = args.messages or classifier.messages_path()
    samples = classifier.read_messages(path)
    texts = [t for t, _ in samples]
    truth = np.array([label for _, label in samples])
    names = sorted(set(truth.tolist()))
    columns = np.array([names.index(label) for label in truth])
    print(f"{path}: {len(samples):,} labelled messages, SHA-256 {classifier.data_sha256(path)[:16]}…")
    fit_rows, test_rows = train_test_split(
        np.arange(len(texts)), test_size=args.test_size, stratify=columns, random_state=args.seed
    )
    test_texts = [texts[i] for i in test_rows]
    if args.timing_only:
        return timing(shipped, test_texts)
    started = time.monotonic()
    counts = classifier._count(texts)
    baseline = Baseline(texts)
    print(f"counted n-grams in {time.monotonic() - started:.0f} s")

    # 2. Cross-validation, the same folds for both.
    if not args.skip_cv:
        seeds = [int(s) for s in args.seeds.split(",")]
        ours: list[float] = []
        plain: list[float] = []
        for seed in seeds:
            started = time.monotonic()
            seed_ours, seed_plain = [], []
            for fit_rows, test_rows in StratifiedKFold(args.folds, shuffle=True, random_state=seed).split(
                texts, columns
            ):
                margins = method_margins(counts, truth, fit_rows, test_rows)
                seed_ours.append(f1_score(columns[test_rows], margins.argmax(axis=1), average="macro"))
                base = baseline.margins(fit_rows, truth, test_rows)
                seed_plain.append(f1_score(columns[test_rows], base.argmax(axis=1), average="macro"))
            ours += seed_ours
            plain += seed_plain
            print(
                f"  seed {seed}: shipped method {statistics.mean(seed_ours):.4f}, "
                f"baseline {statistics.mean(seed_plain):.4f} ({time.monotonic() - started:.0f} s)"
            )
        differences = [a - b for a, b in zip(ours, plain, strict=True)]
        print(f"cross-validated macro-F1, {args.folds} folds x {len(seeds)} seeds (mean ± sd over {len(ours)} folds):")
        print(f"  shipped method (NB-SVM: chars, opening, words)          {summary(ours)}")
        print(f"  plain baseline (char 1-3 TF-IDF + LinearSVC)              {summary(plain)}")
        print(f"  difference, fold by fold                                 {summary(differences)}")

    # 3. Held out.
    print(f"held out: {len(test_rows):,} messages; trained on the other {len(fit_rows):,}")
    started = time.monotonic()
    model = classifier.train([samples[i] for i in fit_rows], threshold=args.threshold, folds=args.folds)
    print(f"  trained as `gmid reports train` does in {time.monotonic() - started:.0f} s")
    test_labels = [str(truth[i]) for i in test_rows]
    predicted = model.predict_many(test_texts)
    base_predicted = [names[i] for i in baseline.margins(fit_rows, truth, test_rows).argmax(axis=1)]
    for name, guess in (("shipped method", predicted), ("plain baseline", base_predicted)):
        macro = f1_score(test_labels, guess, average="macro")
        accuracy = sum(p == t for p, t in zip(guess, test_labels, strict=True)) / len(test_labels)
        print(f"  {name}: macro-F1 {macro:.4f}, accuracy {accuracy:.4f}")
    ours_f1 = f1_score(test_labels, predicted, average=None, labels=names)
    plain_f1 = f1_score(test_labels, base_predicted, average=None, labels=names)
    print("  per-class F1 (shipped method, baseline):")
    for label, a, b in zip(names, ours_f1, plain_f1, strict=True):
        print(f"    {label}{' ' * (8 - len(label)) * 2} {a:.4f}  {b:.4f}  ({test_labels.count(label)} messages)")

    matrix = confusion_matrix(test_labels, predicted, labels=names)
    print("  confusion matrix of the shipped method (rows: true label, columns: predicted, in the same order):")
    print(" " * 22 + "".join(f"{i:>6}" for i in range(len(names))))
    for i, (label, row) in enumerate(zip(names, matrix, strict=True)):
        print(f"    {i} {label}{' ' * (8 - len(label)) * 2}" + "".join(f"{n:>6}" for n in row))

    confidences = [max(model.scores(t).values()) for t in test_texts]
    for threshold in sorted({0.3, 0.5, 0.7, 0.9, model.threshold}):
        kept = [(p, t) for p, t, c in zip(predicted, test_labels, confidences, strict=True) if c >= threshold]
        right = sum(p == t for p, t in kept)
        mark = "  <- the model's threshold" if threshold == model.threshold else ""
        print(
            f"  confidence >= {threshold:.2f}: {len(kept) / len(test_texts):6.1%} of messages get a suggestion, "
            f"{right / max(1, len(kept)):6.1%} of them right{mark}"
        )
    suggestions = [model.predict(t) for t in test_texts]
    print(f"  predict() suggested a category for {sum(s is not None for s in suggestions) / len(test_texts):.1%}")

    with tempfile.TemporaryDirectory(prefix="gmidclf", dir="/tmp") as tmp:
        began = time.perf_counter()
        saved = classifier.save(model, Path(tmp))
        save_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        loaded = classifier.load_latest(Path(tmp))
        reload_ms = (time.perf_counter() - began) * 1000
        assert loaded is not None and loaded.scores(test_texts[0]) == model.scores(test_texts[0])
    print(f"  saved {saved.name} in {save_ms:.0f} ms, loaded in {reload_ms:.0f} ms")

    return timing(shipped, test_texts)


def timing(shipped: classifier.Classifier, test_texts: list[str]) -> int:
    """4. Time per message of the shipped model: wall clock, and the CPU time of this thread (what the
    model costs, without the waits of a machine shared with other processes)."""
    for text in test_texts[:50]:  # warm up
        shipped.predict(text)
    wall, cpu = [], []
    for text in test_texts:
        began, began_cpu = time.perf_counter(), time.thread_time()
        shipped.predict(text)
        cpu.append((time.thread_time() - began_cpu) * 1000)
        wall.append((time.perf_counter() - began) * 1000)
    lengths = sorted(len(t) for t in test_texts)
    print(
        f"shipped model, time per message (one predict call, one core, {len(test_texts):,} held-out texts, median "
        f"{lengths[len(lengths) // 2]} characters, longest {lengths[-1]}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):"
    )
    for name, timings in (("wall clock", wall), ("CPU time  ", cpu)):
        timings.sort()
        p99 = timings[round(0.99 * (len(timings) - 1))]
        print(
            f"  {name}: median {statistics.median(timings):.2f} ms, p99 {p99:.2f} ms, max {timings[-1]:.2f} ms "
            f"(target p99 under 5 ms: {'met' if p99 < 5 else 'NOT met'})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
