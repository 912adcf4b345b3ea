"""What anyone reads on a building's scan (its address and the services nearby) carries no phone number,
ID number or e-mail address: a PATCH or an import row with one is refused (422 personal_number, or the
row rejected), the message never repeats it, nothing changes; a row stored before is shown masked."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.buildings.models import Building
from tests.miniapp_api.buildings.conftest import import_rows, row, scan, user

CODE = "GM0101010001"
PERSONAL = (
    "深圳市光明区华夏路114号3栋 房东电话13912345678",
    "华夏路114号 联系139.1234.5678",
    "华夏路114号 座机0755-26123456",
    "华夏路114号 wang@example.com",
    "华夏路114号 证件440311198803010011",
    "华夏路114号 vx13912345678",
    "华夏路114号 一三九一二三四五六七八",
)


async def test_a_phone_in_the_address_or_services_is_refused_over_http(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    before = await scan(client, CODE)
    for value in PERSONAL:
        for body, field in (({"address": value}, "address"), ({"services": ["党群服务中心", value]}, "services.1")):
            response = await client.patch(f"/api/v1/buildings/{CODE}", json=body, headers=grid.headers)
            assert response.status_code == 422, (body, response.text)
            error = response.json()["error"]
            assert error["code"] == "personal_number", error
            assert error["details"]["fields"][0]["field"].startswith(field.split(".")[0])
            text = json.dumps(response.json(), ensure_ascii=False)
            assert value not in text and "13912345678" not in text and "wang@" not in text
    assert await scan(client, CODE) == before  # nothing changed
    ok = await client.patch(
        f"/api/v1/buildings/{CODE}",
        json={"address": "深圳市光明区华夏路114号3栋502", "services": ["党群服务中心(8:00-18:00)"]},
        headers=grid.headers,
    )
    assert ok.status_code == 200, ok.text
    view = await scan(client, CODE)
    assert (view["address"], view["services"]) == ("深圳市光明区华夏路114号3栋502", ["党群服务中心(8:00-18:00)"])


async def test_an_import_row_with_a_phone_in_the_address_or_services_is_rejected(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    result = await import_rows(
        tmp_path,
        [
            row(1),
            row(2, address="深圳市光明区华夏路2号 房东电话13912345678"),
            row(3, services="党群服务中心;联系人139_1234_5678"),
            row(4, address="深圳市光明区华夏路4号 wang at example dot com"),
        ],
    )
    assert [(r.line, r.column) for r in result.rejected] == [(3, "address"), (4, "services"), (5, "address")]
    assert all("139" not in r.reason and "wang" not in r.reason for r in result.rejected)
    assert await Building.all().values_list("code", flat=True) == [CODE]


async def test_an_address_and_services_stored_before_are_shown_masked(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    await Building.filter(code=CODE).update(
        address="华夏路114号 房东电话13912345678", services=["党群服务中心 联系人GM13812345678"]
    )
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    for view in (await scan(client, CODE), await scan(client, CODE, grid)):
        assert view["address"] == "华夏路114号 房东电话139****5678"
        assert view["services"] == ["党群服务中心 联系人GM138****5678"]
    detail = await client.get(f"/api/v1/buildings/{CODE}", headers=grid.headers)
    listed = await client.get("/api/v1/buildings", headers=grid.headers)
    text = json.dumps([detail.json(), listed.json()], ensure_ascii=False)
    assert "13912345678" not in text and "13812345678" not in text
    assert listed.json()["items"][0]["address"] == "华夏路114号 房东电话139****5678"
