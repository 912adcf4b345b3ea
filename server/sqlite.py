"""SQLite through Tortoise's client, made safe for several processes writing to one file.

The embedded database is shared by the web workers, the background worker and the ``gmid`` command
line, each with its own connection. Tortoise's client opens transactions with a plain ``BEGIN``: the
transaction reads first and asks for the write lock only at its first write; if another process has
committed meanwhile, SQLite answers "database is locked" at once (the snapshot it read is stale, so
waiting cannot help) and the request fails half-way. Here:

- every connection gets ``busy_timeout`` (a write waits for another writer instead of failing),
  WAL (readers never wait for the writer) and foreign keys, set as the connection opens;
- every transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock at its start, waiting
  for it there, so it never fails in the middle (within one process Tortoise already runs one
  statement or transaction at a time on its one connection, so this costs no concurrency);
- a lock still held by another process when the timeout runs out raises ``DatabaseBusy``: a 503
  with Retry-After in the one error shape for a request, one line from the command line.

A transaction that cannot begin releases Tortoise's connection lock (Tortoise's own context would
keep it, and every later query of the process would hang).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from tortoise.backends.base.client import NestedTransactionContext, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.connection import get_connections
from tortoise.exceptions import OperationalError

from server.errors import ServiceUnavailable

log = logging.getLogger("gmid.db")

DEFAULT_BUSY_TIMEOUT_MS = 10_000
RETRY_AFTER_SECONDS = 5


class DatabaseBusy(ServiceUnavailable, OperationalError):
    """Another process held the SQLite write lock for longer than the busy timeout.

    A ServiceUnavailable (503, Retry-After) for the error handler and the command line, and still a
    Tortoise OperationalError for code that treats database failures as passing (the dispatcher)."""

    code = "database_busy"
    default_message = "The database is busy with another write; try again in a few seconds."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, details={"retry_after": RETRY_AFTER_SECONDS}
        )


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED, raw or as Tortoise wrapped it."""
    for candidate in (exc, exc.args[0] if exc.args else None, exc.__cause__):
        if isinstance(candidate, sqlite3.OperationalError):
            code = getattr(candidate, "sqlite_errorcode", None)
            if code is not None:
                return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            text = str(candidate).lower()
            return "database is locked" in text or "database is busy" in text or "database table is locked" in text
    return False


def _busy(what: str) -> DatabaseBusy:
    # INFO: the server's log shows it (and /metrics counts the 503s); the CLI's one line says it all.
    log.info("sqlite busy: %s gave up after the busy timeout", what)
    return DatabaseBusy()


class _Translate:
    """Every statement: a busy database becomes DatabaseBusy (Tortoise has made it an OperationalError)."""

    async def execute_insert(self, query: str, values: list[Any]) -> int:
        try:
            return await super().execute_insert(query, values)  # type: ignore[misc]
        except OperationalError as exc:
            if is_busy(exc):
                raise _busy("insert") from exc
            raise

    async def execute_many(self, query: str, values: list[list[Any]]) -> None:
        try:
            await super().execute_many(query, values)  # type: ignore[misc]
        except OperationalError as exc:
            if is_busy(exc):
                raise _busy("insert") from exc
            raise

    async def execute_query(self, query: str, values: list[Any] | None = None) -> tuple[int, Sequence[dict[str, Any]]]:
        try:
            return await super().execute_query(query, values)  # type: ignore[misc]
        except OperationalError as exc:
            if is_busy(exc):
                raise _busy("statement") from exc
            raise

    async def execute_query_dict(self, query: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        try:
            return await super().execute_query_dict(query, values)  # type: ignore[misc]
        except OperationalError as exc:
            if is_busy(exc):
                raise _busy("query") from exc
            raise

    async def execute_script(self, query: str) -> None:
        try:
            await super().execute_script(query)  # type: ignore[misc]
        except OperationalError as exc:
            if is_busy(exc):
                raise _busy("script") from exc
            raise


class Client(_Translate, SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        # The busy timeout first: setting WAL on a file another process is writing needs it already.
        timeout = int(self.pragmas.pop("busy_timeout", DEFAULT_BUSY_TIMEOUT_MS))
        self.busy_timeout_ms = timeout
        self.pragmas = {"busy_timeout": timeout, **self.pragmas}

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        # sqlite3's own `timeout` is the busy handler while the pragmas themselves run.
        self._connection = await aiosqlite.connect(
            self.filename, isolation_level=None, timeout=self.busy_timeout_ms / 1000
        )
        self._connection._conn.row_factory = sqlite3.Row
        try:
            for pragma, value in self.pragmas.items():
                cursor = await self._connection.execute(f"PRAGMA {pragma}={value}")
                await cursor.close()
        except sqlite3.OperationalError as exc:
            await self._connection.close()
            self._connection = None
            if is_busy(exc):
                raise _busy("connect") from exc
            raise OperationalError(exc) from exc
        await self._post_connect()

    def _in_transaction(self) -> TransactionContext:
        return _TransactionContext(_TransactionWrapper(self), self._lock)


class _TransactionWrapper(_Translate, SqliteTransactionWrapper):
    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(_TransactionWrapper(self))

    async def begin(self) -> None:
        try:
            await self._connection.commit()
            # The write lock now, waiting for it here (busy_timeout), never half-way through.
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise _busy("begin") from exc
            raise OperationalError(exc) from exc

    async def commit(self) -> None:
        try:
            await super().commit()
        except sqlite3.OperationalError as exc:
            # Nothing of it is kept: end the transaction rather than leave it open on the connection.
            await self._connection.rollback()
            self._finalized = True
            if is_busy(exc):
                raise _busy("commit") from exc
            raise OperationalError(exc) from exc


class _TransactionContext(SqliteTransactionContext):
    async def __aenter__(self) -> Any:
        await self._trxlock.acquire()
        try:
            await self.ensure_connection()
            self.token = get_connections().set(self.connection_name, self.connection)
            try:
                await self.connection.begin()
            except BaseException:
                get_connections().reset(self.token)
                raise
        except BaseException:
            self._trxlock.release()
            raise
        return self.connection


client_class = Client
