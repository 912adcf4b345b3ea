"""The grid feed's Server-Sent Events over long idle periods and Redis outages (issue 12): the stream's
blocking reads outlast the ordinary Redis socket timeout, keep-alive comments keep coming (also while
only other grids' events arrive), a Redis that goes away is retried without a traceback, and a Redis
gone for long ends the stream cleanly; an account disabled, or a token expired, while its stream is
open ends the stream at the next keep-alive. The intervals are shortened here so the tests stay short:
the ordinary socket timeout to 1 s, the keep-alive to 1.5 s, the give-up time to 3 s."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlparse

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from server import live_stream
from server import redis as gmid_redis
from server.settings import Settings
from tests.factories import auth, token_for
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_closed_loop import submit
from tests.support.notify_fixtures import app_with_channels

KEEPALIVE = 1.5


@pytest.fixture
def app(notify_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Sanic:
    # Before the app opens its Redis clients: an ordinary command gives up after 1 s, far less than
    # the stream's blocking read, as the 5 s did against the 15 s block.
    monkeypatch.setattr(gmid_redis, "SOCKET_TIMEOUT", 1.0, raising=False)
    monkeypatch.setattr(live_stream, "KEEPALIVE_SECONDS", KEEPALIVE)
    monkeypatch.setattr(live_stream, "STREAM_GIVE_UP_SECONDS", 3.0)
    monkeypatch.setattr(live_stream, "STREAM_RETRY_SECONDS", 0.1)
    return app_with_channels(notify_settings)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the app (its own loggers do not propagate to the root)."""
    ours = logging.getLogger("gmid")
    ours.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="gmid"):
            yield caplog
    finally:
        ours.removeHandler(caplog.handler)


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [(r.name, r.getMessage()) for r in bad]


