"""What a scan of a device's sticker shows each role, registered with the QR service's kind registry.

Anyone: that it is a registered safety device and its type, nothing more (no building, no place, no
status). A signed-in resident: also whether they are in its household, and the way to ask to be bound
(grid staff of its area decide, ``binding``). Grid staff, officers and administrators of its area: its
building, place, status (active, online), the last reading of each metric and its open alarms. Police,
and staff outside its area: what a resident sees, without the way to ask. No view names the household.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from identity import hierarchy
from identity.models import Account
from miniapp_api.buildings.models import Building
from miniapp_api.devices import rules
from miniapp_api.devices.ingest import HEARTBEAT_KEY
from miniapp_api.devices.labels import TYPE_ZH
from miniapp_api.devices.models import BindingRequest, BindingState, Device, DeviceAlarm, DeviceMember
from miniapp_api.devices.registry import RESIDENTS
from qr import kinds
from qr.kinds import Audience, ScanContext
from qr.models import Credential
from server.auth import Principal
from server.wire import wire_time

log = logging.getLogger("gmid.devices.scan")

KIND = "device"
STAFF_AUDIENCES = (Audience.OFFICER, Audience.ADMIN)  # grid staff and officers; administrators

_redis: aioredis.Redis | None = None


def set_client(client: aioredis.Redis | None) -> None:
    """The Redis client the staff view reads the last readings from (set by the app's listeners)."""
    global _redis
    _redis = client


def request_href(device: Device) -> str:
    return f"/api/v1/devices/{device.public_id}/binding-requests"


async def view(credential: Credential, context: ScanContext) -> dict[str, Any]:
    device = await Device.get_or_none(credential_id=credential.public_id)
    if device is None:
        return {"kind": KIND, "registered": False}
    answer: dict[str, Any] = {
        "kind": KIND,
        "registered": True,
        "type": device.type,
        "type_name": TYPE_ZH.get(device.type, "安全设备"),
    }
    viewer = context.viewer
    if viewer is None or context.audience == Audience.ANONYMOUS:
        return answer
    if context.audience in STAFF_AUDIENCES and viewer.covers(device.node_path):
        answer.update(await staff_fields(device))
        return answer
    account = await Account.get_or_none(public_id=viewer.account_id)
    member = account is not None and await DeviceMember.exists(device_id=device.id, account_id=account.id)
    answer["in_household"] = member
    if account is None or member or viewer.role not in RESIDENTS or not device.active:
        return answer
    pending = await BindingRequest.get_or_none(
        device_id=device.id, account_id=account.id, state=BindingState.PENDING.value
    )
    if pending is not None:
        answer["binding_request"] = {"id": pending.public_id, "state": pending.state}
    else:
        answer["actions"] = [
            {"key": "request_binding", "title": "申请绑定到我家", "method": "POST", "href": request_href(device)}
        ]
    return answer


async def staff_fields(device: Device) -> dict[str, Any]:
    building = await Building.get_or_none(id=device.building_id) if device.building_id else None
    last, seen = await _hot_state(device.id)
    last_seen = max((t for t in (device.last_seen_at, seen) if t is not None), default=None)
    now = dt.datetime.now(dt.UTC)
    online = last_seen is not None and not rules.is_offline(rules.DeviceType(device.type), last_seen, now)
    alarms = await DeviceAlarm.filter(device_id=device.id, cleared_at=None).order_by("id")
    return {
        "id": device.public_id,
        "building": building.code if building is not None else None,
        "node": hierarchy.code_of(device.node_path),
        "place": device.place,
        "status": {
            "active": device.active,
            "online": online,
            "last_seen_at": wire_time(last_seen) if last_seen is not None else None,
        },
        "readings": last,
        "open_alarms": [
            {
                "id": a.public_id,
                "type": a.alarm_type,
                "severity": a.severity,
                "state": a.state,
                "started_at": wire_time(a.started_at),
            }
            for a in alarms
        ],
    }


async def _hot_state(device_id: int) -> tuple[dict[str, Any] | None, dt.datetime | None]:
    """The last reading of each metric and when the device was last heard (Redis); (None, None) when
    Redis cannot answer: the view says it does not know, rather than failing the scan."""
    if _redis is None:
        return None, None
    try:
        async with _redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"dev:last:{device_id}")
            pipe.zscore(HEARTBEAT_KEY, str(device_id))
            stored, score = await pipe.execute()
    except RedisError as exc:
        log.warning("device scan hot state unavailable error=%s", exc.__class__.__name__)
        return None, None
    last: dict[str, Any] = {}
    for metric, raw in sorted(stored.items()):
        try:
            item = json.loads(raw)
            at = dt.datetime.fromtimestamp(int(item["at"]) / 1000, dt.UTC)
            last[metric.decode() if isinstance(metric, bytes) else str(metric)] = {
                "value": item["v"],
                "at": wire_time(at),
            }
        except (ValueError, KeyError, TypeError):
            continue
    seen = dt.datetime.fromtimestamp(float(score), dt.UTC) if score is not None else None
    return last, seen


async def is_owner(credential: Credential, principal: Principal) -> bool:
    """The device's household may print its sticker again."""
    device = await Device.get_or_none(credential_id=credential.public_id)
    account = await Account.get_or_none(public_id=principal.account_id)
    if device is None or account is None:
        return False
    return await DeviceMember.exists(device_id=device.id, account_id=account.id)


def register_kind() -> None:
    kinds.register(dataclasses.replace(kinds.DEVICE, resolver=view, is_owner=is_owner), replace=True)
