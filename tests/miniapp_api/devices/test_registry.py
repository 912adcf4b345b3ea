"""The device registry over HTTP: staff register in their own area only, secrets are shown once and
kept encrypted, pairing is checked, and residents bind with the code in the box (once)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices.models import Device, DeviceMember
from tests.miniapp_api.devices.conftest import buildings, gas, register, send, user


async def test_staff_register_in_their_grid_and_the_secret_is_shown_once(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "gd-0001")
    assert device.serial == "GD-0001"
    assert device.body["building"] == "GM0101010001" and device.body["node"] == "GM010101"
    assert len(device.secret) >= 40 and len(device.binding_code.replace("-", "")) == 10
    # Never again: not in the device, not in the list, not in the database in clear.
    shown = (await client.get(f"/api/v1/devices/{device.id}", headers=staff.headers)).json()
    listed = (await client.get("/api/v1/devices", headers=staff.headers)).json()
    assert "secret" not in shown and "binding_code" not in shown
    assert device.secret not in str(listed) and device.binding_code not in str(listed)
    row = await Device.get(public_id=device.id)
    assert device.secret not in row.secret_enc
    assert row.binding_code_hash is not None and device.binding_code not in row.binding_code_hash


async def test_staff_of_another_grid_can_neither_see_nor_change_the_device(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    mine = await user(app, Role.GRID_STAFF, node="GM010101")
    theirs = await user(app, Role.GRID_STAFF, node="GM010102")
    device = await register(client, mine, "GD-0002")
    path = f"/api/v1/devices/{device.id}"
    assert (await client.get(path, headers=theirs.headers)).status_code == 404
    patched = await client.patch(path, json={"place": "客厅"}, headers=theirs.headers)
    assert patched.status_code == 404
    rotated = await client.post(f"{path}/secret", headers=theirs.headers)
    assert rotated.status_code == 404
    listed = (await client.get("/api/v1/devices", headers=theirs.headers)).json()
    assert listed["items"] == []
    narrowed = await client.get("/api/v1/devices", params={"node": "GM010101"}, headers=theirs.headers)
    assert narrowed.status_code == 404
    by_building = await client.get("/api/v1/devices", params={"building": "GM0101010001"}, headers=theirs.headers)
    assert by_building.status_code == 404
    # Registering into my building, or pairing with my gateway, from the other grid: refused.
    into_mine = await client.post(
        "/api/v1/devices", json={"serial": "GD-0003", "type": "gas", "building": "GM0101010001"}, headers=theirs.headers
    )
    assert into_mine.status_code == 422 and into_mine.json()["error"]["details"]["fields"][0]["field"] == "building"
    gateway = await register(client, mine, "GW-0001", "gateway")
    paired = await client.post(
        "/api/v1/devices",
        json={"serial": "GD-0004", "type": "gas", "building": "GM0101020001", "gateway": gateway.serial},
        headers=theirs.headers,
    )
    assert paired.status_code == 422 and paired.json()["error"]["code"] == "unknown_gateway"
    assert (await Device.get(public_id=device.id)).place == "厨房"


async def test_who_may_register_read_and_where(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-0010")
    resident = await user(app, Role.RESIDENT)
    officer = await user(app, Role.OFFICER, node="GM01")
    police = await user(app, Role.POLICE, node="GM01")
    admin = await user(app, Role.ADMIN, node="GM")
    body = {"serial": "GD-0011", "type": "smoke", "building": "GM0101010001"}
    for caller in (resident, officer, police):
        assert (await client.post("/api/v1/devices", json=body, headers=caller.headers)).status_code == 403
    assert (await client.get(f"/api/v1/devices/{device.id}", headers=officer.headers)).status_code == 200
    assert (await client.get(f"/api/v1/devices/{device.id}", headers=resident.headers)).status_code == 403
    assert (await client.post("/api/v1/devices", json=body, headers=admin.headers)).status_code == 201
    street = await client.post(
        "/api/v1/devices", json={"serial": "GD-0012", "type": "noise", "node": "GM01"}, headers=admin.headers
    )
    assert street.status_code == 422 and street.json()["error"]["code"] == "node_level"
    same = await client.post("/api/v1/devices", json={**body, "serial": "gd-0010"}, headers=staff.headers)
    assert same.status_code == 409 and same.json()["error"]["code"] == "serial_taken"


async def test_bad_registrations_are_refused_and_change_nothing(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    smoke = await register(client, staff, "SM-0001", "smoke")
    valve = await register(client, staff, "VL-0001", "valve")
    await register(client, staff, "GD-0020", valve=valve.serial)
    base = {"type": "gas", "building": "GM0101010001"}
    cases = [
        ({"serial": "GD-0021", **base, "place": "厨房 13912345678"}, 422, "personal_number"),
        ({"serial": "GD-0022", **base, "valve": valve.serial}, 409, "valve_taken"),
        ({"serial": "GD-0023", **base, "valve": smoke.serial}, 422, "unknown_valve"),
        ({"serial": "SM-0024", "type": "smoke", "building": "GM0101010001", "valve": "VL-0001"}, 422, None),
        ({"serial": "GD-0025", **base, "gateway": smoke.serial}, 422, "unknown_gateway"),
        ({"serial": "GD-0026", **base, "rules": [{"alarm_type": "gas", "samples": 0}]}, 422, "invalid_rule"),
        ({"serial": "GD-0027", **base, "rules": [{"alarm_type": "noise", "samples": 2}]}, 422, "invalid_rule"),
        ({"serial": "GD 0028", **base}, 422, None),
        ({"serial": "GD-0029", "type": "toaster", "building": "GM0101010001"}, 422, None),
        ({"serial": "GD-0030", "type": "gas"}, 422, "missing_place"),
        ({"serial": "GD-0031", **base, "rules": [{"alarm_type": "gas"}] * 21}, 422, None),
    ]
    for body, status, code in cases:
        response = await client.post("/api/v1/devices", json=body, headers=staff.headers)
        assert response.status_code == status, (body, response.text)
        if code:
            assert response.json()["error"]["code"] == code, (body, response.text)
    assert await Device.all().count() == 3


async def test_a_rotated_secret_signs_and_the_old_one_does_not(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-0040")
    rotated = await client.post(f"/api/v1/devices/{device.id}/secret", headers=staff.headers)
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != device.secret
    old = await send(client, device, [gas(device.serial, 1.0)])
    assert old.status_code == 401 and old.json()["error"]["code"] == "bad_signature"
    new = await send(client, device, [gas(device.serial, 1.0)], secret=new_secret)
    assert new.status_code == 200, new.text


async def test_a_binding_code_binds_once_and_guessing_locks_it(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-0050")
    other = await register(client, staff, "GD-0051")
    alice = await user(app, Role.RESIDENT)
    bob = await user(app, Role.RESIDENT)
    # The code of another device, or a serial that does not exist: the same refusal.
    for body in ({"serial": device.serial, "code": other.binding_code}, {"serial": "NOPE-0001", "code": "ABCDE-FGHJK"}):
        refused = await client.post("/api/v1/devices/bind", json=body, headers=alice.headers)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "binding_code_invalid"
    bound = await client.post(
        "/api/v1/devices/bind",
        json={"serial": device.serial, "code": device.binding_code.lower()},
        headers=alice.headers,
    )
    assert bound.status_code == 201 and bound.json()["id"] == device.id
    again = await client.post(
        "/api/v1/devices/bind", json={"serial": device.serial, "code": device.binding_code}, headers=bob.headers
    )
    assert again.status_code == 422
    mine = (await client.get("/api/v1/me/devices", headers=alice.headers)).json()["items"]
    assert [d["id"] for d in mine] == [device.id]
    assert (await client.get("/api/v1/me/devices", headers=bob.headers)).json()["items"] == []
    # Five wrong codes: the right one binds nothing any more.
    for _ in range(5):
        wrong = await client.post(
            "/api/v1/devices/bind", json={"serial": other.serial, "code": "WRONG-WRONG"}, headers=bob.headers
        )
        assert wrong.status_code == 422
    locked = await client.post(
        "/api/v1/devices/bind", json={"serial": other.serial, "code": other.binding_code}, headers=bob.headers
    )
    assert locked.status_code == 422
    assert not await DeviceMember.filter(device_id=(await Device.get(public_id=other.id)).id).exists()
    assert (
        await client.post("/api/v1/devices/bind", json={"serial": device.serial, "code": "x"}, headers=staff.headers)
    ).status_code == 403


async def test_a_refused_rule_override_does_not_repeat_what_was_sent(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-0090")
    phone, long_key = "13912345678", "k" * 5000
    for rules in (
        [{"alarm_type": "gas", phone: 1}],
        [{"alarm_type": "gas", long_key: 1}],
        [{"alarm_type": "gas", "levels": [{"severity": "critical", "raise_at": 20, "clear_at": 10, phone: 1}]}],
    ):
        patched = await client.patch(f"/api/v1/devices/{device.id}", json={"rules": rules}, headers=staff.headers)
        assert patched.status_code == 422 and patched.json()["error"]["code"] == "invalid_rule", patched.text
        assert phone not in patched.text and long_key not in patched.text
    assert (await Device.get(public_id=device.id)).rules == []
