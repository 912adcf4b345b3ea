"""A building's e-ID code follows the building: a re-import that puts it in another grid hands its code
to that grid's staff and takes it from the old grid's; an edit through the API leaves what its sticker
prints (its code) as it was; a building code shaped like a phone or ID number is refused (it is printed
on the sticker and shown to anyone who scans it)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.buildings.models import Building
from tests.miniapp_api.buildings.conftest import User, credential_of, import_rows, row, user

CODE = "GM0101010001"
IMAGES = ("", "/qr.png", "/qr.svg", "/sticker.png")


async def statuses(client: httpx.AsyncClient, credential_id: str, who: User) -> list[int]:
    base = f"/api/v1/credentials/{credential_id}"
    return [(await client.get(base + suffix, headers=who.headers)).status_code for suffix in IMAGES]


async def test_a_building_re_imported_into_another_grid_is_that_grid_s_to_print(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    old_grid = await user(app, Role.GRID_STAFF, "GM010101")
    new_grid = await user(app, Role.GRID_STAFF, "GM010102")
    new_admin = await user(app, Role.ADMIN, "GM010102")
    old_admin = await user(app, Role.ADMIN, "GM010101")
    code = (await credential_of(CODE)).public_id
    assert await statuses(client, code, old_grid) == [200] * 4
    assert await statuses(client, code, new_grid) == [404] * 4

    result = await import_rows(tmp_path, [row(1, grid="GM010102", code=CODE)], name="moved.csv")
    assert (result.updated, result.rejected) == (1, [])

    assert await statuses(client, code, old_grid) == [404] * 4
    assert await statuses(client, code, new_grid) == [200] * 4
    refused = await client.post(f"/api/v1/credentials/{code}/reissue", headers=old_admin.headers)
    assert refused.status_code == 404
    reissued = await client.post(f"/api/v1/credentials/{code}/reissue", headers=new_admin.headers)
    assert reissued.status_code == 200 and reissued.json()["label"] == CODE


async def test_an_edited_building_s_sticker_still_prints_its_code(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    grid = await user(app, Role.GRID_STAFF, "GM010101")
    code = (await credential_of(CODE)).public_id
    before = await client.get(f"/api/v1/credentials/{code}/sticker.png", headers=grid.headers)
    edited = await client.patch(
        f"/api/v1/buildings/{CODE}", json={"address": "深圳市光明区光明街道光明社区华夏路100号"}, headers=grid.headers
    )
    assert edited.status_code == 200, edited.text
    shown = await client.get(f"/api/v1/credentials/{code}", headers=grid.headers)
    assert shown.json()["label"] == CODE
    after = await client.get(f"/api/v1/credentials/{code}/sticker.png", headers=grid.headers)
    assert after.headers["etag"] == before.headers["etag"]


async def test_a_building_code_shaped_like_a_personal_number_is_refused(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    result = await import_rows(
        tmp_path, [row(1), row(2, code="13912345678"), row(3, code="440311198803010011"), row(4, code="GM13912345678")]
    )
    assert [(r.line, r.column) for r in result.rejected] == [(3, "code"), (4, "code"), (5, "code")]
    assert all("139" not in r.reason and "4403" not in r.reason for r in result.rejected)
    assert await Building.all().values_list("code", flat=True) == [CODE]


async def test_a_board_on_a_building_moves_with_it_and_its_messages_reach_the_new_grid(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Review 3, F8: a re-import that puts a building in another grid carries the boards on it along
    (their node and their code): the new grid's staff hold the board and read its messages."""
    await import_rows(tmp_path, [row(1)])
    old_grid = await user(app, Role.GRID_STAFF, "GM010101")
    new_grid = await user(app, Role.GRID_STAFF, "GM010102")
    resident = await user(app, Role.RESIDENT)
    board = {
        "code": "BD-F8",
        "title": "第一栋党员亮相牌",
        "node": "GM010101",
        "building": CODE,
        "members": [{"name": "李四", "duty": "治安"}],
    }
    made = await client.put("/api/v1/boards", json=board, headers=old_grid.headers)
    assert made.status_code in (200, 201), made.text
    board_code = made.json()["credential"]

    result = await import_rows(tmp_path, [row(1, grid="GM010102", code=CODE)], name="moved.csv")
    assert (result.updated, result.rejected) == (1, [])

    shown = (await client.get("/api/v1/boards/BD-F8")).json()
    assert shown["node"].endswith("/GM010102/") and shown["building"] == CODE, shown
    assert await statuses(client, board_code, new_grid) == [200] * 4
    assert await statuses(client, board_code, old_grid) == [404] * 4
    sent = await client.post(
        "/api/v1/boards/BD-F8/messages",
        json={"text": "三栋门口垃圾多", "category": "environment"},
        headers=resident.headers,
    )
    assert sent.status_code == 201, sent.text
    report_id = sent.json()["report"]
    assert (await client.get(f"/api/v1/reports/{report_id}", headers=new_grid.headers)).status_code == 200
    # The board's own grid holds it: the new grid's staff keep it up to date as it is.
    assert (
        await client.put("/api/v1/boards", json={**board, "node": "GM010102"}, headers=new_grid.headers)
    ).status_code == 200
