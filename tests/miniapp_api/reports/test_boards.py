"""Party-member boards: put one up, scan it, leave a message that becomes an anonymous report."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports.models import Report
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import user

BOARD = {
    "code": "GM010101-B01",
    "title": "凤凰社区第一网格党员亮相牌",
    "node": "GM010101",
    "members": [{"name": "李红", "duty": "消防安全"}, {"name": "王强", "duty": "出租屋管理"}],
}


async def test_a_board_message_becomes_a_report_whose_author_nobody_sees(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    resident = await user(app, Role.RESIDENT)
    put = await client.put("/api/v1/boards", json=BOARD, headers=grid.headers)
    assert put.status_code == 200, put.text
    assert (await client.put("/api/v1/boards", json=BOARD, headers=other_grid.headers)).status_code == 404

    scanned = await client.post("/api/v1/scan", json={"payload": put.json()["url"]})
    view = scanned.json()["view"]
    assert view["title"] == BOARD["title"] and [m["name"] for m in view["members"]] == ["李红", "王强"]
    assert view["actions"][0]["key"] == "message_party_branch"

    sent = await client.post(
        f"/api/v1/boards/{BOARD['code']}/messages",
        json={"text": "楼下电动车乱停放，堵住消防通道"},
        headers=resident.headers,
    )
    assert sent.status_code == 201, sent.text
    stored = await Report.get(public_id=sent.json()["report"])
    assert (stored.channel, stored.board_code, stored.anonymous) == ("board", BOARD["code"], True)
    seen_by_grid = await client.get(f"/api/v1/reports/{stored.public_id}", headers=grid.headers)
    assert seen_by_grid.status_code == 200
    assert seen_by_grid.json()["reporter"] is None
    assert {e["actor"] for e in seen_by_grid.json()["timeline"]} == {"reporter"}
    mine = await client.get(f"/api/v1/reports/{stored.public_id}", headers=resident.headers)
    assert mine.json()["reporter"] == resident.account.public_id
    assert (await client.get("/api/v1/boards/nope")).status_code == 404


async def test_a_building_finds_its_board(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    await import_rows(tmp_path, [row(1)])  # GM0101010001: a board's building must exist (issue 12)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    body = {**BOARD, "code": "GM010101-B02", "building": "GM0101010001"}
    assert (await client.put("/api/v1/boards", json=body, headers=grid.headers)).status_code == 200
    found = await client.get("/api/v1/boards", params={"building": "GM0101010001"})
    assert found.status_code == 200 and found.json()["code"] == "GM010101-B02"
    assert (await client.get("/api/v1/boards", params={"building": "GM0101019999"})).status_code == 404
