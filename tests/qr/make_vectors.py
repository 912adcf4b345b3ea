"""(Re)create the QR e-ID conformance vectors in ``tests/qr/vectors/``.

    .venv/bin/python -m tests.qr.make_vectors

Deterministic: the keys are FIXED test keys kept in ``vectors/keys.json`` (created from labelled seeds
the first time), Ed25519 signatures are deterministic, and every time stamp is a constant. Running it
again rewrites the same bytes; ``test_vectors.py`` checks that the stored files match this generator.

The tokens are built here by hand from the format's description (RFC 7515 compact serialisation,
EdDSA, the 18-byte claims record), without importing ``qr.codec``: the vectors are an independent
statement of the format, and each expected result is written down, never obtained from the code under
test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
KEYS_FILE = VECTORS_DIR / "keys.json"

# The clock the vectors are checked against (2026-01-01T00:00:00Z); pass it as ``now`` to verify().
NOW = 1767225600
LEEWAY = 300
KIND_CODES = {"ebike": 1, "building": 2, "board": 3}
KEY_NAMES = ("active", "verifying", "retired", "outsider")  # outsider: not in the keyring at all
KEY_STATUS = {"active": "active", "verifying": "verifying", "retired": "retired", "outsider": None}
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TEST_ONLY_NOTE = (
    "TEST-ONLY Ed25519 private keys for the QR conformance vectors. They are public in the repository: "
    "never configure them anywhere real, never sign real codes with them."
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(x: str) -> str:
    """RFC 7638 for an OKP key: the required members crv, kty, x in order, no whitespace."""
    canonical = '{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}'
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def crockford(raw: bytes) -> str:
    number = int.from_bytes(raw, "big")
    return "".join(CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(13)))


@dataclass(frozen=True)
class TestKey:
    name: str
    status: str | None
    private: Ed25519PrivateKey

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def x(self) -> str:
        return b64url(self.public)

    @property
    def kid(self) -> str:
        return thumbprint(self.x)

    @property
    def legacy_kid(self) -> str:
        """The kid of codes signed before the full thumbprint: its first 8 characters."""
        return thumbprint(self.x)[:8]

    def public_jwk(self) -> dict[str, str]:
        return {"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid, "use": "sig", "alg": "EdDSA"}

    def private_jwk(self) -> dict[str, str]:
        d = self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return {"kty": "OKP", "crv": "Ed25519", "x": self.x, "d": b64url(d), "kid": self.kid}


def _seeded_key(name: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"gmid-test-key:{name}".encode()).digest())


def load_keys(path: Path = KEYS_FILE) -> dict[str, TestKey]:
    """The fixed test keys: from keys.json, or from their labelled seeds when the file is missing."""
    if not path.exists():
        return {name: TestKey(name, KEY_STATUS[name], _seeded_key(name)) for name in KEY_NAMES}
    document = json.loads(path.read_text(encoding="utf-8"))
    keys: dict[str, TestKey] = {}
    for entry in document["keys"]:
        key = TestKey(
            entry["name"], entry["status"], Ed25519PrivateKey.from_private_bytes(b64url_decode(entry["jwk"]["d"]))
        )
        if key.x != entry["jwk"]["x"] or key.kid != entry["jwk"]["kid"]:
            raise ValueError(f"keys.json: key {key.name} does not match its x / kid")
        keys[key.name] = key
    return keys


def keys_document(keys: dict[str, TestKey]) -> dict[str, Any]:
    return {
        "WARNING": TEST_ONLY_NOTE,
        "note": "status: the key's state in the test keyring (null: not in the keyring, so its codes are "
        "unknown_key). created_at/retired_at are the keyring.json fields.",
        "keys": [
            {
                "name": k.name,
                "status": k.status,
                "created_at": "2025-06-01T00:00:00+00:00",
                "retired_at": "2025-12-01T00:00:00+00:00" if k.status == "retired" else None,
                "jwk": k.private_jwk(),
            }
            for k in keys.values()
        ],
    }


def install_keyring(keys_path: Path, keys: dict[str, TestKey] | None = None, *, legacy: bool = False) -> Path:
    """Write the fixed test keys as a QR keyring under ``keys_path/qr`` (the layout of qr/keys.py:
    ``<kid>.pem`` owner-only for keys that still sign or verify, and ``keyring.json``). ``legacy``:
    as the earlier qr/keys.py wrote it, with 8-character kids in the file and the file names."""
    keys = load_keys() if keys is None else keys
    folder = keys_path / "qr"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    entries = []
    for key in keys.values():
        if key.status is None:
            continue
        if key.status != "retired":
            pem = key.private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            name = key.legacy_kid if legacy else key.kid
            fd = os.open(folder / f"{name}.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        entries.append(
            {
                "kid": key.legacy_kid if legacy else key.kid,
                "x": key.x,
                "status": key.status,
                "created_at": "2025-06-01T00:00:00+00:00",
                "retired_at": "2025-12-01T00:00:00+00:00" if key.status == "retired" else None,
            }
        )
    state = {"active": keys["active"].legacy_kid if legacy else keys["active"].kid, "keys": entries}
    (folder / "keyring.json").write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.chmod(folder / "keyring.json", 0o600)
    return folder


# Building tokens --------------------------------------------------------------------------------------


def header(alg: Any = "EdDSA", kid: Any = "", **extra: Any) -> bytes:
    """The header as PyJWT writes it: keys sorted, no whitespace."""
    fields: dict[str, Any] = {}
    if alg is not None:
        fields["alg"] = alg
    if kid is not None:
        fields["kid"] = kid
    fields.update(extra)
    return json.dumps(fields, separators=(",", ":"), sort_keys=True).encode("utf-8")


def claims(kind: int, public_id: bytes, serial: int, iat: int, version: int = 1) -> bytes:
    return struct.pack(">BB8sII", version, kind, public_id, serial, iat)


def signed(key: TestKey, header_bytes: bytes, payload: bytes) -> str:
    signing_input = f"{b64url(header_bytes)}.{b64url(payload)}"
    return f"{signing_input}.{b64url(key.private.sign(signing_input.encode('ascii')))}"


def hs256(secret: bytes, header_bytes: bytes, payload: bytes) -> str:
    signing_input = f"{b64url(header_bytes)}.{b64url(payload)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def with_part(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def flip_char(text: str, index: int) -> str:
    """Another base64url character at ``index`` (changes the decoded bits there)."""
    old = text[index]
    return text[:index] + ("B" if old == "A" else "A") + text[index + 1 :]


def non_canonical_last(signature_b64: str) -> str:
    """The same 64 bytes spelled differently: 86 characters carry 516 bits, the last 4 are padding."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value = alphabet.index(signature_b64[-1])
    assert value & 0b1111 == 0, "a canonical spelling leaves the padding bits zero"
    return signature_b64[:-1] + alphabet[value | 0b0001]


