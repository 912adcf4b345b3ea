"""Server-Sent Events over a Redis stream, for every live feed (the grid's reports, the device alarms).

A feature appends its committed changes to a capped Redis stream; a connection reads the stream from
the client's ``Last-Event-ID`` (the stream id, which only grows, so a reconnect resumes exactly where it
stopped), keeps the entries its ``select`` lets through for this caller, and sends each as an event. A
comment line at least every ``KEEPALIVE_SECONDS`` keeps proxies from closing an idle connection. The
caller's account and token are checked again while the stream is open (a disabled account hears at most
``ACCOUNT_RECHECK_SECONDS`` more); Redis away for ``STREAM_GIVE_UP_SECONDS`` ends the stream cleanly. One
account holds at most ``stream_slots.STREAMS_PER_ACCOUNT`` streams at once, across instances and feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from identity import web_sessions
from server import redis as gmid_redis
from server import stream_slots
from server.auth import Principal, account_is_active, token_expires_at, web_session_of
from server.errors import RateLimited, ServiceUnavailable, ValidationFailed

log = logging.getLogger("gmid.live_stream")

KEEPALIVE_SECONDS = 15.0
STREAM_GIVE_UP_SECONDS = 60.0
STREAM_RETRY_SECONDS = 0.5  # the first pause before reading again after a Redis error (doubling)
ACCOUNT_RECHECK_SECONDS = 1.0
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")

# What a feed sends of one stream entry for this caller: (event name, data), or None to leave it out.
Select = Callable[[dict[str, str]], tuple[str, dict[str, Any]] | None]


def stream_id_ok(text: str) -> bool:
    """A Redis stream id as a stream sends them: two unsigned 64-bit numbers (Redis refuses more)."""
    if not _STREAM_ID.fullmatch(text):
        return False
    ms, seq = text.split("-")
    return int(ms) < 2**64 and int(seq) < 2**64


def blocking_redis(app: Sanic) -> aioredis.Redis:
    """This worker's client for the streams' blocking reads (made on first use): the shared client's
    socket timeout is shorter than a block, and would end every idle stream with a TimeoutError."""
    client: aioredis.Redis | None = getattr(app.ctx, "redis_blocking", None)
    if client is None:
        client = gmid_redis.make_blocking_client(gmid_redis.redis_url_for(app.ctx.settings))
        app.ctx.redis_blocking = client
    return client


async def close_blocking_redis(app: Sanic) -> None:
    client: aioredis.Redis | None = getattr(app.ctx, "redis_blocking", None)
    app.ctx.redis_blocking = None
    if client is not None:
        await client.aclose()


def _block_ms(last_sent: float) -> int:
    """How long the next read may wait: until the next keep-alive is due, within the blocking client's
    socket timeout, and never 0 (which Redis takes as "forever")."""
    wait = min(KEEPALIVE_SECONDS - (time.monotonic() - last_sent), gmid_redis.BLOCKING_SOCKET_TIMEOUT - 5)
    return max(1, int(wait * 1000))


async def _why_stream_ends(request: Request, principal: Principal, expires_at: int | None, name: str) -> str | None:
    """Why an open stream must stop now (its token expired, its account was disabled), else None: the
    request was checked once when it came, and a stream may stay open for hours."""
    if expires_at is not None and time.time() >= expires_at:
        return "the access token has expired; refresh it and reconnect"
    try:
        session = web_session_of(request)
        if session is not None and not await web_sessions.alive(redis=request.app.ctx.redis, session=session):
            return "the console session has ended; sign in again"
        active = await account_is_active(request.app.ctx.redis, principal.account_id)
    except Exception as exc:  # the database is unreachable: nothing more is sent unchecked
        log.warning("%s stream ended: account check failed error=%s", name, exc.__class__.__name__)
        return "the live feed cannot check your account now; reconnect later"
    return None if active else "this account is disabled"


async def serve(
    request: Request, principal: Principal, *, stream: str, select: Select, name: str, unavailable: str
) -> HTTPResponse | None:
    """Answer one live-feed request: 422 ``bad_last_event_id``, 429 ``too_many_streams``, 503
    ``feed_stream_unavailable`` (Redis away; ``unavailable`` says what to read instead) or
    ``feed_stream_busy``; else the stream, until the client goes or it must end."""
    expires_at = token_expires_at(request)
    last_id = request.headers.get("last-event-id", "").strip()
    if last_id and not stream_id_ok(last_id):
        raise ValidationFailed("Last-Event-ID is not an id this stream sent.", code="bad_last_event_id")
    cursor = last_id or "$"
    refused = ServiceUnavailable(unavailable, code="feed_stream_unavailable")
    if cursor == "$":  # start from now, but with a concrete id so nothing between reads is lost
        try:
            newest = await request.app.ctx.redis.xrevrange(stream, count=1)
        except RedisError as exc:
            log.warning("%s stream refused: redis unavailable error=%s", name, exc.__class__.__name__)
            raise refused from None
        cursor = newest[0][0].decode() if newest else "0-0"
    try:
        slot = await stream_slots.take(request.app.ctx.redis, principal.account_id)
    except stream_slots.StreamsFull as full:
        if full.scope == "account":
            raise RateLimited(
                f"This account has {stream_slots.STREAMS_PER_ACCOUNT} live feeds open already; close one first.",
                code="too_many_streams",
                retry_after=int(KEEPALIVE_SECONDS),
            ) from None
        raise ServiceUnavailable(
            "This server has as many live feeds open as it serves; try again later.", code="feed_stream_busy"
        ) from None
    except RedisError as exc:
        log.warning("%s stream refused: redis unavailable error=%s", name, exc.__class__.__name__)
        raise refused from None
    try:
        return await _serve(request, principal, expires_at, stream, cursor, slot, select, name)
    finally:
        await slot.release()


async def _serve(
    request: Request,
    principal: Principal,
    expires_at: int | None,
    stream: str,
    cursor: str,
    slot: stream_slots.Slot,
    select: Select,
    name: str,
) -> HTTPResponse | None:
    blocking = blocking_redis(request.app)
    response = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    await response.send(": connected\n\n")
    last_sent = checked = renewed = time.monotonic()
    failing_since: float | None = None
    pause = STREAM_RETRY_SECONDS
    while True:
        batch: Any = []  # RESP2: [[stream, [(id, fields), ...]]]
        try:
            batch = await blocking.xread({stream: cursor}, count=100, block=_block_ms(last_sent))
        except RedisError as exc:
            # Lost Redis (a restart, a failover, a network cut): say so once, keep the client with
            # keep-alives while retrying, and end cleanly if it stays away (the client reconnects).
            now = time.monotonic()
            if failing_since is None:
                failing_since = now
                log.warning("%s stream: redis read failed error=%s; retrying", name, exc.__class__.__name__)
            if now - failing_since >= STREAM_GIVE_UP_SECONDS:
                log.warning("%s stream ended: redis unavailable for %.0f s", name, now - failing_since)
                await response.send(": the live feed is unavailable; reconnect later\n\n")
                await response.eof()
                return None
            await asyncio.sleep(pause)
            pause = min(pause * 2, KEEPALIVE_SECONDS)
        else:
            if failing_since is not None:
                log.info("%s stream: redis back after %.0f s", name, time.monotonic() - failing_since)
                failing_since, pause = None, STREAM_RETRY_SECONDS
        # The account and its token, again at each keep-alive interval, and before sending events
        # (the token each time, the account when its last check is a second old).
        since = time.monotonic() - checked
        due = since >= KEEPALIVE_SECONDS or (bool(batch) and since >= ACCOUNT_RECHECK_SECONDS)
        if due or (expires_at is not None and time.time() >= expires_at):
            checked = time.monotonic()
            reason = await _why_stream_ends(request, principal, expires_at, name)
            if reason is not None:
                await response.send(f": {reason}\n\n")
                await response.eof()
                return None
        for entry_id, fields in batch[0][1] if batch else ():
            cursor = entry_id.decode()
            chosen = select({k.decode(): v.decode() for k, v in fields.items()})
            if chosen is None:
                continue
            event, data = chosen
            await response.send(f"id: {cursor}\nevent: {event}\ndata: {json.dumps(data)}\n\n")
            last_sent = time.monotonic()
        if time.monotonic() - renewed >= KEEPALIVE_SECONDS:  # this stream still holds its slot
            renewed = time.monotonic()
            with contextlib.suppress(RedisError):
                await slot.renew()
        # Also when only other entries came: this client has heard nothing for a while.
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            await response.send(": keep-alive\n\n")
            last_sent = time.monotonic()
