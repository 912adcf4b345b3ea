"""Writes that record what already happened, through a busy database.

A send the provider accepted must not be sent again because its result could not be written: a busy
database (SQLite's write lock, a dropped PostgreSQL connection) is waited out by :func:`durable`, with
doubling pauses, until shortly before the row's lease runs out. :func:`is_transient` tells such a
passing failure from one about the statement or its data, which no wait fixes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable

import asyncpg
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError, TransactionManagementError

from notify.models import Notification

log = logging.getLogger("gmid.notify.dispatcher")


async def durable(row: Notification, write: Callable[[], Awaitable[None]], *, lease_seconds: float) -> None:
    """Run ``write``, retrying it while the database is busy and the lease lasts; an error about the
    statement or its data (a value too long for its column) is raised at once, and so is ``LeaseLost``
    (it is not transient)."""
    deadline = time.monotonic() + max(1.0, lease_seconds - 5.0)
    if row.lease_until is not None:
        left = (row.lease_until - dt.datetime.now(dt.UTC)).total_seconds() - 2.0
        deadline = time.monotonic() + max(1.0, left)
    pause = 0.05
    while True:
        try:
            await write()
            return
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning("database busy, write retried id=%s error=%s", row.public_id, exc.__class__.__name__)
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)


def is_transient(exc: BaseException) -> bool:
    """A database failure that passes (SQLite busy or locked, a lost PostgreSQL connection, a
    serialization failure), as opposed to one about the statement or its data, which recurs."""
    if isinstance(exc, IntegrityError):
        return False
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__cause__
    for candidate in (exc, inner):
        if isinstance(candidate, sqlite3.OperationalError):
            text = str(candidate).lower()
            return "locked" in text or "busy" in text
        if isinstance(
            candidate,
            asyncpg.exceptions.DataError
            | asyncpg.exceptions.SyntaxOrAccessError
            | asyncpg.exceptions.IntegrityConstraintViolationError,
        ):
            return False
        if isinstance(
            candidate,
            asyncpg.exceptions.PostgresConnectionError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.TransactionRollbackError
            | asyncpg.exceptions.OperatorInterventionError
            | asyncpg.exceptions.LockNotAvailableError
            | ConnectionError
            | TimeoutError,
        ):
            return True
    return isinstance(exc, OperationalError | DBConnectionError | TransactionManagementError)