# The vectors -----------------------------------------------------------------------------------------

IDS = {
    "ebike": bytes.fromhex("0123456789abcdef"),
    "building": bytes.fromhex("fedcba9876543210"),
    "board": bytes.fromhex("00000000000000ff"),
    "old_key": bytes.fromhex("5a5a5a5a5a5a5a5a"),
    "max": bytes.fromhex("ffffffffffffffff"),
    "other": bytes.fromhex("1111111111111111"),
}
IAT = NOW - 3600


def vector(
    name: str,
    description: str,
    token: str,
    expected: str,
    *,
    claims_of: tuple[str, int, bytes, int, int] | None = None,
    kid: str | None = None,
    depends_on_now: bool = False,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "description": description,
        "token": token,
        "expected": expected,
        "now": NOW,
        "depends_on_now": depends_on_now,
    }
    if claims_of is not None:
        kind, code, raw_id, serial, iat = claims_of
        entry["claims"] = {
            "kind": kind,
            "kind_code": code,
            "public_id": crockford(raw_id),
            "public_id_hex": raw_id.hex(),
            "serial": serial,
            "iat": iat,
            "payload_b64url": b64url(claims(code, raw_id, serial, iat)),
        }
        entry["kid"] = kid
    return entry


def build(keys: dict[str, TestKey]) -> dict[str, dict[str, Any]]:
    active, verifying, retired, outsider = (keys[n] for n in KEY_NAMES)
    files: dict[str, dict[str, Any]] = {}

    def ok(
        name: str,
        description: str,
        key: TestKey,
        kind: str,
        raw_id: bytes,
        serial: int,
        iat: int,
        *,
        legacy: bool = False,
    ) -> Any:
        code = KIND_CODES[kind]
        token = signed(key, header(kid=key.legacy_kid if legacy else key.kid), claims(code, raw_id, serial, iat))
        # The verified kid is the key's full thumbprint, whichever form the code names it by.
        return vector(
            name,
            description,
            token,
            "ok",
            claims_of=(kind, code, raw_id, serial, iat),
            kid=key.kid,
            depends_on_now=iat > NOW,
        )

    def valid_codes(*, legacy: bool) -> list[dict[str, Any]]:
        prefix = "legacy-" if legacy else ""
        return [
            ok(
                f"{prefix}valid-ebike",
                "An e-bike code signed by the active key.",
                active,
                "ebike",
                IDS["ebike"],
                1,
                IAT,
                legacy=legacy,
            ),
            ok(
                f"{prefix}valid-building",
                "A building code, serial 7.",
                active,
                "building",
                IDS["building"],
                7,
                IAT,
                legacy=legacy,
            ),
            ok(
                f"{prefix}valid-board",
                "A party-member board code.",
                active,
                "board",
                IDS["board"],
                2,
                IAT,
                legacy=legacy,
            ),
            ok(
                f"{prefix}valid-verifying-key",
                "Signed by an earlier key that still verifies (after a rotation).",
                verifying,
                "ebike",
                IDS["old_key"],
                1,
                IAT - 86400,
                legacy=legacy,
            ),
            ok(
                f"{prefix}valid-largest-fields",
                "The largest id, serial and iat a record can hold (iat 0xFFFFFFFF is in the future: see time.json).",
                active,
                "board",
                IDS["max"],
                2**32 - 1,
                IAT,
                legacy=legacy,
            ),
        ]

    valid = valid_codes(legacy=False)
    files["valid.json"] = {
        "description": "Codes that verify (codec level: the registry is not consulted).",
        "vectors": valid,
    }
    files["legacy.json"] = {
        "description": "Codes signed before the kid was the full thumbprint: the kid is its first 8 characters. "
        "They verify as long as the 8 characters are the prefix of exactly one known key; the verified kid is "
        "the key's full thumbprint.",
        "vectors": [
            *valid_codes(legacy=True),
            vector(
                "legacy-retired-kid",
                "An 8-character kid of a retired key.",
                signed(retired, header(kid=retired.legacy_kid), claims(KIND_CODES["ebike"], IDS["other"], 1, IAT)),
                "retired_key",
            ),
            vector(
                "legacy-unknown-kid",
                "An 8-character kid that is no known key's prefix.",
                signed(outsider, header(kid=outsider.legacy_kid), claims(KIND_CODES["ebike"], IDS["other"], 1, IAT)),
                "unknown_key",
            ),
            vector(
                "legacy-kid-other-length",
                "The first 12 characters of the thumbprint: only the full kid and the 8-character legacy kid count.",
                signed(active, header(kid=active.kid[:12]), claims(KIND_CODES["ebike"], IDS["other"], 1, IAT)),
                "unknown_key",
            ),
            vector(
                "legacy-kid-wrong-case",
                "The 8-character kid in another letter case: a kid is compared exactly.",
                signed(
                    active, header(kid=active.legacy_kid.swapcase()), claims(KIND_CODES["ebike"], IDS["other"], 1, IAT)
                ),
                "unknown_key",
            ),
        ],
    }

    base = valid[0]["token"]
    h, p, s = base.split(".")
    other = valid[1]["token"]
    sig_bytes = b64url_decode(s)
    flipped = bytearray(sig_bytes)
    flipped[31] ^= 0x01
    payload = bytearray(b64url_decode(p))
    payload[13] ^= 0x01  # serial 1 -> 0
    kind_swapped = bytearray(b64url_decode(p))
    kind_swapped[1] = KIND_CODES["building"]
    signature = [
        vector(
            "tampered-payload-serial",
            "One bit of the serial changed; signature kept.",
            with_part(base, 1, b64url(bytes(payload))),
            "bad_signature",
        ),
        vector(
            "tampered-payload-kind",
            "The kind byte changed (ebike -> building).",
            with_part(base, 1, b64url(bytes(kind_swapped))),
            "bad_signature",
        ),
        vector(
            "tampered-payload-char",
            "A character of the payload replaced.",
            with_part(base, 1, flip_char(p, 5)),
            "bad_signature",
        ),
        vector(
            "tampered-signature-bit",
            "One bit of the signature flipped.",
            with_part(base, 2, b64url(bytes(flipped))),
            "bad_signature",
        ),
        vector(
            "tampered-signature-first-char",
            "The first character of the signature replaced.",
            with_part(base, 2, flip_char(s, 0)),
            "bad_signature",
        ),
        vector(
            "tampered-header-kid",
            "The header names the other verifying key; signature by the active key.",
            signed(active, header(kid=verifying.kid), b64url_decode(p)).rsplit(".", 1)[0] + "." + s,
            "bad_signature",
        ),
        vector(
            "swapped-signature",
            "Header and payload of one code, the signature of another.",
            with_part(base, 2, other.split(".")[2]),
            "bad_signature",
        ),
        vector(
            "zero-signature", "64 zero bytes as the signature.", with_part(base, 2, b64url(bytes(64))), "bad_signature"
        ),
        vector(
            "non-canonical-signature",
            "The signature's last character with a padding bit set: same bytes, different text.",
            with_part(base, 2, non_canonical_last(s)),
            "bad_signature",
        ),
        vector(
            "truncated-signature",
            "The last 10 characters of the signature cut (57 bytes left).",
            base[:-10],
            "bad_signature",
        ),
        vector("truncated-signature-2", "The last 2 characters cut (63 bytes left).", base[:-2], "bad_signature"),
        vector(
            "long-signature",
            "A 65th byte appended to the signature.",
            with_part(base, 2, b64url(sig_bytes + b"\0")),
            "bad_signature",
        ),
        vector("empty-signature", "EdDSA header with an empty signature.", f"{h}.{p}.", "bad_signature"),
    ]
    files["signature.json"] = {"description": "Changed codes: the signature no longer matches.", "vectors": signature}

    body = claims(KIND_CODES["ebike"], IDS["other"], 1, IAT)
    pem = active.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = active.public_jwk()

    def unsigned(header_bytes: bytes, sig: str) -> str:
        return f"{b64url(header_bytes)}.{b64url(body)}.{sig}"

    keys_alg = [
        vector(
            "unknown-kid",
            "Signed by a key that is not in the keyring.",
            signed(outsider, header(kid=outsider.kid), body),
            "unknown_key",
        ),
        vector(
            "retired-kid",
            "Signed by a retired key (its public half is still known).",
            signed(retired, header(kid=retired.kid), body),
            "retired_key",
        ),
        vector("missing-kid", "No kid in the header.", signed(active, header(kid=None), body), "unknown_key"),
        vector(
            "numeric-kid", "kid is a number, not a string.", signed(active, header(kid=12345678), body), "unknown_key"
        ),
        vector(
            "kid-thumbprint-of-another-key",
            "kid is the thumbprint of the verifying key; signed by the active key.",
            signed(active, header(kid=verifying.kid), body),
            "bad_signature",
        ),
        vector(
            "kid-thumbprint-one-char-changed",
            "kid is the active key's thumbprint with its last character changed.",
            signed(active, header(kid=flip_char(active.kid, 42)), body),
            "unknown_key",
        ),
        vector(
            "alg-none-empty-signature",
            'Unsecured JWS: {"alg":"none"} and an empty signature.',
            unsigned(header("none", kid=None), ""),
            "algorithm_not_allowed",
        ),
        vector(
            "alg-none-junk-signature",
            '{"alg":"none"} with a junk signature.',
            unsigned(header("none", kid=None), "c2lnbmF0dXJl"),
            "algorithm_not_allowed",
        ),
        vector(
            "alg-none-kid-real-signature",
            '{"alg":"none"} naming the active key, with a genuine Ed25519 signature.',
            signed(active, header("none", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "alg-None-case",
            '{"alg":"None"}: no case games.',
            unsigned(header("None", kid=active.kid), ""),
            "algorithm_not_allowed",
        ),
        vector(
            "alg-missing",
            "No alg in the header.",
            signed(active, header(None, kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "alg-eddsa-lowercase",
            '{"alg":"eddsa"}.',
            signed(active, header("eddsa", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "hs256-raw-public-key",
            "HS256 key confusion: HMAC-SHA256 keyed with the 32 raw public key bytes.",
            hs256(active.public, header("HS256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "hs256-jwk-json",
            "HS256 key confusion: HMAC keyed with the JWK as served in the JWKS (compact JSON).",
            hs256(json.dumps(jwk, separators=(",", ":")).encode(), header("HS256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "hs256-jwk-json-spaced",
            "HS256 key confusion: HMAC keyed with the JWK JSON text as json.dumps writes it.",
            hs256(json.dumps(jwk).encode(), header("HS256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "hs256-jwk-x",
            "HS256 key confusion: HMAC keyed with the JWK's x text.",
            hs256(active.x.encode(), header("HS256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "hs256-pem",
            "HS256 key confusion: HMAC keyed with the PEM public key.",
            hs256(pem, header("HS256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "hs512-raw-public-key",
            "HS512 header (HMAC-SHA256 signature: refused on the header alone).",
            hs256(active.public, header("HS512", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "rs256-header",
            "RS256 header with an Ed25519 signature.",
            signed(active, header("RS256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "es256-header",
            "ES256 header with an Ed25519 signature.",
            signed(active, header("ES256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "ps256-header",
            "PS256 header.",
            signed(active, header("PS256", kid=active.kid), body),
            "algorithm_not_allowed",
        ),
        vector(
            "alg-not-a-string",
            "alg is a list.",
            signed(active, header(["EdDSA"], kid=active.kid), body),
            "algorithm_not_allowed",
        ),
    ]
    files["keys_and_algorithms.json"] = {
        "description": "Who signed and how: unknown and retired keys, alg none, HMAC key confusion, other algorithms.",
        "vectors": keys_alg,
    }

    big = claims(KIND_CODES["ebike"], IDS["other"], 1, IAT) + bytes(10 * 1024 - 18)
    short = claims(KIND_CODES["ebike"], IDS["other"], 1, IAT)[:-1]
    long_ = claims(KIND_CODES["ebike"], IDS["other"], 1, IAT) + b"\0"
    v2 = claims(KIND_CODES["ebike"], IDS["other"], 1, IAT, version=2)
    json_claims = json.dumps({"kind": 1, "id": crockford(IDS["other"]), "serial": 1, "iat": IAT}).encode()
    malformed = [
        vector("two-parts", "Header and payload only.", f"{h}.{p}", "malformed"),
        vector("four-parts", "A fourth part appended.", base + ".AAAA", "malformed"),
        vector("jwe-like-five-parts", "Five parts, as a JWE would have.", f"{h}.{p}.{s}.{p}.{s}", "malformed"),
        vector("truncated-to-payload", "Cut inside the payload.", base[: len(h) + 1 + 10], "malformed"),
        vector(
            "truncated-one-char", "The last character cut: 85 characters is no base64 length.", base[:-1], "malformed"
        ),
        vector("empty", "The empty string.", "", "malformed"),
        vector("dots", "Only separators.", "..", "malformed"),
        vector("empty-header", "Empty header part.", f".{p}.{s}", "malformed"),
        vector("empty-payload", "Empty payload part.", f"{h}..{s}", "malformed"),
        vector("junk-word", "A word.", "hello", "malformed"),
        vector("junk-url", "A URL (the codec takes the bare token).", "https://example.com/q/abc", "malformed"),
        vector("junk-abc", "Three tiny parts.", "a.b.c", "malformed"),
        vector("junk-unicode", "Non-ASCII text.", "光明.区.码", "malformed"),
        vector(
            "junk-standard-base64",
            "Standard base64 alphabet (+ and /) instead of base64url.",
            f"{h}.{p}.{s[:-2]}+/",
            "malformed",
        ),
        vector("junk-padding", "base64 padding characters.", f"{h}.{p}=.{s}", "malformed"),
        vector(
            "leading-space",
            "A space before the token (the scan endpoint trims; the codec does not).",
            " " + base,
            "malformed",
        ),
        vector("trailing-newline", "A newline after the token.", base + "\n", "malformed"),
        vector(
            "header-not-json",
            "A signed header that is not JSON.",
            signed(active, b"EdDSA " + active.kid.encode(), body),
            "malformed",
        ),
        vector(
            "header-json-array",
            "A signed header that is a JSON array.",
            signed(active, b'["EdDSA"]', body),
            "malformed",
        ),
        vector(
            "header-not-utf8",
            "A header of invalid UTF-8 bytes.",
            f"{b64url(bytes([0xFF, 0xFE, 0xFD]))}.{p}.{s}",
            "malformed",
        ),
        vector(
            "crit-header",
            'An extra "crit" header (signed): unknown extensions are refused.',
            signed(active, header(kid=active.kid, crit=["exp"], exp=NOW), body),
            "malformed",
        ),
        vector(
            "b64-false-header",
            'RFC 7797 "b64": false (signed).',
            signed(active, header(kid=active.kid, b64=False, crit=["b64"]), body),
            "malformed",
        ),
        vector(
            "payload-10kb",
            "A 10 KB payload, properly signed.",
            signed(active, header(kid=active.kid), big),
            "malformed",
        ),
        vector(
            "claims-17-bytes",
            "A signed 17-byte claims record.",
            signed(active, header(kid=active.kid), short),
            "malformed",
        ),
        vector(
            "claims-19-bytes",
            "A signed 19-byte claims record.",
            signed(active, header(kid=active.kid), long_),
            "malformed",
        ),
        vector(
            "claims-json",
            "Signed JSON claims instead of the binary record.",
            signed(active, header(kid=active.kid), json_claims),
            "malformed",
        ),
        vector(
            "claims-version-2",
            "A signed record of format version 2.",
            signed(active, header(kid=active.kid), v2),
            "malformed",
        ),
    ]
    files["malformed.json"] = {
        "description": "Not an e-ID token at all, or not one this format knows.",
        "vectors": malformed,
    }

    def at(name: str, description: str, iat: int, expected: str) -> dict[str, Any]:
        token = signed(active, header(kid=active.kid), claims(KIND_CODES["ebike"], IDS["other"], 3, iat))
        return vector(
            name,
            description,
            token,
            expected,
            claims_of=("ebike", KIND_CODES["ebike"], IDS["other"], 3, iat),
            kid=active.kid,
            depends_on_now=True,
        )

    timing = [
        at("iat-now", "Issued exactly now.", NOW, "ok"),
        at(
            "iat-within-leeway",
            "Issued 299 s in the future: clocks differ, within the 5-minute leeway.",
            NOW + LEEWAY - 1,
            "ok",
        ),
        at("iat-at-leeway", "Issued exactly 300 s in the future: the leeway's edge still passes.", NOW + LEEWAY, "ok"),
        at("iat-beyond-leeway", "Issued 301 s in the future.", NOW + LEEWAY + 1, "issued_in_future"),
        at("iat-one-day-ahead", "Issued a day in the future.", NOW + 86400, "issued_in_future"),
        at("iat-max", "iat 0xFFFFFFFF (year 2106).", 2**32 - 1, "issued_in_future"),
        at("iat-zero", "iat 0 (1970): old codes stay valid, there is no expiry.", 0, "ok"),
    ]
    files["time.json"] = {
        "description": f"The issued-at check against now = {NOW} with a {LEEWAY}-second leeway.",
        "vectors": timing,
    }
    return files


def render_files(keys: dict[str, TestKey]) -> dict[str, str]:
    """Every file of the vectors folder, as text."""
    out = {"keys.json": json.dumps(keys_document(keys), indent=1, ensure_ascii=False) + "\n"}
    for name, document in build(keys).items():
        out[name] = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    return out


def main() -> None:
    VECTORS_DIR.mkdir(parents=True, exist_ok=True)
    keys = load_keys()
    for name, text in render_files(keys).items():
        (VECTORS_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {VECTORS_DIR / name}")


if __name__ == "__main__":
    main()
