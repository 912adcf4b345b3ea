"""Scope on the row and on the target (issue 12): staff file only in their own area, a building decides
the report's grid, the person who filed a report never handles it nor (staff) rates it, and a dispatch
goes only to a department that serves the report's place."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports import catalogue
from miniapp_api.reports.models import Department, Report
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import REPORT, move, submit

GRID_A = "/GM/GM01/GM0101/GM010101/"
GRID_B = "/GM/GM01/GM0101/GM010102/"
BUILDING_A = "GM0101010001"  # row(1): grid GM010101
BUILDING_B = "GM0101020002"  # row(2, grid=GM010102)


async def buildings(tmp_path: Path) -> None:
    await import_rows(tmp_path, [row(1), row(2, grid="GM010102")])


async def test_staff_file_reports_only_in_their_own_part_of_the_hierarchy(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    party = await user(app, Role.PARTY_MEMBER, node="GM010101")
    resident = await user(app, Role.RESIDENT)
    for who in (grid, party):
        for body in ({"node": "GM010102"}, {"node": "GM0102"}, {"building": BUILDING_B, "node": None}):
            refused = await client.post("/api/v1/reports", json={**REPORT, **body}, headers=who.headers)
            assert refused.status_code == 403, (who.account.role, body, refused.text)
            assert refused.json()["error"]["code"] == "outside_scope"
    assert await Report.all().count() == 0
    # In their own grid they file; a resident files anywhere.
    assert (await submit(client, grid))["node"] == GRID_A
    assert (await submit(client, party, building=BUILDING_A))["node"] == GRID_A
    assert (await submit(client, resident, node="GM010102"))["node"] == GRID_B
    # A party member's message on another grid's board is filing there too.
    community = await user(app, Role.GRID_STAFF, node="GM0101")
    board = {"code": "GM010102-B09", "title": "第二网格党员亮相牌", "node": "GM010102"}
    put = await client.put(
        "/api/v1/boards", json={**board, "members": [{"name": "李红", "duty": "消防安全"}]}, headers=community.headers
    )
    assert put.status_code == 200, put.text
    message = await client.post(
        f"/api/v1/boards/{board['code']}/messages", json={"text": "路灯坏了"}, headers=party.headers
    )
    assert message.status_code == 403 and message.json()["error"]["code"] == "outside_scope"
    assert await Report.filter(channel="board").count() == 0


async def test_a_building_decides_the_grid_a_report_belongs_to(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    resident = await user(app, Role.RESIDENT)
    grid_a = await user(app, Role.GRID_STAFF, node="GM010101")
    grid_b = await user(app, Role.GRID_STAFF, node="GM010102")

    # Another grid's node with this building: refused, saying why; nothing is filed.
    refused = await client.post(
        "/api/v1/reports", json={**REPORT, "node": "GM010102", "building": BUILDING_A}, headers=resident.headers
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "building_not_in_node"
    for body, code in (
        ({"building": "GM0101019999"}, "unknown_building"),
        ({"building": "GM0101019999", "node": None}, "unknown_building"),
        ({"node": None}, "node_required"),
    ):
        answer = await client.post("/api/v1/reports", json={**REPORT, **body}, headers=resident.headers)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == code, (body, answer.text)
    assert await Report.all().count() == 0

    # The building alone, or with its own grid or a node above it (any case): the building's grid.
    alone = await submit(client, resident, node=None, building=BUILDING_A.lower())
    with_grid = await submit(client, resident, building=BUILDING_A)
    with_community = await submit(client, resident, node="GM0101", building=BUILDING_A)
    for report in (alone, with_grid, with_community):
        assert (report["node"], report["building"]) == (GRID_A, BUILDING_A)
    feed_a = (await client.get("/api/v1/grid/feed", headers=grid_a.headers)).json()["items"]
    assert {r["id"] for r in feed_a} == {alone["id"], with_grid["id"], with_community["id"]}
    assert (await client.get("/api/v1/grid/feed", headers=grid_b.headers)).json()["items"] == []


async def test_a_board_message_belongs_to_the_grid_of_the_boards_building(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    resident = await user(app, Role.RESIDENT)
    body = {
        "code": "GM010101-B07",
        "title": "华夏路1号党员亮相牌",
        "node": "GM010101",
        "building": BUILDING_A,
        "members": [{"name": "李红", "duty": "消防安全"}],
    }
    assert (await client.put("/api/v1/boards", json=body, headers=grid.headers)).status_code == 200
    sent = await client.post(
        f"/api/v1/boards/{body['code']}/messages", json={"text": "楼道堆满杂物"}, headers=resident.headers
    )
    assert sent.status_code == 201, sent.text
    stored = await Report.get(public_id=sent.json()["report"])
    assert (stored.node_path, stored.building_code) == (GRID_A, BUILDING_A)

    # A board put up before buildings were checked, at one grid about another grid's building: the
    # message goes to the building's own grid, which is the one that can act on it.
    from miniapp_api.boards.models import Board

    await Board.filter(code=body["code"]).update(building_code=BUILDING_B)
    sent = await client.post(
        f"/api/v1/boards/{body['code']}/messages", json={"text": "楼道堆满杂物"}, headers=resident.headers
    )
    stored = await Report.get(public_id=sent.json()["report"])
    assert (stored.node_path, stored.building_code) == (GRID_B, BUILDING_B)


async def test_the_person_who_filed_a_report_never_handles_nor_rates_it(app: Sanic, client: httpx.AsyncClient) -> None:
    filer = await user(app, Role.GRID_STAFF, node="GM010101")
    colleague = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, filer)

    async def own(action: str, **body: object) -> None:
        refused = await move(client, filer, report["id"], action=action, **body)
        assert refused.status_code == 403, (action, refused.text)
        assert refused.json()["error"]["code"] == "own_report"

    await own("accept")
    await own("return", note="信息不全")
    bulk = await client.post(
        "/api/v1/grid/reports/bulk", json={"action": "accept", "ids": [report["id"]]}, headers=filer.headers
    )
    assert bulk.json()["results"] == [{"id": report["id"], "ok": False, "state": None, "error": "own_report"}]
    assert (await Report.get(public_id=report["id"])).state == "submitted"

    assert (await move(client, colleague, report["id"], action="accept")).status_code == 200
    await own("dispatch")
    assert (await move(client, colleague, report["id"], action="dispatch")).status_code == 200
    await own("start")
    assert (await move(client, colleague, report["id"], action="start")).status_code == 200
    await own("resolve", note="已修复")
    assert (await move(client, colleague, report["id"], action="resolve", note="已修复")).status_code == 200
    # Staff never rate their own report, nor close it; they may say it is not fixed.
    await own("confirm", satisfaction=5)
    await own("close")
    stored = await Report.get(public_id=report["id"])
    assert (stored.state, stored.satisfaction) == ("resolved", None)
    assert (await move(client, filer, report["id"], action="reopen", note="还是坏的")).status_code == 200
    for action, body in (("dispatch", {}), ("start", {}), ("resolve", {"note": "换了新灯"})):
        assert (await move(client, colleague, report["id"], action=action, **body)).status_code == 200
    assert (await move(client, colleague, report["id"], action="close")).json()["state"] == "closed"

    # Merging: neither the filer's report into another, nor another grid's staff's report at all.
    mine = await submit(client, filer, text="垃圾桶满了")
    theirs = await submit(client, colleague, text="垃圾桶满了没人清")
    refused = await move(client, filer, mine["id"], action="merge", merge_into=theirs["id"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "own_report"
    assert (await move(client, filer, theirs["id"], action="merge", merge_into=mine["id"])).status_code == 200

    # A resident still rates their own report.
    resident = await user(app, Role.RESIDENT)
    theirs = await submit(client, resident)
    for action, body in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": "好了"})):
        assert (await move(client, filer, theirs["id"], action=action, **body)).status_code == 200
    assert (await move(client, resident, theirs["id"], action="confirm", satisfaction=4)).status_code == 200


async def test_a_report_is_dispatched_only_to_a_department_that_serves_its_place(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    await catalogue.ensure_defaults()
    await Department.create(code="gm02jd", name="另一街道办事处", node_path="/GM/GM02/")
    await Department.create(code="gm01jd", name="光明街道办事处", node_path="/GM/GM01/")
    report = await submit(client, resident)
    assert (await move(client, grid, report["id"], action="accept")).status_code == 200
    refused = await move(client, grid, report["id"], action="dispatch", department="gm02jd")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_department"
    assert (await Report.get(public_id=report["id"])).department_id is None
    dispatched = await move(client, grid, report["id"], action="dispatch", department="gm01jd")
    assert dispatched.status_code == 200 and dispatched.json()["department"] == "光明街道办事处"
