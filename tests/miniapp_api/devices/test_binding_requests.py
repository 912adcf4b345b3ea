"""Binding requests: a resident who scanned a device's sticker asks to join its household; grid staff of
its area approve or refuse with a note; the resident is told either way. Attackers first: other grids'
staff, residents, other households, repeated requests, bad input (nothing changed)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.pii import current_vault
from identity.roles import Role
from miniapp_api.devices.models import BindingRequest, Device, DeviceMember
from notify.models import Notification
from tests.miniapp_api.devices.conftest import Registered, User, buildings, register, user
from tests.miniapp_api.devices.test_device_code import scan

LIST = "/api/v1/device-binding-requests"
MINE = "/api/v1/me/device-binding-requests"
ASKER_PHONE = "13900004001"


def ask_url(device: Registered) -> str:
    return f"/api/v1/devices/{device.id}/binding-requests"


def decide_url(request_id: str, what: str) -> str:
    return f"{LIST}/{request_id}/{what}"


async def scene(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> tuple[User, Registered, User]:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-4001")
    asker = await user(app, Role.RESIDENT, phone=ASKER_PHONE, openid="o_asker_4001")
    return staff, device, asker


async def ask(client: httpx.AsyncClient, device: Registered, who: User) -> dict[str, Any]:
    view = await scan(client, device, who)
    [action] = view["actions"]
    response = await client.request(action["method"], action["href"], headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def is_member(device: Registered, who: User) -> bool:
    row = await Device.get(public_id=device.id)
    return await DeviceMember.exists(device_id=row.id, account_id=who.account.id)


async def told(who: User) -> list[dict[str, Any]]:
    rows = await Notification.filter(account_id=who.account.id, template="device.binding").order_by("id")
    return [json.loads(current_vault().decrypt(r.data_enc, field="notify.data")) for r in rows]


async def test_a_resident_asks_once_and_grid_staff_of_the_area_approve(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    staff, device, asker = await scene(app, client, tmp_path)
    asked = await ask(client, device, asker)
    assert (asked["state"], asked["device"], asked["place"], asked["requester"]) == ("pending", device.id, "厨房", None)
    again = await client.post(ask_url(device), headers=asker.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "binding_request_pending"
    assert again.json()["error"]["details"] == {"id": asked["id"]}
    assert await BindingRequest.filter(state="pending").count() == 1
    # The scan now says the request waits, and offers no second one.
    view = await scan(client, device, asker)
    assert view["binding_request"] == {"id": asked["id"], "state": "pending"} and "actions" not in view
    mine = (await client.get(MINE, headers=asker.headers)).json()["items"]
    assert [r["id"] for r in mine] == [asked["id"]]
    # Staff see who asks, masked.
    [listed] = (await client.get(LIST, headers=staff.headers)).json()["items"]
    assert listed["id"] == asked["id"] and listed["requester"]["phone"] == "139****4001"
    assert ASKER_PHONE not in json.dumps(listed)
    approved = await client.post(decide_url(asked["id"], "approve"), json={}, headers=staff.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved" and approved.json()["decided_at"]
    assert await is_member(device, asker)
    assert [(d["result"], d["request_id"]) for d in await told(asker)] == [("已通过", asked["id"])]
    assert (await scan(client, device, asker))["in_household"] is True
    twice = await client.post(decide_url(asked["id"], "refuse"), json={"note": "重复"}, headers=staff.headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "binding_request_decided"
    member_again = await client.post(ask_url(device), headers=asker.headers)
    assert member_again.status_code == 409 and member_again.json()["error"]["code"] == "already_member"
    assert (await client.get(LIST, headers=staff.headers)).json()["items"] == []
    assert ASKER_PHONE not in caplog.text


async def test_a_refusal_says_why_and_the_resident_may_ask_again(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, asker = await scene(app, client, tmp_path)
    asked = await ask(client, device, asker)
    url = decide_url(asked["id"], "refuse")
    for body in ({}, {"note": "  "}):
        response = await client.post(url, json=body, headers=staff.headers)
        assert response.status_code == 422, (body, response.text)
    with_phone = await client.post(url, json={"note": "请致电13912345678"}, headers=staff.headers)
    assert with_phone.status_code == 422 and "13912345678" not in with_phone.text
    assert (await BindingRequest.get(public_id=asked["id"])).state == "pending" and await told(asker) == []
    refused = await client.post(url, json={"note": "请携带租房合同到社区工作站"}, headers=staff.headers)
    assert refused.status_code == 200 and refused.json()["state"] == "refused"
    assert not await is_member(device, asker)
    assert [d["result"] for d in await told(asker)] == ["未通过"]
    [mine] = (await client.get(MINE, params={"state": "all"}, headers=asker.headers)).json()["items"]
    assert (mine["state"], mine["note"]) == ("refused", "请携带租房合同到社区工作站")
    again = await ask(client, device, asker)
    assert again["id"] != asked["id"] and again["state"] == "pending"


async def test_other_grids_staff_and_residents_cannot_decide(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, device, asker = await scene(app, client, tmp_path)
    asked = await ask(client, device, asker)
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    assert (await client.get(LIST, headers=other_grid.headers)).json()["items"] == []
    outside = await client.get(LIST, params={"node": "GM010101"}, headers=other_grid.headers)
    assert outside.status_code == 404
    for what, body in (("approve", {}), ("refuse", {"note": "不行"})):
        response = await client.post(decide_url(asked["id"], what), json=body, headers=other_grid.headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "binding_request_not_found"
    # A resident, even the asker or a member of the household, may not decide.
    for who in (asker, await user(app, Role.RESIDENT)):
        response = await client.post(decide_url(asked["id"], "approve"), json={}, headers=who.headers)
        assert response.status_code == 403
        assert (await client.get(LIST, headers=who.headers)).status_code == 403
    officer = await user(app, Role.OFFICER, node="GM0101")
    assert (await client.post(decide_url(asked["id"], "approve"), json={}, headers=officer.headers)).status_code == 403
    assert (await BindingRequest.get(public_id=asked["id"])).state == "pending"
    assert not await is_member(device, asker) and await told(asker) == []
    # An administrator of the district decides.
    admin = await user(app, Role.ADMIN)
    assert (await client.post(decide_url(asked["id"], "approve"), json={}, headers=admin.headers)).status_code == 200
    assert await is_member(device, asker)


async def test_residents_see_only_their_own_requests(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    staff, device, asker = await scene(app, client, tmp_path)
    mine = await ask(client, device, asker)
    neighbour = await user(app, Role.RESIDENT, phone="13900004002")
    theirs = await ask(client, device, neighbour)
    assert [r["id"] for r in (await client.get(MINE, headers=asker.headers)).json()["items"]] == [mine["id"]]
    assert [r["id"] for r in (await client.get(MINE, headers=neighbour.headers)).json()["items"]] == [theirs["id"]]
    listed = (await client.get(LIST, headers=staff.headers)).json()["items"]
    assert [r["id"] for r in listed] == [theirs["id"], mine["id"]]  # newest first
    page = (await client.get(LIST, params={"limit": 1}, headers=staff.headers)).json()
    assert [r["id"] for r in page["items"]] == [theirs["id"]] and page["next_cursor"] == theirs["id"]
    rest = (await client.get(LIST, params={"cursor": page["next_cursor"]}, headers=staff.headers)).json()
    assert [r["id"] for r in rest["items"]] == [mine["id"]] and rest["next_cursor"] is None


async def test_bad_requests_change_nothing(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    staff, device, asker = await scene(app, client, tmp_path)
    for device_id in ("dv_nosuchdevice", "x" * 200):
        response = await client.post(f"/api/v1/devices/{device_id}/binding-requests", headers=asker.headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "device_not_found"
    retired = await register(client, staff, "GD-4002")
    await client.patch(f"/api/v1/devices/{retired.id}", json={"active": False}, headers=staff.headers)
    assert (await client.post(ask_url(retired), headers=asker.headers)).status_code == 404
    for request_id in ("br_nosuchrequest", "y" * 200):
        response = await client.post(decide_url(request_id, "approve"), json={}, headers=staff.headers)
        assert response.status_code == 404
    asked = await ask(client, device, asker)
    for body in ({"note": 5}, {"note": "x" * 201}, {"extra": 1}, [1]):
        response = await client.post(decide_url(asked["id"], "approve"), json=body, headers=staff.headers)
        assert response.status_code == 422, (body, response.text)
    for params in ({"state": "open"}, {"limit": 0}, {"cursor": "br_unknown"}):
        assert (await client.get(LIST, params=params, headers=staff.headers)).status_code == 422, params
    assert await BindingRequest.filter(state="pending").count() == 1 and not await is_member(device, asker)


async def test_concurrent_requests_leave_one_pending(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, device, asker = await scene(app, client, tmp_path)
    answers = await asyncio.gather(*[client.post(ask_url(device), headers=asker.headers) for _ in range(4)])
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert await BindingRequest.filter(state="pending").count() == 1


async def test_a_request_for_a_device_retired_since_cannot_be_approved(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, asker = await scene(app, client, tmp_path)
    asked = await ask(client, device, asker)
    await client.patch(f"/api/v1/devices/{device.id}", json={"active": False}, headers=staff.headers)
    response = await client.post(decide_url(asked["id"], "approve"), json={}, headers=staff.headers)
    assert response.status_code == 409 and response.json()["error"]["code"] == "device_inactive"
    assert (await BindingRequest.get(public_id=asked["id"])).state == "pending" and not await is_member(device, asker)
    refused = await client.post(decide_url(asked["id"], "refuse"), json={"note": "设备已停用"}, headers=staff.headers)
    assert refused.status_code == 200 and [d["result"] for d in await told(asker)] == ["未通过"]


async def test_a_resident_takes_back_only_their_own_pending_request(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, asker = await scene(app, client, tmp_path)
    other = await user(app, Role.RESIDENT)
    asked = await ask(client, device, asker)
    cancel = f"/api/v1/me/device-binding-requests/{asked['id']}/cancel"
    # Another resident, staff, and a made-up id: nothing is taken back.
    assert (await client.post(cancel, headers=other.headers)).status_code == 404
    assert (await client.post(cancel, headers=staff.headers)).status_code == 403
    made_up = "/api/v1/me/device-binding-requests/br_nope/cancel"
    assert (await client.post(made_up, headers=asker.headers)).status_code == 404
    assert (await BindingRequest.get(public_id=asked["id"])).state == "pending"
    taken = await client.post(cancel, headers=asker.headers)
    assert taken.status_code == 200 and taken.json()["state"] == "cancelled"
    assert (await client.post(cancel, headers=asker.headers)).status_code == 409
    late = await client.post(decide_url(asked["id"], "approve"), json={}, headers=staff.headers)
    assert late.status_code == 409 and not await is_member(device, asker)
    pending = (await client.get("/api/v1/device-binding-requests", headers=staff.headers)).json()["items"]
    assert pending == []
    # Taken back, the resident may ask again.
    assert (await ask(client, device, asker))["state"] == "pending"
