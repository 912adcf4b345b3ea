"""The report classifier on its own: quality on messages it did not see, the confidence threshold,
versioned saving and loading without pickle, and the model shipped in the package (checked against the
messages it was trained on)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from miniapp_api.clinic import classifier

SEED = 20261126
POLLUTION = "工厂每天晚上偷偷排放黑烟，河里的水也被污染发臭了，附近居民呼吸困难，请环保部门查处"


def _samples() -> list[tuple[str, str]]:
    path = classifier.messages_path()
    if not path.exists():
        pytest.skip(f"labelled messages not found at {path}")
    return classifier.read_messages(path)


def _split(samples: list[tuple[str, str]], share: float) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Stratified: the same share of every label held out."""
    rng = random.Random(SEED)
    fit: list[tuple[str, str]] = []
    held: list[tuple[str, str]] = []
    for label in sorted({label for _, label in samples}):
        rows = [s for s in samples if s[1] == label]
        rng.shuffle(rows)
        cut = round(len(rows) * share)
        held += rows[:cut]
        fit += rows[cut:]
    return fit, held


@pytest.fixture(scope="module")
def split() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return _split(_samples(), 0.2)


@pytest.fixture(scope="module")
def model(split: tuple[list[tuple[str, str]], list[tuple[str, str]]]) -> classifier.Classifier:
    return classifier.train(split[0], folds=0)  # no cross-validation: a sixth of the time


def test_macro_f1_on_held_out_messages(
    model: classifier.Classifier, split: tuple[list[tuple[str, str]], list[tuple[str, str]]]
) -> None:
    held = split[1]
    truth = [label for _, label in held]
    predicted = model.predict_many([text for text, _ in held])
    # Cross-validation puts this model at 0.93 ± 0.005 on 80 % of the data; 0.91 leaves room for the split.
    assert classifier.macro_f1(truth, predicted) >= 0.91
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth) >= 0.91
    assert sorted(model.labels) == sorted(set(truth)) and len(model.labels) == 7


def test_suggestions_above_the_threshold_are_mostly_right(
    model: classifier.Classifier, split: tuple[list[tuple[str, str]], list[tuple[str, str]]]
) -> None:
    made = [(model.predict(text), label) for text, label in split[1][:300]]
    kept = [(s, label) for s, label in made if s is not None]
    assert len(kept) >= 0.8 * len(made)
    assert sum(s.label == label for s, label in kept) >= 0.9 * len(kept)
    assert all(model.threshold <= s.confidence <= 1.0 for s, _ in kept)


def test_scores_are_a_distribution_and_agree_with_predict(model: classifier.Classifier) -> None:
    text = POLLUTION
    scores = model.scores(text)
    assert set(scores) == set(model.labels)
    assert sum(scores.values()) == pytest.approx(1.0)
    suggestion = model.predict(text)
    assert suggestion == classifier.Suggestion("环境保护", round(scores["环境保护"], 4))
    assert model.predict("A市某小学食堂饭菜质量差，学生家长多次反映，教育局不予理睬，学校乱收补课费") is not None


@pytest.mark.parametrize(
    "text", ["", "   ", "\n", "你好", "asdfghjkl qwertyuiop zxcvbnm", "123456789", "？？？！！！", "\ud800\x00路灯"]
)
def test_empty_or_gibberish_text_gets_no_suggestion(model: classifier.Classifier, text: str) -> None:
    assert model.predict(text) is None
    assert sum(model.scores(text).values()) == pytest.approx(1.0)


def test_random_chinese_characters_get_a_low_confidence(model: classifier.Classifier) -> None:
    rng = random.Random(SEED)
    text = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(120))
    suggestion = model.predict(text)
    assert suggestion is None or suggestion.confidence < 0.9


