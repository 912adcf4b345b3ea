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

A claim ("pending" record) lives only PENDING_TTL_SECONDS unless renewed, so that the claim of an
instance that died (SIGKILL, a lost machine) frees the key within seconds. Each process keeps the
claims it holds in one :class:`ClaimKeeper`, whose single ticker renews them all every
RENEW_EVERY_SECONDS in one Redis call. A claim carries an owner token: it is renewed, kept (the answer
written) or released only while Redis still holds that very claim, so a request that outlived its claim
never touches the record of the request that took the key over. Once the handler has run, a Redis error
while keeping the answer or releasing the claim is logged and the handler's answer goes out as it is
(the claim then expires on its own).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from server.errors import BadRequest, Conflict, ValidationFailed

log = logging.getLogger("gmid.idempotency")

TTL_SECONDS = 24 * 3600
# A claim not renewed for this long is free again: the longest a retry waits after its instance died.
# Renewed every RENEW_EVERY_SECONDS, it survives one failed renewal and seconds of a stalled event loop.
PENDING_TTL_SECONDS = 15.0
RENEW_EVERY_SECONDS = 5.0
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
# 499: the client went away mid-request (server/errors.py); its retry must run, not replay that.
_NOT_KEPT = {401, 403, 429, 499}
_KEPT_HEADERS = ("content-type", "location", "cache-control", "etag")


@dataclass(frozen=True)
class Claim:
    redis_key: str
    fingerprint: str
    # The pending record as written, owner token included: Redis holds this claim while it holds this value.
    pending: str


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


