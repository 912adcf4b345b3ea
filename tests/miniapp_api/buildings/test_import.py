"""`gmid import buildings FILE`: CSV and XLSX, the rejected-rows report, re-import by code, exit codes."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import openpyxl

from identity.models import Node
from miniapp_api.buildings.models import Building
from qr.models import Credential, CredentialStatus
from server.settings import Settings
from tests.miniapp_api.buildings.conftest import (
    HEADER,
    NAME,
    PHONE,
    building,
    cli_import,
    credential_of,
    row,
    write_csv,
)


async def test_csv_import_creates_buildings_each_with_a_building_code(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "b.csv", [row(1), row(2), row(1, grid="GM020101")])
    code, out, err = await cli_import(settings, path)
    assert code == 0, out + err
    assert "3 imported (3 created, 0 updated, 0 unchanged), 0 rejected" in out
    assert "line " not in out

    first = await building("GM0101010001")
    assert first.address == "深圳市光明区光明街道光明社区华夏路1号"
    assert (first.grid_code, first.floor_area, first.floors, first.households, first.residents) == (
        "GM010101",
        420.5,
        6,
        18,
        40,
    )
    assert (first.extinguishers, first.hydrants, first.escape_routes, first.smoke_detectors) == (12, 1, 2, 20)
    assert first.incidents == {"theft": 3, "fraud": 1}
    assert first.services == ["光明社区党群服务中心", "光明区人民医院"]
    assert first.node_path == (await Node.get(code="GM010101")).path

    other = await building("GM0201010001")
    assert other.node_path == (await Node.get(code="GM020101")).path
    credentials = await Credential.filter(kind="building").order_by("subject_id")
    assert [c.subject_id for c in credentials] == ["GM0101010001", "GM0101010002", "GM0201010001"]
    for credential in credentials:
        assert credential.status is CredentialStatus.ACTIVE and credential.serial == 1
        assert credential.label == credential.subject_id  # printed under the code: never the landlord
        assert credential.node_path == (await building(credential.subject_id)).node_path
    # The code a scan reads is genuine: the QR service verifies it.
    r = await client.post("/api/v1/scan", json={"payload": credentials[0].token})
    assert r.status_code == 200 and r.json()["kind"] == "building", r.text


async def test_xlsx_with_chinese_headers_and_numeric_cells(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["楼栋编码", "地址", "网格", "建筑面积", "楼层数", "户数", "居住人数", "房东姓名", "房东电话", "备注"])
    sheet.append(
        [
            "gm0101020007",
            "深圳市光明区光明街道光明社区观光路7号",
            "GM010102",
            350,
            5,
            10.0,
            22,
            "李四",
            13800138000,
            "x",
        ]
    )
    sheet.append(["GM0101020008", "深圳市光明区光明街道光明社区观光路8号", "GM010102", 99.5, 3, 4, 9, "", "", ""])
    path = tmp_path / "楼栋.xlsx"
    book.save(path)

    code, out, err = await cli_import(settings, path)
    assert code == 0, out + err
    assert "2 imported (2 created" in out
    assert "ignored columns: 备注" in out
    seventh = await building("GM0101020007")  # the code is upper-cased
    assert (seventh.floor_area, seventh.floors, seventh.households, seventh.residents) == (350.0, 5, 10, 22)
    assert seventh.landlord_phone_enc is not None
    assert (seventh.extinguishers, seventh.incidents, seventh.services) == (0, {}, [])  # columns not in the file
    eighth = await building("GM0101020008")
    assert (eighth.landlord_name_enc, eighth.landlord_phone_enc, eighth.floor_area) == (None, None, 99.5)


async def test_rejected_rows_are_reported_and_the_good_ones_imported(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        row(1),  # line 2: good
        row(2, grid="GM019999"),  # line 3: no such node
        row(3, grid="GM0101", code="GM0101010003"),  # line 4: a community, not a grid
        row(4, landlord_phone="1234567"),  # line 5
        row(5, floors="-3", residents="-1"),  # line 6: two problems
        row(6, floor_area="a lot"),  # line 7
        row(1, address="重复的楼栋"),  # line 8: the code of line 2 again
        row(7, incidents="theft=3"),  # line 9
        row(8),  # line 10: good
    ]
    path = write_csv(tmp_path / "b.csv", rows)
    with path.open("a", encoding="utf-8") as handle:  # line 11: a row cut short after the address
        handle.write("GM0101010009,深圳市光明区光明街道光明社区华夏路9号\n")
    report = tmp_path / "rejected.csv"

    code, out, err = await cli_import(settings, path, "--report", str(report))
    assert code == 1, out + err
    lines = out.splitlines()
    expected = [
        "line 3, column grid: no hierarchy node has this code",
        "line 4, column grid: this node is a community, not a grid",
        "line 5, column landlord_phone: not a valid mainland mobile number (11 digits, 13x-19x)",
        "line 6, column floors: must not be negative",
        "line 6, column residents: must not be negative",
        "line 7, column floor_area: must be a number of square metres",
        "line 8, column code: duplicate of line 2 in this file",
        "line 9, column incidents: write each incident type as type:count, e.g. theft:3; fraud:1",
        "line 11, column grid: a grid code is required",
        "line 11, column floor_area: a number is required (square metres)",
        "line 11, column floors: a number is required",
        "line 11, column households: a number is required",
        "line 11, column residents: a number is required",
    ]
    assert lines[: len(expected)] == expected
    assert "2 imported (2 created, 0 updated, 0 unchanged), 8 rejected" in lines[-1]
    assert "1234567" not in out + err  # a rejected value is never echoed: it may be personal data
    assert sorted(await Building.all().values_list("code", flat=True)) == ["GM0101010001", "GM0101010008"]
    assert (await building("GM0101010001")).address == "深圳市光明区光明街道光明社区华夏路1号"  # the first wins

    with report.open(encoding="utf-8-sig", newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["line", "column", "reason"]
    assert [f"line {r[0]}, column {r[1]}: {r[2]}" for r in written[1:]] == expected


async def test_a_header_without_a_required_column_imports_nothing(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    header = [c for c in HEADER if c != "residents"]
    path = write_csv(tmp_path / "b.csv", [row(1)], header=header)
    code, out, err = await cli_import(settings, path)
    assert code == 2, out + err
    assert "line 1, column residents: required column missing from the header" in out
    assert "nothing was imported" in err
    assert await Building.all().count() == 0


async def test_files_that_cannot_be_read_exit_2(client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    not_utf8 = tmp_path / "gbk.csv"
    not_utf8.write_bytes(",".join(HEADER).encode() + "\n地址".encode("gbk"))
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 this is no workbook")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for path, message in (
        (not_utf8, "is not UTF-8 text"),
        (broken, "is not a readable .xlsx workbook"),
        (empty, "is empty"),
        (tmp_path / "missing.csv", "cannot read"),
    ):
        code, out, err = await cli_import(settings, path)
        assert code == 2, (path, out, err)
        assert message in err, err
    assert await Building.all().count() == 0


async def test_reimport_updates_by_code_and_keeps_the_e_id(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "b.csv", [row(1), row(2)])
    assert (await cli_import(settings, path, "--quiet"))[0] == 0
    before = await credential_of("GM0101010001")
    phone_index = (await building("GM0101010001")).landlord_phone_bidx

    changed = row(1, residents="55", landlord_phone="13912340099", grid="GM010102", code="GM0101010001")
    write_csv(path, [changed, row(2), row(3)])
    code, out, err = await cli_import(settings, path, "--quiet")
    assert code == 0, out + err
    assert "3 imported (1 created, 1 updated, 1 unchanged)" in out
    moved = await building("GM0101010001")
    assert (moved.residents, moved.grid_code) == (55, "GM010102")
    assert moved.landlord_phone_bidx != phone_index
    after = await credential_of("GM0101010001")
    # The same e-ID: the sticker on the wall keeps working; only where it belongs moved with the building.
    assert (after.public_id, after.serial, after.token) == (before.public_id, 1, before.token)
    assert after.node_path == moved.node_path == (await Node.get(code="GM010102")).path
    assert await Credential.filter(kind="building").count() == 3


async def test_reimport_of_some_columns_keeps_the_others(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "b.csv", [row(1)])
    assert (await cli_import(settings, path, "--quiet"))[0] == 0
    slim = ["code", "address", "grid", "floor_area", "floors", "households", "residents"]
    write_csv(path, [row(1, households="19")], header=slim)
    code, out, _ = await cli_import(settings, path, "--quiet")
    assert code == 0 and "1 updated" in out
    kept = await building("GM0101010001")
    assert kept.households == 19
    assert (kept.extinguishers, kept.incidents, kept.landlord_phone_enc is not None) == (
        12,
        {"theft": 3, "fraud": 1},
        True,
    )


async def test_progress_bar_on_stderr(client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "b.csv", [row(n) for n in range(1, 6)])
    code, out, err = await cli_import(settings, path)
    assert code == 0
    assert "5/5 rows" in err and "rows/s" in err
    assert "[" not in out  # the bar stays off stdout, which scripts read
    assert NAME not in out + err and PHONE not in out + err
