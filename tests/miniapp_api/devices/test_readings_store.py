"""Readings kept: hourly chart data (Redis accumulators moved to the database by the rollups job) and
the raw readings kept around an alarm as its evidence; who may read them; bad ranges refused."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices import readings_store
from miniapp_api.devices.models import Device, DeviceAlarm, DeviceRollup, EvidenceReading
from tests.miniapp_api.devices.conftest import Registered, User, bound_resident, buildings, gas, register, send, user


@pytest.fixture
async def rds(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def scene(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> tuple[User, Registered, User]:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-5001")
    resident = await bound_resident(app, client, device, phone="13900005001", openid="o_store_1")
    return staff, device, resident


def hour_start(seconds_ago: float) -> str:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return at.replace(minute=0, second=0, microsecond=0).isoformat(timespec="microseconds")


def by_hour(points: list[dict[str, Any]]) -> dict[str, tuple[int, float, float, float, float]]:
    return {p["hour"]: (p["count"], p["min"], p["max"], p["avg"], p["last"]) for p in points}


async def chart(client: httpx.AsyncClient, who: User, device: Registered, **params: str) -> httpx.Response:
    query = {"metric": "gas_lel_pct", **params}
    return await client.get(f"/api/v1/devices/{device.id}/readings", params=query, headers=who.headers)


async def away_from_the_top_of_the_hour() -> None:
    """The readings "now" and "a few seconds ago" must fall in one hour: started within 20 s of an hour's
    turn, wait until it has turned (a clock condition, at most 40 s, rarely)."""
    now = dt.datetime.now(dt.UTC)
    into = now.minute * 60 + now.second
    if into < 20:
        await asyncio.sleep(20 - into)
    elif into > 3600 - 20:
        await asyncio.sleep(3600 - into + 20)


async def test_ingest_then_chart_from_redis_and_from_the_rollups_idempotently(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, rds: aioredis.Redis
) -> None:
    await away_from_the_top_of_the_hour()
    staff, device, resident = await scene(app, client, tmp_path)
    # Three hours ago (a late upload: its hour is closed) and now.
    old = [gas(device.serial, v, 3 * 3600 + n) for n, v in enumerate([4.0, 2.0, 3.0])]
    now = [gas(device.serial, v, 5 - n) for n, v in enumerate([1.0, 5.0])]
    answer = (await send(client, device, old + now)).json()
    assert answer["accepted"] == 5 and answer["alarms"] == []
    expected = {
        hour_start(3 * 3600 + 1): (3, 2.0, 4.0, 3.0, 4.0),  # last by time: the first one sent is the newest
        hour_start(4): (2, 1.0, 5.0, 3.0, 5.0),
    }
    # Before the job ran: nothing stored, the closed hour not shown yet, the current hour from Redis.
    assert await DeviceRollup.all().count() == 0
    before = (await chart(client, resident, device, **{"from": hour_start(4 * 3600)})).json()
    assert by_hour(before["points"]) == {hour_start(4): expected[hour_start(4)]}
    assert await readings_store.flush(rds) == 2
    stored = await DeviceRollup.all().order_by("hour").values_list("count", "min_value", "max_value", "last_value")
    assert stored == [(3, 2.0, 4.0, 4.0), (2, 1.0, 5.0, 5.0)]
    # Twice changes nothing more.
    assert await readings_store.flush(rds) == 0
    assert await DeviceRollup.all().count() == 2
    for who in (resident, staff):
        seen = (await chart(client, who, device, **{"from": hour_start(4 * 3600)})).json()
        assert by_hour(seen["points"]) == expected, who
        assert seen["metric"] == "gas_lel_pct" and seen["device"] == device.id
    # Newer readings: the current hour's row is overwritten with the newer totals, the late hour added to.
    await send(client, device, [gas(device.serial, 9.0, 1), gas(device.serial, 6.0, 3 * 3600 + 10)])
    assert await readings_store.flush(rds) == 2
    assert await readings_store.flush(rds) == 0
    rows = await DeviceRollup.all().order_by("hour").values_list("count", "min_value", "max_value", "sum_value")
    assert rows == [(4, 2.0, 6.0, 15.0), (3, 1.0, 9.0, 15.0)]
    # Once the hour is closed its accumulator leaves Redis; the stored row stays as it was.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    await readings_store.flush(rds, now=later)
    assert await rds.zcard(readings_store.HOURS_KEY) == 0
    assert await DeviceRollup.all().order_by("hour").values_list("count", flat=True) == [4, 3]


async def test_other_households_grids_and_roles_are_refused(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, device, _ = await scene(app, client, tmp_path)
    await send(client, device, [gas(device.serial, 1.0)])
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    stranger = await user(app, Role.RESIDENT)
    police = await user(app, Role.POLICE, node="GM01")
    for who in (other_grid, stranger):
        refused = await chart(client, who, device)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "device_not_found"
        assert "GD-5001" not in refused.text
    assert (await chart(client, police, device)).status_code == 403
    missing = await client.get(
        "/api/v1/devices/dv_nope/readings", params={"metric": "gas_lel_pct"}, headers=other_grid.headers
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-02T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}, "from"),
        ({"from": "2025-01-01T00:00:00+08:00", "to": "2026-11-01T00:00:00+08:00"}, "from"),
        ({"from": "2026-11-01T00:00:00"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"to": "1700000000"}, "to"),
        ({"metric": "smoke"}, "metric"),
        ({"metric": "x" * 40}, "metric"),
        ({"since": "2026-11-01T00:00:00Z"}, "since"),
    ],
)
async def test_bad_ranges_and_metrics_are_refused(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, params: dict[str, str], field: str
) -> None:
    staff, device, _ = await scene(app, client, tmp_path)
    answer = await chart(client, staff, device, **params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [f["field"] for f in body["error"]["details"]["fields"]] == [field], body
    assert "Traceback" not in answer.text


async def test_no_metric_is_refused(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    staff, device, _ = await scene(app, client, tmp_path)
    answer = await client.get(f"/api/v1/devices/{device.id}/readings", headers=staff.headers)
    assert answer.status_code == 422 and answer.json()["error"]["details"]["fields"][0]["field"] == "metric"


async def test_alarm_evidence_holds_the_half_hour_before_and_the_readings_while_open(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, rds: aioredis.Redis
) -> None:
    staff, device, resident = await scene(app, client, tmp_path)
    # An hour ago (outside the window), 20 and 10 minutes ago: quiet readings.
    await send(client, device, [gas(device.serial, 1.0, 3600)])
    await send(client, device, [gas(device.serial, 2.0, 1200), gas(device.serial, 3.0, 600)])
    assert await EvidenceReading.all().count() == 0  # nothing stored while nothing is wrong
    raised = (await send(client, device, [gas(device.serial, 25.0, 60)])).json()["alarms"]
    [alarm_id] = [a["id"] for a in raised]
    await send(client, device, [gas(device.serial, 30.0, 30), gas(device.serial, 28.0, 20)])
    path = f"/api/v1/device-alarms/{alarm_id}/evidence"
    for who in (resident, staff):
        answer = await client.get(path, headers=who.headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [i["value"] for i in body["items"]] == [2.0, 3.0, 25.0, 30.0, 28.0]
        assert body["alarm"] == alarm_id and body["device"] == device.id and body["truncated"] is False
    # Cleared by the device: later readings are no longer kept.
    await send(client, device, [gas(device.serial, 1.0, 10)])
    await send(client, device, [gas(device.serial, 0.5, 5)])
    kept = [i["value"] for i in (await client.get(path, headers=staff.headers)).json()["items"]]
    assert kept == [2.0, 3.0, 25.0, 30.0, 28.0, 1.0]  # the clearing reading belongs to the alarm
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    stranger = await user(app, Role.RESIDENT)
    for who in (other_grid, stranger):
        refused = await client.get(path, headers=who.headers)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "alarm_not_found"
    # The job purges evidence 30 days after the alarm's end, not before; rollups after 400 days.
    await readings_store.flush(rds)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=29)
    assert await readings_store.purge(now=soon) == (0, 0)
    _, purged = await readings_store.purge(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=31))
    assert purged == 6
    rollups, _ = await readings_store.purge(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=402))
    assert rollups >= 1 and await DeviceRollup.all().count() == 0


async def test_evidence_of_an_open_alarm_is_kept_past_thirty_days(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, device, _ = await scene(app, client, tmp_path)
    await send(client, device, [gas(device.serial, 25.0, 60)])
    row = await Device.get(public_id=device.id)
    assert await DeviceAlarm.filter(device_id=row.id, cleared_at=None).exists()
    assert await readings_store.purge(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=90)) == (0, 0)
    assert await EvidenceReading.filter(device_id=row.id).count() == 1
