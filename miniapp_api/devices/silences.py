"""Silences: staff quiet the alarms of a device, a building or a device type in their area for a
bounded time. A silenced alarm is still raised, recorded and shown; only its messages are not sent."""

from __future__ import annotations

import datetime as dt

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from miniapp_api.devices.models import Device, DeviceSilence


async def covering(device: Device, at: dt.datetime, conn: BaseDBAsyncClient | None = None) -> DeviceSilence | None:
    """The silence in force over this device at ``at``, if any."""
    scope = Q(scope="device", device_id=device.id) | Q(scope="type", device_type=device.type)
    if device.building_id:
        scope |= Q(scope="building", building_id=device.building_id)
    candidates = (
        await DeviceSilence.filter(scope, ended_at=None, starts_at__lte=at, ends_at__gt=at)
        .using_db(conn)
        .order_by("-ends_at")
    )
    for silence in candidates:
        # A type silence holds only under the node it was set for.
        if silence.scope != "type" or device.node_path.startswith(silence.node_path):
            return silence
    return None
