"""Ed25519 signing keys of the QR e-ID, their ids, and the JWKS.

Private keys live in ``VAR_DIR/keys/qr/<kid>.pem`` (owner-only); ``keyring.json`` beside them lists
every key with its public half and its status:

- ``active``: signs new codes (exactly one);
- ``verifying``: an earlier key whose codes still verify;
- ``retired``: its codes are refused with ``retired_key`` (the public half is kept so the refusal can
  say so, instead of ``unknown_key``); its private key file is deleted.

The ``kid`` is the RFC 7638 JWK thumbprint of the public key (SHA-256, 43 base64url characters):
derived, never chosen, and what any verifier can recompute from the JWKS. Keys made before the full
thumbprint was used carry its first 8 characters in ``keyring.json``, in their ``.pem`` file names
and in the codes they signed: such a legacy kid still finds its key when it is the prefix of exactly
one key's thumbprint, so stickers in the field keep verifying. Several app instances share the
folder; each re-reads the keyring when its file changes, so ``gmid keys rotate`` and
``gmid keys retire`` take effect everywhere within seconds.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server.keyfiles import KeyFileError, write_secret

KID_LENGTH = 43  # a whole SHA-256 thumbprint in base64url
LEGACY_KID_LENGTH = 8  # the shortened kid of keys and codes made before the full thumbprint
ACTIVE, VERIFYING, RETIRED = "active", "verifying", "retired"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(public: bytes) -> str:
    """RFC 7638: SHA-256 over the required members, in lexicographic order, without whitespace."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64url(public)}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def kid_for(public: bytes) -> str:
    return thumbprint(public)


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    public: bytes
    status: str
    created_at: str
    retired_at: str | None = None

    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        # Built once per key: every scan verifies with it.
        return Ed25519PublicKey.from_public_bytes(self.public)

    def jwk(self) -> dict[str, str]:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(self.public), "kid": self.kid, "use": "sig", "alg": "EdDSA"}


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, KeyInfo]
    active_kid: str
    signer: Ed25519PrivateKey
    version: str  # changes whenever the keyring file does (ETag of the JWKS)

    def verifying(self) -> list[KeyInfo]:
        return [k for k in self.keys.values() if k.status in (ACTIVE, VERIFYING)]

    def find(self, kid: str) -> KeyInfo | None:
        """The key a code's ``kid`` names: its full thumbprint, or a legacy 8-character kid that is the
        prefix of exactly one key (two keys sharing 48 bits would make it ambiguous: refused)."""
        return find_key(self.keys, kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in sorted(self.verifying(), key=lambda k: (k.status != ACTIVE, k.kid))]}


def find_key(keys: dict[str, KeyInfo], kid: str) -> KeyInfo | None:
    exact = keys.get(kid)
    if exact is not None or len(kid) != LEGACY_KID_LENGTH:
        return exact
    matches = [info for full, info in keys.items() if full.startswith(kid)]
    return matches[0] if len(matches) == 1 else None


def _folder(keys_path: Path) -> Path:
    return keys_path / "qr"


def _state_path(keys_path: Path) -> Path:
    return _folder(keys_path) / "keyring.json"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read_state(keys_path: Path) -> dict[str, Any]:
    path = _state_path(keys_path)
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"QR keyring {path} is missing; run `gmid keys init`") from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"QR keyring {path} cannot be read: {exc.__class__.__name__}") from None
    return state


def _write_state(keys_path: Path, state: dict[str, Any]) -> None:
    folder = _folder(keys_path)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".keyring-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, _state_path(keys_path))  # atomic: readers see the old or the new file, never half


def _new_key(keys_path: Path) -> KeyInfo:
    private = Ed25519PrivateKey.generate()
    public = raw_public(private.public_key())
    kid = kid_for(public)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_secret(_folder(keys_path) / f"{kid}.pem", pem)
    return KeyInfo(kid, public, ACTIVE, _now_iso())


def _state_entry(info: KeyInfo) -> dict[str, Any]:
    return {
        "kid": info.kid,
        "x": b64url(info.public),
        "status": info.status,
        "created_at": info.created_at,
        "retired_at": info.retired_at,
    }


@contextlib.contextmanager
def _locked(keys_path: Path) -> Iterator[None]:
    """One keyring change at a time, across processes: two `gmid keys rotate` (or a rotate and a
    retire) at once would otherwise each write back what they read, and one change would be lost."""
    folder = _folder(keys_path)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def ensure_keyring(keys_path: Path) -> list[str]:
    """Create the first signing key unless a keyring exists; returns the files created."""
    with _locked(keys_path):
        if _state_path(keys_path).exists():
            return []
        info = _new_key(keys_path)
        _write_state(keys_path, {"active": info.kid, "keys": [_state_entry(info)]})
        return [str(_folder(keys_path) / f"{info.kid}.pem"), str(_state_path(keys_path))]


