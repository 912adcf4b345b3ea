"""Another process writing to the test's SQLite file: it takes the write lock, changes a row, holds
the lock for a while, then commits (what the server or its background worker does beside a CLI)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from types import TracebackType

SCRIPT = r"""
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
con.execute("CREATE TABLE IF NOT EXISTS test_busy_writer (at REAL)")
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO test_busy_writer VALUES (?)", (time.time(),))
print("holding", flush=True)
if sys.argv[2] == "until-released":
    sys.stdin.readline()  # the test says when: however slow the machine, the lock is held until then
else:
    time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
print("committed", flush=True)
"""


def sqlite_path(database_url: str) -> Path:
    assert database_url.startswith("sqlite://"), database_url
    return Path(database_url[len("sqlite://") :].split("?", 1)[0])


class BusyWriter:
    """``async with BusyWriter(url, seconds):`` returns once the other process holds the write lock. With
    ``seconds=None`` it holds the lock until ``release()`` (or the end of the block)."""

    def __init__(self, database_url: str, seconds: float | None) -> None:
        self.path = sqlite_path(database_url)
        self.seconds = seconds
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> BusyWriter:
        hold = "until-released" if self.seconds is None else str(self.seconds)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SCRIPT,
            str(self.path),
            hold,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=30)
        assert line.strip() == b"holding", line
        return self

    def release(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        if not self.proc.stdin.is_closing():
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.close()

    async def committed(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        if self.seconds is None:
            self.release()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=(self.seconds or 0) + 30)
        assert line.strip() == b"committed", line
        assert await self.proc.wait() == 0

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.returncode is None:
            if exc_type is None:
                await self.committed()
            else:
                self.proc.kill()
                await self.proc.wait()
