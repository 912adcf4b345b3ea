"""Scan records written in batches: a scan answers without waiting for its row.

Scanning is the busiest call (checkpoint bursts, officers in the street), and one INSERT and commit per
scan cost more than the rest of the scan. Each process keeps the records of its scans in memory and
writes them every ``interval`` seconds (or as soon as ``batch`` are waiting) in one multi-row INSERT.
A clean stop writes what is left before the database closes; a process killed outright loses at most
the last interval's records (never an answer: the record is a log of what was answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

log = logging.getLogger("gmid.qr.scanlog")

INTERVAL_SECONDS = 0.25
BATCH = 500
MAX_WAITING = 50_000  # beyond this (the database away for long) the oldest records are dropped


class ScanLog:
    COLUMNS = ("at", "actor", "audience", "public_id", "kind", "result", "lat", "lng", "client_addr", "request_id")

    def __init__(self, *, interval: float = INTERVAL_SECONDS, batch: int = BATCH) -> None:
        self.interval = interval
        self.batch = batch
        self._rows: list[tuple[Any, ...]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0

    def add(self, **fields: Any) -> None:
        """One scan's record: ``at`` (now unless given), the text columns ("" unless given), lat, lng."""
        fields.setdefault("at", datetime.now(UTC))
        self.add_row(tuple(fields.get(name, None if name in ("lat", "lng") else "") for name in self.COLUMNS))

    def add_row(self, row: tuple[Any, ...]) -> None:
        """One scan's record as a tuple of ``COLUMNS`` in order (the scan's own path: no dict per scan)."""
        self._rows.append(row)
        if len(self._rows) > MAX_WAITING:
            self.dropped += len(self._rows) - MAX_WAITING
            del self._rows[: len(self._rows) - MAX_WAITING]
        if len(self._rows) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> int:
        """Write every waiting record now; the number written."""
        async with self._lock:
            written = 0
            while self._rows:
                rows, self._rows = self._rows[: self.batch], self._rows[self.batch :]
                try:
                    await self._insert(rows)
                except Exception as exc:
                    # Kept for the next try (the database may be busy or away for a moment).
                    self._rows[:0] = rows
                    log.warning("scan records not written yet count=%s error=%s", len(rows), exc.__class__.__name__)
                    break
                written += len(rows)
            return written

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        # One multi-row statement, without building a model object per scan.
        async with in_transaction() as conn:
            postgres = conn.capabilities.dialect == "postgres"
            marks = ", ".join(f"${n}" if postgres else "?" for n in range(1, len(self.COLUMNS) + 1))
            sql = f"INSERT INTO qr_scan_event ({', '.join(self.COLUMNS)}) VALUES ({marks})"  # noqa: S608 - fixed names
            await conn.execute_many(sql, [list(row) for row in rows])

    async def close(self) -> None:
        """Stop the writer and write what is left (before the database closes)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
        if self._rows:
            log.error("scan records lost at stop count=%s", len(self._rows))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            await self.flush()
