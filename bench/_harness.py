"""What the bench scripts share: their folder and processes, the ``gmid`` command line, a bare Sanic
hello-world to compare with, HTTP clients and the load loop, and seeding in worker processes.

A bench's ``main`` parses its arguments, then ``return run("name", body, prefix=..., keep=...)``:
``body(work)`` gets a ``Workspace`` (a short temporary folder; every process started through it is
stopped at the end, whatever happens) and returns the exit code. Ctrl-C and SIGTERM give 130, a
``RuntimeError`` or ``OSError`` one line (and the log of any process that died) and 1.

Run as a script, this file is the hello-world: ``python bench/_harness.py --serve-hello PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json as json_module
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlparse, urlunparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's packages

import httpx

from server.settings import SPECS, Settings

HOST = "127.0.0.1"  # loopback only: the benches never load anything but their own servers
GMID = Path(sys.executable).parent / "gmid"
T = TypeVar("T")


# The gmid command line ----------------------------------------------------------------------------------


def require_gmid(parser: argparse.ArgumentParser) -> None:
    if not GMID.exists():
        parser.error(f"{GMID} is missing: run `make install` and use .venv/bin/python")


def gmid_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a ``gmid`` subprocess that reads exactly ``settings`` (nothing GMID_* from our
    shell), and the ``extra`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    for spec in SPECS:
        value = getattr(settings, spec.attr)
        if value is not None and value != spec.default:
            env[spec.env] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    Settings.from_env(env, env_file=None)  # a value that does not survive the round trip stops here
    env.update(extra)
    return env


LIFTED_RATE = "1000000000/second"


def server_env(settings: Settings, port: int, workers: int, *, lifted_routes: Sequence[str] = ()) -> dict[str, str]:
    """``gmid serve`` for a load: no background jobs beside it, no access log, and rate limits that stay
    on (their Redis round trip is part of each request's cost) at rates no bench reaches, by default and
    on ``lifted_routes``."""
    env = gmid_env(
        settings,
        GMID_HOST=HOST,
        GMID_PORT=str(port),
        GMID_WORKERS=str(workers),
        GMID_NOTIFY_WORKER="false",
        GMID_RATE_LIMIT_IP=LIFTED_RATE,
        GMID_RATE_LIMIT_ACCOUNT=LIFTED_RATE,
        GMID_ACCESS_LOG="false",
    )
    if lifted_routes:
        env["GMID_RATE_LIMITS"] = ";".join(f"{route}=ip:{LIFTED_RATE}|account:{LIFTED_RATE}" for route in lifted_routes)
    return env


def gmid(env: dict[str, str], *args: str, cwd: Path) -> tuple[float, str]:
    """Run ``gmid ARGS`` (in ``cwd``, outside the repository: a developer's .env stays out); its wall
    time, process start included, and its standard output."""
    started = time.perf_counter()
    proc = subprocess.run([str(GMID), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(
            f"gmid {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return seconds, proc.stdout


# Processes ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A subprocess in its own session (Ctrl-C reaches only the bench, which stops it), its output in a log."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def exited(self) -> bool:
        return self.process.poll() is not None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def terminate(self) -> None:
        # SIGTERM is gmid's graceful stop: work in flight finishes, the embedded Redis is stopped.
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 20.0) -> None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class Server(Process):
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/healthz"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {self.url} within {timeout:.0f} s:\n{self.log_tail()}")


class Workspace:
    """A short temporary folder for one run (the embedded Redis listens on a unix socket inside
    ``var_dir``: paths under 108 bytes), and what the run started in it."""

    def __init__(self, prefix: str, *, keep: bool = False) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.var_dir = self.path / "var"
        self.keep = keep
        self.processes: list[Process] = []
        self._cleanups = contextlib.ExitStack()

    def start(self, name: str, argv: list[str], *, env: dict[str, str]) -> Process:
        """A process running ``argv`` in this folder (outside the repository: a developer's .env stays out)."""
        log_path = self.path / (re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") + ".log")
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                argv,
                env=env,
                cwd=self.path,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def start_server(self, name: str, argv: list[str], *, env: dict[str, str], port: int) -> Server:
        """A process that serves HTTP on ``port`` (``wait_ready`` waits for its ``/healthz``)."""
        process = self.start(name, argv, env=env)
        server = Server(process.name, process.process, process.log_path, port)
        self.processes[-1] = server
        return server

    def start_hello(self) -> Server:
        """The bare Sanic hello-world (this file as a script), on a port of its own."""
        port = free_port()
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve-hello", str(port)]
        return self.start_server("bare Sanic hello", argv, env=dict(os.environ), port=port)

    def callback(self, fn: Callable[[], object]) -> None:
        """Call ``fn`` on the way out, after the processes stopped (the last registered first)."""
        self._cleanups.callback(fn)

    def stop_processes(self) -> None:
        """Every process this run started, all asked at once; again is harmless."""
        for process in self.processes:
            process.terminate()
        for process in reversed(self.processes):
            process.wait_stopped()

    def died(self) -> list[Process]:
        return [p for p in self.processes if p.exited()]

    def close(self) -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        try:
            self.stop_processes()
            stop_leftover_redis(self.var_dir)
            self._cleanups.close()
        finally:
            signal.signal(signal.SIGINT, previous)
            if self.keep:
                print(f"kept {self.path}", file=sys.stderr)
            else:
                shutil.rmtree(self.path, ignore_errors=True)


def stop_leftover_redis(var_dir: Path) -> None:
    """Should gmid have died without its stop listeners, shut its embedded Redis down here."""
    sock = var_dir / "redis" / "redis.sock"
    if not sock.exists():
        return
    try:
        import redis
    except ImportError:
        return
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=2)
    with contextlib.suppress(redis.RedisError, OSError):
        client.shutdown(nosave=True)
    client.close()


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM stops the bench as Ctrl-C does."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(name: str, body: Callable[[Workspace], int], *, prefix: str, keep: bool = False) -> int:
    """``body(workspace)``'s exit code; 130 on Ctrl-C or SIGTERM, 1 with one line on a ``RuntimeError``
    or an ``OSError``. The workspace is closed whatever happens."""
    work = Workspace(prefix, keep=keep)
    try:
        with terminate_on_sigterm():
            return body(work)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        for process in work.died():
            print(f"{process.name} log:\n{process.log_tail()}", file=sys.stderr)
        return 1
    finally:
        work.close()


# The bare Sanic hello-world (this file run as a script) -----------------------------------------------------


def serve_hello(port: int) -> None:
    from sanic import Sanic
    from sanic.response import json

    app = Sanic("bare_hello")
    app.config.MOTD = False
    app.config.ACCESS_LOG = False
    app.config.AUTO_EXTEND = False  # bare: no sanic-ext, even where it is installed

    @app.get("/healthz")
    async def healthz(request):  # type: ignore[no-untyped-def]
        return json({"status": "ok"})

    @app.post("/api/v1/scan")
    async def scan(request):  # type: ignore[no-untyped-def]
        # The same request as the real scan, body parsed; a small answer, nothing else.
        payload = (request.json or {}).get("payload", "")
        return json({"valid": True, "code": "ok", "length": len(payload)})

    app.run(host=HOST, port=port, single_process=True, access_log=False, motd=False)


# Running coroutines ---------------------------------------------------------------------------------------


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """With uvloop when installed: the client's own CPU per request is part of what a load measures."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def run_plain(factory: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await factory()

    return asyncio.run(wrapper())


# The load ---------------------------------------------------------------------------------------------------

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


# Seeding --------------------------------------------------------------------------------------------------


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


if __name__ == "__main__":
    hello = argparse.ArgumentParser(description="the bare Sanic hello-world the benches compare with")
    hello.add_argument("--serve-hello", type=int, metavar="PORT", required=True)
    serve_hello(hello.parse_args().serve_hello)
