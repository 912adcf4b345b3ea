"""Start `gmid` commands from a process that has already imported the libraries they all load.

A `gmid` command spends most of its CPU starting: the interpreter and its libraries (Sanic, Tortoise,
numpy, redis, cryptography, pydantic, wechatpy: about 0.7 s), before any of our code runs. The suite runs well
over a hundred commands. A zygote, started once per test process, imports those libraries and then,
for each command, forks: the child takes the test's pipes as its standard input, output and error, the
test's environment and working folder, and runs ``server.cli.main`` as the ``gmid`` script would. It is
a process of its own (its own pid, exit status, umask, signals; our modules imported fresh, after the
environment is set); only the libraries' import is shared. The zygote imports none of our modules.

Run as a script: ``python cli_zygote.py SOCKET``; the test side is ``run`` below.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# Libraries every command loads; a library that starts threads at import (OpenBLAS) is kept to one.
PRELOAD = (
    "numpy",
    "sanic",
    "tortoise",
    "tortoise.backends.sqlite",
    "tortoise.backends.asyncpg",
    "pypika_tortoise",
    "redis.asyncio",
    "pydantic",
    "jwt",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.ciphers.aead",
    "httpx",
    "aiosqlite",
    "asyncpg",
    "tortoise.migrations.api.migrate",
    "pydantic.types",
    "wechatpy",  # with requests, urllib3, dateutil, xmltodict (identity.wechat)
    "argparse",
)


# Zygote side -------------------------------------------------------------------------------------


def _serve(path: str) -> None:
    import importlib
    import selectors

    for name in PRELOAD:
        importlib.import_module(name)
    # What was imported stays out of every child's garbage collections (each full one walked all of it)
    # and its pages are not copied by a collection's writes.
    gc.freeze()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    events = selectors.DefaultSelector()
    events.register(server, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)  # the test process holds the other end
    print("ready", flush=True)
    while True:
        ready = {key.fileobj for key, _ in events.select()}
        if sys.stdin in ready:
            return  # the test process ended (its end of the pipe closed): so does the zygote
        conn, _ = server.accept()
        message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            server.close()
            conn.close()
            _child(request, fds)  # never returns
        for fd in fds:
            os.close(fd)
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        threading.Thread(target=_report_exit, args=(conn, pid), daemon=True).start()


def _report_exit(conn: socket.socket, pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    try:
        conn.sendall(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    finally:
        conn.close()


def _child(request: dict[str, object], fds: list[int]) -> None:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    # As Python sets them up at start: Ctrl-C raises KeyboardInterrupt, SIGPIPE stays ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    os.chdir(str(request["cwd"]))
    argv = list(request["argv"])  # type: ignore[call-overload]
    sys.argv = [str(request["script"]), *argv]
    sys.path.insert(0, str(Path(str(request["script"])).parent))  # as the script's own folder is
    code = 1
    try:
        from server.cli import main

        code = main(argv)
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    # The interpreter's own exit (atexit, flushes), as the script's would be, with its exit status.
    sys.exit(code)


# Test side ---------------------------------------------------------------------------------------


class Zygote:
    """One per test process, started on first use, stopped when the process ends."""

    _instance: Zygote | None = None

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="gz", dir="/tmp")
        self.path = str(Path(self.folder) / "s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
        env["OPENBLAS_NUM_THREADS"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, __file__, self.path],
            stdin=subprocess.PIPE,  # closed when this process ends: the zygote then exits
            stdout=subprocess.PIPE,
            env=env,
            cwd=self.folder,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("the gmid zygote did not start")

    @classmethod
    def get(cls) -> Zygote:
        if cls._instance is None or cls._instance.proc.poll() is not None:
            cls._instance = cls()
            atexit.register(stop)
        return cls._instance

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        Path(self.path).unlink(missing_ok=True)
        os.rmdir(self.folder)


def stop() -> None:
    if Zygote._instance is not None:
        Zygote._instance.stop()
        Zygote._instance = None


def _read_all(fd: int) -> bytes:
    chunks = []
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def run(script: str, argv: list[str], env: dict[str, str], cwd: str, kill_after: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gmid argv`` run by the zygote; killed after ``kill_after`` s."""
    zygote = Zygote.get()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(zygote.path)
        request = json.dumps({"script": script, "argv": argv, "env": env, "cwd": cwd}).encode()
        socket.send_fds(sock, [request], [stdin, out_w, err_w])
    except BaseException:
        sock.close()
        raise
    finally:
        for fd in (stdin, out_w, err_w):
            os.close(fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    out_task = asyncio.create_task(asyncio.to_thread(_read_all, out_r))
    err_task = asyncio.create_task(asyncio.to_thread(_read_all, err_r))
    pid = json.loads(await reader.readline())["pid"]
    try:
        line = await asyncio.wait_for(reader.readline(), kill_after)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        writer.close()
    code = json.loads(line)["code"]
    out, err = await asyncio.gather(out_task, err_task)
    return code, out.decode(), err.decode()


if __name__ == "__main__":
    del sys.path[0]  # this file's folder (tests/support): nothing may be imported from there
    _serve(sys.argv[1])
