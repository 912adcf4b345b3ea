"""Open311 and the report scope (issue 12): an Open311 filing at a building belongs to the building's
grid, and is published in that building's community."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports.models import Report
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.open311.test_open311 import BASE, make_key
from tests.miniapp_api.reports.test_closed_loop import submit


async def test_an_open311_filing_at_a_building_belongs_to_the_buildings_grid(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    admin = await user(app, Role.ADMIN)
    resident = await user(app, Role.RESIDENT)
    grid_b = await user(app, Role.GRID_STAFF, node="GM010102")
    await import_rows(tmp_path, [row(1), row(2, grid="GM010102")])
    # Building 1 is where a report with this point was made: the point alone would place it in grid 1.
    await submit(client, resident, building="GM0101010001", lat=22.7489, lng=113.9354)
    key = await make_key(client, admin, "区级热线")
    filed = await client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": key,
            "service_code": "transport",
            "description": "公交站牌倒了",
            "address_id": "GM0101020002",
            "lat": "22.7489",
            "long": "113.9354",
        },
    )
    assert filed.status_code == 201, filed.text
    report = await Report.get(public_id=filed.json()[0]["service_request_id"])
    assert (report.node_path, report.building_code) == ("/GM/GM01/GM0101/GM010102/", "GM0101020002")
    feed = (await client.get("/api/v1/grid/feed", headers=grid_b.headers)).json()["items"]
    assert [i["id"] for i in feed] == [report.public_id]
    # Open311 publishes it in that building's community, at that building.
    [published] = (await client.get(f"{BASE}/requests/{report.public_id}.json")).json()
    assert published["address_id"] == "GM0101020002"
