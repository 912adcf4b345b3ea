"""`gmid import devices FILE`: the building import's rules and report (CSV and XLSX, rejected lines with
reasons and never the values, re-import by serial), the registry's checks, and new devices' secrets
written to the operator's file (mode 0600, never overwritten) and never printed."""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from sanic import Sanic

from identity import hierarchy
from identity.roles import Role
from miniapp_api.buildings.importer import read_table
from miniapp_api.devices import importer
from miniapp_api.devices.models import Device
from miniapp_api.devices.registry import secret_of
from qr.models import Credential
from server.auth import Principal
from server.settings import Settings
from tests.miniapp_api.devices.conftest import Registered, buildings, gas, register, send, user
from tests.support.cli import gmid

HEADER = ["serial", "type", "model", "firmware", "building", "node", "place", "gateway", "valve", "noise_zone"]


def device_row(serial: str, kind: str = "gas", **changes: str) -> dict[str, str]:
    body = {"serial": serial, "type": kind, "model": "JT-9", "firmware": "1.2.0", "building": "GM0101010001"}
    body["place"] = "厨房"
    body.update(changes)
    return body


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    columns = header or HEADER
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for item in rows:
            writer.writerow([item.get(c, "") for c in columns])
    return path


def read_secrets(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {r["serial"]: r for r in csv.DictReader(handle)}


async def run_import(settings: Settings, path: Path, *args: str) -> tuple[int, str, str]:
    return await gmid(settings, "import", "devices", str(path), *args)


def as_registered(entry: dict[str, str]) -> Registered:
    return Registered(entry["id"], entry["serial"], entry["secret"], entry["binding_code"], {})


async def test_import_creates_devices_and_writes_their_secrets_to_a_private_file_only(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    # The detector names its gateway and valve before the file lists them: they are written first.
    rows = [
        device_row("gd-3001", gateway="GW-3001", valve="VL-3001", noise_zone=""),
        device_row("SM-3001", "smoke", node="GM010101", building=""),
        device_row("GW-3001", "gateway", place="楼道"),
        device_row("VL-3001", "valve"),
    ]
    path = write_csv(tmp_path / "devices.csv", rows)
    secrets_path = tmp_path / "secrets.csv"
    code, out, err = await run_import(settings, path, "--secrets-out", str(secrets_path))
    assert code == 0, out + err
    assert "4 rows, 4 imported (4 created, 0 updated, 0 unchanged), 0 rejected" in out
    assert stat.S_IMODE(os.stat(secrets_path).st_mode) == 0o600
    kept = read_secrets(secrets_path)
    assert sorted(kept) == ["GD-3001", "GW-3001", "SM-3001", "VL-3001"]
    for entry in kept.values():
        assert entry["secret"] not in out + err and entry["binding_code"] not in out + err

    detector = await Device.get(serial="GD-3001")
    gateway = await Device.get(serial="GW-3001")
    valve = await Device.get(serial="VL-3001")
    # Each has its sticker's code, as when registered one by one.
    codes = await Device.filter(serial__in=kept).values_list("credential_id", flat=True)
    assert len(codes) == 4 and all(codes) and await Credential.filter(public_id__in=codes, kind="device").count() == 4
    assert (detector.gateway_id, detector.valve_id, detector.model, detector.firmware, detector.place) == (
        gateway.id,
        valve.id,
        "JT-9",
        "1.2.0",
        "厨房",
    )
    assert detector.building_id is not None and (await Device.get(serial="SM-3001")).building_id is None
    assert secret_of(detector) == kept["GD-3001"]["secret"]
    # The file's secret signs: the gateway reports for its detector.
    answer = await send(client, as_registered(kept["GW-3001"]), [gas("GD-3001", 1.0)])
    assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
    # The file's binding code binds the detector to a household.
    resident = await user(app, Role.RESIDENT)
    bound = await client.post(
        "/api/v1/devices/bind",
        json={"serial": "GD-3001", "code": kept["GD-3001"]["binding_code"]},
        headers=resident.headers,
    )
    assert bound.status_code == 201, bound.text


async def test_rejected_rows_are_reported_without_their_values_and_the_good_ones_imported(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    rows = [
        device_row("GD-4001"),  # line 2: good
        device_row("GD-4002", "lamp"),  # line 3
        device_row("GD-4003", building="GM0101019999"),  # line 4: no such building
        device_row("GD-4004", place="电话13912345678"),  # line 5: a phone number on a scanned device
        device_row("gd-4001"),  # line 6: the serial of line 2 again
        device_row("GD-4005", gateway="GW-NONE"),  # line 7: no such gateway
        device_row("SM-4001", "smoke", valve="GD-4001"),  # line 8: not a valve, and not for smoke
        device_row("GD-4006", building="", node="GM01"),  # line 9: a street, not a community or grid
        device_row("x", noise_zone="9"),  # line 10: two problems
        device_row("GD-4007", building=""),  # line 11: no place
        device_row("GD-4008"),  # line 12: good
    ]
    path = write_csv(tmp_path / "devices.csv", rows)
    report = tmp_path / "rejected.csv"
    secrets_path = tmp_path / "secrets.csv"
    code, out, err = await run_import(settings, path, "--secrets-out", str(secrets_path), "--report", str(report))
    assert code == 1, out + err
    expected = [
        "line 3, column type: one of gas, smoke, water, noise, air, valve, gateway",
        "line 4, column building: no building with this code in your area",
        "line 5, column place: a place is at most 32 characters; no phone or ID numbers or e-mail addresses "
        "(it is shown to who scans the device)",
        "line 6, column serial: duplicate of line 2 in this file",
        "line 7, column gateway: no active gateway with this serial in your area",
        "line 8, column valve: no active valve with this serial in your area",
        "line 9, column node: a device is placed in a community or a grid",
        "line 10, column serial: a serial is 4 to 64 letters, digits, _ or - (starting with a letter or digit)",
        "line 10, column noise_zone: a GB 3096-2008 zone class: 0, 1, 2, 3, 4a or 4b",
        "line 11, column building: give the building code (or a community or grid node)",
    ]
    lines = out.splitlines()
    assert lines[: len(expected)] == expected, out
    assert "2 imported (2 created, 0 updated, 0 unchanged), 9 rejected" in lines[-2]
    assert "13912345678" not in out + err and "lamp" not in out + err
    assert sorted(await Device.all().values_list("serial", flat=True)) == ["GD-4001", "GD-4008"]
    assert sorted(read_secrets(secrets_path)) == ["GD-4001", "GD-4008"]
    with report.open(encoding="utf-8-sig", newline="") as handle:
        written = list(csv.reader(handle))
    assert [f"line {r[0]}, column {r[1]}: {r[2]}" for r in written[1:]] == expected


async def test_reimport_updates_by_serial_and_keeps_the_secret(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    path = write_csv(
        tmp_path / "devices.csv", [device_row("GD-5001"), device_row("GD-5002"), device_row("VL-5001", "valve")]
    )
    first = tmp_path / "first.csv"
    assert (await run_import(settings, path, "--secrets-out", str(first)))[0] == 0
    kept = read_secrets(first)

    changed = [
        device_row("GD-5001", firmware="1.3.0", place="客厅", valve="VL-5001"),
        device_row("GD-5002", building="GM0101020001"),
        device_row("VL-5001", "gas"),  # a registered valve stays a valve
    ]
    write_csv(path, changed)
    # Nothing new: no secrets file is needed, and none is made.
    code, out, err = await run_import(settings, path)
    assert code == 1, out + err
    assert out.splitlines()[0] == "line 4, column type: a registered device keeps its type (retire it instead)"
    assert "2 imported (0 created, 2 updated, 0 unchanged), 1 rejected" in out
    paired = await Device.get(serial="GD-5001")
    valve = await Device.get(serial="VL-5001")
    assert (paired.firmware, paired.place, paired.valve_id, paired.type) == ("1.3.0", "客厅", valve.id, "gas")
    assert (await Device.get(serial="GD-5002")).node_path.endswith("/GM010102/") and valve.type == "valve"
    assert secret_of(paired) == kept["GD-5001"]["secret"]  # the device's own secret still signs
    assert (await send(client, as_registered(kept["GD-5001"]), [gas("GD-5001", 1.0)])).status_code == 200

    # A file of some columns changes only those: moving the detector away from its valve (kept, as the
    # file has no valve column) is refused, and so is moving the valve away from its detector.
    columns = ["serial", "type", "building", "place"]
    write_csv(path, [{"serial": "GD-5001", "type": "gas", "building": "GM0101020001", "place": "厨房"}], columns)
    code, out, _ = await run_import(settings, path)
    assert code == 1 and out.splitlines()[0] == "line 2, column valve: the valve is installed where its detector is"
    write_csv(
        path, [{"serial": "VL-5001", "type": "valve", "building": "GM0101020001"}], ["serial", "type", "building"]
    )
    code, out, _ = await run_import(settings, path)
    assert code == 1 and out.splitlines()[0] == "line 2, column building: its detector GD-5001 is installed elsewhere"
    assert (await Device.get(serial="VL-5001")).node_path.endswith("/GM010101/")
    write_csv(path, [{"serial": "GD-5001", "type": "gas", "building": "GM0101010001", "place": "厨房"}], columns)
    code, out, _ = await run_import(settings, path)
    assert code == 0 and "1 updated" in out
    kept_fields = await Device.get(serial="GD-5001")
    assert (kept_fields.place, kept_fields.firmware, kept_fields.valve_id) == ("厨房", "1.3.0", valve.id)


async def test_new_devices_need_a_new_secrets_file_or_nothing_is_imported(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    path = write_csv(tmp_path / "devices.csv", [device_row("GD-6001")])
    code, out, err = await run_import(settings, path)
    assert code == 2, out + err
    assert "1 rows register new devices" in err and "--secrets-out" in err and "nothing was imported" in err
    existing = tmp_path / "secrets.csv"
    existing.write_text("keep me\n")
    code, out, err = await run_import(settings, path, "--secrets-out", str(existing))
    assert code == 2, out + err
    assert "exists" in err and "nothing was imported" in err
    assert existing.read_text() == "keep me\n"
    assert await Device.all().count() == 0

    # A file that cannot be used: no secrets file is left behind either.
    header_only = write_csv(tmp_path / "bad.csv", [device_row("GD-6002")], ["serial", "type", "place"])
    fresh = tmp_path / "fresh.csv"
    code, out, err = await run_import(settings, header_only, "--secrets-out", str(fresh))
    assert code == 2 and "line 1, column building: required column missing from the header (or node)" in out
    assert not fresh.exists() and await Device.all().count() == 0


async def test_xlsx_with_chinese_headers(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    book = openpyxl.Workbook()
    sheet: Any = book.active
    sheet.append(["序列号", "设备类型", "楼栋编码", "安装位置", "自动关阀", "声环境功能区", "备注"])
    sheet.append(["GD-7001", "gas", "GM0101010001", "厨房", "否", None, "x"])
    sheet.append(["NS-7001", "noise", "GM0101010001", "阳台", None, "1", None])
    path = tmp_path / "设备.xlsx"
    book.save(path)
    code, out, err = await run_import(settings, path, "--secrets-out", str(tmp_path / "s.csv"))
    assert code == 0, out + err
    assert "2 imported (2 created" in out and "ignored columns: 备注" in out
    assert (await Device.get(serial="GD-7001")).auto_shutoff is False
    assert (await Device.get(serial="NS-7001")).noise_zone == "1"


async def test_a_reimport_does_not_take_over_a_device_of_another_area(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    path = write_csv(tmp_path / "devices.csv", [device_row("GD-5101")])
    assert (await run_import(settings, path, "--secrets-out", str(tmp_path / "s.csv")))[0] == 0
    grid = await hierarchy.get_by_code("GM010102")
    assert grid is not None
    theirs = Principal("ac_other_grid", Role.GRID_STAFF, grid.path)
    table = read_table(write_csv(tmp_path / "take.csv", [device_row("GD-5101", building="GM0101020001")]))
    result = await importer.import_table(table, viewer=theirs, keep=None)
    assert [str(r) for r in result.rejected] == [
        "line 2, column serial: a device with this serial is registered outside your area"
    ]
    assert (await Device.get(serial="GD-5101")).node_path.endswith("/GM010101/")


async def test_a_pending_binding_request_follows_a_moved_device_to_its_new_area(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    old_grid = await user(app, Role.GRID_STAFF, node="GM010101")
    new_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    asker = await user(app, Role.RESIDENT)
    device = await register(client, old_grid, "GD-5201")
    asked = await client.post(f"/api/v1/devices/{device.id}/binding-requests", headers=asker.headers)
    assert asked.status_code == 201, asked.text
    ends = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    silence = {"device": device.id, "ends_at": ends, "reason": "设备检修期间暂停报警通知"}
    silenced = await client.post("/api/v1/device-silences", json=silence, headers=old_grid.headers)
    assert silenced.status_code == 201, silenced.text
    path = write_csv(tmp_path / "move.csv", [device_row("GD-5201", building="GM0101020001")])
    assert (await run_import(settings, path))[0] == 0
    # The old grid's staff no longer decide who joins a device that is not in their area.
    approve = f"/api/v1/device-binding-requests/{asked.json()['id']}/approve"
    assert (await client.post(approve, json={}, headers=old_grid.headers)).status_code == 404
    assert (await client.get("/api/v1/device-binding-requests", headers=old_grid.headers)).json()["items"] == []
    listed = (await client.get("/api/v1/device-binding-requests", headers=new_grid.headers)).json()["items"]
    assert [r["id"] for r in listed] == [asked.json()["id"]]
    assert (await client.post(approve, json={}, headers=new_grid.headers)).status_code == 200
    # The device's silence is seen, and may be lifted, where the device now is.
    silences = (await client.get("/api/v1/device-silences", headers=new_grid.headers)).json()["items"]
    assert [s["id"] for s in silences] == [silenced.json()["id"]]
    lift = f"/api/v1/device-silences/{silenced.json()['id']}/lift"
    assert (await client.post(lift, headers=old_grid.headers)).status_code == 404
    assert (await client.post(lift, headers=new_grid.headers)).status_code == 200


async def test_a_moved_devices_open_alarm_goes_with_it_to_its_new_area(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    from miniapp_api.devices.escalation import EscalationScheduler
    from miniapp_api.devices.models import DeviceAlarm
    from notify.models import Notification

    await buildings(tmp_path)
    old_grid = await user(app, Role.GRID_STAFF, node="GM010101", openid="o_move_old")
    new_grid = await user(app, Role.GRID_STAFF, node="GM010102", openid="o_move_new")
    device = await register(client, old_grid, "GD-5301")
    await send(client, device, [gas(device.serial, 30.0)])
    [alarm] = (await client.get("/api/v1/device-alarms", headers=old_grid.headers)).json()["items"]
    path = write_csv(tmp_path / "move.csv", [device_row("GD-5301", building="GM0101020001")])
    assert (await run_import(settings, path))[0] == 0
    # The old grid no longer sees, acknowledges or hears of it; the new grid does.
    assert (await client.get("/api/v1/device-alarms", headers=old_grid.headers)).json()["items"] == []
    url = f"/api/v1/device-alarms/{alarm['id']}"
    assert (await client.get(url, headers=old_grid.headers)).status_code == 404
    assert (await client.post(f"{url}/ack", json={}, headers=old_grid.headers)).status_code == 404
    listed = (await client.get("/api/v1/device-alarms", headers=new_grid.headers)).json()["items"]
    assert [a["id"] for a in listed] == [alarm["id"]]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    assert await EscalationScheduler().run_once(now=later) == 1
    told = await Notification.filter(template="device.alarm_escalated").values_list("account_id", flat=True)
    assert list(told) == [new_grid.account.id]
    moved = await DeviceAlarm.get(public_id=alarm["id"])
    building_id = (await Device.get(serial="GD-5301")).building_id
    assert moved.node_path.endswith("/GM010102/") and moved.building_id == building_id