# Every script compares the record with the claim's exact pending value (which carries its owner
# token): another request's claim, or a finished record, is never touched.
# KEYS: the claims' keys; ARGV[1]: milliseconds to live, ARGV[1 + i]: the pending value of KEYS[i].
# Returns the (1-based) positions of the claims Redis no longer holds.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
  else
    lost[#lost + 1] = i
  end
end
return lost
"""
# KEYS[1]: the key; ARGV[1]: the pending value; ARGV[2]: the record to keep ('' to release); ARGV[3]: its seconds.
_SETTLE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1
"""
# KEYS[1]: the key; ARGV[1]: the record read before (''  when there was none); ARGV[2]: the new claim;
# ARGV[3]: its milliseconds. Claims the key only if nobody changed it since it was read.
_TAKE_OVER = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""


class ClaimKeeper:
    """The claims this process holds, kept alive by one ticker (started and stopped with the app)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        # Each claim with the task serving its request: a connection cancelled before the response
        # middleware ran leaves a finished task, whose claim is then let go to expire.
        self._held: dict[Claim, asyncio.Task[Any] | None] = {}
        self._renew = client.register_script(_RENEW)
        self._settle = client.register_script(_SETTLE)
        self._take_over = client.register_script(_TAKE_OVER)
        self._ticker: asyncio.Task[None] | None = None

    def hold(self, claim: Claim) -> None:
        self._held[claim] = asyncio.current_task()

    def let_go(self, claim: Claim) -> None:
        self._held.pop(claim, None)

    def start(self) -> None:
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="idempotency-claims")

    async def stop(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        self._held.clear()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            try:
                await self.renew()
            except Exception as exc:  # Redis away, a timeout: try again at the next tick
                log.warning("idempotency claims not renewed (%s); retrying next tick", type(exc).__name__)

    async def renew(self) -> None:
        """Extend every claim still held, in one Redis call; forget those Redis no longer holds."""
        for claim, task in list(self._held.items()):
            if task is not None and task.done():
                del self._held[claim]
        claims = list(self._held)
        if not claims:
            return
        lost = await self._renew(
            keys=[c.redis_key for c in claims], args=[_ms(PENDING_TTL_SECONDS), *(c.pending for c in claims)]
        )
        for position in lost or ():
            self._held.pop(claims[int(position) - 1], None)

    async def settle(self, claim: Claim, record: str | None) -> bool:
        """Keep ``record`` as the answer (None: release the key), if Redis still holds this claim."""
        self.let_go(claim)
        done = await self._settle(keys=[claim.redis_key], args=[claim.pending, record or "", TTL_SECONDS])
        return bool(done)

    async def take_over(self, redis_key: str, before: bytes | str | None, pending: str) -> bool:
        taken = await self._take_over(keys=[redis_key], args=[before or b"", pending, _ms(PENDING_TTL_SECONDS)])
        return bool(taken)


def keeper_of(app: Sanic) -> ClaimKeeper:
    keeper: ClaimKeeper = app.ctx.idempotency_keeper
    return keeper


async def start(app: Sanic) -> None:
    """Listener step (after Redis is open): this process's claim keeper and its ticker."""
    app.ctx.idempotency_keeper = ClaimKeeper(app.ctx.redis)
    app.ctx.idempotency_keeper.start()


async def stop(app: Sanic) -> None:
    """Listener step (before Redis closes)."""
    keeper: ClaimKeeper | None = getattr(app.ctx, "idempotency_keeper", None)
    if keeper is not None:
        await keeper.stop()


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


async def begin(request: Request, keeper: ClaimKeeper) -> HTTPResponse | None:
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
    return await _claim(request, keeper, redis_key, _fingerprint(request, body), _legacy_fingerprint(request, body))


async def claim_body(request: Request, body: bytes) -> HTTPResponse | None:
    """For a streamed route, once its body has been read whole: claim the key for the request with
    this body, or answer with what was kept for it (the handler returns that answer as it is).
    422 ``idempotency_key_reused`` when the key was used for another request, 409 while the first
    is still running. Without an Idempotency-Key, None."""
    deferred: _Deferred | None = getattr(request.ctx, "idempotency_deferred", None)
    if deferred is None:
        return None
    request.ctx.idempotency_deferred = None
    return await _claim(request, keeper_of(request.app), deferred.redis_key, _fingerprint(request, body), legacy=None)


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
    request: Request, keeper: ClaimKeeper, redis_key: str, fingerprint: str, legacy: str | None
) -> HTTPResponse | None:
    client = keeper.client
    pending = json.dumps({"state": "pending", "fingerprint": fingerprint, "owner": secrets.token_hex(16)})
    claim = Claim(redis_key, fingerprint, pending)
    if await client.set(redis_key, pending, nx=True, px=_ms(PENDING_TTL_SECONDS)):
        keeper.hold(claim)
        request.ctx.idempotency = claim
        return None
    raw = await client.get(redis_key)
    record = json.loads(raw) if raw is not None else None
    same = _stands_for(record, fingerprint, legacy) if record is not None else None
    if record is None or same is None:
        # Expired between the two calls, or a record that cannot be honoured: a new request, unless
        # another request claimed the key meanwhile (then it is that one's, still running).
        if await keeper.take_over(redis_key, raw, pending):
            keeper.hold(claim)
            request.ctx.idempotency = claim
            return None
        record = {"state": "pending"}
        same = True
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


async def finish(request: Request, response: HTTPResponse, keeper: ClaimKeeper) -> None:
    """Response middleware step: keep the answer, or release the claim so a retry may run.

    The handler has run by now: a Redis error here is logged, never answered in place of the
    handler's answer (the claim then expires on its own)."""
    claim: Claim | None = getattr(request.ctx, "idempotency", None)
    if claim is None:
        return
    request.ctx.idempotency = None
    keeper.let_go(claim)
    no_store = "no-store" in (response.headers.get("cache-control") or "").lower()
    # 5xx and refusals may change on retry; no-store answers (fresh tokens, personal data) must
    # never sit in Redis to be handed out again.
    if response.status >= 500 or response.status in _NOT_KEPT or no_store:
        kept: str | None = None
    else:
        kept = json.dumps(
            {
                "state": "done",
                "fingerprint": claim.fingerprint,
                "status": response.status,
                "headers": {k.lower(): v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS},
                # Sanic keeps the media type of json()/text() answers on the response, not in its headers.
                "content_type": response.content_type,
                "body": base64.b64encode(response.body or b"").decode("ascii"),
            }
        )
    try:
        settled = await keeper.settle(claim, kept)
    except RedisError as exc:
        log.warning(
            "idempotency: answer %s not %s (%s); its claim expires on its own",
            response.status,
            "kept" if kept is not None else "released",
            type(exc).__name__,
        )
        return
    if not settled:
        log.warning("idempotency: answer %s not kept; the claim had been taken over", response.status)
