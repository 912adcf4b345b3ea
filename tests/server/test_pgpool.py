"""PostgreSQL's pool skips asyncpg's session reset on release (``server/pgpool.py``): a connection must
still come back without an open transaction, and the application must keep no session state."""

from __future__ import annotations

from pathlib import Path

import pytest
from tortoise import connections

from server import db
from server.pgpool import Client

ROOT = Path(__file__).resolve().parents[2]


def test_postgres_urls_use_the_pool_without_reset() -> None:
    config = db.tortoise_config("postgres://gmid@127.0.0.1:5432/gmid")
    connection = config["connections"]["default"]
    assert connection["engine"] == "server.pgpool"
    assert connection["credentials"]["maxsize"] == "20"
    # SQLite has its own client (server/sqlite.py; tests/server/test_sqlite_concurrency.py).
    assert db.tortoise_config("sqlite:///tmp/x.sqlite3")["connections"]["default"]["engine"] == "server.sqlite"


def test_no_code_keeps_session_state_on_a_pooled_connection() -> None:
    # What asyncpg's reset would have undone: session SET, LISTEN, session advisory locks, cursors.
    forbidden = ("pg_advisory_lock(", "LISTEN ", "DECLARE ", "SET SESSION", "set_config(")
    for package in ("server", "identity", "qr", "notify", "miniapp_api"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found = [word for word in forbidden if word in text and path.name != "pgpool.py"]
            assert not found, f"{path.relative_to(ROOT)} uses {found}: pooled connections are not reset"


async def test_a_connection_comes_back_without_the_transaction_it_left_open(running: object) -> None:
    client = connections.get("default")
    if not isinstance(client, Client):
        pytest.skip("PostgreSQL only (GMID_TEST_DATABASE_URL)")
    await client.execute_query("SELECT 1")  # the pool opens with the first statement
    pool = client._pool
    assert pool is not None
    async with pool.acquire() as raw:
        await raw.execute("BEGIN")
        await raw.execute("CREATE TEMP TABLE left_behind (x int) ON COMMIT DROP")
        assert raw.is_in_transaction()
    for _ in range(pool.get_size() + 1):
        async with pool.acquire() as again:
            assert not again.is_in_transaction()
            assert await again.fetchval("SELECT to_regclass('pg_temp.left_behind')") is None
