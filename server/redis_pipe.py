"""One Redis connection that carries every concurrent call of a hot command, pipelined.

A rate-limited request makes one Redis round trip (server/ratelimit.py), and on the busiest route (the
scan) redis-py's client machinery around that trip cost more than Redis itself: a pool checkout and
release, a health check, a timeout task per command, its retry loop. Here each call writes its command
on one shared connection and waits for its reply; Redis answers a connection's commands in the order
they came, so replies are matched to callers in order. Commands made in the same turn of the event loop
go out in one write (what client libraries call auto-pipelining).

Replies are parsed by hiredis (maintained by the Redis project; redis-py uses it too when installed).
Only plain TCP and unix-socket URLs are carried (with a user, a password and a database); for any other
(``rediss://``) ``from_url`` gives None and callers keep to redis-py.

Failures: a reply not come within ``timeout`` seconds, or a connection lost, fails every call waiting
on that connection with redis-py's ``TimeoutError`` or ``ConnectionError`` (callers already handle
``RedisError``), and the next call connects afresh. An error reply fails only its own call
(``NoScriptError`` for NOSCRIPT, else ``ResponseError``).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class _ReplyError(Exception):
    """hiredis makes an error reply an instance of this (a value, not raised)."""


def encode_command(args: tuple[str | bytes | int, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        else:
            raise TypeError(f"a Redis argument must be bytes, str or int, not {type(arg).__name__}")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _error_of(reply: _ReplyError) -> ResponseError:
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: RedisPipe, loop: asyncio.AbstractEventLoop) -> None:
        self.pipe = pipe
        self.loop = loop
        self.reader = hiredis.Reader(replyError=_ReplyError)
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self.outgoing: list[bytes] = []
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None  # armed while calls wait: for the oldest

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError:
                self.fail(RedisConnectionError("Redis sent a reply that is not RESP"))
                return
            if reply is False:
                return
            if not waiting:
                self.fail(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            future, _ = waiting.popleft()
            if future.done():  # its caller was cancelled: the reply is read and dropped
                continue
            if isinstance(reply, _ReplyError):
                future.set_exception(_error_of(reply))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail_waiting(RedisConnectionError("Connection to Redis lost"))

    def send(self, command: bytes) -> asyncio.Future[Any]:
        loop = self.loop
        future: asyncio.Future[Any] = loop.create_future()
        if self.closed:  # closed between the caller's look and now (Redis hung up at once: maxclients)
            future.set_exception(RedisConnectionError("Connection to Redis lost"))
            return future
        if not self.outgoing:
            loop.call_soon(self.flush)
        self.outgoing.append(command)
        now = loop.time()
        self.waiting.append((future, now))
        if self.timer is None:
            self.timer = loop.call_at(now + self.pipe.timeout, self.check_timeout)
        return future

    def check_timeout(self) -> None:
        """One timer per connection, not one per call: a reply later than the timeout fails them all."""
        self.timer = None
        if not self.waiting:
            return
        oldest = self.waiting[0][1]
        if self.loop.time() - oldest >= self.pipe.timeout:
            self.fail(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self.timer = self.loop.call_at(oldest + self.pipe.timeout, self.check_timeout)

    def flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        if outgoing and self.transport is not None and not self.closed:
            self.transport.write(b"".join(outgoing))

    def fail(self, error: Exception) -> None:
        """Close the connection and fail every call waiting on it."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self._fail_waiting(error)

    def _fail_waiting(self, error: Exception) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiting, self.waiting = self.waiting, collections.deque()
        self.outgoing = []
        for future, _ in waiting:
            if not future.done():
                future.set_exception(error)


class RedisPipe:
    """Pipelined calls on one connection (see the module's docstring); used from one event loop."""

    def __init__(
        self,
        *,
        path: str | None = None,
        host: str = "127.0.0.1",
        port: int = 6379,
        username: str | None = None,
        password: str | None = None,
        db: int = 0,
        timeout: float = 5.0,
    ) -> None:
        self.path, self.host, self.port = path, host, port
        self.username, self.password, self.db = username, password, db
        self.timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 5.0) -> RedisPipe | None:
        """For ``redis://`` and ``unix://`` URLs, read by redis-py's own parser (the same user, password
        and database as the app's other client); None for any other scheme (``rediss://``)."""
        if not url.startswith(("redis://", "unix://")):
            return None
        kwargs = parse_url(url)
        path = kwargs.get("path")
        return cls(
            path=str(path) if path is not None else None,
            host=str(kwargs.get("host") or "localhost"),
            port=int(kwargs.get("port") or 6379),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            db=int(kwargs.get("db") or 0),
            timeout=timeout,
        )

    async def call(self, *args: str | bytes | int) -> Any:
        """One command's reply; raises as redis-py would (a ``RedisError``)."""
        command = encode_command(args)
        protocol = self._protocol
        if protocol is None or protocol.closed:
            if self._closed:
                raise RedisConnectionError("Redis connection closed")
            protocol = await self._connected()
        return await protocol.send(command)

    async def close(self) -> None:
        """Fail every waiting call; later calls fail too (the app is stopping)."""
        self._closed = True
        connecting, self._connecting = self._connecting, None
        if connecting is not None and not connecting.done():
            connecting.cancel()
        protocol, self._protocol = self._protocol, None
        if protocol is not None and not protocol.closed:
            protocol.fail(RedisConnectionError("Redis connection closed"))

    # Connecting ----------------------------------------------------------------------------------

    async def _connected(self) -> _Protocol:
        # Callers that find no connection share one attempt; shielded, so one caller's cancellation
        # does not cancel it for the others.
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.get_running_loop().create_task(self._connect())
            # Read even when every caller was cancelled meanwhile (else asyncio logs it as lost).
            self._connecting.add_done_callback(lambda task: task.cancelled() or task.exception())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if connecting.cancelled() and (current is None or not current.cancelling()):
                # The attempt was cancelled by close(), not this caller: a RedisError, which callers expect.
                raise RedisConnectionError("Redis connection closed") from None
            raise

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        protocol: _Protocol | None = None
        try:
            async with asyncio.timeout(self.timeout):
                if self.path is not None:
                    _, protocol = await loop.create_unix_connection(lambda: _Protocol(self, loop), self.path)
                else:
                    _, protocol = await loop.create_connection(lambda: _Protocol(self, loop), self.host, self.port)
                replies = []
                if self.password is not None:
                    auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                    replies.append(protocol.send(encode_command(auth)))
                if self.db:
                    replies.append(protocol.send(encode_command(("SELECT", self.db))))
                for outcome in await asyncio.gather(*replies, return_exceptions=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
        except BaseException as exc:
            if protocol is not None:
                protocol.fail(RedisConnectionError("Redis connection not made"))
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError("Timeout connecting to Redis") from exc
            if isinstance(exc, OSError):
                raise RedisConnectionError(f"Error connecting to Redis: {exc.strerror or exc}") from exc
            raise  # an error reply to AUTH or SELECT (a ResponseError), or a cancellation
        self._protocol = protocol
        return protocol
