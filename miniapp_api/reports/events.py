"""Report changes as a Redis stream, for the grid feed's Server-Sent Events across app instances.

Every committed submit or transition appends ``{id, node, state, action}`` to one capped stream.
A feed connection reads it from the client's ``Last-Event-ID`` (the stream id), keeps the entries
under the caller's node, and sends each as an SSE event; stream ids only grow, so a reconnect
resumes exactly where it stopped (within the stream's length).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from miniapp_api.reports.models import Category, Report

log = logging.getLogger("gmid.reports.events")

STREAM = "gmid:reports:events"
MAXLEN = 100_000

_client: aioredis.Redis | None = None
# Called (as a background task, after the commit) with each new report's id: the clinic's analysis.
_on_submit: Callable[[int], Coroutine[Any, Any, None]] | None = None
_tasks: set[asyncio.Task[None]] = set()


def set_submit_listener(listener: Callable[[int], Coroutine[Any, Any, None]] | None) -> None:
    global _on_submit
    _on_submit = listener


async def drain() -> None:
    """Wait for the background work started by submits (tests, shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


def set_client(client: aioredis.Redis | None) -> None:
    global _client
    _client = client


async def publish(report: Report, action: str) -> None:
    """After the commit. Best effort: the feed itself (GET /grid/feed) is the source of truth."""
    if action == "submit" and _on_submit is not None:
        # Off the request's path: the answer does not wait, and a failure there loses nothing
        # (a sweep in the background worker analyses whatever was missed).
        task = asyncio.get_running_loop().create_task(_on_submit(report.id))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    if _client is None:
        return
    try:
        # The category key: a party member's stream leaves out what their feed does.
        keys = await Category.filter(id=report.category_id).values_list("key", flat=True)
        await _client.xadd(
            STREAM,
            {
                "id": report.public_id,
                "node": report.node_path,
                "state": report.state.value,
                "action": action,
                "category": str(keys[0]) if keys else "",
            },
            maxlen=MAXLEN,
            approximate=True,
        )
    except RedisError as exc:
        log.warning("report event not published id=%s error=%s", report.public_id, exc.__class__.__name__)
