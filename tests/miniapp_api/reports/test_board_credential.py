"""A party-member board's e-ID code follows the board: a new title is what its sticker and label print
(under a new ETag), a move hands the code to the new grid's staff and takes it from the old grid's,
and a title with a phone or ID number is refused (it is printed and shown to anyone)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.boards.models import Board
from tests.miniapp_api.ebikes.conftest import User, user

IMAGES = ("", "/qr.png", "/qr.svg", "/sticker.png")


def board(**changes: Any) -> dict[str, Any]:
    return {
        "code": "GM010101-B01",
        "title": "光明社区第一网格党员亮相牌",
        "node": "GM010101",
        "members": [{"name": "张三", "duty": "网格长"}],
        **changes,
    }


async def put(client: httpx.AsyncClient, who: User, **changes: Any) -> dict[str, Any]:
    response = await client.put("/api/v1/boards", json=board(**changes), headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def statuses(client: httpx.AsyncClient, credential_id: str, who: User) -> list[int]:
    base = f"/api/v1/credentials/{credential_id}"
    return [(await client.get(base + suffix, headers=who.headers)).status_code for suffix in IMAGES]


async def test_a_renamed_board_s_sticker_prints_its_new_title(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    code = (await put(client, grid))["credential"]
    base = f"/api/v1/credentials/{code}"
    assert (await client.get(base, headers=grid.headers)).json()["label"] == "光明社区第一网格党员亮相牌"
    before = await client.get(f"{base}/sticker.png", headers=grid.headers)
    assert before.status_code == 200

    await put(client, grid, title="已改名的亮相牌")

    assert (await client.get(base, headers=grid.headers)).json()["label"] == "已改名的亮相牌"
    after = await client.get(f"{base}/sticker.png", headers=grid.headers)
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"] and after.content != before.content
    again = await client.get(f"{base}/sticker.png", headers={**grid.headers, "If-None-Match": before.headers["etag"]})
    assert again.status_code == 200


async def test_a_moved_board_s_code_is_the_new_grid_s_and_no_longer_the_old_one_s(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    old_grid = await user(app, Role.GRID_STAFF, node="GM010101")
    new_grid = await user(app, Role.GRID_STAFF, node="GM010103")
    community = await user(app, Role.GRID_STAFF, node="GM0101")  # covers both grids
    code = (await put(client, old_grid))["credential"]
    assert await statuses(client, code, old_grid) == [200] * 4
    assert await statuses(client, code, new_grid) == [404] * 4

    await put(client, community, node="GM010103", title="光明社区第三网格党员亮相牌")

    assert await statuses(client, code, old_grid) == [404] * 4
    assert await statuses(client, code, new_grid) == [200] * 4
    shown = await client.get(f"/api/v1/credentials/{code}", headers=new_grid.headers)
    assert shown.json()["label"] == "光明社区第三网格党员亮相牌"


async def test_a_title_with_a_phone_or_id_number_is_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    code = (await put(client, grid))["credential"]
    for title in (
        "党员亮相牌 联系13912345678",
        "亮相牌（0755）26123456",
        "亮相牌440311198803010011",
        "党员 139/1234/5678",
        "党员 139_1234_5678",
        "党员亮相牌 139.1234.5678",
        "一三九一二三四五六七八",
        "亮相牌 wang at example dot com",
    ):
        for changes in ({"title": title}, {"title": title, "code": "GM010101-B02"}):
            refused = await client.put("/api/v1/boards", json=board(**changes), headers=grid.headers)
            assert refused.status_code == 422, (title, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "personal_number" and error["details"]["fields"][0]["field"] == "title"
            assert title not in json.dumps(refused.json(), ensure_ascii=False)  # not repeated
    assert [b.title for b in await Board.all()] == ["光明社区第一网格党员亮相牌"]
    shown = await client.get(f"/api/v1/credentials/{code}", headers=grid.headers)
    assert shown.json()["label"] == "光明社区第一网格党员亮相牌"


MEMBER_PERSONAL = ("13912345678", "联系电话13912345678", "联系139/1234/5678", "wang@example.com", "vx13912345678")


async def test_a_phone_in_a_member_s_name_or_duty_is_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    await put(client, grid)
    for value in MEMBER_PERSONAL:
        for member in ({"name": value, "duty": "网格长"}, {"name": "张三", "duty": value}):
            refused = await client.put("/api/v1/boards", json=board(members=[member]), headers=grid.headers)
            assert refused.status_code == 422, (member, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "personal_number", error
            assert error["details"]["fields"][0]["field"].startswith("members")
            assert value not in json.dumps(refused.json(), ensure_ascii=False)  # not repeated
    shown = await client.get("/api/v1/boards/GM010101-B01")
    assert shown.json()["members"] == [{"name": "张三", "duty": "网格长", "photo_url": None}]


async def test_members_stored_with_a_phone_before_are_shown_masked(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    body = await put(client, grid)
    await Board.filter(code="GM010101-B01").update(
        title="亮相牌 139.1234.5678", members=[{"name": "13912345678", "duty": "联系电话13812345678"}]
    )
    expected = [{"name": "139****5678", "duty": "联系电话138****5678", "photo_url": None}]
    shown = (await client.get("/api/v1/boards/GM010101-B01")).json()  # no token
    assert (shown["title"], shown["members"]) == ("亮相牌 139****5678", expected)
    scanned = await client.post("/api/v1/scan", json={"payload": body["url"]})  # anonymous scan
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["view"]["members"] == expected
    assert scanned.json()["view"]["title"] == "亮相牌 139****5678"
