"""The embedded Redis: a real redis-server on a unix socket, started and stopped with the app."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
import redis

from server.redis import EmbeddedRedis, embedded_for
from server.settings import Settings
from tests.support.app_server import RunningApp
from tests.support.processes import process_alive


def ping(socket_path: Path) -> bool:
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


def test_start_ping_second_start_and_stop(short_dir: Path) -> None:
    embedded = EmbeddedRedis(short_dir / "redis")
    assert len(str(embedded.socket_path)) < 108

    assert embedded.start() is True
    try:
        assert embedded.process is not None
        pid = embedded.process.pid
        assert embedded.socket_path.is_socket()
        assert ping(embedded.socket_path)
        # Only the owner may reach it.
        assert stat.S_IMODE(embedded.folder.stat().st_mode) == 0o700

        client = redis.Redis.from_url(embedded.url)
        try:
            client.set("gmid:probe", b"1")
            assert client.get("gmid:probe") == b"1"
        finally:
            client.close()

        # Already running: neither this object nor another one for the same folder starts a second server.
        assert embedded.start() is False
        other = EmbeddedRedis(short_dir / "redis")
        assert other.start() is False
        assert other.process is None
        other.stop()  # it started nothing, so it stops nothing
        assert ping(embedded.socket_path)
    finally:
        embedded.stop()

    assert not process_alive(pid)
    assert not embedded.socket_path.exists()
    assert embedded.is_running() is False
    embedded.stop()  # a second stop is harmless


def test_start_again_after_stop(short_dir: Path) -> None:
    embedded = EmbeddedRedis(short_dir / "redis")
    assert embedded.start() is True
    embedded.stop()
    assert embedded.start() is True
    try:
        assert ping(embedded.socket_path)
    finally:
        embedded.stop()


@pytest.fixture
def embedded_settings(settings: Settings, short_dir: Path) -> Settings:
    from server.cli import init_keys

    result = settings.replace(redis_url=None, var_dir=str(short_dir / "var"))
    init_keys(result)
    return result


async def test_app_without_redis_url_runs_its_own_redis(embedded_settings: Settings) -> None:
    from server.app import create_app

    embedded = embedded_for(embedded_settings)
    assert not embedded.is_running()
    app = create_app(embedded_settings)

    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        assert embedded.is_running()
        own = app.ctx.own_redis
        assert own is not None and own.process is not None
        pid = own.process.pid
        assert process_alive(pid)

        r = await http.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "redis": "ok"}

    assert not process_alive(pid)
    assert not embedded.socket_path.exists()
    assert not embedded.is_running()


async def test_app_shares_an_embedded_redis_it_did_not_start(embedded_settings: Settings) -> None:
    """As under `gmid serve`: the main process starts it; a worker uses it and leaves it running."""
    from server.app import create_app

    shared = embedded_for(embedded_settings)
    assert shared.start() is True
    try:
        assert shared.process is not None
        app = create_app(embedded_settings)
        async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            assert app.ctx.own_redis is None
            r = await http.get("/readyz")
            assert r.status_code == 200, r.text
        assert process_alive(shared.process.pid)
        assert ping(shared.socket_path)
    finally:
        shared.stop()
