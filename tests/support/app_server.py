"""Run the real app on a loopback port inside the test's event loop.

The listeners run once (database, Redis, keys), requests go over real HTTP with httpx, and the test
can use the ORM in the same loop to set up data and check what was stored.
"""

from __future__ import annotations

import socket
from types import TracebackType

from sanic import Sanic
from sanic.server.async_server import AsyncioServer

from server.lingering_close import LingeringHttpProtocol


class RunningApp:
    def __init__(self, app: Sanic) -> None:
        self.app = app
        self.server: AsyncioServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RunningApp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        server = await self.app.create_server(
            sock=sock, return_asyncio_server=True, access_log=False, protocol=LingeringHttpProtocol
        )
        assert server is not None
        self.server = server
        await server.startup()
        await server.before_start()
        await server.after_start()
        await server.start_serving()
        return self

    async def stop(self) -> None:
        server = self.server
        if server is None:
            return
        self.server = None
        await server.before_stop()
        task = server.close()
        if task is not None:
            await task
        await server.after_stop()

    async def __aenter__(self) -> RunningApp:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
