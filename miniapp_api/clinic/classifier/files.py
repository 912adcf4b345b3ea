"""Model files: saving a version (or the shipped model) without pickle, and loading, checking and choosing one."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from miniapp_api.clinic.classifier.features import Analyzer, _Block, _split
from miniapp_api.clinic.classifier.fitting import train
from miniapp_api.clinic.classifier.messages import BUNDLED, DATA, data_sha256, read_messages
from miniapp_api.clinic.classifier.model import QUANT, Classifier, _dequantize

log = logging.getLogger("gmid.clinic.classifier")

SHIPPED = DATA / "model"  # the model trained on BUNDLED, shipped in the package (`make model`)
FORMAT = 3  # of the saved files: 2 had two fixed character blocks and float32 weights
HEADER = "model.json"
ARRAYS = "model.npz"
SHIPPED_PREFIX = "shipped-"


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
