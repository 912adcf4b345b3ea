"""What the loopback fakes of outside services share (:mod:`tests.support.wechat_fake`,
:mod:`tests.support.sms_fake`): the HTTP server, the recording of calls, the fake clock, scripted
answers and delays. Each fake adds only its service: the endpoints, their checks and the wire format.

Real HTTP on ``127.0.0.1`` (ephemeral port), served by the standard library
(``http.server.ThreadingHTTPServer`` in a daemon thread), so blocking clients (wechatpy uses
``requests``) and async ones (httpx) can call a fake from any thread or event loop.

A fake subclasses :class:`LoopbackFake`, names its :attr:`~LoopbackFake.call_type` and implements
:meth:`~LoopbackFake.answer` (and :meth:`~LoopbackFake.bug_response`). For each request, :meth:`~LoopbackFake.serve`:

1. records a :class:`RecordedCall` in :attr:`~LoopbackFake.calls` (:meth:`~LoopbackFake.record`
   builds it, under the lock, so a fake can add what it checks, e.g. the signature);
2. sleeps if :meth:`~LoopbackFake.delay_next`-style scripting asked for it (cut short by ``stop()``:
   the request is still answered, as a real server answers a client that gave up);
3. answers, under the lock; a bug inside the fake is kept in :attr:`~LoopbackFake.server_errors`
   (tests assert it stays empty) and answered as the fake's HTTP 500;
4. fills the call's ``status``/``response`` and wakes :meth:`~LoopbackFake.wait_for` waiters.
"""

from __future__ import annotations

import contextlib
import http
import http.server
import json
import socket
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

__all__ = ["LoopbackFake", "RecordedCall", "Request", "Response", "Scripted", "html_page"]

_REASONS = {s.value: s.phrase for s in http.HTTPStatus}


# A push the app does not answer 200 is tried again after a second, three tries in all (WeChat, Tencent).
PUSH_TRIES = 3
PUSH_RETRY_SECONDS = 1.0


@dataclass
class Request:
    """One request as the fake sees it. ``headers`` names are lower-cased; ``json`` is the parsed
    body (None when empty or not JSON)."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any

    @classmethod
    def parse(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
        split = urlsplit(target)
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                parsed = None
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        return cls(method, target, split.path, query, headers, body, parsed)


@dataclass
class RecordedCall:
    """One request the fake received. ``status``/``response`` are filled once answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes
    time: float
    status: int | None = None
    response: Any = None


@dataclass
class Response:
    """An answer: ``payload`` sent as JSON, or ``raw`` bytes as they are."""

    status: int
    payload: Any
    content_type: str = "application/json"
    raw: bytes | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    cut: bool = False  # the connection is closed instead of answering (the request was carried out)

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.payload, ensure_ascii=False).encode("utf-8")


def html_page(status: int, inner: str | None = None) -> Response:
    """A non-JSON error page (what a gateway or web server in front answers): ``<h1>STATUS REASON</h1>``
    unless ``inner`` says otherwise."""
    text = inner if inner is not None else f"<h1>{status} {_REASONS.get(status, '')}</h1>"
    return Response(status, None, "text/html", f"<html><body>{text}</body></html>".encode())


@dataclass
class Scripted:
    """A scripted answer or delay for the next ``remaining`` calls; fakes add their own fields."""

    remaining: int
    http_status: int | None = None
    seconds: float = 0.0


CallT = TypeVar("CallT", bound=RecordedCall)
ScriptT = TypeVar("ScriptT", bound=Scripted)


