"""The drill's pieces: a throw-away PostgreSQL, a Redis server, nginx from deploy/, killing and waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis
import redis.asyncio
from _harness import HOST, Process, free_port

from notify import outbox
from tests.support.postgres import pg_admin

CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "gmid.conf"


def which(name: str) -> str:
    found = shutil.which(name) or next(
        (
            str(p)
            for p in (Path("/usr/sbin") / name, *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")))
            if p.exists()
        ),
        None,
    )
    if found is None:
        raise RuntimeError(f"{name} is not installed (.ci/run installs nginx, redis-server and PostgreSQL)")
    return found


# The pieces ------------------------------------------------------------------------------------------------


class Postgres:
    """A throw-away PostgreSQL in its own folder (as the postgres OS user when we are root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gmiddrpg-", dir="/tmp"))
        self.port = free_port()
        self.pg_ctl = which("pg_ctl")
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *argv: str) -> None:
        cmd = ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)
        done = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def start(self) -> str:
        if self.user:
            shutil.chown(self.root, self.user)
        self.root.chmod(0o700)
        data = self.root / "data"
        self._run(which("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = '{self.root}'\n"
                "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        self._run(self.pg_ctl, "-D", str(data), "-l", str(self.root / "postgres.log"), "-w", "-t", "60", "start")
        admin = f"postgres://postgres@{HOST}:{self.port}/postgres"
        asyncio.run(pg_admin(admin, 'CREATE DATABASE "gmid"'))
        return f"postgres://postgres@{HOST}:{self.port}/gmid"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def redis_argv(port: int, folder: Path) -> list[str]:
    folder.mkdir(exist_ok=True)
    return [
        which("redis-server"), "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "yes",
        "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--dir", str(folder),
    ]  # fmt: skip


def wait_redis(url: str, timeout: float = 20) -> None:
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError):
                if client.ping():
                    return
            time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError("Redis did not answer")


def nginx_conf(folder: Path, port: int, app_ports: list[int]) -> Path:
    """deploy/nginx/gmid.conf with what this machine changes: the upstream, plain HTTP, no TLS."""
    text = CONF.read_text()
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", text, flags=re.M)
    text = text.replace(
        servers[0], "\n".join(f"    server {HOST}:{p} max_fails=3 fail_timeout=10s;" for p in app_ports)
    )
    for line in servers[1:]:
        text = text.replace(line + "\n", "")
    text = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", text, flags=re.S)  # the redirect to HTTPS
    text = re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.M)
    text = re.sub(r"^\s*(ssl_\w+|add_header Strict-Transport-Security) .*\n", "", text, flags=re.M)
    text = text.replace("listen 443 ssl http2;", f"listen {HOST}:{port};")
    text = re.sub(r"^\s*access_log .*\n", "", text, flags=re.M)  # the load would fill it: off (nginx.conf)
    (folder / "gmid.conf").write_text(text)
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n"
        + "".join(
            f"    {kind}_temp_path {folder}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    include {folder}/gmid.conf;\n}}\n"
    )
    return main


def kill_group(process: Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.process.pid, signal.SIGKILL)
    process.process.wait()


def wait_worker(worker: Process, redis_url: str) -> None:
    """Until the dispatcher listens for wake-ups (a running dispatcher subscribes)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.exited():
                raise RuntimeError(f"the worker exited with {worker.process.returncode}:\n{worker.log_tail()}")
            with contextlib.suppress(redis.RedisError):
                [(_, listening)] = client.pubsub_numsub(outbox.WAKE_CHANNEL)
                if listening >= 1:
                    return
            time.sleep(0.1)
        raise RuntimeError("the worker did not start within 60 s")
    finally:
        client.close()