def test_save_load_round_trip_gives_identical_scores(
    model: classifier.Classifier, split: tuple[list[tuple[str, str]], list[tuple[str, str]]], tmp_path: Path
) -> None:
    path = classifier.save(model, tmp_path / "classifier")
    assert path == tmp_path / "classifier" / "v1" and model.version == "v1"
    loaded = classifier.load(path)
    assert loaded.version == "v1"
    assert loaded.labels == model.labels
    assert loaded.threshold == model.threshold and loaded.temperature == model.temperature
    assert loaded.metadata == model.metadata and loaded.metadata["samples"] == len(split[0])
    for text, _ in split[1][:60]:
        assert loaded.scores(text) == model.scores(text)
        assert loaded.predict(text) == model.predict(text)
    # Only plain arrays and JSON on disk: nothing a loader would have to unpickle.
    assert sorted(p.name for p in path.iterdir()) == ["model.json", "model.npz"]
    with np.load(path / "model.npz", allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
        assert data["weights"].dtype == np.int8  # a quarter of float32's size
    header = json.loads((path / "model.json").read_text())
    assert header["format"] == classifier.FORMAT and len(header["arrays_sha256"]) == 64
    assert [b["kind"] for b in header["blocks"]] == [a.kind for a, _ in classifier.BLOCKS]


def test_versions_increase_and_older_ones_are_kept(model: classifier.Classifier, tmp_path: Path) -> None:
    directory = tmp_path / "classifier"
    assert classifier.load_latest(directory) is None
    first = classifier.save(model, directory)
    first_header = (first / "model.json").read_bytes()
    second = classifier.save(model, directory)
    assert (first.name, second.name) == ("v1", "v2")
    assert (first / "model.json").read_bytes() == first_header
    latest = classifier.load_latest(directory)
    assert latest is not None and latest.version == "v2"
    assert classifier.load(first).version == "v1"
    assert sorted(p.name for p in directory.iterdir()) == ["v1", "v2"]  # no staging folder left behind


def test_broken_or_partial_versions_are_skipped(model: classifier.Classifier, tmp_path: Path) -> None:
    directory = tmp_path / "classifier"
    good = classifier.save(model, directory)
    # v2: cut short; v3: arrays but no header; v4: header of another format; v5: a pickled object array;
    # v6: empty; .staging-x: a save that died before its rename.
    shutil.copytree(good, directory / "v2")
    data = (directory / "v2" / "model.npz").read_bytes()
    (directory / "v2" / "model.npz").write_bytes(data[: len(data) // 2])
    shutil.copytree(good, directory / "v3")
    (directory / "v3" / "model.json").unlink()
    shutil.copytree(good, directory / "v4")
    header = json.loads((good / "model.json").read_text())
    (directory / "v4" / "model.json").write_text(json.dumps(header | {"format": 99}))
    shutil.copytree(good, directory / "v5")
    np.savez(directory / "v5" / "model.npz", weights=np.array([object()], dtype=object))
    (directory / "v6").mkdir()
    shutil.copytree(good, directory / ".staging-x")

    for name in ("v2", "v3", "v4", "v5", "v6"):
        with pytest.raises(ValueError, match="not a usable model"):
            classifier.load(directory / name)
    latest = classifier.load_latest(directory)
    assert latest is not None and latest.version == "v1"
    # A new version goes above the broken ones, which stay as they were.
    assert classifier.save(model, directory).name == "v7"
    latest = classifier.load_latest(directory)
    assert latest is not None and latest.version == "v7"


def _rewrite(path: Path, **changes: np.ndarray) -> None:
    """Arrays changed and the header's hash made to match them: only the consistency checks can refuse."""
    with np.load(path / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files} | changes
    np.savez(path / "model.npz", **arrays)
    header = json.loads((path / "model.json").read_text())
    header["arrays_sha256"] = classifier._arrays_sha256(arrays)
    (path / "model.json").write_text(json.dumps(header))


@pytest.mark.parametrize(
    "change",
    [
        "intercept",  # fewer labels than the header
        "weights_float",  # weights not int8
        "weights_rows",  # a row short of the terms
        "idf",  # an IDF short of the terms
        "terms",  # not UTF-8
        "scale",  # a NaN scale
    ],
)
def test_inconsistent_arrays_are_refused(model: classifier.Classifier, tmp_path: Path, change: str) -> None:
    path = classifier.save(model, tmp_path)
    with np.load(path / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    changes = {
        "intercept": {"intercept": arrays["intercept"][:3]},
        "weights_float": {"weights": arrays["weights"].astype(np.float32)},
        "weights_rows": {"weights": arrays["weights"][:-1]},
        "idf": {"idf1": arrays["idf1"][:-1]},
        "terms": {"terms0": np.concatenate([arrays["terms0"], np.array([0xFF], dtype=np.uint8)])},
        "scale": {"scale": np.full_like(arrays["scale"], np.nan)},
    }[change]
    _rewrite(path, **changes)
    with pytest.raises(ValueError, match="not a usable model"):
        classifier.load(path)
    assert classifier.load_latest(tmp_path) is None


def test_arrays_that_differ_from_their_header_are_refused(model: classifier.Classifier, tmp_path: Path) -> None:
    path = classifier.save(model, tmp_path)
    with np.load(path / "model.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    weights = arrays["weights"].copy()
    weights[0, 0] = 100 if weights[0, 0] != 100 else 99  # one weight changed, shapes intact
    np.savez(path / "model.npz", **(arrays | {"weights": weights}))
    with pytest.raises(ValueError, match="arrays differ from the header"):
        classifier.load(path)
    header = json.loads((path / "model.json").read_text())
    header["blocks"][0] |= {"kind": "eval", "ngrams": [1, 3]}  # a feature kind this code does not know
    header["arrays_sha256"] = classifier._arrays_sha256(arrays)
    (path / "model.json").write_text(json.dumps(header))
    np.savez(path / "model.npz", **arrays)
    with pytest.raises(ValueError, match="unknown features"):
        classifier.load(path)


def test_features_match_scikit_learn() -> None:
    """Prediction computes TF-IDF itself (numpy only), and training counts once for all folds: both
    must be what scikit-learn's TfidfVectorizer computes on the rows a model is fitted on."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [
        "A市A3区某小区 噪音扰民，请求处理",
        "A市某路段 路灯不亮，请求维修路灯",
        "学校乱收费 请教育局查处乱收费",
        "A市某小区噪音扰民 请求维修",
        "教育局 路灯 乱收费",
        "😀路灯不亮😀",
    ]
    fitted = np.array([0, 1, 2, 3, 5])  # the fifth text is not among the fitted rows
    counts = classifier._count(texts)
    for (analyzer, _), block_counts in zip(classifier.BLOCKS, counts, strict=True):
        vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=classifier.MIN_DF)
        vectorizer.fit([texts[i] for i in fitted])
        # Unseen words, astral characters, NUL, a lone surrogate.
        unseen = ["请求维修 unseen 字符", "路灯😀不亮\x00\ud800请求维修乱收费😀", "😀😀😀"]
        expected = vectorizer.transform([*texts, *unseen]).toarray()
        terms = vectorizer.get_feature_names_out().tolist()
        block, matrix = classifier._tfidf(block_counts, fitted)
        assert block.terms() == terms and block.idf == pytest.approx(vectorizer.idf_)
        assert matrix.toarray() == pytest.approx(expected[: len(texts)], abs=1e-6)
        for row, text in enumerate([*texts, *unseen]):
            columns, values = block.vector(classifier.normalize(text))
            got = np.zeros(len(terms))
            got[columns] = values
            assert got == pytest.approx(expected[row], abs=1e-6), (analyzer, row)


def test_counts_are_scikit_learns_on_any_text() -> None:
    """Training counts character n-grams as integer keys: the same terms, in the same order, with the
    same counts as CountVectorizer, whatever the characters (astral, NUL, a lone surrogate, nothing)."""
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [
        *(text for text, _ in _samples()[:300]),
        "",
        "a",
        "ab",
        "\x00",
        "\x00\x00a\x00",
        "😀路灯😀\U0010fffd不亮",
        "\ud800请求\udfff",
        "路" * 40 + "灯" * 2000,  # past both blocks' lengths
        "A市 某路段_x000D_路灯\t不亮",
    ]
    for (analyzer, _), counts in zip(classifier.BLOCKS, classifier._count(texts), strict=True):
        vectorizer = CountVectorizer(analyzer=analyzer, lowercase=False)
        expected = vectorizer.fit_transform(texts)
        assert counts.terms == vectorizer.get_feature_names_out().tolist(), analyzer
        assert (counts.matrix != expected).nnz == 0, analyzer


def test_words_come_from_the_segmenter_and_whitespace_is_no_signal() -> None:
    words = classifier.Analyzer("words", 1, 2, classifier.MAX_CHARS)
    grams = words.grams(classifier.normalize("学校 乱收费\n请教育局 查处"))
    assert grams[:5] == ["学校", "乱收费", "请", "教育局", "查处"] and "学校 乱收费" in grams and len(grams) == 9
    assert all(not g.isspace() and "\n" not in g for g in grams)
    assert classifier.normalize("A市 某路段_x000D_路灯\t不亮") == "a市某路段路灯不亮"


def test_out_of_fold_margins_are_those_of_the_saved_model(tmp_path: Path) -> None:
    """Cross-validation scores matrices; a saved model reads texts: the same margins."""
    samples = _split(_samples(), 0.9)[0][:600]
    counts = classifier._count([t for t, _ in samples])
    truth = np.array([label for _, label in samples])
    model, matrix = classifier._fit(counts, np.arange(500), truth)
    loaded = classifier.load(classifier.save(model, tmp_path))
    for row in range(500, 600):
        expected = matrix[row] @ model.weights.astype(np.float64) + model.intercept
        assert loaded.margins(samples[row][0])[0] == pytest.approx(np.ravel(expected), abs=1e-5)


def test_cross_validation_fits_the_confidence(split: tuple[list[tuple[str, str]], list[tuple[str, str]]]) -> None:
    small, _ = _split(split[0], 0.75)  # a quarter of the training part: quick
    model = classifier.train(small, threshold=0.6, folds=3)
    meta = model.metadata
    assert meta["samples"] == len(small) and meta["threshold"] == 0.6 and meta["cv_folds"] == 3
    assert len(meta["cv_macro_f1"]) == 3 and 0.6 < meta["cv_macro_f1_mean"] <= 1.0
    assert 0.0 < meta["cv_coverage"] <= 1.0 and meta["cv_accuracy_suggested"] >= meta["cv_accuracy"]
    assert model.temperature == pytest.approx(meta["temperature"], abs=1e-4) and model.temperature > 0
    with pytest.raises(ValueError):
        classifier.train(small, threshold=1.5, folds=0)


def test_read_messages_plain_or_gzipped(tmp_path: Path) -> None:
    content = 'id,title,text,label\n1,t,"路灯坏了，请修",城乡建设\n2,,"",交通运输\n3,,"学校收费",教育文体\n'
    plain = tmp_path / "m.csv"
    plain.write_text(content, encoding="utf-8")
    packed = tmp_path / "m.csv.gz"
    packed.write_bytes(gzip.compress(content.encode("utf-8")))
    expected = [("路灯坏了，请修", "城乡建设"), ("学校收费", "教育文体")]
    assert classifier.read_messages(plain) == expected
    assert classifier.read_messages(packed) == expected
    assert classifier.messages_path() in (classifier.BUNDLED, classifier.SHARED)
    assert classifier.SHARED.parts[-4:] == ("shared", "data", "civic-messages", "messages.csv")


# The shipped model -------------------------------------------------------------------------------------


def test_the_shipped_model_was_made_from_the_bundled_messages_by_this_code() -> None:
    """`make model` ran on the bundled messages with the method `train` has now (rerun it when either
    changes); the package stays small."""
    header = json.loads((classifier.SHIPPED / classifier.HEADER).read_text())
    messages = classifier.read_messages(classifier.BUNDLED)
    assert header["data"] == {
        "file": "messages.csv.gz",
        "rows": len(messages),
        "sha256": classifier.data_sha256(classifier.BUNDLED),
    }
    assert len(messages) == 6463
    if classifier.SHARED.exists():  # the bundled copy is the shared file, gzipped
        assert header["data"]["sha256"] == classifier.data_sha256(classifier.SHARED)
    assert header["metadata"]["method"] == classifier.method()
    assert header["metadata"]["samples"] == len(messages) and header["metadata"]["cv_folds"] == classifier.FOLDS
    assert header["version"] == classifier.SHIPPED_PREFIX + header["arrays_sha256"][:12]
    assert "trained_at" not in header["metadata"]  # no time in it: the same data make the same files
    size = sum(p.stat().st_size for p in classifier.SHIPPED.iterdir())
    assert size < 5_000_000


def test_the_shipped_model_loads_and_predicts() -> None:
    model = classifier.load_shipped()
    assert model.version.startswith(classifier.SHIPPED_PREFIX) and len(model.labels) == 7
    assert model.metadata["cv_macro_f1_mean"] >= 0.92
    suggestion = model.predict(POLLUTION)
    assert suggestion is not None and suggestion.label == "环境保护" and suggestion.confidence >= 0.5
    school = model.predict("A市某小学食堂饭菜质量差，学校乱收补课费，家长多次反映，请教育局查处")
    assert school is not None and school.label == "教育文体"
    assert model.predict("") is None
    again = classifier.shipped()
    assert again is not None and again.version == model.version
    assert classifier.shipped() is again  # loaded once per process


def _messages_file(path: Path, rows: list[tuple[str, str]]) -> Path:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "title", "text", "label"])
    writer.writerows(["", "", text, label] for text, label in rows)
    path.write_bytes(gzip.compress(out.getvalue().encode("utf-8"), mtime=0))
    return path


def test_a_shipped_model_trained_on_other_messages_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shipped = tmp_path / "model"
    shutil.copytree(classifier.SHIPPED, shipped)
    assert classifier.load_shipped(shipped, classifier.BUNDLED).version.startswith(classifier.SHIPPED_PREFIX)
    # The bundled messages changed (one label) and the model was not remade: refused, saying what to do.
    messages = classifier.read_messages(classifier.BUNDLED)
    changed = _messages_file(tmp_path / "messages.csv.gz", [(messages[0][0], "交通运输"), *messages[1:]])
    with pytest.raises(classifier.StaleModel, match=r"trained on messages with SHA-256 .*make model"):
        classifier.load_shipped(shipped, changed)
    # A header that claims other data than the bundled messages: refused too.
    header = json.loads((shipped / "model.json").read_text())
    header["data"]["sha256"] = "0" * 64
    (shipped / "model.json").write_text(json.dumps(header))
    with pytest.raises(classifier.StaleModel):
        classifier.load_shipped(shipped, classifier.BUNDLED)
    # A version trained here is no shipped model.
    trained = classifier.save(classifier.load(classifier.SHIPPED), tmp_path / "var")
    with pytest.raises(ValueError, match="not a shipped model"):
        classifier.load_shipped(trained, classifier.BUNDLED)
    # An app given the stale model suggests nothing and says why, once, as an error.
    with caplog.at_level(logging.ERROR, logger="gmid.clinic.classifier"):
        assert classifier.shipped(shipped, classifier.BUNDLED) is None
    assert "shipped classifier refused" in caplog.text and "make model" in caplog.text


def test_make_model_is_reproducible(tmp_path: Path) -> None:
    """The same messages give the same files, byte for byte (a small sample: the whole takes minutes)."""
    samples, rng = _samples(), random.Random(SEED)
    labels = sorted({label for _, label in samples})
    sample = [row for label in labels for row in rng.sample([s for s in samples if s[1] == label], 40)]
    messages = _messages_file(tmp_path / "messages.csv.gz", sample)
    first = classifier.ship(messages, tmp_path / "a")
    second = classifier.ship(messages, tmp_path / "b")
    for name in (classifier.HEADER, classifier.ARRAYS):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert first.version == second.version and first.version.startswith(classifier.SHIPPED_PREFIX)
    loaded = classifier.load_shipped(tmp_path / "a", messages)
    assert loaded.version == first.version and loaded.data["rows"] == len(sample)
    assert loaded.metadata["cv_folds"] == classifier.FOLDS
    assert loaded.scores(POLLUTION) == first.scores(POLLUTION)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".staging")] == []
