"""The measuring tools beside the harness's: the CPU probe (server, database, client) and the open-loop
client that starts requests on a fixed schedule over a pool of keep-alive connections."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _load import Check, Figures, RawAnswer, RawConnection, RawError, Request


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds used so far) of every process we can read."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / tick)
    return stats


CPU_GROUPS = ("server", "database", "client")


@dataclass
class CpuProbe:
    """CPU seconds used so far by the server (its whole process tree), by PostgreSQL (every
    ``postgres`` process, when the database is on this machine) and by this client."""

    server_pid: int
    local_postgres: bool

    def read(self) -> dict[str, float]:
        stats = _proc_stats()
        tree, frontier = {self.server_pid}, [self.server_pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, (ppid, _, _) in stats.items() if ppid == parent and pid not in tree]
            tree.update(children)
            frontier.extend(children)
        times = os.times()
        figures = {
            "server": sum(stats[pid][2] for pid in tree if pid in stats),
            "client": times.user + times.system,
        }
        if self.local_postgres:
            figures["database"] = sum(cpu for _, name, cpu in stats.values() if name == "postgres")
        return figures


@dataclass
class Paced:
    """Requests started on a fixed schedule (an open loop): latency counts from the scheduled start, so
    time spent queueing behind a slow answer is not hidden (closed-loop clients that wait for each answer
    before the next request measure the queue, not the service, and a stall lowers the load it meets)."""

    rate: float
    figures: Figures
    late_ms: list[float] = field(default_factory=list)  # how late the client itself started each request

    @property
    def achieved(self) -> float:
        return len(self.figures.latencies_ns) / self.figures.seconds if self.figures.seconds else 0.0


class ConnectionPool:
    """Keep-alive connections handed out one request at a time; a new one opens when all are busy."""

    def __init__(self, base_url: str, most: int = 512) -> None:
        self.base_url, self.most = base_url, most
        self.idle: list[RawConnection] = []
        self.opened: list[RawConnection] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> RawAnswer:
        if self.idle:
            connection = self.idle.pop()
        elif len(self.opened) < self.most:
            connection = RawConnection(self.base_url)
            self.opened.append(connection)
        else:
            raise RawError("connection pool exhausted")
        try:
            return await connection.request(method, url, **kwargs)
        finally:
            self.idle.append(connection)

    def close(self) -> None:
        for connection in self.opened:
            connection.close()


async def paced(
    name: str,
    base_url: str,
    rate: float,
    seconds: float,
    first: int,
    make: Callable[[int], Request],
    check: Check,
    cpu: CpuProbe | None = None,
) -> Paced:
    """Start ``rate`` requests a second for ``seconds`` (after a one-second warm-up at the same rate)."""
    print(f"  {name}: {rate:g}/s for {seconds:g} s (+1 s warm-up)", file=sys.stderr, flush=True)
    pool = ConnectionPool(base_url)
    result = Paced(rate, Figures(name))
    warm = int(rate)
    total = warm + int(rate * seconds)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int, due: float) -> None:
        measured = i >= warm
        method, url, kwargs = make(first + i)
        start_ns = time.perf_counter_ns()
        if measured:
            result.late_ms.append(max(0.0, loop.time() - due) * 1000)
        scheduled_ns = start_ns - int(max(0.0, loop.time() - due) * 1e9)
        try:
            response = await pool.request(method, url, **kwargs)
        except RawError as exc:
            if measured:
                result.figures.failures[f"exception {exc}"] += 1
            return
        if not measured:
            return
        result.figures.latencies_ns.append(time.perf_counter_ns() - scheduled_ns)
        problem = check(response)
        if problem is not None:
            result.figures.failures[problem] += 1

    try:
        origin = loop.time() + 0.05
        before: dict[str, float] = {}
        measured_from = 0.0
        for i in range(total):
            due = origin + i / rate
            if i == warm:
                await asyncio.gather(*tasks)  # the warm-up's answers are in before the measure starts
                tasks.clear()
                before = cpu.read() if cpu else {}
                measured_from = time.perf_counter()
                origin = loop.time() - i / rate  # the schedule goes on from now, not from the warm-up's start
                due = origin + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        result.figures.seconds = time.perf_counter() - measured_from
        after = cpu.read() if cpu else {}
        done = max(len(result.figures.latencies_ns), 1)
        result.figures.cpu_ms = {k: (after[k] - before[k]) * 1000 / done for k in before}
    finally:
        pool.close()
    return result
