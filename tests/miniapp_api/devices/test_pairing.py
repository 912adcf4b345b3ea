"""Pairing, as an attacker or a careless member of staff: a gas detector's valve is in the detector's own
home (building), a gateway is at the device's place or above it; a retired device lets go of its valve.
Otherwise one household's gas alarm shuts another's gas, and its members may reopen another home's valve."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices.models import Device
from notify.models import Notification
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.devices.conftest import bound_resident, buildings, gas, register, send, user


async def three_buildings(tmp_path: Path) -> None:
    """GM0101010001 and GM0101010002 in grid GM010101, GM0101020001 in grid GM010102."""
    result = await import_rows(tmp_path, [row(1), row(2), row(1, grid="GM010102")])
    assert result.created == 3 and not result.rejected, result.rejected


def refused(response: httpx.Response, field: str, code: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    assert body["details"]["fields"][0]["field"] == field


async def test_a_detector_is_paired_only_with_a_valve_of_its_own_home(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await three_buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    neighbours_valve = await register(client, staff, "VL-7002", "valve", building="GM0101010002")
    at_the_grid = await register(client, staff, "VL-7003", "valve", building=None, node="GM010101")
    for valve in (neighbours_valve, at_the_grid):
        created = await client.post(
            "/api/v1/devices",
            json={"serial": "GD-7001", "type": "gas", "building": "GM0101010001", "valve": valve.serial},
            headers=staff.headers,
        )
        refused(created, "valve", "valve_elsewhere")
    assert not await Device.exists(serial="GD-7001")
    detector = await register(client, staff, "GD-7001")
    patched = await client.patch(
        f"/api/v1/devices/{detector.id}", json={"valve": neighbours_valve.serial}, headers=staff.headers
    )
    refused(patched, "valve", "valve_elsewhere")
    assert (await Device.get(public_id=detector.id)).valve_id is None
    # The valve of its own home: paired.
    own = await register(client, staff, "VL-7001", "valve")
    paired = await client.patch(f"/api/v1/devices/{detector.id}", json={"valve": own.serial}, headers=staff.headers)
    assert paired.status_code == 200 and paired.json()["valve"] == "VL-7001"


async def test_a_gateway_reports_only_for_devices_at_its_place_or_below(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await three_buildings(tmp_path)
    admin = await user(app, Role.ADMIN, node="GM")
    other_grid = await register(client, admin, "GW-7102", "gateway", building="GM0101020001")
    detector = await register(client, admin, "GD-7101")
    created = await client.post(
        "/api/v1/devices",
        json={"serial": "GD-7102", "type": "gas", "building": "GM0101010001", "gateway": other_grid.serial},
        headers=admin.headers,
    )
    refused(created, "gateway", "gateway_elsewhere")
    patched = await client.patch(
        f"/api/v1/devices/{detector.id}", json={"gateway": other_grid.serial}, headers=admin.headers
    )
    refused(patched, "gateway", "gateway_elsewhere")
    assert (await Device.get(public_id=detector.id)).gateway_id is None
    # A gateway of the same grid (another building) or of the community above: paired.
    same_grid = await register(client, admin, "GW-7103", "gateway", building="GM0101010002")
    community = await register(client, admin, "GW-7104", "gateway", building=None, node="GM0101")
    for gateway in (same_grid, community):
        ok = await client.patch(
            f"/api/v1/devices/{detector.id}", json={"gateway": gateway.serial}, headers=admin.headers
        )
        assert ok.status_code == 200 and ok.json()["gateway"] == gateway.serial


async def test_a_retired_detector_lets_go_of_its_valve(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await three_buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    valve = await register(client, staff, "VL-7201", "valve")
    old = await register(client, staff, "GD-7201", valve=valve.serial)
    former = await bound_resident(app, client, old, phone="13900007201", openid="o_former_7201")
    retired = await client.patch(f"/api/v1/devices/{old.id}", json={"active": False}, headers=staff.headers)
    assert retired.status_code == 200 and retired.json()["valve"] is None
    # The former household no longer reaches the valve through the retired detector.
    path = f"/api/v1/devices/{valve.id}"
    assert (await client.post(f"{path}/open", json={"confirm": True}, headers=former.headers)).status_code == 404
    assert (await client.get(f"{path}/commands", headers=former.headers)).status_code == 404
    # And the valve is free for the detector that replaces it.
    new = await register(client, staff, "GD-7202", valve=valve.serial)
    assert new.body["valve"] == "VL-7201"
    # A retired valve lets go of its detector too.
    gone = await client.patch(path, json={"active": False}, headers=staff.headers)
    assert gone.status_code == 200
    assert (await Device.get(public_id=new.id)).valve_id is None


async def test_a_retired_device_lets_go_of_its_household(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-7801")
    former = await bound_resident(app, client, device, phone="13900007801", openid="o_former_7801")
    await send(client, device, [gas(device.serial, 12.0, 10)])
    [alarm] = (await client.get("/api/v1/me/device-alarms", headers=former.headers)).json()["items"]
    told = await Notification.filter(account_id=former.account.id).count()
    path = f"/api/v1/devices/{device.id}"
    assert (await client.patch(path, json={"active": False}, headers=staff.headers)).status_code == 200
    assert (await client.patch(path, json={"active": True}, headers=staff.headers)).status_code == 200
    # Back in service for a new tenant: the former household neither sees it nor hears of it.
    assert (await client.get("/api/v1/me/devices", headers=former.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/device-alarms/{alarm['id']}", headers=former.headers)).status_code == 404
    assert (await send(client, device, [gas(device.serial, 25.0, 1)])).json()["alarms"]
    assert await Notification.filter(account_id=former.account.id).count() == told


async def test_a_new_tenant_never_reads_the_former_households_history(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-7901")
    former = await bound_resident(app, client, device, phone="13900007901", openid="o_former_7901")
    await send(client, device, [gas(device.serial, 12.0, 40)])
    await send(client, device, [gas(device.serial, 1.0, 30)])  # their alarm, raised and cleared
    [old] = (await client.get("/api/v1/me/device-alarms", params={"state": "all"}, headers=former.headers)).json()[
        "items"
    ]
    path = f"/api/v1/devices/{device.id}"
    assert (await client.patch(path, json={"active": False}, headers=staff.headers)).status_code == 200
    assert (await client.patch(path, json={"active": True}, headers=staff.headers)).status_code == 200
    tenant = await user(app, Role.RESIDENT)
    asked = await client.post(f"/api/v1/devices/{device.id}/binding-requests", headers=tenant.headers)
    assert asked.status_code == 201, asked.text
    approve = f"/api/v1/device-binding-requests/{asked.json()['id']}/approve"
    assert (await client.post(approve, json={}, headers=staff.headers)).status_code == 200
    # The former household's alarm, its evidence and its readings are not the new tenant's.
    mine = await client.get("/api/v1/me/device-alarms", params={"state": "all"}, headers=tenant.headers)
    assert mine.json()["items"] == []
    for suffix in ("", "/evidence", "/ack"):
        method = "POST" if suffix == "/ack" else "GET"
        kwargs = {"json": {}} if method == "POST" else {}
        answer = await client.request(
            method, f"/api/v1/device-alarms/{old['id']}{suffix}", headers=tenant.headers, **kwargs
        )
        assert answer.status_code == 404, (suffix, answer.text)
    chart = await client.get(
        f"{path}/readings",
        params={"metric": "gas_lel_pct", "from": "2026-01-01T00:00:00+08:00"},
        headers=tenant.headers,
    )
    assert chart.status_code == 200 and all(p["last_at"] >= asked.json()["created_at"] for p in chart.json()["points"])
    # Staff still see the device's whole history; and the home's next alarm is the tenant's.
    assert (await client.get(f"/api/v1/device-alarms/{old['id']}", headers=staff.headers)).status_code == 200
    await send(client, device, [gas(device.serial, 15.0, 1)])
    [new] = (await client.get("/api/v1/me/device-alarms", headers=tenant.headers)).json()["items"]
    assert new["id"] != old["id"]
