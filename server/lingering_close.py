"""A lingering close after an answer given before the client finished sending.

When a request is refused before its body is read (413, a bad chunk, a timeout), Sanic answers and
closes the connection. If the client is still sending, the kernel answers its late bytes with a reset,
and a reset can reach the client before it has read the answer: a phone uploading too big a photo sees
a broken connection instead of the 413 that says why. As nginx does (``lingering_close``), the server
sends its answer, then shuts only its own side (the client reads the answer, then the end of it), and
reads and drops what the client still sends, until the client stops or a bound is reached.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sanic.http import Http
from sanic.server.protocols.http_protocol import HttpProtocol


class _Http(Http):
    __slots__ = ()

    async def http1(self) -> None:
        await super().http1()
        protocol = self.protocol
        # The connection ends with request bytes unread (the rest of a refused body, or more): the
        # client may still be sending.
        if isinstance(protocol, LingeringHttpProtocol) and (self.request_body or protocol.recv_buffer):
            protocol.linger_wanted = True


class LingeringHttpProtocol(HttpProtocol):
    """Sanic's HTTP/1 protocol, with a lingering close when the client may still be sending."""

    HTTP_CLASS = _Http
    # Seconds: close once the client has sent nothing for linger_idle, and in any case after
    # linger_total (nginx: lingering_timeout 5 s, lingering_time 30 s; a phone's upload is shorter).
    linger_idle = 2.0
    linger_total = 10.0

    __slots__ = ("_linger_timer", "linger_started", "linger_wanted")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.linger_wanted = False
        self._linger_timer: asyncio.TimerHandle | None = None
        self.linger_started = 0.0  # the loop's time when it began lingering

    @property
    def lingering(self) -> bool:
        return self._linger_timer is not None

    def close(self, timeout: float | None = None) -> None:
        transport = self.transport
        if (
            self.linger_wanted
            and not self.lingering
            and transport is not None
            and not transport.is_closing()
            and transport.can_write_eof()  # not under TLS, where only a full close exists
        ):
            self._linger(transport)
            return
        # A second close (the server stopping, or the bounds reached) closes at once.
        self._stop_lingering()
        super().close(timeout)

    def _linger(self, transport: Any) -> None:
        if self._callback_check_timeouts:
            self._callback_check_timeouts.cancel()
        transport.write_eof()  # after what is still buffered: the answer first, then our end
        self.recv_buffer.clear()
        transport.resume_reading()
        self.linger_started = self.loop.time()
        self._linger_timer = self.loop.call_later(self.linger_idle, self.close)

    def _stop_lingering(self) -> None:
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        self.linger_wanted = False

    def data_received(self, data: bytes) -> None:
        if not self.lingering:
            return super().data_received(data)
        # Dropped; the idle time starts again, within the total.
        assert self._linger_timer is not None
        self._linger_timer.cancel()
        wait = min(self.linger_idle, self.linger_started + self.linger_total - self.loop.time())
        self._linger_timer = self.loop.call_later(max(wait, 0.0), self.close)
        return None

    def eof_received(self) -> bool | None:
        if self.lingering:
            self.close()  # the client has finished sending: both sides are done
        # Otherwise as asyncio's Protocol: the transport closes itself, and a request still being
        # handled is cancelled as the client's (Sanic's own close() would abort it silently).
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_lingering()
        super().connection_lost(exc)
