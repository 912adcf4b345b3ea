"""What the bench scripts share for seeding: rows generated in worker processes with a progress line,
and a throw-away PostgreSQL database of their own."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlparse, urlunparse

from _harness import Workspace

T = TypeVar("T")


class Progress:
    """A plain-text progress bar on stderr, redrawn at most five times a second."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = total, label
        self.started = self.shown = time.perf_counter()
        self.done = 0

    def update(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.shown < 0.2 and self.done < self.total:
            return
        self.shown = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed else 0.0
        eta = (self.total - self.done) / rate if rate else float("nan")
        filled = int(30 * self.done / self.total)
        bar = "#" * filled + "." * (30 - filled)
        print(
            f"\r{self.label} [{bar}] {self.done:>11,} / {self.total:,} {rate:>9,.0f}/s  ETA {eta:5.0f} s ",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        print(file=sys.stderr, flush=True)


def _start_seeding_process(initializer: Callable[..., None], *initargs: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    initializer(*initargs)


async def generate_in_processes(
    total: int,
    chunk: int,
    *,
    processes: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    generate: Callable[[int, int], T],
    consume: Callable[[T], Awaitable[None]],
    label: str,
) -> None:
    """``generate(start, end)`` for every chunk of ``range(total)`` in ``processes`` worker processes
    (each set up once by ``initializer(*initargs)``), one chunk ahead of ``consume(chunk)`` here, in order:
    the workers make rows while this process writes them; a progress bar on stderr. ``initializer`` and
    ``generate`` are module-level functions (the processes are spawned, not forked: this process holds a
    loop and sockets)."""
    loop = asyncio.get_running_loop()
    progress = Progress(total, label)
    with ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_seeding_process,
        initargs=(initializer, *initargs),
    ) as pool:
        todo = iter((start, min(start + chunk, total)) for start in range(0, total, chunk))
        pending: deque[tuple[int, asyncio.Future[T]]] = deque()

        def submit() -> None:
            span = next(todo, None)
            if span is not None:
                pending.append((span[1] - span[0], loop.run_in_executor(pool, generate, *span)))

        for _ in range(processes + 1):
            submit()
        try:
            while pending:
                size, future = pending.popleft()
                made = await future
                submit()
                await consume(made)
                progress.update(size)
        finally:
            for _, future in pending:
                future.cancel()
            progress.close()


def asyncpg_dsn(url: str) -> str:
    """The Tortoise URL for asyncpg: its scheme, without Tortoise's own options (maxsize=...)."""
    parts = urlparse(url)
    return urlunparse(parts._replace(scheme="postgresql", query=""))


def bench_database(admin_url: str, name: str, work: Workspace, *, keep: bool = False) -> str:
    """A fresh PostgreSQL database ``name`` on ``admin_url``'s server (dropped first if it exists, and at
    the end of the run unless ``keep``); its URL. ``admin_url``'s own database is only used to connect."""
    from tests.support.postgres import pg_admin, pg_url

    if name == (urlparse(admin_url).path.lstrip("/") or "postgres"):
        raise RuntimeError(f"the bench database {name} must not be the URL's own database: it is dropped")
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(pg_admin(admin_url, drop, f'CREATE DATABASE "{name}"'))
    if not keep:
        work.callback(lambda: asyncio.run(pg_admin(admin_url, drop)))
    return pg_url(admin_url, name)
