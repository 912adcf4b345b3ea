"""The PII vault: encryption at rest, blind indexes and masking of personal data.

Names, identity numbers, phones and addresses are stored as ``v1.<kid>.<base64url(nonce || ciphertext)>``
(AES-256-GCM, the column name as associated data so a value copied into another column fails to
decrypt). Equality look-ups go through an HMAC-SHA256 blind index with its own key. Keys come from
``GMID_PII_KEYS`` / ``GMID_PII_INDEX_KEY`` or from files under ``VAR_DIR/keys``; rotation adds a key and
makes it active while older keys keep decrypting, so rows can be re-encrypted lazily.

No error message here ever contains plaintext or key material: they reach logs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.redaction import mask_embedded, scannable
from server.keyfiles import KeyFileError, decode_b64_key, ensure_b64_secret, read_b64_secret, write_b64_secret

if TYPE_CHECKING:
    from server.settings import Settings

__all__ = [
    "PiiDecryptError",
    "PiiKeyRing",
    "Vault",
    "current_vault",
    "ensure_pii_keys",
    "has_personal_number",
    "mask_address",
    "mask_embedded",  # identity.redaction's, here too
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "mask_public_text",
    "rotate_pii_key",
    "set_vault",
]

KEY_BYTES = 32  # AES-256
INDEX_KEY_MIN_BYTES = 32
NONCE_BYTES = 12  # the GCM standard nonce; random per encryption (2^32 messages per key stay safe)
TAG_BYTES = 16
FORMAT_VERSION = "v1"
BLIND_INDEX_HEX_CHARS = 32  # 128 bits: collisions stay negligible, the column stays short

_KID_RE = re.compile(r"[a-z0-9]{1,16}")
_FIELD_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # never contains the NUL used as a separator
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]+")
_INIT_HINT = "run `gmid keys init`"


class PiiDecryptError(Exception):
    """A stored value cannot be decrypted: malformed, unknown key id, tampered or wrong column."""


def _new_kid() -> str:
    return "p" + secrets.token_hex(4)


def _check_field(field: str) -> bytes:
    if not _FIELD_RE.fullmatch(field):
        raise ValueError("field must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
    return field.encode("ascii")


# Key ring --------------------------------------------------------------------------------------


class PiiKeyRing:
    """Encryption keys by key id (one of them active for new values) and the blind-index key."""

    def __init__(self, keys: Mapping[str, bytes], active_kid: str, index_key: bytes) -> None:
        for kid, key in keys.items():
            if not _KID_RE.fullmatch(kid):
                raise KeyFileError(f"PII key id {kid!r} is invalid: use 1-16 lower-case letters or digits")
            if len(key) != KEY_BYTES:
                raise KeyFileError(f"PII key {kid!r} must be exactly {KEY_BYTES} bytes")
        if active_kid not in keys:
            raise KeyFileError(f"active PII key {active_kid!r} is not in the key ring")
        if len(index_key) < INDEX_KEY_MIN_BYTES:
            raise KeyFileError(f"the PII index key must be at least {INDEX_KEY_MIN_BYTES} bytes")
        self._keys = dict(keys)
        self.active_kid = active_kid
        self._index_key = bytes(index_key)

    def __repr__(self) -> str:
        # Key ids only: a repr may land in a log or a traceback.
        return f"PiiKeyRing(kids={sorted(self._keys)!r}, active_kid={self.active_kid!r})"

    @property
    def kids(self) -> list[str]:
        return sorted(self._keys)

    def key(self, kid: str) -> bytes | None:
        return self._keys.get(kid)

    def items(self) -> list[tuple[str, bytes]]:
        return sorted(self._keys.items())

    @property
    def index_key(self) -> bytes:
        return self._index_key

    @classmethod
    def generate(cls) -> PiiKeyRing:
        """A fresh in-memory ring (tests, throw-away demos)."""
        kid = _new_kid()
        return cls({kid: AESGCM.generate_key(bit_length=256)}, kid, secrets.token_bytes(INDEX_KEY_MIN_BYTES))

    @classmethod
    def from_settings(cls, settings: Settings) -> PiiKeyRing:
        """Environment values win; each missing one is read from its file under ``keys_path``."""
        if settings.pii_keys.strip():
            keys, active = parse_pii_keys(settings.pii_keys)
            if settings.pii_active_key:
                # Rolling out a new key: list it everywhere first (decrypt only), then make it active.
                if settings.pii_active_key not in keys:
                    raise KeyFileError(f"GMID_PII_ACTIVE_KEY names {settings.pii_active_key!r}, not in GMID_PII_KEYS")
                active = settings.pii_active_key
        else:
            keys, active = load_pii_key_files(settings.keys_path)
        if settings.pii_index_key.strip():
            index_key = decode_b64_key(settings.pii_index_key, what="GMID_PII_INDEX_KEY", min_bytes=INDEX_KEY_MIN_BYTES)
        else:
            index_key = read_b64_secret(_index_key_path(settings.keys_path), min_bytes=INDEX_KEY_MIN_BYTES)
        return cls(keys, active, index_key)


def parse_pii_keys(raw: str) -> tuple[dict[str, bytes], str]:
    """Parse ``KID:BASE64,KID:BASE64``; the last entry is the active key."""
    keys: dict[str, bytes] = {}
    active = ""
    for number, item in enumerate((part.strip() for part in raw.split(",")), start=1):
        if not item:
            continue
        kid, sep, b64 = item.partition(":")
        kid = kid.strip()
        if not sep or not _KID_RE.fullmatch(kid):
            raise KeyFileError(
                f"GMID_PII_KEYS entry {number} is invalid: expected KID:BASE64 with KID of 1-16 "
                "lower-case letters or digits"
            )
        if kid in keys:
            raise KeyFileError(f"GMID_PII_KEYS names key {kid!r} twice")
        key = decode_b64_key(b64, what=f"GMID_PII_KEYS key {kid!r}", min_bytes=KEY_BYTES)
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"GMID_PII_KEYS key {kid!r} must be exactly {KEY_BYTES} bytes")
        keys[kid] = key
        active = kid
    if not keys:
        raise KeyFileError("GMID_PII_KEYS holds no key: expected KID:BASE64,...")
    return keys, active


def _pii_dir(keys_path: Path) -> Path:
    return keys_path / "pii"


def _active_path(keys_path: Path) -> Path:
    return _pii_dir(keys_path) / "ACTIVE"


def _index_key_path(keys_path: Path) -> Path:
    return keys_path / "pii-index.key"


def _key_files(keys_path: Path) -> dict[str, Path]:
    folder = _pii_dir(keys_path)
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in folder.glob("*.key") if _KID_RE.fullmatch(p.stem)}


def load_pii_key_files(keys_path: Path) -> tuple[dict[str, bytes], str]:
    """Read every ``keys_path/pii/<kid>.key`` and the active key id from ``keys_path/pii/ACTIVE``."""
    active_path = _active_path(keys_path)
    try:
        active = active_path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(f"PII key file {active_path} is missing; {_INIT_HINT}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"PII key file {active_path} cannot be read: {exc.__class__.__name__}") from None
    if not _KID_RE.fullmatch(active):
        raise KeyFileError(f"{active_path} does not hold a valid key id")
    files = _key_files(keys_path)
    if active not in files:
        raise KeyFileError(f"active PII key file {_pii_dir(keys_path) / (active + '.key')} is missing")
    keys: dict[str, bytes] = {}
    for kid, path in files.items():
        key = read_b64_secret(path, min_bytes=KEY_BYTES)
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"key file {path} must hold exactly {KEY_BYTES} bytes")
        keys[kid] = key
    return keys, active


def _write_active(keys_path: Path, kid: str) -> None:
    # Write a temporary file and rename it over ACTIVE: a reader never sees a half-written id.
    folder = _pii_dir(keys_path)
    fd, tmp = tempfile.mkstemp(prefix=".ACTIVE.", dir=folder)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(kid + "\n")
        os.replace(tmp, _active_path(keys_path))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add_key(keys_path: Path) -> str:
    existing = _key_files(keys_path)
    kid = _new_kid()
    while kid in existing:  # 32 random bits: a clash is unlikely, but cheap to rule out
        kid = _new_kid()
    write_b64_secret(_pii_dir(keys_path) / f"{kid}.key", AESGCM.generate_key(bit_length=256))
    return kid


def ensure_pii_keys(keys_path: Path) -> list[str]:
    """Create the missing PII key files; return the paths created (empty when all were there).

    Never replaces a key: data encrypted under it would be lost.
    """
    created: list[str] = []
    active_path = _active_path(keys_path)
    files = _key_files(keys_path)
    if not active_path.exists():
        if not files:
            kid = _add_key(keys_path)
            created.append(str(_pii_dir(keys_path) / f"{kid}.key"))
        elif len(files) == 1:
            # An init that stopped between writing the key and ACTIVE: the only key is the active one.
            kid = next(iter(files))
        else:
            raise KeyFileError(f"{active_path} is missing and several PII keys exist; write the active key id into it")
        _write_active(keys_path, kid)
        created.append(str(active_path))
    if ensure_b64_secret(_index_key_path(keys_path), nbytes=INDEX_KEY_MIN_BYTES):
        created.append(str(_index_key_path(keys_path)))
    return created


def rotate_pii_key(keys_path: Path) -> str:
    """Add a new key and make it active; return its id. Older keys stay and keep decrypting.

    Running workers keep their loaded ring: restart them to encrypt with the new key.
    """
    kid = _add_key(keys_path)
    _write_active(keys_path, kid)
    return kid


# Vault -----------------------------------------------------------------------------------------


class Vault:
    """Encrypts, decrypts and indexes personal data with one key ring."""

    def __init__(self, keyring: PiiKeyRing) -> None:
        self.keyring = keyring
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        return cls(PiiKeyRing.from_settings(settings))

    def encrypt(self, plaintext: str, *, field: str) -> str:
        aad = _check_field(field)
        kid = self.keyring.active_kid
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, plaintext.encode("utf-8"), aad)
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{FORMAT_VERSION}.{kid}.{body}"

    def decrypt(self, token: str, *, field: str) -> str:
        aad = _check_field(field)
        kid, blob = _parse_token(token)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise PiiDecryptError(f"unknown PII key id {kid!r}")
        try:
            plain = cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise PiiDecryptError(f"PII value for field {field!r} failed authentication") from None
        return plain.decode("utf-8")

    def needs_reencrypt(self, token: str) -> bool:
        """True when the value was encrypted under a key that is no longer the active one."""
        kid, _ = _parse_token(token)
        return kid != self.keyring.active_kid

    def reencrypt(self, token: str, *, field: str) -> str:
        """The same plaintext under the active key (unchanged token when already current)."""
        if not self.needs_reencrypt(token):
            return token
        return self.encrypt(self.decrypt(token, field=field), field=field)

    def blind_index(self, value: str, *, field: str) -> str:
        """Deterministic keyed hash for equality search; the caller normalises ``value`` first."""
        message = _check_field(field) + b"\x00" + value.encode("utf-8")
        digest = hmac.new(self.keyring.index_key, message, hashlib.sha256).hexdigest()
        return digest[:BLIND_INDEX_HEX_CHARS]


def _parse_token(token: str) -> tuple[str, bytes]:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise PiiDecryptError("malformed PII value: expected v1.<kid>.<data>")
    kid, body = parts[1], parts[2]
    if not _KID_RE.fullmatch(kid) or not _B64URL_RE.fullmatch(body):
        raise PiiDecryptError("malformed PII value: bad key id or data encoding")
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise PiiDecryptError("malformed PII value: bad data encoding") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise PiiDecryptError("malformed PII value: too short")
    return kid, blob


# One vault per worker process ------------------------------------------------------------------

_vault: Vault | None = None


def set_vault(vault: Vault | None) -> None:
    """Install (or with None remove) this process's vault; the app does it at worker start-up."""
    global _vault
    _vault = vault


