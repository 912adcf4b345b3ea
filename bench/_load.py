"""What the bench scripts share for the load: requests and their checks, figures, a raw HTTP/1.1
connection (less client CPU than httpx), the load loop and its measurement."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json as json_module
import re
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlparse

import httpx
from _harness import HOST

Request = tuple[str, str, dict[str, Any]]  # method, URL path, httpx keyword arguments


Check = Callable[[Any], str | None]  # None when the answer (httpx's or RawAnswer) is right, otherwise why not


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return float(sorted_values[min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))])


@dataclass
class Figures:
    name: str
    latencies_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per request: server, database, client

    @property
    def errors(self) -> int:
        return sum(self.failures.values())

    @property
    def rps(self) -> float:
        return len(self.latencies_ns) / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        """The latency at ``fraction`` (0.99: p99), in milliseconds."""
        return percentile(sorted(self.latencies_ns), fraction) / 1e6


def error_code(response: Any) -> str:
    """``STATUS error.code``: the error shape's code only, never its message or details."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "?"
    return f"{response.status_code} {code}"


def expect(status: int, check: Callable[[dict[str, Any]], str | None] | None = None) -> Check:
    def run(response: Any) -> str | None:
        if response.status_code != status:
            return error_code(response)
        return check(response.json()) if check is not None else None

    return run


class RawError(Exception):
    """The raw client's connection failed or answered something it cannot read."""


@dataclass
class RawAnswer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json_module.loads(self.content)


class RawConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time: a client far lighter than httpx, for
    when httpx is what runs out of CPU."""

    def __init__(self, base_url: str) -> None:
        parts = urlparse(base_url)
        self.host, self.port = parts.hostname or HOST, parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: object = None,
        headers: dict[str, str] | None = None,
    ) -> RawAnswer:
        target = url + ("?" + urlencode(params) if params else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        body = b""
        if json is not None:
            body = json_module.dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length is None:
                raise ValueError("no Content-Length")
            content = await self.reader.readexactly(int(length.group(1)))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.close()
            raise RawError(type(exc).__name__) from exc
        if re.search(rb"(?i)\r\nconnection:\s*close", head):
            self.close()
        return RawAnswer(status, content)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


Sender = Callable[..., Awaitable[Any]]  # httpx.AsyncClient.request, or RawConnection.request


@contextlib.asynccontextmanager
async def senders(base_url: str, client: str, concurrency: int) -> AsyncIterator[list[Sender]]:
    """``concurrency`` ways to send a request: one shared httpx client (``client="httpx"``), or one raw
    keep-alive connection each (``"raw"``); all closed on the way out."""
    async with contextlib.AsyncExitStack() as stack:
        if client == "httpx":
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            # trust_env=False: a proxy from the environment must not sit between us and the loopback servers.
            http = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0, trust_env=False)
            await stack.enter_async_context(http)
            yield [http.request] * concurrency
        else:
            connections = [RawConnection(base_url) for _ in range(concurrency)]
            for connection in connections:
                stack.callback(connection.close)
            yield [connection.request for connection in connections]


async def drive(
    senders: Sequence[Sender],
    sink: Figures,
    indices: Iterable[int],
    make: Callable[[int], Request],
    check: Check,
    *,
    until: float | None = None,
) -> None:
    """Send make(j) for every j of ``indices`` (or, with ``until``, until ``time.perf_counter()`` passes
    it), one task per sender; record into ``sink``."""
    todo = iter(indices)

    async def task(send: Sender) -> None:
        for j in todo:  # one iterator shared by the tasks: each index is sent once
            if until is not None and time.perf_counter() >= until:
                return
            method, url, kwargs = make(j)
            started = time.perf_counter_ns()
            try:
                response = await send(method, url, **kwargs)
            except (httpx.HTTPError, RawError) as exc:
                name = str(exc) if isinstance(exc, RawError) else type(exc).__name__
                sink.failures[f"exception {name}"] += 1
                continue
            sink.latencies_ns.append(time.perf_counter_ns() - started)
            problem = check(response)
            if problem is not None:
                sink.failures[problem] += 1

    started = time.perf_counter()
    await asyncio.gather(*(task(send) for send in senders))
    sink.seconds = time.perf_counter() - started


class CpuReader(Protocol):
    def read(self) -> dict[str, float]: ...


async def measure(
    name: str,
    base_url: str,
    args: argparse.Namespace,
    make: Callable[[int], Request],
    check: Check,
    cpu: CpuReader | None = None,
) -> Figures:
    """``args.warmup`` requests, then ``args.requests`` measured, from ``args.concurrency`` ``args.client``
    clients; with ``cpu``, also the CPU a request cost (what ``cpu.read()`` counts, per request)."""
    requests, warmup = args.requests, args.warmup
    print(f"  {name}: {warmup:,} warm-up, then {requests:,} requests", file=sys.stderr, flush=True)
    async with senders(base_url, args.client, args.concurrency) as send:
        figures = Figures(name)
        if warmup:
            warm = Figures("warm-up")
            await drive(send, warm, range(warmup), make, check)
            figures.failures.update({f"(warm-up) {why}": n for why, n in warm.failures.items()})
        before = cpu.read() if cpu else {}
        await drive(send, figures, range(warmup, warmup + requests), make, check)
        after = cpu.read() if cpu else {}
        figures.cpu_ms = {k: (after[k] - before[k]) * 1000 / requests for k in before}
        return figures
