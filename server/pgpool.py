"""PostgreSQL through Tortoise's asyncpg client, without asyncpg's session reset on every release.

asyncpg resets a connection each time it goes back to the pool: ``SELECT pg_advisory_unlock_all();
CLOSE ALL; UNLISTEN *; RESET ALL``, one more round trip after every statement Tortoise runs outside
a transaction (a fifth of a police lookup's time went there). Nothing in this application leaves
session state behind: locks are row locks or ``pg_advisory_xact_lock`` (ended by the transaction),
settings are ``SET LOCAL``, and nothing LISTENs. An open transaction is still rolled back on release
(asyncpg does that before it calls the reset hook).
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient


async def _keep_session(connection: asyncpg.Connection) -> None:
    return None


class Client(AsyncpgDBClient):
    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return await asyncpg.create_pool(None, reset=_keep_session, **kwargs)


client_class = Client
