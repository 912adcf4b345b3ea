"""The pipelined Redis connection of the rate limits (server/redis_pipe.py), against a real Redis:
every caller gets its own reply however many share the connection, an error or a cancellation costs
only its own call, and a Redis that stalls, restarts or refuses the password fails calls cleanly (a
``RedisError``, which the limits fail open on) and is connected again on the next call."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis
import uvloop
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.redis import EmbeddedRedis
from server.redis_pipe import RedisPipe, encode_command

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def fake_redis(folder: object, handler: Handler, *, reply_seconds: float) -> AsyncIterator[RedisPipe]:
    """A pipe to a unix-socket server of the test's own, which answers as ``handler`` says."""
    path = f"{folder}/fake.sock"
    server = await asyncio.start_unix_server(handler, path)
    made = RedisPipe(path=path, timeout=reply_seconds)
    try:
        yield made
    finally:
        await made.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def pipe(redis_url: str) -> AsyncIterator[RedisPipe]:
    made = RedisPipe.from_url(redis_url, timeout=5)
    assert made is not None
    try:
        yield made
    finally:
        await made.close()


def test_urls_it_carries_and_those_it_leaves_to_redis_py() -> None:
    unix = RedisPipe.from_url("unix:///tmp/r%20x.sock?db=3")
    assert unix is not None and (unix.path, unix.db, unix.password) == ("/tmp/r x.sock", 3, None)
    tcp = RedisPipe.from_url("redis://us%40er:p%3Ass@10.0.0.7:6380/5")
    assert tcp is not None
    assert (tcp.host, tcp.port, tcp.username, tcp.password, tcp.db) == ("10.0.0.7", 6380, "us@er", "p:ss", 5)
    bare = RedisPipe.from_url("redis://localhost")
    assert bare is not None and (bare.path, bare.port, bare.db) == (None, 6379, 0)
    assert RedisPipe.from_url("rediss://secure:6380/0") is None  # TLS: redis-py's client carries it
    # Read as redis-py reads them (the app's other client), whichever precedence that has.
    for url in (
        "redis://u:p@h/1?password=q",
        "redis://h/3?db=4",
        "redis://h/0/",
        "redis://h?username=u&password=p",
        "redis://[::1]:6380/2",
        "unix:///tmp/x.sock?db=3&password=z",
    ):
        made, theirs = RedisPipe.from_url(url), parse_url(url)
        assert made is not None
        assert (made.username, made.password, made.db) == (
            theirs.get("username"),
            theirs.get("password"),
            int(theirs.get("db") or 0),
        ), url
        assert (made.path or made.host) == (theirs.get("path") or theirs.get("host")), url


def test_commands_are_written_as_resp_bulk_strings() -> None:
    assert encode_command(("SET", "k", b"\r\n", 42)) == b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\r\n\r\n$2\r\n42\r\n"
    assert encode_command(("ECHO", "光")) == b"*2\r\n$4\r\nECHO\r\n$3\r\n\xe5\x85\x89\r\n"
    for wrong in (None, 1.5, True, ["a"]):
        with pytest.raises(TypeError):
            encode_command(("ECHO", wrong))  # type: ignore[arg-type]


async def test_many_callers_on_one_connection_each_get_their_own_reply(pipe: RedisPipe, redis_url: str) -> None:
    values = [f"value-{i}-{random.random()}" for i in range(600)]
    # Sent in bursts of different sizes, so replies arrive split across reads.
    replies = await asyncio.gather(*(pipe.call("ECHO", value) for value in values))
    assert replies == [value.encode() for value in values]
    big = "x" * 300_000  # a reply far larger than one read
    assert await asyncio.gather(pipe.call("ECHO", big), pipe.call("ECHO", "after")) == [big.encode(), b"after"]
    # The calls really were on the database the URL names (a per-worker database number in CI).
    await pipe.call("SET", "pipe-test:db", "here")
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.get("pipe-test:db") == b"here"
        assert await client.client_list(_type="normal")  # the client sees the pipe's connection too
    finally:
        await client.delete("pipe-test:db")
        await client.aclose()