def current_vault() -> Vault:
    if _vault is None:
        raise RuntimeError("no PII vault installed: the app sets one at start-up (set_vault)")
    return _vault


# Masking ---------------------------------------------------------------------------------------


def _keep_ends(value: str, head: int, tail: int) -> str:
    # Too short to show both ends and still hide something: hide it all.
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id_number(value: str | None) -> str:
    """``440301199001011234`` -> ``440***********1234`` (region prefix and last four)."""
    if not value:
        return ""
    return _keep_ends(value.strip(), 3, 4)


def mask_phone(value: str | None) -> str:
    """``13812345678`` -> ``138****5678``."""
    if not value:
        return ""
    return _keep_ends(value.strip(), 3, 4)


def mask_name(value: str | None) -> str:
    """``张三`` -> ``张*``, ``欧阳娜娜`` -> ``欧***``, ``John Smith`` -> ``J***``, one character -> ``*``."""
    if not value:
        return ""
    name = value.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if name.isascii():
        # A fixed-length tail hides the length of Latin names, which would otherwise narrow them down.
        return name[0] + "***"
    return name[0] + "*" * (len(name) - 1)


def mask_address(value: str | None) -> str:
    """Keep the first 6 characters (province and city, usually) and replace the rest with ``****``."""
    if not value:
        return ""
    text = value.strip()
    if len(text) <= 6:
        # Nothing could be hidden after a 6-character prefix; show nothing rather than everything.
        return "****"
    return text[:6] + "****"


# A mobile or an ID number run into letters (``GM13912345678``): free text keeps such codes (a code
# like GM0101010001 is no phone), but a label printed for everyone to read must not carry one.
_NUMBER_IN_A_WORD = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|\d{17}[\dXx])(?!\d)")


def has_personal_number(text: str) -> bool:
    """Whether ``text`` holds anything shaped like an ID number, a mobile or landline number or an
    e-mail address (what :func:`mask_embedded` hides), or a mobile or ID number run into letters."""
    return mask_embedded(text) != text or _NUMBER_IN_A_WORD.search(scannable(text)) is not None


def mask_public_text(text: str) -> str:
    """Text shown to anyone (an address, a service, a board member's name or duty) with what
    :func:`has_personal_number` finds masked to its ends: for rows stored before such text was refused."""
    masked = mask_embedded(text)
    parts, at = [], 0
    for match in _NUMBER_IN_A_WORD.finditer(scannable(masked)):  # one character for one: same positions
        parts += [masked[at : match.start()], _keep_ends(match.group(), 3, 4)]
        at = match.end()
    return "".join(parts) + masked[at:]
