"""Throughput of ``GET /healthz`` on gmid beside a bare Sanic hello-world, measured in the same run.

Both servers run as subprocesses on 127.0.0.1 with one worker each: gmid through ``gmid serve`` (after
``gmid keys init`` and ``gmid migrate`` in a temporary ``GMID_VAR_DIR``: SQLite and the embedded Redis),
the hello-world as a Sanic app answering ``/healthz`` with the same JSON and nothing else. Each is
loaded in turn by the same generator: ``wrk`` when installed, otherwise a small asyncio client here
(HTTP/1.1 keep-alive, N connections, fixed duration). The gap between the two is what our middleware
(request id, auth, rate-limit lookup, idempotency, metrics) costs per request.

    .venv/bin/python bench/http_bench.py --duration 10 --concurrency 50

The figures describe this machine and this run only; the client shares the CPUs with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

HOST = "127.0.0.1"  # loopback only: this tool never loads anything but its own servers
MAX_DURATION = 300
MAX_CONCURRENCY = 1000


class Interrupted(Exception):
    """Ctrl-C or SIGTERM arrived while the load ran."""


@dataclass
class Figures:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# The bare Sanic hello-world (run as a subprocess of this file) ---------------------------------------


def serve_hello(port: int) -> None:
    from sanic import Sanic
    from sanic.response import json

    app = Sanic("bare_hello")
    app.config.MOTD = False
    app.config.ACCESS_LOG = False
    app.config.AUTO_EXTEND = False  # bare: no sanic-ext, even though it is installed

    @app.get("/healthz")
    async def healthz(request):  # type: ignore[no-untyped-def]
        return json({"status": "ok"})

    app.run(host=HOST, port=port, single_process=True, access_log=False, motd=False)


# Servers -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/healthz"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {self.url} within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGTERM is Sanic's graceful stop: workers finish, the embedded Redis is stopped.
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def start(name: str, argv: list[str], *, env: dict[str, str], cwd: Path, port: int) -> Server:
    log_path = cwd / (re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") + ".log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(name, port, process, log_path)


def gmid_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    env.update(
        GMID_VAR_DIR=str(var_dir),
        GMID_HOST=HOST,
        GMID_WORKERS="1",
        GMID_LOG_LEVEL="WARNING",
        GMID_ACCESS_LOG="false",
    )
    return env


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


# Load generators -----------------------------------------------------------------------------------


def percentile(sorted_values: list[int], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index] / 1e6


async def _connection(
    port: int, request: bytes, deadline: float, latencies: list[int], statuses: dict[int, int], errors: list[int]
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < deadline:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            assert reader is not None
            started = time.perf_counter_ns()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if match:
                    await reader.readexactly(int(match.group(1)))
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                errors[0] += 1
                writer.close()
                reader = writer = None
                continue
            latencies.append(time.perf_counter_ns() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if re.search(rb"(?i)\r\nconnection:\s*close", head):
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _load(port: int, path: str, seconds: float, concurrency: int) -> tuple[list[int], dict[int, int], int, float]:
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: keep-alive\r\n\r\n".encode()
    latencies: list[int] = []
    statuses: dict[int, int] = {}
    errors = [0]
    started = time.perf_counter()
    deadline = started + seconds
    # Ctrl-C or SIGTERM during the load: stop the connections cleanly, then let main() stop the servers.
    loop = asyncio.get_running_loop()
    load = asyncio.gather(
        *(_connection(port, request, deadline, latencies, statuses, errors) for _ in range(concurrency))
    )
    interrupted: list[int] = []

    def on_signal(signum: int) -> None:
        interrupted.append(signum)
        load.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await load
    except asyncio.CancelledError:
        if interrupted:
            raise Interrupted from None
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return latencies, statuses, errors[0], time.perf_counter() - started


LoadResult = tuple[list[int], dict[int, int], int, float]


def _run_async(coro: Coroutine[Any, Any, LoadResult]) -> LoadResult:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def python_load(server: Server, duration: float, concurrency: int, warmup: float) -> Figures:
    if warmup > 0:
        _run_async(_load(server.port, "/healthz", warmup, concurrency))
    latencies, statuses, errors, seconds = _run_async(_load(server.port, "/healthz", duration, concurrency))
    latencies.sort()
    ok = statuses.get(200, 0)
    bad = sum(n for code, n in statuses.items() if code != 200)
    return Figures(
        server.name, ok, seconds, percentile(latencies, 0.50), percentile(latencies, 0.99), errors + bad, statuses
    )


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _WRK_UNITS[match.group(2)] if match else float("nan")


def wrk_load(wrk: str, server: Server, duration: float, concurrency: int, warmup: float) -> Figures:
    threads = str(max(1, min(concurrency, os.cpu_count() or 1)))
    base = [wrk, "-t", threads, "-c", str(concurrency), "--latency"]
    if warmup > 0:
        subprocess.run([*base, "-d", f"{max(1, round(warmup))}s", server.url], capture_output=True, check=True)
    out = subprocess.run([*base, "-d", f"{max(1, round(duration))}s", server.url], capture_output=True, check=True)
    text = out.stdout.decode()
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    seconds = float(total.group(2)) * _WRK_UNITS[total.group(3)] / 1e3
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    requests = int(total.group(1)) - (int(non2xx.group(1)) if non2xx else 0)
    return Figures(server.name, requests, seconds, _wrk_ms(text, "50%"), _wrk_ms(text, "99%"), errors)


# Main ----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per server (default 10)")
    parser.add_argument("--concurrency", type=int, default=50, help="open keep-alive connections (default 50)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first (default 2)")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk when installed (auto), or the built-in asyncio client",
    )
    parser.add_argument("--serve-hello", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_hello:
        serve_hello(args.serve_hello)
        return 0
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION}]")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be in [1, {MAX_CONCURRENCY}]")
    if not 0 <= args.warmup <= MAX_DURATION:
        parser.error(f"--warmup must be in [0, {MAX_DURATION}]")

    wrk = shutil.which("wrk") if args.generator in {"auto", "wrk"} else None
    if args.generator == "wrk" and wrk is None:
        parser.error("wrk is not installed")
    gmid = Path(sys.executable).parent / "gmid"
    if not gmid.exists():
        parser.error(f"{gmid} is missing: run `make install` and use .venv/bin/python")

    # A short folder: the embedded Redis listens on a unix socket inside it (paths < 108 bytes).
    work = Path(tempfile.mkdtemp(prefix="gmidbench-"))
    var_dir = work / "var"
    servers: list[Server] = []
    try:
        with terminate_on_sigterm():
            env = gmid_env(var_dir)
            for step in (["keys", "init"], ["migrate"]):
                done = subprocess.run([str(gmid), *step], env=env, cwd=work, capture_output=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"gmid {' '.join(step)} failed:\n{done.stderr.decode(errors='replace')}")

            gmid_port, hello_port = free_port(), free_port()
            hello = start(
                "bare Sanic hello",
                [sys.executable, str(Path(__file__).resolve()), "--serve-hello", str(hello_port)],
                env=env,
                cwd=work,
                port=hello_port,
            )
            servers.append(hello)
            ours = start(
                "gmid /healthz",
                [str(gmid), "serve", "--workers", "1", "--port", str(gmid_port)],
                env=env,
                cwd=work,
                port=gmid_port,
            )
            servers.append(ours)
            hello.wait_ready()
            ours.wait_ready()

            generator = f"wrk ({wrk})" if wrk else "built-in asyncio client" + (" (uvloop)" if _has_uvloop() else "")
            print(
                f"GET /healthz, 1 worker each, {args.concurrency} keep-alive connections, "
                f"{args.duration:g} s each after {args.warmup:g} s warm-up; generator: {generator}; "
                f"{os.cpu_count()} CPUs shared by client and server",
                flush=True,
            )
            results: list[Figures] = []
            for server in (hello, ours):
                if wrk:
                    figures = wrk_load(wrk, server, args.duration, args.concurrency, args.warmup)
                else:
                    figures = python_load(server, args.duration, args.concurrency, args.warmup)
                results.append(figures)

        print(f"{'server':<18} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}")
        for f in results:
            print(f"{f.name:<18} {f.rps:>11.0f} {f.p50_ms:>8.2f} {f.p99_ms:>8.2f} {f.requests:>9} {f.errors:>7}")
        base, ours_figures = results
        ratio = ours_figures.rps / base.rps if base.rps else float("nan")
        print(f"gmid / bare Sanic throughput: {ratio:.2f} ({(1 - ratio) * 100:.0f}% less)")
        if any(f.errors for f in results):
            print("warning: some requests failed or answered other than 200", file=sys.stderr)
            return 1
        return 0
    except (KeyboardInterrupt, Interrupted):
        print("interrupted; stopping the servers", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"http_bench: {exc}", file=sys.stderr)
        return 1
    finally:
        # Ignore a second Ctrl-C while the servers stop.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for server in reversed(servers):
                server.stop()
            stop_leftover_redis(var_dir)
        finally:
            signal.signal(signal.SIGINT, previous)
            shutil.rmtree(work, ignore_errors=True)


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