def rotate(keys_path: Path) -> str:
    """A new key signs from now on; the previous active key keeps verifying."""
    with _locked(keys_path):
        return _rotate(keys_path)


def _rotate(keys_path: Path) -> str:
    state = _read_state(keys_path)
    info = _new_key(keys_path)
    for entry in state["keys"]:
        if entry["status"] == ACTIVE:
            entry["status"] = VERIFYING
    state["keys"].append(_state_entry(info))
    state["active"] = info.kid
    _write_state(keys_path, state)
    return info.kid


class KeyringError(ValueError):
    pass


def retire(keys_path: Path, kid: str) -> None:
    """Codes signed by ``kid`` stop verifying; its private key is destroyed."""
    with _locked(keys_path):
        _retire(keys_path, kid)


def resolve_kid(keys_path: Path, kid: str) -> KeyInfo:
    """The key an operator names: its full kid, or a legacy 8-character kid (unique prefix)."""
    info = find_key(load_entries(_read_state(keys_path)), kid)
    if info is None:
        raise KeyringError(f"no key {kid} in the keyring")
    return info


def _retire(keys_path: Path, kid: str) -> None:
    state = _read_state(keys_path)
    info = find_key(load_entries(state), kid)
    if info is None:
        raise KeyringError(f"no key {kid} in the keyring")
    entry = next(e for e in state["keys"] if _full_kid(e) == info.kid)
    if entry["status"] == ACTIVE:
        raise KeyringError(f"{info.kid} is the active key: rotate first, then retire it")
    if entry["status"] == RETIRED:
        return
    entry["status"] = RETIRED
    entry["retired_at"] = _now_iso()
    _write_state(keys_path, state)
    for pem in _pem_paths(keys_path, info.kid):
        if pem.exists():
            pem.unlink()


def _full_kid(entry: dict[str, Any]) -> str:
    """An entry's full kid, checked against its public key (a legacy entry stores the first 8
    characters of it)."""
    full = kid_for(b64url_decode(entry["x"]))
    stored = entry["kid"]
    if stored != full and not (len(stored) == LEGACY_KID_LENGTH and full.startswith(stored)):
        raise KeyFileError(f"QR keyring entry {stored} does not match its public key")
    return full


def load_entries(state: dict[str, Any]) -> dict[str, KeyInfo]:
    keys: dict[str, KeyInfo] = {}
    for entry in state.get("keys", []):
        full = _full_kid(entry)
        keys[full] = KeyInfo(
            full, b64url_decode(entry["x"]), entry["status"], entry["created_at"], entry.get("retired_at")
        )
    return keys


def _pem_paths(keys_path: Path, kid: str) -> list[Path]:
    # Keys made before the full thumbprint have their private key under the 8-character name.
    folder = _folder(keys_path)
    return [folder / f"{kid}.pem", folder / f"{kid[:LEGACY_KID_LENGTH]}.pem"]


def load(keys_path: Path) -> Keyring:
    state = _read_state(keys_path)
    keys = load_entries(state)
    found = find_key(keys, str(state.get("active", "")))
    if found is None or found.status != ACTIVE:
        raise KeyFileError("QR keyring has no active key; run `gmid keys rotate`")
    active = found.kid
    pem_path = next((p for p in _pem_paths(keys_path, active) if p.exists()), _pem_paths(keys_path, active)[0])
    try:
        signer = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(f"private key {pem_path} of the active QR key is missing") from None
    if not isinstance(signer, Ed25519PrivateKey) or raw_public(signer.public_key()) != keys[active].public:
        raise KeyFileError(f"{pem_path} is not the Ed25519 key the keyring names")
    version = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]
    return Keyring(keys, active, signer, version)


class KeyringCache:
    """The keyring of one process, re-read when ``keyring.json`` changes (checked at most every
    ``interval`` seconds)."""

    def __init__(self, keys_path: Path, interval: float = 2.0) -> None:
        self.keys_path = keys_path
        self.interval = interval
        self._lock = threading.Lock()
        self._keyring = load(keys_path)
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()

    def _file_stamp(self) -> tuple[int, int]:
        st = _state_path(self.keys_path).stat()
        return st.st_mtime_ns, st.st_size

    def get(self) -> Keyring:
        now = time.monotonic()
        if now - self._checked >= self.interval:
            with self._lock:
                self._checked = now
                try:
                    stamp = self._file_stamp()
                except FileNotFoundError:
                    return self._keyring
                if stamp != self._stamp:
                    self._keyring = load(self.keys_path)
                    self._stamp = stamp
        return self._keyring

    def reload(self) -> Keyring:
        with self._lock:
            self._keyring = load(self.keys_path)
            self._stamp = self._file_stamp()
            self._checked = time.monotonic()
        return self._keyring
