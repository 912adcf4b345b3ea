"""Where report photos are kept: a small storage interface and its local-disk implementation.

Photos are content-addressed by the SHA-256 of their (re-encoded) bytes: the same picture is stored
once however many reports carry it, and a stored file never changes, so it may be cached forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

_DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


class PhotoNotStored(LookupError):
    """No photo with this digest is in the store."""


class PhotoStorage(Protocol):
    async def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its SHA-256, hex."""
        ...

    async def get(self, digest: str) -> bytes:
        """The bytes stored under ``digest``; PhotoNotStored when there are none."""
        ...

    async def exists(self, digest: str) -> bool: ...


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalStorage:
    """Files under ``root`` (normally ``VAR_DIR/photos``) as ``ab/abcdef....jpg``; folders 0700 and
    files 0600, because photos of a neighbourhood can show people and their homes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        if not _DIGEST_RE.match(digest):
            # Never build a path from anything but a digest (no traversal through a crafted id).
            raise ValueError("not a SHA-256 hex digest")
        return self.root / digest[:2] / f"{digest}.jpg"

    async def put(self, data: bytes) -> str:
        digest = digest_of(data)
        await asyncio.to_thread(self._write, digest, data)
        return digest

    async def get(self, digest: str) -> bytes:
        return await asyncio.to_thread(self._read, digest)

    async def exists(self, digest: str) -> bool:
        return await asyncio.to_thread(self.path_for(digest).is_file)

    def _write(self, digest: str, data: bytes) -> None:
        target = self.path_for(digest)
        if target.is_file() and target.stat().st_size == len(data):
            return  # the same content is already there
        for folder in (self.root, target.parent):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
        # A temporary name in the same folder, then an atomic rename: a reader never sees half a
        # file, and two writers of the same content simply replace one another.
        temp = target.parent / f".{digest}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise

    def _read(self, digest: str) -> bytes:
        try:
            return self.path_for(digest).read_bytes()
        except (FileNotFoundError, ValueError):
            raise PhotoNotStored(digest) from None