async def test_an_error_reply_fails_only_its_own_call(pipe: RedisPipe) -> None:
    before, missing, wrong_type, after = await asyncio.gather(
        pipe.call("ECHO", "before"),
        pipe.call("EVALSHA", "0" * 40, 0),
        pipe.call("INCR", "pipe-test:not-a-number-" + "x"),
        pipe.call("ECHO", "after"),
        return_exceptions=True,
    )
    assert before == b"before" and after == b"after"
    assert isinstance(missing, NoScriptError)  # the rate limiter loads its script on this
    assert wrong_type == 1  # INCR of a new key is 1: not an error, the replies stayed in line
    await pipe.call("SET", "pipe-test:text", "abc")
    with pytest.raises(ResponseError, match="not an integer"):
        await pipe.call("INCR", "pipe-test:text")
    assert await pipe.call("ECHO", "still in line") == b"still in line"
    await pipe.call("DEL", "pipe-test:text", "pipe-test:not-a-number-x")


async def test_a_cancelled_caller_does_not_shift_the_replies_of_the_others(pipe: RedisPipe) -> None:
    await pipe.call("PING")  # connected
    for _ in range(20):
        cancelled = asyncio.ensure_future(pipe.call("ECHO", "cancelled"))
        await asyncio.sleep(0)  # written, reply not read yet
        cancelled.cancel()
        assert await pipe.call("ECHO", "mine") == b"mine"
    with pytest.raises(asyncio.CancelledError):
        await cancelled


async def test_a_stalled_redis_fails_the_waiting_calls_after_the_timeout_then_serves_again(
    own_redis: EmbeddedRedis,
) -> None:
    # Its own Redis: a pause stalls every client of the server, other tests' too.
    pipe = RedisPipe.from_url(own_redis.url, timeout=0.3)
    assert pipe is not None
    admin = aioredis.Redis(unix_socket_path=str(own_redis.socket_path))
    try:
        assert await pipe.call("PING") == b"PONG"
        await admin.execute_command("CLIENT", "PAUSE", "1200", "ALL")  # every other client's commands wait
        started = asyncio.get_running_loop().time()
        outcomes = await asyncio.gather(*(pipe.call("ECHO", str(i)) for i in range(5)), return_exceptions=True)
        waited = asyncio.get_running_loop().time() - started
        assert all(isinstance(outcome, RedisTimeoutError) for outcome in outcomes), outcomes
        assert 0.25 <= waited < 1.1
        await admin.execute_command("CLIENT", "UNPAUSE")
        assert await pipe.call("ECHO", "back") == b"back"  # on a new connection
    finally:
        await admin.execute_command("CLIENT", "UNPAUSE")
        await admin.aclose()
        await pipe.close()


async def test_a_redis_restart_fails_calls_cleanly_and_the_next_call_connects_again(own_redis: EmbeddedRedis) -> None:
    pipe = RedisPipe.from_url(own_redis.url, timeout=2)
    assert pipe is not None
    try:
        assert await pipe.call("PING") == b"PONG"
        own_redis.stop()
        with pytest.raises(RedisConnectionError):
            await pipe.call("PING")
        with pytest.raises(RedisConnectionError):
            await pipe.call("PING")  # still away: a clean error each time, never a hang
        own_redis.start()
        assert await pipe.call("PING") == b"PONG"
        assert await asyncio.gather(*(pipe.call("ECHO", str(i)) for i in range(50))) == [
            str(i).encode() for i in range(50)
        ]
    finally:
        await pipe.close()


async def test_a_password_and_a_database_from_the_url_are_used_and_a_wrong_password_is_an_error(
    own_redis: EmbeddedRedis,
) -> None:
    admin = aioredis.Redis(unix_socket_path=str(own_redis.socket_path))
    await admin.config_set("requirepass", "s3cret pass")
    await admin.aclose()
    path = str(own_redis.socket_path)
    good = RedisPipe(path=path, password="s3cret pass", db=4, timeout=2)
    bad = RedisPipe(path=path, password="wrong", timeout=2)
    nobody = RedisPipe(path=path, timeout=2)
    try:
        await good.call("SET", "pipe-test:where", "db4")
        check = aioredis.Redis(unix_socket_path=path, password="s3cret pass", db=4)
        assert await check.get("pipe-test:where") == b"db4"
        await check.aclose()
        with pytest.raises(RedisError):
            await bad.call("PING")
        with pytest.raises(ResponseError, match="NOAUTH"):
            await nobody.call("PING")
        assert await good.call("ECHO", "still fine") == b"still fine"
    finally:
        for made in (good, bad, nobody):
            await made.close()


