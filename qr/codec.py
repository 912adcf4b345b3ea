"""The e-ID token: a JWS compact serialisation (RFC 7515), EdDSA/Ed25519, ``kid`` in the header.

The header names the key by its full RFC 7638 thumbprint (``{"alg":"EdDSA","kid":"<43 chars>"}``);
codes signed before that carry its first 8 characters and still verify (see qr/keys.py). The payload
is not JSON but a fixed 18-byte claims record, so the whole URL fits QR version 11 at error
correction M with a base URL of up to 46 characters (JSON claims would need a larger version):

    offset  size  field
    0       1     format version (1)
    1       1     credential kind (a registered code, see qr/kinds.py)
    2       8     public id: 64 random bits (shown as 13 Crockford base32 characters)
    10      4     serial number, big-endian (a reissued code has serial + 1)
    14      4     iat: seconds since 1970 (UTC), big-endian

Any JOSE library verifies the signature from the JWKS alone; this module then reads the record.
Verification fails closed; each failure has its own code.
"""

from __future__ import annotations

import binascii
import functools
import json
import re
import secrets
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature

from qr.keys import RETIRED, Keyring, b64url, b64url_decode

FORMAT_VERSION = 1
_RECORD = struct.Struct(">BB8sII")
CLAIMS_SIZE = _RECORD.size  # 18
MAX_SERIAL = 2**32 - 1
FUTURE_LEEWAY_SECONDS = 300
MAX_TOKEN_LENGTH = 512
ALGORITHM = "EdDSA"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_DECODE = (
    {c: i for i, c in enumerate(_CROCKFORD)}
    | {c.lower(): i for i, c in enumerate(_CROCKFORD)}
    | {"O": 0, "o": 0, "I": 1, "i": 1, "L": 1, "l": 1}
)
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


