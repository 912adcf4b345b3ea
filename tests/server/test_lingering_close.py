"""A client still sending when the server refuses its request reads the refusal, not a reset.

These drive a raw socket, as a slow uploader would: the request is refused (413) while the client is
still sending, the client goes on sending, and only then reads. Without a lingering close the server's
kernel answers those late bytes with a reset: the client's next send fails, and a client that gives up
on a failed send (asyncio's transports, and so httpx) never reads the refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator

import pytest
from sanic.server.protocols.http_protocol import HttpProtocol

from server.app import create_app
from server.lingering_close import LingeringHttpProtocol
from server.settings import Settings
from tests.support.app_server import RunningApp

LIMIT = 2048


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningApp]:
    async with RunningApp(create_app(settings.replace(max_body_bytes=LIMIT))) as running:
        yield running


def _connections(server: RunningApp) -> set[HttpProtocol]:
    assert server.server is not None
    return set(server.server.connections)


async def _until(condition: object, what: str, within: float = 10.0) -> float:
    """Wait for condition() to hold; the seconds it took."""
    assert callable(condition)
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def _readable(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(sock, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, 10)
    finally:
        loop.remove_reader(sock)


async def _answered(server: RunningApp, sock: socket.socket) -> HttpProtocol | None:
    """The server has sent its answer (left unread) and ended the request without waiting for the rest
    of the body; its connection, if still open."""
    await _readable(sock)
    conns = _connections(server)
    await _until(
        lambda: all(conn.http is None or conn not in _connections(server) for conn in conns), "the request ended"
    )
    return next(iter(conns & _connections(server)), None)


async def _connect(server: RunningApp) -> socket.socket:
    # A plain non-blocking socket: unlike asyncio's streams, nothing reads ahead of the test.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    return sock


async def _send(sock: socket.socket, data: bytes) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, data)


async def _send_slowly(sock: socket.socket, chunks: list[bytes]) -> None:
    """A slow uploader: a chunk every 10 ms, time enough for a reset to come back between two."""
    for data in chunks:
        await _send(sock, data)
        await asyncio.sleep(0.01)


async def _read_to_end(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    received = b""
    while chunk := await asyncio.wait_for(loop.sock_recv(sock, 65536), 10):
        received += chunk
    return received


def _assert_413(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNKED_HEAD = (
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


async def test_a_chunked_upload_still_sending_after_the_413_reads_it(server: RunningApp) -> None:
    sock = await _connect(server)
    try:
        await _send(sock, CHUNKED_HEAD + _chunk(b'{"username": "u", "password": "' + b"x" * (LIMIT + 1)))
        await _answered(server, sock)
        # The rest of the upload, sent after the server has answered: every send goes through.
        await _send_slowly(sock, [_chunk(b"x" * 1024)] * 16 + [_chunk(b'"}') + b"0\r\n\r\n"])
        _assert_413(await _read_to_end(sock))
    finally:
        sock.close()


async def test_a_declared_length_over_the_limit_sent_on_after_the_413_reads_it(server: RunningApp) -> None:
    size = 64 * 1024
    sock = await _connect(server)
    try:
        head = (
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % size
        )
        await _send(sock, head + b"x" * 1024)
        await _answered(server, sock)
        await _send_slowly(sock, [b"x" * 1024] * (size // 1024 - 1))
        _assert_413(await _read_to_end(sock))
    finally:
        sock.close()


async def oversize_login() -> AsyncIterator[bytes]:
    """A sign-in body of 64 KiB, streamed (chunked) in 1 KiB pieces."""
    yield b'{"username": "u", "password": "'
    for _ in range(64):
        yield b"x" * 1024
    yield b'"}'


async def test_httpx_streaming_an_oversize_body_gets_the_413_every_time(server: RunningApp) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        for _ in range(20):
            r = await http.post(
                "/api/v1/auth/login", content=oversize_login(), headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 413
            assert r.json()["error"]["code"] == "payload_too_large"


@contextlib.asynccontextmanager
async def _refused_upload(server: RunningApp) -> AsyncIterator[tuple[socket.socket, HttpProtocol]]:
    """A chunked upload refused (413) while its client still has more to send: the socket, and the
    server's side of the connection, now lingering."""
    sock = await _connect(server)
    try:
        await _send(sock, CHUNKED_HEAD + _chunk(b"x" * (LIMIT + 1)))
        conn = await _answered(server, sock)
        assert conn is not None
        yield sock, conn
    finally:
        sock.close()


async def test_a_quiet_client_is_closed_after_the_idle_time(
    server: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LingeringHttpProtocol, "linger_idle", 0.3)
    async with _refused_upload(server) as (sock, conn):
        assert conn.lingering
        _assert_413(await _read_to_end(sock))  # the answer, then the end of the server's side
        await _until(lambda: conn not in _connections(server), "the lingering connection closed")
        # The loop's clock is time.monotonic(): closed no sooner than the idle time after it began.
        assert time.monotonic() >= conn.linger_started + 0.3


async def test_a_client_that_never_stops_is_closed_after_the_total_time(
    server: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LingeringHttpProtocol, "linger_idle", 0.5)
    monkeypatch.setattr(LingeringHttpProtocol, "linger_total", 1.0)
    async with _refused_upload(server) as (sock, conn):
        assert conn.lingering
        with pytest.raises(OSError):  # a reset or a broken pipe, once the server has given up
            while time.monotonic() < conn.linger_started + 10:
                await _send(sock, _chunk(b"x" * 512))  # a trickle: never idle for linger_idle
                await asyncio.sleep(0.05)
        assert conn not in _connections(server)
        assert time.monotonic() >= conn.linger_started + 1.0


async def test_a_stopping_server_closes_a_lingering_connection_at_once(server: RunningApp) -> None:
    async with _refused_upload(server) as (_, conn):
        assert conn.close_if_idle()  # what Sanic's worker does to each connection when it stops
        await _until(lambda: conn not in _connections(server), "closed", within=2)


async def test_an_answered_request_with_its_body_read_keeps_the_connection(server: RunningApp) -> None:
    sock = await _connect(server)
    try:
        body = b'{"username": "nobody", "password": "pw"}'
        request = (
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        loop = asyncio.get_running_loop()
        for _ in range(2):  # the same connection serves a second request
            await _send(sock, request)
            answer = await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
            assert answer.startswith(b"HTTP/1.1 401 "), answer[:40]
            assert b"connection: keep-alive" in answer.lower()
    finally:
        sock.close()


def test_under_uvloop_as_the_server_runs_it() -> None:
    # gmid serve runs Sanic on uvloop, whose transports are not asyncio's classes.
    import uvloop
    from sanic import Sanic
    from sanic.response import empty

    app = Sanic("lingering_uvloop")
    app.config.REQUEST_MAX_SIZE = LIMIT
    app.config.MOTD = False

    @app.post("/")
    async def accept(_: object) -> object:
        return empty()

    async def scenario() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        served = await app.create_server(
            sock=sock, return_asyncio_server=True, access_log=False, protocol=LingeringHttpProtocol
        )
        assert served is not None
        await served.startup()
        await served.start_serving()
        try:
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(client, ("127.0.0.1", port))
            try:
                await _send(client, b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
                await _send(client, _chunk(b"x" * (LIMIT + 1)))
                await _readable(client)
                await _send_slowly(client, [_chunk(b"x" * 1024)] * 16 + [b"0\r\n\r\n"])
                answer = await _read_to_end(client)
                assert answer.startswith(b"HTTP/1.1 413 "), answer[:40]
            finally:
                client.close()
        finally:
            served.close()

    uvloop.run(scenario())
