"""Secret files under ``VAR_DIR/keys``: created owner-only, read back as bytes.

Secrets never live in the code. Each can also come from a ``GMID_*`` variable (see settings), which
wins over the file; several app instances then share one value.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


class KeyFileError(Exception):
    """A key file is missing, unreadable or malformed; the message says which and what to run."""


def write_secret(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (its folder 0700); never overwrite an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_b64_secret(path: Path, raw: bytes) -> None:
    write_secret(path, base64.b64encode(raw) + b"\n")


def read_b64_secret(path: Path, *, min_bytes: int = 32) -> bytes:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(f"key file {path} is missing; run `gmid keys init`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc.__class__.__name__}") from None
    return decode_b64_key(text, what=str(path), min_bytes=min_bytes)


def decode_b64_key(text: str, *, what: str, min_bytes: int = 32) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise KeyFileError(f"{what} is not valid base64") from None
    if len(raw) < min_bytes:
        raise KeyFileError(f"{what} is too short: at least {min_bytes} bytes are needed")
    return raw


def ensure_b64_secret(path: Path, *, nbytes: int = 32) -> bool:
    """Create a random key at ``path`` unless one exists; True when created."""
    if path.exists():
        return False
    write_b64_secret(path, secrets.token_bytes(nbytes))
    return True
