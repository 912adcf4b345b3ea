"""The live alarm board over SSE: staff hear their area's alarms as they change, resume with
Last-Event-ID, and never hear another grid's; residents have no board."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from tests.miniapp_api.devices.conftest import bound_resident, buildings, gas, register, send, user
from tests.miniapp_api.reports.test_feed_stream import events, next_event

STREAM = "/api/v1/device-alarms/stream"


async def test_alarm_changes_reach_the_area_staff_and_resume(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    other = await user(app, Role.GRID_STAFF, node="GM010102")
    device = await register(client, staff, "GD-5001")
    resident = await bound_resident(app, client, device, phone="13900005001", openid="o_household_5001")
    async with (
        client.stream("GET", STREAM, headers=staff.headers) as mine,
        client.stream("GET", STREAM, headers=other.headers) as theirs,
    ):
        assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/event-stream")
        stream, their_stream = events(mine), events(theirs)
        started = time.monotonic()
        await send(client, device, [gas(device.serial, 12.0, 20)])
        first_id, first = await next_event(stream)
        assert time.monotonic() - started < 1.0
        assert (first["device"], first["type"], first["severity"], first["change"]) == (
            device.serial,
            "gas",
            "warning",
            "raise",
        )
        assert set(first) == {"id", "device", "type", "severity", "state", "change"}  # nothing of the household
        acked = await client.post(f"/api/v1/device-alarms/{first['id']}/ack", json={}, headers=resident.headers)
        assert acked.status_code == 200
        _, second = await next_event(stream)
        assert (second["change"], second["state"]) == ("ack", "active_ack")
        try:
            await next_event(their_stream, within=0.5)
            raise AssertionError("another grid heard of the alarm")
        except TimeoutError:
            pass
    async with client.stream("GET", STREAM, headers={**staff.headers, "Last-Event-ID": first_id}) as again:
        _, replayed = await next_event(events(again))
        assert replayed["change"] == "ack"
    assert (await client.get(STREAM, headers=resident.headers)).status_code == 403
    bad = await client.get(STREAM, headers={**staff.headers, "Last-Event-ID": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_last_event_id"
