"""``Idempotency-Key`` on POST: a retried request gets the first answer instead of acting twice.

The record lives in Redis for 24 hours, keyed by the caller (account, or address when anonymous) and
the key. The same key with a different method, path or body is refused with 422; a retry that arrives
while the first is still running gets 409. Server errors (5xx), and refusals that may change on retry
(401, 403, 429, and 499 for a client that went away), are not kept, so the client may try again with
the same key; nor are answers marked ``Cache-Control: no-store`` (tokens, personal data), which
simply run again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

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


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0" + request.path.encode() + b"\0" + (request.query_string or "").encode() + b"\0")
    digest.update(request.body or b"")
    return digest.hexdigest()


async def begin(request: Request, client: aioredis.Redis) -> HTTPResponse | None:
    """Request middleware step: a stored answer to replay, or None to go on (holding a claim)."""
    key = request.headers.get("idempotency-key")
    if request.method != "POST" or key is None:
        return None
    if not _KEY_RE.match(key):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters.", code="invalid_idempotency_key")
    principal = getattr(request.ctx, "principal", None)
    scope = f"acct:{principal.account_id}" if principal else f"ip:{request.remote_addr or request.ip}"
    redis_key = "idem:" + hashlib.sha256(f"{scope}\0{key}".encode()).hexdigest()
    fingerprint = _fingerprint(request)
    pending = json.dumps({"state": "pending", "fingerprint": fingerprint})
    if await client.set(redis_key, pending, nx=True, ex=PENDING_TTL_SECONDS):
        request.ctx.idempotency = Claim(redis_key, fingerprint)
        return None
    raw = await client.get(redis_key)
    if raw is None:  # expired between the two calls: treat as new
        await client.set(redis_key, pending, ex=PENDING_TTL_SECONDS)
        request.ctx.idempotency = Claim(redis_key, fingerprint)
        return None
    record = json.loads(raw)
    if record.get("fingerprint") != fingerprint:
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
