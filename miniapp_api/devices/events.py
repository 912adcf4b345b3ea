"""Alarm changes as a Redis stream, for the staff's live alarm board across app instances (the same
server/live_stream.py as the grid feed). Each committed raise, change, acknowledgement or clear appends
``{id, node, device, type, severity, state, change}``: nothing about the household."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("gmid.devices.events")

STREAM = "gmid:devices:alarms"
MAXLEN = 100_000

_client: aioredis.Redis | None = None


def set_client(client: aioredis.Redis | None) -> None:
    global _client
    _client = client


async def publish(
    *, alarm_id: str, node_path: str, device: str, alarm_type: str, severity: str, state: str, change: str
) -> None:
    """After the commit. Best effort: the alarm list (GET /api/v1/device-alarms) is the source of truth."""
    if _client is None:
        return
    try:
        await _client.xadd(
            STREAM,
            {
                "id": alarm_id,
                "node": node_path,
                "device": device,
                "type": alarm_type,
                "severity": severity,
                "state": state,
                "change": change,
            },
            maxlen=MAXLEN,
            approximate=True,
        )
    except RedisError as exc:
        log.warning("alarm event not published id=%s error=%s", alarm_id, exc.__class__.__name__)
