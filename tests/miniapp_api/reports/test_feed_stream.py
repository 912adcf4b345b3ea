"""The grid feed as Server-Sent Events: a change arrives within a second, only under the caller's node,
and a reconnect with Last-Event-ID gets what was missed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
from sanic import Sanic

from identity.roles import Role
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_closed_loop import move, submit


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, str]]]:
    event_id, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            yield event_id, json.loads(data)
            event_id, data = "", ""


async def next_event(
    stream: AsyncIterator[tuple[str, dict[str, str]]], within: float = 1.0
) -> tuple[str, dict[str, str]]:
    return await asyncio.wait_for(anext(stream), within)


async def test_changes_arrive_within_a_second_and_resume_with_last_event_id(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    other: User = await user(app, Role.GRID_STAFF, node="GM010102")
    async with (
        client.stream("GET", "/api/v1/grid/feed/stream", headers=grid.headers) as mine,
        client.stream("GET", "/api/v1/grid/feed/stream", headers=other.headers) as theirs,
    ):
        assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/event-stream")
        stream, their_stream = events(mine), events(theirs)
        started = time.monotonic()
        report = await submit(client, resident)
        first_id, first = await next_event(stream)
        assert time.monotonic() - started < 1.0
        assert first == {"id": report["id"], "state": "submitted", "action": "submit"}
        await move(client, grid, report["id"], action="accept")
        _, second = await next_event(stream)
        assert second["action"] == "accept"
        # Another grid hears nothing of it.
        try:
            await next_event(their_stream, within=0.5)
            raise AssertionError("another grid got an event")
        except TimeoutError:
            pass
    # Reconnect from the first event: the accept is delivered again.
    headers = {**grid.headers, "Last-Event-ID": first_id}
    async with client.stream("GET", "/api/v1/grid/feed/stream", headers=headers) as again:
        _, replayed = await next_event(events(again))
        assert replayed["action"] == "accept" and replayed["id"] == report["id"]
    bad = await client.get("/api/v1/grid/feed/stream", headers={**grid.headers, "Last-Event-ID": "nope"})
    assert bad.status_code == 422
