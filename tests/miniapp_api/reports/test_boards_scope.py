"""Party-member boards across grids (issue 12): a board is changed only by staff who cover it as it is
and where it is put; its building must be in their area and under its node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.boards.models import Board
from miniapp_api.reports.models import Report
from qr.models import Credential
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import user

GRID_A = "/GM/GM01/GM0101/GM010101/"
GRID_A2 = "/GM/GM01/GM0101/GM010103/"


def board(**changes: Any) -> dict[str, Any]:
    return {
        "code": "GM010101-B01",
        "title": "凤凰社区第一网格党员亮相牌",
        "node": "GM010101",
        "members": [{"name": "李红", "duty": "消防安全"}],
        **changes,
    }


async def test_another_grids_board_cannot_be_taken_over_and_its_messages_stay_there(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    owner = await user(app, Role.GRID_STAFF, node="GM010101")
    attacker = await user(app, Role.GRID_STAFF, node="GM010102")
    elsewhere = await user(app, Role.ADMIN, node="GM02")  # a street administrator of another street
    resident = await user(app, Role.RESIDENT)
    assert (await client.put("/api/v1/boards", json=board(), headers=owner.headers)).status_code == 200
    before = await Board.get(code="GM010101-B01")

    # Overwriting it from another grid, whether or not the attacker names its own node: "not found",
    # and the board is as it was.
    for who, node in ((attacker, "GM010102"), (attacker, "GM010101"), (elsewhere, "GM0201")):
        taken = await client.put(
            "/api/v1/boards",
            json=board(node=node, title="被篡改", members=[{"name": "张三", "duty": "冒充"}]),
            headers=who.headers,
        )
        assert taken.status_code == 404, (node, taken.text)
        assert taken.json()["error"]["code"] in ("board_not_found", "node_not_found")
    after = await Board.get(code="GM010101-B01")
    assert (after.node_path, after.title, after.members, after.updated_at) == (
        before.node_path,
        before.title,
        before.members,
        before.updated_at,
    )
    # Its messages still become reports of its own grid.
    sent = await client.post(
        "/api/v1/boards/GM010101-B01/messages", json={"text": "楼下电动车乱停放"}, headers=resident.headers
    )
    assert sent.status_code == 201, sent.text
    assert (await Report.get(public_id=sent.json()["report"])).node_path == GRID_A


async def test_a_board_moves_only_between_nodes_its_editor_covers_and_its_code_follows(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    community = await user(app, Role.GRID_STAFF, node="GM0101")
    assert (await client.put("/api/v1/boards", json=board(), headers=grid.headers)).status_code == 200
    # The grid's own staff cannot send it to the grid next door (the target is outside their area).
    refused = await client.put("/api/v1/boards", json=board(node="GM010103"), headers=grid.headers)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "node_not_found"
    assert (await Board.get(code="GM010101-B01")).node_path == GRID_A
    # The community covers both ends: the board moves, and so does its printed code's place.
    moved = await client.put("/api/v1/boards", json=board(node="GM010103"), headers=community.headers)
    assert moved.status_code == 200 and moved.json()["node"] == GRID_A2
    stored = await Board.get(code="GM010101-B01")
    assert (await Credential.get(public_id=stored.credential_id)).node_path == GRID_A2
    # Now the first grid's staff no longer cover it.
    again = await client.put("/api/v1/boards", json=board(), headers=grid.headers)
    assert again.status_code == 404 and again.json()["error"]["code"] == "board_not_found"
    assert (await Board.get(code="GM010101-B01")).node_path == GRID_A2


async def test_a_boards_building_exists_in_the_editors_area_and_under_the_boards_node(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1), row(2, grid="GM010102")])
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    community = await user(app, Role.GRID_STAFF, node="GM0101")
    for who, building, code in (
        (grid, "GM0101019999", "unknown_building"),  # no such building
        (grid, "GM0101020002", "unknown_building"),  # another grid's: as unknown to this grid
        (community, "GM0101020002", "building_not_in_node"),  # in the area, not under the board's grid
    ):
        refused = await client.put("/api/v1/boards", json=board(building=building), headers=who.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == code
    assert await Board.all().count() == 0
    put = await client.put("/api/v1/boards", json=board(building="gm0101010001"), headers=grid.headers)
    assert put.status_code == 200 and put.json()["building"] == "GM0101010001"
