"""What the bench scripts share to run: their folder and processes, the ``gmid`` command line, a bare
Sanic hello-world to compare with, and running coroutines. The load (clients, the load loop, figures) is
in ``_load.py``, seeding in worker processes and the bench database in ``_seeding.py``.

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
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's packages


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


if __name__ == "__main__":
    hello = argparse.ArgumentParser(description="the bare Sanic hello-world the benches compare with")
    hello.add_argument("--serve-hello", type=int, metavar="PORT", required=True)
    serve_hello(hello.parse_args().serve_hello)
