"""What Open311 never publishes (review 3): a person's own matters (卫生计生, 劳动和社会保障), like police
matters, by any route; and a media_url that carries a phone or ID number or an e-mail address."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.buildings.models import Building
from miniapp_api.reports.models import Report
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.open311.test_open311 import BASE, WHERE, assert_open311_error, file_report, listed, make_key

PERSONAL = ("health_family_planning", "labour_social_security")


async def assert_unpublished(client: httpx.AsyncClient, report_id: str) -> None:
    assert report_id not in await listed(client)
    assert await listed(client, service_request_id=report_id) == []
    assert await listed(client, service_request_id=f"{report_id},nothing") == []
    assert_open311_error(await client.get(f"{BASE}/requests/{report_id}.json"), 404)


async def test_personal_matters_are_neither_offered_nor_published(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    admin = await user(app, Role.ADMIN, node="GM")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    ordinary = await file_report(client, resident)
    services = {s["service_code"] for s in (await client.get(f"{BASE}/services.json")).json()}
    assert "urban_construction" in services and not services & set(PERSONAL)
    key = await make_key(client, admin, "civic-app", node="GM010101")
    for category in PERSONAL:
        for anonymous in (False, True):
            report = await file_report(
                client, resident, category=category, text="我家孩子疫苗接种有问题想咨询", anonymous=anonymous
            )
            await assert_unpublished(client, report["id"])
        assert_open311_error(await client.get(f"{BASE}/services/{category}.json"), 404)
        filed = await client.post(
            f"{BASE}/requests.json", data={"api_key": key, "service_code": category, "description": "x", **WHERE}
        )
        assert_open311_error(filed, 404)
    assert await listed(client) == [ordinary["id"]]

    # A request filed through Open311 that the grid finds to be a personal matter is withdrawn.
    filed = await client.post(
        f"{BASE}/requests.json",
        data={"api_key": key, "service_code": "urban_construction", "description": "欠薪三个月", **WHERE},
    )
    assert filed.status_code == 201, filed.text
    [created] = filed.json()
    assert created["service_request_id"] in await listed(client)
    moved = await client.put(
        f"/api/v1/reports/{created['service_request_id']}/category",
        json={"category": "labour_social_security"},
        headers=grid.headers,
    )
    assert moved.status_code == 200, moved.text
    await assert_unpublished(client, created["service_request_id"])


CLEAN = "https://img.example.cn/p/7f3a9c.jpg?w=800&t=20240315"
CARRYING = [
    "https://img.example.com/p.jpg?phone=13912345678&id=440311199001020029&mail=wang@example.com",
    "https://img.example.com/13912345678/p.jpg",
    "https://img.example.com/p.jpg?id=440311199001020029",
    "https://img.example.com/p.jpg?mail=wang%40example.com",
    "https://img.example.com/p.jpg?tel=%31%33%39%31%32%33%34%35%36%37%38",
    "https://img.example.com/p.jpg?tel=139%2D1234%2D5678",
    "https://img.example.com/p.jpg?tel=0755-26123456",
    "https://wang@example.com/p.jpg",
]


@pytest.mark.parametrize("media_url", CARRYING)
async def test_a_media_url_with_personal_data_is_withheld(
    app: Sanic, client: httpx.AsyncClient, media_url: str
) -> None:
    admin = await user(app, Role.ADMIN, node="GM")
    key = await make_key(client, admin, "civic-app", node="GM010101")
    filed = await client.post(
        f"{BASE}/requests.json",
        data={"api_key": key, "service_code": "transport", "description": "路灯坏了", "media_url": media_url, **WHERE},
    )
    assert filed.status_code == 201, filed.text
    [created] = filed.json()
    request_id = created["service_request_id"]
    assert media_url in (await Report.get(public_id=request_id)).text  # the grid still reads it
    [view] = (await client.get(f"{BASE}/requests/{request_id}.json")).json()
    assert (view["media_url"], view["description"]) == (None, "路灯坏了")
    [listed_view] = (await client.get(f"{BASE}/requests.json")).json()
    assert listed_view == view
    for secret in ("13912345678", "440311199001020029", "wang", "%31%33%39", "26123456"):
        assert secret not in str(view), secret


async def test_a_clean_media_url_and_a_buildings_address_are_published(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A picture's link with nothing personal is published as filed; the address of the building the
    request names is published redacted like the rest (a grid may have typed a landlord's number in it)."""
    admin = await user(app, Role.ADMIN, node="GM")
    await import_rows(tmp_path, [row(1)])
    await Building.filter(code="GM0101010001").update(address="华夏路1号 房东电话13912345678")
    key = await make_key(client, admin, "civic-app", node="GM010101")
    filed = await client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": key, "service_code": "transport", "description": "路灯坏了", "media_url": CLEAN,
            "address_id": "GM0101010001",
        },
    )  # fmt: skip
    assert filed.status_code == 201, filed.text
    [created] = filed.json()
    [view] = (await client.get(f"{BASE}/requests/{created['service_request_id']}.json")).json()
    assert (view["media_url"], view["address"]) == (CLEAN, "华夏路1号 房东电话[手机号已隐去]")


@pytest.mark.parametrize("category", ["public_order", "health_family_planning"])
async def test_a_report_merged_into_an_unpublished_one_does_not_name_it(
    app: Sanic, client: httpx.AsyncClient, category: str
) -> None:
    """Review 3, F12: a published report merged into a police or personal matter says only that it was
    merged: neither the unpublished report's id nor that it exists."""
    from tests.miniapp_api.open311.test_open311 import move

    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    duplicate = await file_report(client, resident, text="楼下每晚有人聚集吵闹")
    hidden = await file_report(client, resident, text="楼下每晚有人聚集赌博", category=category)
    await move(client, grid, duplicate["id"], action="merge", merge_into=hidden["id"])
    shown = (await client.get(f"{BASE}/requests/{duplicate['id']}.json")).json()[0]
    assert shown["status_notes"] == "已合并", shown
    assert hidden["id"] not in str(shown)
    assert (await client.get(f"{BASE}/requests/{hidden['id']}.json")).status_code == 404
