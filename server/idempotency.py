"""``Idempotency-Key`` on POST: a retried request gets the first answer instead of acting twice.

The record lives in Redis for 24 hours, keyed by the caller (account, or address when anonymous) and
the key. The request it stands for is its method, path, query, media type (``Content-Type`` without
parameters) and body: the same key with any of these different is refused with 422; a retry that
arrives while the first is still running gets 409. Server errors (5xx), and refusals that may change on
retry (401, 403, 429, and 499 for a client that went away), are not kept, so the client may try again
with the same key; nor are answers marked ``Cache-Control: no-store`` (tokens, personal data), which
simply run again; nor refusals given before a handler could run (no such route, a body refused while
being read): no handler acted, so the key stays free.

A streamed route's body is not read when the middleware runs, so its key is claimed only once the
handler has read the body whole and called :func:`claim_body`, which may answer with the kept reply
instead. Until then nothing is kept: a refusal given before the body is read (413) keeps the key free.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from sanic import Request
from sanic.response import HTTPResponse

from server.errors import BadRequest, Conflict, ValidationFailed

TTL_SECONDS = 24 * 3600
PENDING_TTL_SECONDS = 300
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
# 499: the client went away mid-request (server/errors.py); its retry must run, not replay that.
_NOT_KEPT = {401, 403, 429, 499}
_KEPT_HEADERS = ("content-type", "location", "cache-control", "etag")


@dataclass(frozen=True)
class Claim:
    redis_key: str
    fingerprint: str


# Fingerprints of this version carry this prefix; a record without it was written by the previous
# version (method, path, query and body: no media type, and an empty body on a streamed route).
_VERSION = "v2:"


def _head(request: Request) -> hashlib._Hash:
    """The digest of everything that makes the request but its body, ready for the body."""
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0" + request.path.encode() + b"\0" + (request.query_string or "").encode() + b"\0")
    media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    digest.update(media.encode() + b"\0")
    return digest


def _legacy_fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0" + request.path.encode() + b"\0" + (request.query_string or "").encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def _fingerprint(request: Request, body: bytes) -> str:
    digest = _head(request)
    digest.update(body)
    return _VERSION + digest.hexdigest()


def _is_streamed(request: Request) -> bool:
    return bool(request.route is not None and getattr(request.route.extra, "stream", False))


def _body_refused(request: Request) -> bool:
    """True when a non-streamed route's body was not read to its end: Sanic refused it while reading
    (413, bad chunked encoding) and runs the middleware for the error answer."""
    return bool(getattr(request.stream, "request_body", None))


def _scoped_key(request: Request) -> str | None:
    """The Redis key for this caller's Idempotency-Key, or None when the request takes no key."""
    key = request.headers.get("idempotency-key")
    if request.method != "POST" or key is None:
        return None
    if not _KEY_RE.match(key):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters.", code="invalid_idempotency_key")
    principal = getattr(request.ctx, "principal", None)
    scope = f"acct:{principal.account_id}" if principal else f"ip:{request.remote_addr or request.ip}"
    return "idem:" + hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()


@dataclass(frozen=True)
class _Deferred:
    """A streamed request's key, to be claimed once its body has been read."""

    redis_key: str


async def begin(request: Request, client: aioredis.Redis) -> HTTPResponse | None:
    """Request middleware step: a stored answer to replay, or None to go on (holding a claim)."""
    # Sanic also runs the request middleware before the answer to a request it refused itself (no
    # route, method not allowed, a body too large): no handler runs, so nothing is claimed or kept.
    if request.route is None:
        return None
    redis_key = _scoped_key(request)
    if redis_key is None:
        return None
    if _is_streamed(request):
        request.ctx.idempotency_deferred = _Deferred(redis_key)
        return None
    if _body_refused(request):
        return None
    body = request.body or b""
    return await _claim(request, client, redis_key, _fingerprint(request, body), _legacy_fingerprint(request, body))


async def claim_body(request: Request, body: bytes) -> HTTPResponse | None:
    """For a streamed route, once its body has been read whole: claim the key for the request with
    this body, or answer with what was kept for it (the handler returns that answer as it is).
    422 ``idempotency_key_reused`` when the key was used for another request, 409 while the first
    is still running. Without an Idempotency-Key, None."""
    deferred: _Deferred | None = getattr(request.ctx, "idempotency_deferred", None)
    if deferred is None:
        return None
    request.ctx.idempotency_deferred = None
    client: aioredis.Redis = request.app.ctx.redis
    return await _claim(request, client, deferred.redis_key, _fingerprint(request, body), legacy=None)


def _stands_for(record: dict[str, Any], fingerprint: str, legacy: str | None) -> bool | None:
    """Whether a kept record is for this request; None when it cannot tell: a streamed route's
    finished record from the previous version, made without the body (only refusals were kept then,
    so the request may simply run)."""
    kept = str(record.get("fingerprint", ""))
    if kept.startswith(_VERSION):
        return kept == fingerprint
    if legacy is not None:
        return kept == legacy
    return True if record.get("state") == "pending" else None


async def _claim(
    request: Request, client: aioredis.Redis, redis_key: str, fingerprint: str, legacy: str | None
) -> HTTPResponse | None:
    pending = json.dumps({"state": "pending", "fingerprint": fingerprint})
    if await client.set(redis_key, pending, nx=True, ex=PENDING_TTL_SECONDS):
        request.ctx.idempotency = Claim(redis_key, fingerprint)
        return None
    raw = await client.get(redis_key)
    record = json.loads(raw) if raw is not None else None
    same = _stands_for(record, fingerprint, legacy) if record is not None else None
    if record is None or same is None:
        # Expired between the two calls, or a record that cannot be honoured: a new request.
        await client.set(redis_key, pending, ex=PENDING_TTL_SECONDS)
        request.ctx.idempotency = Claim(redis_key, fingerprint)
        return None
    if not same:
        raise ValidationFailed(
            "This Idempotency-Key was already used with a different request.",
            code="idempotency_key_reused",
        )
    if record.get("state") == "pending":
        raise Conflict(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            code="idempotency_in_progress",
            headers={"Retry-After": "1"},
        )
    headers = dict(record.get("headers", {}))
    content_type = headers.pop("content-type", None) or record.get("content_type")
    headers["Idempotent-Replayed"] = "true"
    return HTTPResponse(
        base64.b64decode(record["body"]),
        status=int(record["status"]),
        headers=headers,
        # Sanic writes the text "None" as the media type of a body-carrying answer without one.
        content_type=content_type or "application/octet-stream",
    )


async def finish(request: Request, response: HTTPResponse, client: aioredis.Redis) -> None:
    """Response middleware step: keep the answer, or release the claim so a retry may run."""
    claim: Claim | None = getattr(request.ctx, "idempotency", None)
    if claim is None:
        return
    request.ctx.idempotency = None
    no_store = "no-store" in (response.headers.get("cache-control") or "").lower()
    # 5xx and refusals may change on retry; no-store answers (fresh tokens, personal data) must
    # never sit in Redis to be handed out again.
    if response.status >= 500 or response.status in _NOT_KEPT or no_store:
        await client.delete(claim.redis_key)
        return
    record = {
        "state": "done",
        "fingerprint": claim.fingerprint,
        "status": response.status,
        "headers": {k.lower(): v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS},
        # Sanic keeps the media type of json()/text() answers on the response, not in its headers.
        "content_type": response.content_type,
        "body": base64.b64encode(response.body or b"").decode("ascii"),
    }
    await client.set(claim.redis_key, json.dumps(record), ex=TTL_SECONDS)
