"""The report classifier: suggests a category for a report, with a confidence, from its text.

The features are TF-IDF blocks of the text (character 1-3-grams of the whole text and, apart, of its
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

The parts, each using only those before it: ``messages`` (the bundled labelled messages and their hash),
``features`` (normalisation, n-grams, finding a text's terms in a block), ``model`` (the Classifier and
its prediction), ``fitting`` (training and cross-validation), ``files`` (saving, loading, the shipped
model). This module is the API: every name is importable from here.
"""

from __future__ import annotations

from miniapp_api.clinic.classifier.features import (
    _KEY_BITS,
    _KEY_CHARS,
    _NONE,
    _SPACES,
    _SURROGATES,
    MAX_CHARS,
    SEPARATOR,
    Analyzer,
    _Block,
    _char_keys,
    _codes,
    _Keys,
    _pair_keys,
    _segment,
    _split,
    _term_keys,
    normalize,
)
from miniapp_api.clinic.classifier.files import (
    ARRAYS,
    FORMAT,
    HEADER,
    SHIPPED,
    SHIPPED_PREFIX,
    StaleModel,
    _arrays,
    _arrays_sha256,
    _header,
    _number,
    _write_arrays,
    load,
    load_latest,
    load_shipped,
    log,
    save,
    save_shipped,
    ship,
    shipped,
)
from miniapp_api.clinic.classifier.fitting import (
    BLOCKS,
    FOLDS,
    MIN_DF,
    NB_ALPHA,
    OPENING,
    SVM_C,
    _count,
    _Counts,
    _fit,
    _out_of_fold,
    _softmax_rows,
    _tfidf,
    cross_validate,
    fit_temperature,
    macro_f1,
    method,
    train,
)
from miniapp_api.clinic.classifier.messages import (
    BUNDLED,
    DATA,
    SHARED,
    _csv_bytes,
    data_sha256,
    messages_path,
    read_messages,
)
from miniapp_api.clinic.classifier.model import (
    MIN_EVIDENCE,
    QUANT,
    TEMPERATURE,
    THRESHOLD,
    Classifier,
    Suggestion,
    _dequantize,
    _quantize,
    _softmax,
)

# The private names too: the tests and bench/ reach into a few, and all were importable from here before the split.
__all__ = [
    "ARRAYS",
    "BLOCKS",
    "BUNDLED",
    "DATA",
    "FOLDS",
    "FORMAT",
    "HEADER",
    "MAX_CHARS",
    "MIN_DF",
    "MIN_EVIDENCE",
    "NB_ALPHA",
    "OPENING",
    "QUANT",
    "SEPARATOR",
    "SHARED",
    "SHIPPED",
    "SHIPPED_PREFIX",
    "SVM_C",
    "TEMPERATURE",
    "THRESHOLD",
    "_KEY_BITS",
    "_KEY_CHARS",
    "_NONE",
    "_SPACES",
    "_SURROGATES",
    "Analyzer",
    "Classifier",
    "StaleModel",
    "Suggestion",
    "_Block",
    "_Counts",
    "_Keys",
    "_arrays",
    "_arrays_sha256",
    "_char_keys",
    "_codes",
    "_count",
    "_csv_bytes",
    "_dequantize",
    "_fit",
    "_header",
    "_number",
    "_out_of_fold",
    "_pair_keys",
    "_quantize",
    "_segment",
    "_softmax",
    "_softmax_rows",
    "_split",
    "_term_keys",
    "_tfidf",
    "_write_arrays",
    "cross_validate",
    "data_sha256",
    "fit_temperature",
    "load",
    "load_latest",
    "load_shipped",
    "log",
    "macro_f1",
    "messages_path",
    "method",
    "normalize",
    "read_messages",
    "save",
    "save_shipped",
    "ship",
    "shipped",
    "train",
]
