"""PostgreSQL helpers for the tests: other databases on the CI server, by URL."""

from __future__ import annotations

from urllib.parse import urlparse, urlunparse


def pg_url(url: str, database: str) -> str:
    """``url`` pointing at another database of the same server."""
    return urlunparse(urlparse(url)._replace(path="/" + database))


async def pg_admin(url: str, *statements: str) -> None:
    """Run statements (CREATE/DROP DATABASE...) outside any transaction, as ``url``'s user."""
    import asyncpg

    parts = urlparse(url)
    conn = await asyncpg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        database=parts.path.lstrip("/") or "postgres",
    )
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()
