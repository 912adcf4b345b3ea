"""Silences over HTTP: staff quiet a device, a building or a type in their area for at most 7 days,
audited; a silenced alarm is recorded and listed but nobody is messaged, and messages flow again once
the silence ends or is lifted. Other grids, residents, police and bad input change nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.devices.models import AlarmEvent, DeviceSilence
from notify.models import Notification
from tests.miniapp_api.devices.conftest import Registered, User, bound_resident, buildings, gas, register, send, user

SILENCES = "/api/v1/device-silences"
PHONE = "13900004001"
REASON = "燃气管道检修，报警器测试中"


def later(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat()


def body(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"building": "GM0101010001", "reason": REASON, "ends_at": later(hours=2)}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


async def scene(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> tuple[User, Registered, User]:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    device = await register(client, staff, "GD-SI01")
    resident = await bound_resident(app, client, device, phone=PHONE, openid="o_si_1")
    return staff, device, resident


async def told(resident: User) -> list[tuple[str, str]]:
    rows = await Notification.filter(account_id=resident.account.id).order_by("id")
    return [(r.template, r.channels) for r in rows]


async def test_outsiders_and_bad_input_change_nothing(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    staff, device, resident = await scene(app, client, tmp_path)
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    police = await user(app, Role.POLICE, node="GM01")
    # Other grids' staff: the device, the building and the node are not in their area (as if absent).
    for attempt in (
        body(building=None, device=device.id),
        body(building="GM0101010001"),
        body(building=None, type="gas", node="GM010101"),
    ):
        answer = await client.post(SILENCES, json=attempt, headers=other_grid.headers)
        assert answer.status_code == 404, answer.text
    for caller in (resident, police):
        assert (await client.post(SILENCES, json=body(), headers=caller.headers)).status_code == 403
    assert (await client.post(SILENCES, json=body())).status_code == 401
    bad: list[tuple[dict[str, Any], str]] = [
        (body(building=None), "silence_scope"),
        (body(device=device.id), "silence_scope"),
        (body(building=None, device=device.id, node="GM010101"), "silence_scope"),
        (body(ends_at=later(minutes=-1)), "silence_end"),
        (body(ends_at=later(days=7, minutes=5)), "silence_end"),
        (body(ends_at="2026-12-05T10:00:00"), "validation_failed"),
        (body(ends_at="tomorrow"), "validation_failed"),
        (body(reason=""), "reason_required"),
        (body(reason="  !! 12 "), "reason_required"),
        (body(reason="测试\u200b"), "reason_required"),
        (body(reason=f"住户 {PHONE} 要求静音"), "personal_number"),
        (body(reason="测试", extra=1), "validation_failed"),
        (body(type="pump", building=None), "validation_failed"),
    ]
    for attempt, code in bad:
        answer = await client.post(SILENCES, json=attempt, headers=staff.headers)
        assert answer.status_code == 422, (attempt, answer.text)
        assert answer.json()["error"]["code"] == code, (attempt, answer.text)
        assert PHONE not in answer.text
    broken = await client.post(SILENCES, content=b"{", headers={**staff.headers, "Content-Type": "application/json"})
    assert broken.status_code == 400, broken.text
    assert not await DeviceSilence.exists()
    assert not await AuditEntry.filter(action__startswith="device.silence").exists()


async def test_staff_create_list_and_lift_in_their_area_audited(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, resident = await scene(app, client, tmp_path)
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    officer = await user(app, Role.OFFICER, node="GM01")
    created = []
    for attempt in (
        body(),
        body(building=None, device=device.id),
        body(building=None, type="smoke"),
        body(building=None, type="gas", node="GM010101", ends_at=later(days=6)),
    ):
        answer = await client.post(SILENCES, json=attempt, headers=staff.headers)
        assert answer.status_code == 201, answer.text
        created.append(answer.json())
    assert [(s["scope"], s["building"], s["device"], s["type"], s["node"]) for s in created] == [
        ("building", "GM0101010001", None, None, "GM010101"),
        ("device", None, device.id, None, "GM010101"),
        ("type", None, None, "smoke", "GM010101"),
        ("type", None, None, "gas", "GM010101"),
    ]
    assert all(s["active"] and s["ended_at"] is None for s in created)
    # An officer above sees them; another grid's staff do not and may not lift them.
    listed = (await client.get(SILENCES, headers=officer.headers)).json()["items"]
    assert [s["id"] for s in listed] == [s["id"] for s in reversed(created)]
    assert (await client.get(SILENCES, headers=other_grid.headers)).json()["items"] == []
    assert (await client.get(SILENCES, params={"node": "GM010101"}, headers=other_grid.headers)).status_code == 404
    first = created[0]["id"]
    assert (await client.post(f"{SILENCES}/{first}/lift", headers=other_grid.headers)).status_code == 404
    assert (await client.post(f"{SILENCES}/nope/lift", headers=staff.headers)).status_code == 404
    lifted = await client.post(f"{SILENCES}/{first}/lift", headers=officer.headers)
    assert lifted.status_code == 200 and not lifted.json()["active"] and lifted.json()["ended_at"]
    again = await client.post(f"{SILENCES}/{first}/lift", headers=staff.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "silence_over"
    active = (await client.get(SILENCES, headers=staff.headers)).json()["items"]
    assert first not in [s["id"] for s in active]
    everything = (await client.get(SILENCES, params={"state": "all", "limit": 2}, headers=staff.headers)).json()
    assert len(everything["items"]) == 2 and everything["next_cursor"]
    # Every create and lift is in the audit log, under the grid, without personal data.
    entries = await AuditEntry.filter(action__startswith="device.silence").order_by("seq")
    assert [(e.action, e.target) for e in entries] == [
        *(("device.silence_create", s["id"]) for s in created),
        ("device.silence_lift", first),
    ]
    assert entries[0].reason == REASON and entries[0].details["building"] == "GM0101010001"
    assert all(e.scope.endswith("GM010101/") or "GM010101" in e.scope for e in entries)
    assert entries[-1].actor == officer.account.public_id
    dumped = json.dumps([[e.reason, e.details, e.target] for e in entries], ensure_ascii=False)
    assert PHONE not in dumped and resident.account.public_id not in dumped


async def test_a_silenced_building_records_its_alarms_and_tells_nobody_until_the_silence_ends(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, resident = await scene(app, client, tmp_path)
    created = await client.post(SILENCES, json=body(), headers=staff.headers)
    assert created.status_code == 201, created.text
    silence = created.json()["id"]
    raised = (await send(client, device, [gas(device.serial, 12.0, 60)])).json()["alarms"]
    assert [(a["change"], a["severity"]) for a in raised] == [("raise", "warning")]
    # Recorded and shown to staff, with the reason nobody heard of it in its history; no message.
    listed = (await client.get("/api/v1/device-alarms", headers=staff.headers)).json()["items"]
    assert [a["id"] for a in listed] == [raised[0]["id"]]
    detail = (await client.get(f"/api/v1/device-alarms/{raised[0]['id']}", headers=staff.headers)).json()
    assert [(h["action"], h["note"]) for h in detail["history"]] == [("raise", f"silenced by {silence}")]
    assert await told(resident) == []
    # The silence runs out (as if its end had passed): the rise to critical reaches the household.
    await DeviceSilence.filter(public_id=silence).update(ends_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    assert (await client.get(SILENCES, headers=staff.headers)).json()["items"] == []
    rose = (await send(client, device, [gas(device.serial, 25.0, 50)])).json()["alarms"]
    assert [(a["change"], a["severity"]) for a in rose] == [("severity", "critical")]
    assert await told(resident) == [("device.alarm", "wechat"), ("device.alarm", "sms")]
    notes = await AlarmEvent.filter(action="severity").values_list("note", flat=True)
    assert list(notes) == [""]


async def test_a_lifted_type_silence_lets_messages_flow_again(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    staff, device, resident = await scene(app, client, tmp_path)
    smoke_only = await client.post(SILENCES, json=body(building=None, type="smoke"), headers=staff.headers)
    assert smoke_only.status_code == 201
    # A smoke silence does not cover a gas detector.
    await send(client, device, [gas(device.serial, 12.0, 60)])
    assert await told(resident) == [("device.alarm", "wechat,sms")]
    gas_silence = await client.post(SILENCES, json=body(building=None, type="gas"), headers=staff.headers)
    assert gas_silence.status_code == 201
    await send(client, device, [gas(device.serial, 2.0, 50)])  # the clear: silenced
    assert len(await told(resident)) == 1
    lifted = await client.post(f"{SILENCES}/{gas_silence.json()['id']}/lift", headers=staff.headers)
    assert lifted.status_code == 200
    await send(client, device, [gas(device.serial, 22.0, 40)])
    assert await told(resident) == [
        ("device.alarm", "wechat,sms"),
        ("device.alarm", "wechat"),
        ("device.alarm", "sms"),
    ]
