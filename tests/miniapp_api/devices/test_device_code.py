"""The sticker's code of a device (QR kind ``device``): issued at registration, shown to staff with the
device, and what a scan shows each role: anyone only that it is a registered safety device; a resident
whether they are in its household and how to ask to be bound; staff of its area its building, place,
status, last readings and open alarms; police and staff elsewhere what a resident sees, without the
way to ask. No view names or counts the household."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices.models import Device
from qr.models import Credential
from tests.miniapp_api.devices.conftest import Registered, User, bound_resident, buildings, gas, register, send, user

BASE = {"kind", "registered", "type", "type_name"}
RESIDENT_KEYS = BASE | {"in_household"}
MEMBER_PHONE = "13900003001"


async def token_of(device: Registered) -> str:
    row = await Device.get(public_id=device.id)
    credential = await Credential.get(public_id=row.credential_id)
    return credential.token


async def scan_raw(client: httpx.AsyncClient, token: str, who: User | None = None) -> httpx.Response:
    return await client.post("/api/v1/scan", json={"payload": token}, headers=who.headers if who else {})


async def scan(client: httpx.AsyncClient, device: Registered, who: User | None = None) -> dict[str, Any]:
    response = await scan_raw(client, await token_of(device), who)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "device" and body["valid"] is True
    view: dict[str, Any] = body["view"]
    return view


async def scene(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> tuple[User, Registered, User]:
    """A gas detector in GM0101010001 (grid GM010101) with a critical alarm open and one member."""
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-3001")
    member = await bound_resident(app, client, device, phone=MEMBER_PHONE, openid="o_member_3001")
    answer = await send(client, device, [gas(device.serial, 25.0, 30)])
    assert [a["severity"] for a in answer.json()["alarms"]] == ["critical"]
    return staff, device, member


def assert_no_household(view: dict[str, Any], member: User) -> None:
    text = str(view)
    assert MEMBER_PHONE not in text and "****" not in text
    assert member.account.public_id not in text
    assert "household" not in view and "members" not in view


async def test_registration_issues_the_stickers_code_shown_with_the_device(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-3002", kind="smoke")
    code = device.body["credential"]
    credential = await Credential.get(public_id=code["id"])
    assert (credential.kind, credential.subject_id, credential.serial) == ("device", device.id, 1)
    assert credential.label == "烟感报警器" and credential.node_path == "/GM/GM01/GM0101/GM010101/"
    assert code["serial"] == 1 and code["url"].endswith(f"/q/{credential.token}")
    assert code["images"]["sticker"] == f"/api/v1/credentials/{code['id']}/sticker.png"
    shown = (await client.get(f"/api/v1/devices/{device.id}", headers=staff.headers)).json()
    assert shown["credential"] == code
    listed = (await client.get("/api/v1/devices", headers=staff.headers)).json()["items"]
    assert [d["credential"] for d in listed] == [code]
    # Staff of the area print the sticker.
    sticker = await client.get(code["images"]["png"], headers=staff.headers)
    assert sticker.status_code == 200 and sticker.headers["content-type"] == "image/png"


async def test_a_refused_registration_issues_no_code(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    await register(client, staff, "GD-3003")
    before = await Credential.filter(kind="device").count()
    again = await client.post(
        "/api/v1/devices", json={"serial": "gd-3003", "type": "gas", "building": "GM0101010001"}, headers=staff.headers
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "serial_taken"
    assert await Credential.filter(kind="device").count() == before


async def test_anyone_sees_only_a_registered_safety_device(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, device, member = await scene(app, client, tmp_path)
    view = await scan(client, device)
    assert view == {"kind": "device", "registered": True, "type": "gas", "type_name": "燃气报警器"}
    assert_no_household(view, member)
    page = await client.get(f"/q/{await token_of(device)}")
    assert page.status_code == 200 and "光明区安全设备电子身份证" in page.text
    assert "厨房" not in page.text and "GM0101010001" not in page.text and MEMBER_PHONE not in page.text


async def test_a_resident_sees_whether_they_are_in_the_household_and_how_to_ask(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, device, member = await scene(app, client, tmp_path)
    stranger = await user(app, Role.RESIDENT, phone="13900003009")
    view = await scan(client, device, stranger)
    assert set(view) == RESIDENT_KEYS | {"actions"} and view["in_household"] is False
    assert view["actions"] == [
        {
            "key": "request_binding",
            "title": "申请绑定到我家",
            "method": "POST",
            "href": f"/api/v1/devices/{device.id}/binding-requests",
        }
    ]
    assert_no_household(view, member)
    party = await user(app, Role.PARTY_MEMBER, node="GM010101")
    assert (await scan(client, device, party))["actions"][0]["key"] == "request_binding"
    # A member is told so, and has nothing to ask.
    mine = await scan(client, device, member)
    assert set(mine) == RESIDENT_KEYS and mine["in_household"] is True


async def test_staff_of_the_area_see_building_place_status_readings_and_open_alarms(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, member = await scene(app, client, tmp_path)
    officer = await user(app, Role.OFFICER, node="GM0101")
    admin = await user(app, Role.ADMIN)
    for who in (staff, officer, admin):
        view = await scan(client, device, who)
        assert view["building"] == "GM0101010001" and view["node"] == "GM010101" and view["place"] == "厨房"
        assert view["id"] == device.id
        assert view["status"]["active"] is True and view["status"]["online"] is True
        assert view["readings"]["gas_lel_pct"]["value"] == 25.0
        assert [(a["type"], a["severity"], a["state"]) for a in view["open_alarms"]] == [
            ("gas", "critical", "active_unack")
        ]
        assert "in_household" not in view and "actions" not in view
        assert_no_household(view, member)


async def test_a_device_never_heard_is_offline_with_no_readings(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-3004", kind="water")
    view = await scan(client, device, staff)
    assert view["status"] == {"active": True, "online": False, "last_seen_at": None}
    assert view["readings"] == {} and view["open_alarms"] == []
    retired = await client.patch(f"/api/v1/devices/{device.id}", json={"active": False}, headers=staff.headers)
    assert retired.status_code == 200
    assert (await scan(client, device, staff))["status"]["active"] is False
    # A retired device offers no binding.
    resident = await user(app, Role.RESIDENT)
    assert set(await scan(client, device, resident)) == RESIDENT_KEYS


async def test_police_and_staff_of_other_areas_see_what_a_resident_sees_without_the_way_to_ask(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, device, member = await scene(app, client, tmp_path)
    police_of_the_area = await user(app, Role.POLICE, node="GM01")
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    other_street_officer = await user(app, Role.OFFICER, node="GM0102")
    for who in (police_of_the_area, other_grid, other_street_officer):
        view = await scan(client, device, who)
        assert view == {
            "kind": "device",
            "registered": True,
            "type": "gas",
            "type_name": "燃气报警器",
            "in_household": False,
        }, who.account.role
        assert_no_household(view, member)


async def test_revoked_and_reissued_codes_are_refused_as_for_other_kinds(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, _ = await scene(app, client, tmp_path)
    admin = await user(app, Role.ADMIN)
    other = await register(client, staff, "GD-3005")
    old_token = await token_of(other)
    reissued = await client.post(f"/api/v1/credentials/{other.body['credential']['id']}/reissue", headers=admin.headers)
    assert reissued.status_code == 200
    refused = await scan_raw(client, old_token, staff)
    assert refused.status_code == 410 and refused.json()["error"]["code"] == "superseded"
    assert (await scan(client, other, staff))["id"] == other.id  # the new code answers
    shown = (await client.get(f"/api/v1/devices/{other.id}", headers=staff.headers)).json()
    assert shown["credential"]["serial"] == 2
    token = await token_of(device)
    revoked = await client.post(
        f"/api/v1/credentials/{device.body['credential']['id']}/revoke", json={"reason": "lost"}, headers=admin.headers
    )
    assert revoked.status_code == 200
    for who in (None, staff):
        refused = await scan_raw(client, token, who)
        assert refused.status_code == 410 and refused.json()["error"]["code"] == "revoked"


async def test_the_household_may_print_its_sticker_and_others_may_not(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, device, member = await scene(app, client, tmp_path)
    png = device.body["credential"]["images"]["png"]
    assert (await client.get(png, headers=member.headers)).status_code == 200
    stranger = await user(app, Role.RESIDENT)
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    for who in (stranger, other_grid):
        assert (await client.get(png, headers=who.headers)).status_code == 404