@dataclass
class Lines:
    """What a stream sent, line by line, with when each came, read in the background."""

    received: list[tuple[float, str]] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def comments(self, text: str, since: float = 0.0) -> list[float]:
        return [at for at, line in self.received if line == f": {text}" and at >= since]

    def events(self) -> list[str]:
        return [line[6:] for _, line in self.received if line.startswith("data: ")]

    async def wait_for(self, predicate: object, within: float) -> None:
        deadline = time.monotonic() + within
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {within} s: {self.received}")
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def open_stream(client: httpx.AsyncClient, who: User) -> AsyncIterator[Lines]:
    lines = Lines()

    async def read(response: httpx.Response) -> None:
        try:
            async for line in response.aiter_lines():
                lines.received.append((time.monotonic(), line))
        except httpx.HTTPError:
            pass
        finally:
            lines.ended.set()

    async with client.stream("GET", "/api/v1/grid/feed/stream", headers=who.headers) as response:
        assert response.status_code == 200
        reader = asyncio.create_task(read(response))
        try:
            await lines.wait_for(lambda: lines.comments("connected"), within=2)
            yield lines
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def test_an_idle_stream_keeps_alive_past_the_socket_timeout_and_still_delivers(
    app: Sanic, client: httpx.AsyncClient, logged: pytest.LogCaptureFixture
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    async with open_stream(client, grid) as lines:
        started = time.monotonic()
        # 6.5 s with nothing for this grid: longer than the ordinary socket timeout, shortened (1 s)
        # or not (5 s). Another grid's reports come and go meanwhile: they are not this grid's news,
        # and the keep-alives come all the same.
        while time.monotonic() - started < 6.5:
            await submit(client, resident, node="GM010102", text="别的网格的事")
            await asyncio.sleep(0.7)
        assert not lines.ended.is_set(), lines.received
        beats = lines.comments("keep-alive", since=started)
        assert len(beats) >= 3, lines.received
        assert max(b - a for a, b in zip([started, *beats], beats, strict=False)) < KEEPALIVE + 1.0
        assert lines.events() == []
        # The stream still delivers; an anonymous report's event says nothing of who filed it.
        report = await submit(client, resident, anonymous=True)
        await lines.wait_for(lambda: lines.events(), within=2)
        assert lines.events() == [f'{{"id": "{report["id"]}", "state": "submitted", "action": "submit"}}']
    assert_no_traceback(logged)


class CuttableProxy:
    """A TCP relay in front of the test's Redis that can cut every connection and refuse new ones
    (Redis restarting, a network cut), then accept them again on the same port."""

    def __init__(self, target_url: str) -> None:
        self.target = urlparse(target_url)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        db = self.target.path.strip("/") if self.target.scheme != "unix" else ""
        return f"redis://127.0.0.1:{self.port}/{db or 0}"

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.target.scheme == "unix":
            return await asyncio.open_unix_connection(self.target.path)
        return await asyncio.open_connection(self.target.hostname, self.target.port or 6379)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await self._upstream()
        self.links += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for link in self.links:
            link.close()
        self.links.clear()
        self.server = None


async def test_a_redis_outage_is_retried_without_a_traceback_and_a_long_one_ends_the_stream(
    app: Sanic, client: httpx.AsyncClient, logged: pytest.LogCaptureFixture
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    proxy = CuttableProxy(gmid_redis.redis_url_for(app.ctx.settings))
    await proxy.start()
    app.ctx.redis_blocking = gmid_redis.make_blocking_client(proxy.url)  # the stream reads through it
    async with open_stream(client, grid) as lines:
        # A short outage: retried, the client kept with keep-alives, then the stream goes on.
        await proxy.cut()
        cut_at = time.monotonic()
        await asyncio.sleep(2.0)
        await proxy.start()
        assert not lines.ended.is_set() and lines.comments("keep-alive", since=cut_at), lines.received
        report = await submit(client, resident)
        await lines.wait_for(lambda: lines.events(), within=5)
        assert report["id"] in lines.events()[0]
        # A long one (over the 3 s give-up time here): the stream says so and ends cleanly.
        await proxy.cut()
        await asyncio.wait_for(lines.ended.wait(), timeout=10)
        assert lines.comments("the live feed is unavailable; reconnect later"), lines.received
    messages = [r.getMessage() for r in logged.records if r.name == "gmid.live_stream"]
    assert any("redis read failed" in m for m in messages) and any("stream ended" in m for m in messages)
    assert_no_traceback(logged)


async def test_a_stream_ends_when_its_account_is_disabled(
    app: Sanic, client: httpx.AsyncClient, logged: pytest.LogCaptureFixture
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    admin = await user(app, Role.ADMIN, node="GM")
    async with open_stream(client, grid) as lines:
        first = await submit(client, resident)
        await lines.wait_for(lambda: lines.events(), within=3)
        disabled = await client.patch(
            f"/api/v1/accounts/{grid.account.public_id}", json={"is_active": False}, headers=admin.headers
        )
        assert disabled.status_code == 200, disabled.text
        assert (await client.get("/api/v1/grid/feed", headers=grid.headers)).status_code == 401
        # At the next keep-alive at the latest, the stream says why and ends.
        await asyncio.wait_for(lines.ended.wait(), timeout=KEEPALIVE + 2.0)
        assert lines.comments("this account is disabled"), lines.received
        later = await submit(client, resident)
        await asyncio.sleep(0.5)
        assert [first["id"] in e for e in lines.events()] == [True]
        assert later["id"] not in str(lines.received)
    assert_no_traceback(logged)


async def test_a_stream_ends_when_its_access_token_expires(
    app: Sanic, client: httpx.AsyncClient, logged: pytest.LogCaptureFixture
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    short = User(grid.account, auth(await token_for(app, grid.account, ttl=2)))
    async with open_stream(client, short) as lines:
        opened = time.monotonic()
        report = await submit(client, resident)
        await lines.wait_for(lambda: lines.events(), within=2)  # delivered while the token holds
        await asyncio.wait_for(lines.ended.wait(), timeout=2 + KEEPALIVE + 2.0)
        assert time.monotonic() - opened >= 1.0
        assert lines.comments("the access token has expired; refresh it and reconnect"), lines.received
        assert report["id"] in lines.events()[0]
    # A fresh token opens it again.
    async with open_stream(client, grid) as lines:
        assert not lines.ended.is_set()
    assert_no_traceback(logged)


async def test_a_disabled_account_hears_no_event_after_the_last_second(
    app: Sanic, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, logged: pytest.LogCaptureFixture
) -> None:
    """Review 3, F11: the account is checked again before events are sent (when its last check is a
    second old), not only at each keep-alive: a long keep-alive does not lengthen what a disabled
    account still hears."""
    monkeypatch.setattr(live_stream, "KEEPALIVE_SECONDS", 30.0)
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    admin = await user(app, Role.ADMIN, node="GM")
    async with open_stream(client, grid) as lines:
        await asyncio.sleep(live_stream.ACCOUNT_RECHECK_SECONDS + 0.2)
        disabled = await client.patch(
            f"/api/v1/accounts/{grid.account.public_id}", json={"is_active": False}, headers=admin.headers
        )
        assert disabled.status_code == 200, disabled.text
        report = await submit(client, resident)
        await asyncio.wait_for(lines.ended.wait(), timeout=5.0)  # long before the 30 s keep-alive
        assert lines.comments("this account is disabled"), lines.received
        assert report["id"] not in str(lines.received)
    assert_no_traceback(logged)


async def test_one_account_holds_at_most_a_few_streams_and_starves_nobody(
    app: Sanic, client: httpx.AsyncClient, logged: pytest.LogCaptureFixture
) -> None:
    """Review 3, F13: each stream holds a blocking Redis read; one account may hold only
    STREAMS_PER_ACCOUNT at once (429 too_many_streams beyond, with Retry-After), a closed stream gives
    its slot back, and another account's stream still delivers while the first holds all of its."""
    from server import stream_slots

    resident = await user(app, Role.RESIDENT)
    greedy = await user(app, Role.GRID_STAFF, node="GM010101")
    other = await user(app, Role.GRID_STAFF, node="GM010101")
    async with contextlib.AsyncExitStack() as held:
        streams = [
            await held.enter_async_context(open_stream(client, greedy)) for _ in range(stream_slots.STREAMS_PER_ACCOUNT)
        ]
        refused = await client.get("/api/v1/grid/feed/stream", headers=greedy.headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "too_many_streams" and refused.headers["Retry-After"]
        async with open_stream(client, other) as lines:
            report = await submit(client, resident)
            await lines.wait_for(lambda: any(report["id"] in e for e in lines.events()), within=3)
        await streams[0].wait_for(lambda: any(report["id"] in e for e in streams[0].events()), within=3)
    # Every slot is given back when its stream ends.
    async with open_stream(client, greedy) as lines:
        assert not lines.ended.is_set()
    assert_no_traceback(logged)