class VerifyError(Exception):
    """A code that must not be trusted; ``code`` is one of the documented failure codes."""

    def __init__(self, code: str, message: str, credential: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The registry entry, when one was found (revoked, superseded): scans log which one it was.
        self.credential = credential


@dataclass(frozen=True)
class Claims:
    kind: int
    public_id: bytes
    serial: int
    iat: int

    @functools.cached_property
    def public_id_text(self) -> str:
        # Kept once worked out: a scan reads it several times (its cache keys, its answer, its record).
        return encode_public_id(self.public_id)


@dataclass(frozen=True)
class Verified:
    claims: Claims
    kid: str


def new_public_id() -> bytes:
    return secrets.token_bytes(8)


def encode_public_id(raw: bytes) -> str:
    """8 bytes as 13 Crockford base32 characters (no I, L, O, U: easy to read off a sticker)."""
    number = int.from_bytes(raw, "big")
    chars = []
    for _ in range(13):
        chars.append(_CROCKFORD[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def decode_public_id(text: str) -> bytes | None:
    cleaned = text.replace("-", "").replace(" ", "")
    if len(cleaned) != 13:
        return None
    number = 0
    for char in cleaned:
        value = _CROCKFORD_DECODE.get(char)
        if value is None:
            return None
        number = (number << 5) | value
    if number >> 64:
        return None
    return number.to_bytes(8, "big")


def pack_claims(claims: Claims) -> bytes:
    return _RECORD.pack(FORMAT_VERSION, claims.kind, claims.public_id, claims.serial, claims.iat)


def unpack_claims(data: bytes) -> Claims:
    if len(data) != CLAIMS_SIZE:
        raise VerifyError("malformed", "The code's claims have the wrong size.")
    version, kind, public_id, serial, iat = _RECORD.unpack(data)
    if version != FORMAT_VERSION:
        raise VerifyError("malformed", "The code uses an unknown format version.")
    return Claims(kind, public_id, serial, iat)


def peek(token: str) -> Claims | None:
    """The claims a token says it carries, NOT verified: only to choose what to read before checking
    the signature (the scan cache's entry). None when it is not even shaped like a code."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > MAX_TOKEN_LENGTH or not _B64URL_RE.match(parts[1]):
        return None
    try:
        return unpack_claims(b64url_decode(parts[1]))
    except (VerifyError, ValueError, binascii.Error):
        return None


def canonical_header(kid: str) -> str:
    """The one spelling of a code's header (base64url): how every code signed by ``kid`` begins."""
    return b64url(json.dumps({"alg": ALGORITHM, "kid": kid}, separators=(",", ":"), sort_keys=True).encode())


def sign(claims: Claims, keyring: Keyring) -> str:
    token: str = jwt.api_jws.PyJWS().encode(
        pack_claims(claims),
        keyring.signer,
        algorithm=ALGORITHM,
        headers={"kid": keyring.active_kid, "typ": None},
    )
    return token


class VerifiedTokens:
    """The tokens that verified lately, so that a code scanned again (a checkpoint's burst, an officer's
    second look) skips the Ed25519 check, the largest part of a scan's CPU. Only successes are kept,
    each under the keyring version it verified with: a rotated or retired key checks everything again."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._tokens: OrderedDict[str, tuple[str, Verified]] = OrderedDict()

    def known(self, token: str, keyring: Keyring) -> Verified | None:
        """The token's verification when it verified lately under this keyring (nothing is checked)."""
        known = self._tokens.get(token)
        return known[1] if known is not None and known[0] == keyring.version else None

    def verify(self, token: str, keyring: Keyring) -> Verified:
        known = self._tokens.get(token)
        if known is not None and known[0] == keyring.version:
            self._tokens.move_to_end(token)
            return known[1]
        verified = verify(token, keyring)
        self._tokens[token] = (keyring.version, verified)
        if len(self._tokens) > self.size:
            self._tokens.popitem(last=False)
        return verified


def verify(token: str, keyring: Keyring, *, now: float | None = None) -> Verified:
    """Check the signature and the record; registry checks (revoked, superseded) come after."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise VerifyError("malformed", "This is not an e-ID code.")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]) or not all(_B64URL_RE.match(p) for p in parts):
        raise VerifyError("malformed", "This is not an e-ID code.")
    header_b64, payload_b64, signature_b64 = parts
    try:
        header = json.loads(b64url_decode(header_b64))
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(signature_b64)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise VerifyError("malformed", "This is not an e-ID code.") from None
    if not isinstance(header, dict):
        raise VerifyError("malformed", "This is not an e-ID code.")
    if header.get("alg") != ALGORITHM:
        # none, HS*, RS*, ES*...: only EdDSA is ever accepted, whatever key the header names.
        raise VerifyError("algorithm_not_allowed", "The code is signed with an algorithm that is not accepted.")
    if set(header) - {"alg", "kid"}:
        # crit, b64, typ, jku, x5u...: none is ever in our codes.
        raise VerifyError("malformed", "The code uses JWS header fields that are not accepted.")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise VerifyError("unknown_key", "The code names no signing key.")
    if header_b64 != canonical_header(kid):
        # Duplicate keys, other spacing or encodings: one code has exactly one spelling.
        raise VerifyError("malformed", "This is not an e-ID code.")
    key = keyring.find(kid)  # the full thumbprint, or the 8-character kid of codes signed before it
    if key is None:
        raise VerifyError("unknown_key", "The code was signed by a key this service does not know.")
    if key.status == RETIRED:
        raise VerifyError("retired_key", "The code was signed by a key that has been retired.")
    if len(signature) != 64 or b64url(signature) != signature_b64:
        # A non-canonical spelling (stray bits in the last character) would be a second valid code.
        raise VerifyError("bad_signature", "The code's signature is not valid.")
    try:
        # The raw Ed25519 check, on the exact signing input.
        key.public_key.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature:
        raise VerifyError("bad_signature", "The code's signature is not valid.") from None
    claims = unpack_claims(payload)
    current = time.time() if now is None else now
    if claims.iat > current + FUTURE_LEEWAY_SECONDS:
        raise VerifyError("issued_in_future", "The code claims to be issued in the future.")
    return Verified(claims, key.kid)
