"""How devices and gateways sign what they send: HMAC-SHA256 with the device's secret over the method,
the path, a timestamp, a nonce and the body's SHA-256, in four headers.

    string to sign = METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body))
    X-GMID-Device: <serial of the signer>      X-GMID-Timestamp: <Unix seconds>
    X-GMID-Nonce: <16-64 of A-Z a-z 0-9 _ ->   X-GMID-Signature: hex(HMAC-SHA256(secret, string to sign))

A timestamp more than ``WINDOW_SECONDS`` away from the server's clock is refused, and so is a nonce the
signer used before (kept in Redis for longer than the window): a captured request cannot be sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

DEVICE_HEADER = "X-GMID-Device"
TIMESTAMP_HEADER = "X-GMID-Timestamp"
NONCE_HEADER = "X-GMID-Nonce"
SIGNATURE_HEADER = "X-GMID-Signature"
WINDOW_SECONDS = 300
NONCE_TTL_SECONDS = 2 * WINDOW_SECONDS + 60  # a nonce is remembered while its timestamp could still pass
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")


def new_secret() -> str:
    """256 random bits, URL-safe: what a device is provisioned with."""
    return secrets.token_urlsafe(32)


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, timestamp, nonce, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def matches(secret: str, signature: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bool:
    return hmac.compare_digest(sign(secret, method, path, timestamp, nonce, body), signature)


def within_window(timestamp: str, now: float | None = None) -> bool:
    return abs(int(timestamp) - (time.time() if now is None else now)) <= WINDOW_SECONDS


def headers(
    serial: str, secret: str, path: str, body: bytes, *, method: str = "POST", now: float | None = None
) -> dict[str, str]:
    """The four headers for one request (the simulator's and a device's view of the scheme)."""
    timestamp = str(int(time.time() if now is None else now))
    nonce = secrets.token_urlsafe(18)
    return {
        DEVICE_HEADER: serial,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: sign(secret, method, path, timestamp, nonce, body),
        "Content-Type": "application/json",
    }
