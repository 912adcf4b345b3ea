"""The fixed test keys of tests/qr/vectors loaded as a real keyring (through qr.keys)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qr.keys import Keyring, load
from tests.qr import make_vectors


def fixed_keyring() -> Keyring:
    folder = Path(tempfile.mkdtemp(prefix="gmid-vectors-"))
    try:
        make_vectors.install_keyring(folder)
        return load(folder)
    finally:
        shutil.rmtree(folder)