async def test_nothing_listening_is_a_connection_error_not_a_hang(short_dir: object) -> None:
    pipe = RedisPipe(path=f"{short_dir}/nobody.sock", timeout=2)
    with pytest.raises(RedisConnectionError):
        await pipe.call("PING")
    tcp = RedisPipe(host="127.0.0.1", port=1, timeout=2)
    with pytest.raises(RedisConnectionError):
        await tcp.call("PING")
    await pipe.close()
    await tcp.close()


async def test_callers_that_arrive_before_the_connection_share_one_and_a_cancelled_one_costs_nothing(
    own_redis: EmbeddedRedis,
) -> None:
    admin = aioredis.Redis(unix_socket_path=str(own_redis.socket_path))
    pipe = RedisPipe.from_url(own_redis.url, timeout=2)
    assert pipe is not None
    try:
        before = (await admin.info("clients"))["connected_clients"]
        early = asyncio.ensure_future(pipe.call("ECHO", "gone"))
        await asyncio.sleep(0)
        early.cancel()  # cancelled while the connection is being made: the others still get it
        replies = await asyncio.gather(*(pipe.call("ECHO", str(i)) for i in range(100)))
        assert replies == [str(i).encode() for i in range(100)]
        assert (await admin.info("clients"))["connected_clients"] == before + 1
    finally:
        await pipe.close()
        await admin.aclose()


async def test_a_server_that_hangs_up_at_once_fails_the_call_at_once(short_dir: object) -> None:
    # Redis at maxclients answers a new connection with an error and closes it.
    said = [b"-ERR max number of clients reached\r\n", b""]  # or hangs up without a word

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        said.reverse()
        writer.write(said[0])
        await writer.drain()
        writer.close()

    async with fake_redis(short_dir, hang_up, reply_seconds=30) as pipe:
        for _ in range(6):
            started = asyncio.get_running_loop().time()
            # The error reply, or the connection lost: a RedisError either way (the limits fail open).
            with pytest.raises(RedisError):
                await pipe.call("PING")
            assert asyncio.get_running_loop().time() - started < 5  # never the 30 s timeout


async def test_close_fails_the_waiting_calls_with_a_redis_error_and_is_final(own_redis: EmbeddedRedis) -> None:
    admin = aioredis.Redis(unix_socket_path=str(own_redis.socket_path))
    pipe = RedisPipe.from_url(own_redis.url, timeout=2)
    assert pipe is not None
    try:
        before = (await admin.info("clients"))["connected_clients"]
        connecting = [asyncio.ensure_future(pipe.call("PING")) for _ in range(3)]
        await asyncio.sleep(0)
        await pipe.close()  # while the connection is being made
        outcomes = await asyncio.gather(*connecting, return_exceptions=True)
        assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes), outcomes
        with pytest.raises(RedisConnectionError):
            await pipe.call("PING")  # closed stays closed: no connection left behind
        assert (await admin.info("clients"))["connected_clients"] == before
    finally:
        await admin.aclose()


async def test_a_reply_nobody_asked_for_or_one_that_is_not_resp_drops_the_connection(short_dir: object) -> None:
    replies = [b"+OK\r\n+EXTRA\r\n", b"!!not resp\r\n"]
    connections: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while await reader.read(65536):
            writer.write(replies.pop(0) if replies else b"+OK\r\n")
            await writer.drain()
        writer.close()

    async with fake_redis(short_dir, answer, reply_seconds=2) as pipe:
        assert await pipe.call("PING") == b"OK"  # then a reply nobody asked for: out of step, dropped
        with pytest.raises(RedisConnectionError):
            await pipe.call("PING")  # on a new connection, a reply that is not RESP
        assert await pipe.call("PING") == b"OK"
        assert len(connections) == 3  # a new connection after each


def test_under_uvloop_as_the_server_runs_it(redis_url: str) -> None:
    # Sanic runs on uvloop where it is installed; its transports are not asyncio's classes.
    async def scenario() -> None:
        pipe = RedisPipe.from_url(redis_url, timeout=5)
        assert pipe is not None
        try:
            values = [str(i) for i in range(300)]
            assert await asyncio.gather(*(pipe.call("ECHO", v) for v in values)) == [v.encode() for v in values]
            cancelled = asyncio.ensure_future(pipe.call("ECHO", "cancelled"))
            await asyncio.sleep(0)
            cancelled.cancel()
            assert await pipe.call("ECHO", "mine") == b"mine"
            with pytest.raises(NoScriptError):
                await pipe.call("EVALSHA", "0" * 40, 0)
        finally:
            await pipe.close()

    uvloop.run(scenario())