class LoopbackFake(Generic[CallT]):
    """The server, recording, clock and scripting of a fake. Use ``with Fake() as fake:`` or
    ``start()``/``stop()``. All state is guarded by :attr:`lock`."""

    thread_name = "loopback-fake"
    call_type: type[CallT]
    """The :class:`RecordedCall` (sub)class this fake records."""

    def __init__(self) -> None:
        self.calls: list[CallT] = []
        """Every request in arrival order (read under :attr:`lock` if senders are running)."""
        self.server_errors: list[str] = []
        """Tracebacks of bugs inside the fake itself (answered as HTTP 500); should stay empty."""
        self.lock = threading.RLock()
        self._cond = threading.Condition(self.lock)
        self._time_offset = 0.0
        self._delays: dict[str, deque[Scripted]] = {}
        self._cuts: dict[str, deque[Scripted]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._push_threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ what a fake implements

    def record(self, request: Request) -> CallT:
        """The :class:`RecordedCall` for ``request`` (called under the lock); a fake may add to it."""
        return self.call_type(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            json=request.json,
            body=request.body,
            time=self.now(),
        )

    def answer(self, request: Request, call: CallT) -> Response:
        """The answer to ``request`` (called under the lock, after any scripted delay)."""
        raise NotImplementedError

    def bug_response(self) -> Response:
        """The HTTP 500 answer when :meth:`answer` raised (a bug in the fake)."""
        return Response(500, {"error": "fake internal error"})

    def delay_key(self, request: Request) -> str:
        """Which queue of scripted delays applies to ``request`` (one for all calls by default)."""
        return ""

    # ------------------------------------------------------------------ pushes to the app

    def push_later(self, delay: float, post: Callable[[], int], done: Callable[[int], None]) -> None:
        """What a provider posts back to the app (a send result, a delivery report), ``delay`` seconds
        from now, from a thread: ``post()`` makes the request and gives its HTTP status (0: no answer);
        not answered 200, it is tried again, PUSH_TRIES in all, as WeChat and Tencent do. ``done`` gets
        the last status (called under the lock)."""

        def run() -> None:
            if self._stopping.wait(delay):
                return
            code = 0
            for attempt in range(PUSH_TRIES):
                if attempt and self._stopping.wait(PUSH_RETRY_SECONDS):
                    break
                try:
                    code = post()
                except Exception:  # no answer (refused, reset, timed out): tried again, as the provider would
                    code = 0
                if code == 200:
                    break
            with self.lock:
                done(code)

        thread = threading.Thread(target=run, name=f"{self.thread_name}-push", daemon=True)
        with self.lock:
            self._push_threads.append(thread)
        thread.start()

    def wait_for_pushes(self, timeout: float = 10.0) -> None:
        """Block until every scheduled push was made (for tests that count them)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                threads = list(self._push_threads)
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                return
            alive[0].join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(alive)} pushes still pending after {timeout}s")

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes delayed answers
        server.shutdown()
        server.server_close()
        with self.lock:
            conns = list(self._connections)
        for conn in conns:  # keep-alive connections would otherwise park their threads
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/`` (with the trailing slash), the stand-in for the service's root."""
        return f"http://127.0.0.1:{self.port}/"

    def url(self, path: str) -> str:
        """Absolute URL of an endpoint path, e.g. ``fake.url("/cgi-bin/stable_token")``."""
        return self.base_url + path.lstrip("/")

    # ------------------------------------------------------------------ fake time

    def now(self) -> float:
        """The fake's clock: wall time plus :meth:`advance_time` offsets."""
        return time.time() + self._time_offset

    def advance_time(self, seconds: float) -> None:
        """Move the fake's clock (negative goes back): token and code lifetimes, signature skew."""
        with self.lock:
            self._time_offset += seconds

    # ------------------------------------------------------------------ scripting and waiting

    def _enqueue(self, table: dict[str, deque[ScriptT]], key: str, item: ScriptT) -> None:
        if item.remaining < 1:
            raise ValueError("times must be >= 1")
        with self.lock:
            table.setdefault(key, deque()).append(item)

    @staticmethod
    def _take(table: dict[str, deque[ScriptT]], key: str) -> ScriptT | None:
        """The first scripted item for ``key``, used once more (dropped after its last use)."""
        queue = table.get(key)
        if not queue:
            return None
        item = queue[0]
        item.remaining -= 1
        if item.remaining <= 0:
            queue.popleft()
        return item

    def _delay(self, key: str, seconds: float, times: int) -> None:
        self._enqueue(self._delays, key, Scripted(times, seconds=seconds))

    def _cut(self, key: str, times: int) -> None:
        """The next ``times`` calls under ``key`` are carried out, then their connection is closed
        without an answer: the client cannot tell whether they went through (an answer lost in transit)."""
        self._enqueue(self._cuts, key, Scripted(times))

    def wait_for(self, count: int, timeout: float, match: Callable[[CallT], bool], what: str) -> list[CallT]:
        """Block until ``count`` answered calls that ``match`` exist; returns them (in async tests, via
        ``asyncio.to_thread``). ``what`` names them in the TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                done = [c for c in self.calls if match(c) and c.status is not None]
                if len(done) >= count:
                    return done
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(done)} of {count} {what} after {timeout}s")
                self._cond.wait(left)

    # ------------------------------------------------------------------ one request

    def serve(self, request: Request) -> Response:
        with self._cond:
            call = self.record(request)
            self.calls.append(call)
            delay = self._take(self._delays, self.delay_key(request))
            cut = self._take(self._cuts, self.delay_key(request))
        if delay is not None:
            self._stopping.wait(delay.seconds)
        try:
            with self.lock:
                resp = self.answer(request, call)
        except Exception:
            with self.lock:
                self.server_errors.append(traceback.format_exc())
            resp = self.bug_response()
        with self._cond:
            call.status = resp.status
            call.response = resp.payload if resp.raw is None else None
            self._cond.notify_all()
        if cut is not None:
            resp.cut = True
        return resp


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog is 5: thirty senders at once on a loaded machine overflowed it and
    # their connects timed out (a real provider's backlog is not a test's bottleneck).
    request_queue_size = 128
    fake: LoopbackFake[Any]

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # the client gave up (timeout tests), or stop() cut the socket
            return
        with self.fake.lock:
            self.fake.server_errors.append(traceback.format_exc())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.fake.lock:
            self.server.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.fake.lock:
            self.server.fake._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        body = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        resp = self.server.fake.serve(Request.parse(self.command, self.path, headers, body))
        if resp.cut:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = resp.encode()
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in resp.extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
