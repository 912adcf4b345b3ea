"""Device tests: the app with notifications going to the loopback fakes, staff and residents, a
rental building, registered devices with their secrets, and signed readings."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices import signing
from miniapp_api.devices.mqtt import MqttService
from server import redis as gmid_redis
from server.jobs import JobContext
from server.settings import Settings
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import User, user
from tests.support.mosquitto import Mosquitto
from tests.support.notify_fixtures import app_with_channels

READINGS = "/api/v1/devices/readings"


@pytest.fixture
def app(notify_settings: Settings) -> Sanic:
    return app_with_channels(notify_settings)


@dataclass
class Registered:
    id: str
    serial: str
    secret: str
    binding_code: str
    body: dict[str, Any]


async def buildings(tmp_path: Path) -> None:
    """GM0101010001 in grid GM010101 and GM0101020001 in grid GM010102."""
    result = await import_rows(tmp_path, [row(1), row(1, grid="GM010102")])
    assert result.created == 2 and not result.rejected, result.rejected


async def register(
    client: httpx.AsyncClient, staff: User, serial: str, kind: str = "gas", **changes: Any
) -> Registered:
    body: dict[str, Any] = {"serial": serial, "type": kind, "building": "GM0101010001", "place": "厨房"}
    body.update(changes)
    response = await client.post("/api/v1/devices", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    out = response.json()
    return Registered(out["id"], out["serial"], out["secret"], out["binding_code"], out)


def at(seconds_ago: float = 0.0) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)).isoformat()


def gas(serial: str, value: float, seconds_ago: float = 0.0) -> dict[str, Any]:
    return {"device": serial, "metric": "gas_lel_pct", "value": value, "at": at(seconds_ago)}


async def send(
    client: httpx.AsyncClient,
    signer: Registered,
    readings: list[Any],
    *,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = json.dumps({"readings": readings}).encode()
    signed = signing.headers(signer.serial, secret or signer.secret, READINGS, body)
    signed.update(headers or {})
    return await client.post(READINGS, content=body, headers=signed)


async def bound_resident(app: Sanic, client: httpx.AsyncClient, device: Registered, *, phone: str, openid: str) -> User:
    resident = await user(app, Role.RESIDENT, phone=phone, openid=openid)
    response = await client.post(
        "/api/v1/devices/bind", json={"serial": device.serial, "code": device.binding_code}, headers=resident.headers
    )
    assert response.status_code == 201, response.text
    return resident


@pytest.fixture
async def service(notify_settings: Settings, mosquitto: Mosquitto) -> AsyncIterator[MqttService]:
    url = gmid_redis.redis_url_for(notify_settings)
    redis = gmid_redis.make_client(url)
    svc = MqttService(mosquitto.url, poll_seconds=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.serve(JobContext(settings=notify_settings, redis=redis, redis_url=url), stop))
    await asyncio.wait_for(svc.connected.wait(), timeout=10)
    try:
        yield svc
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await redis.aclose()
