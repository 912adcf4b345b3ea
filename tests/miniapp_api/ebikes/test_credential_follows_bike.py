"""A bike's e-ID code follows the bike: after a move the new area's staff read, print, reissue and
revoke it and the old area's get 404 (as for any code outside their area); after an edit its sticker
and label print the bike as it is now, under a new ETag; after a change of owner the new owner prints
it and the old one cannot. What the label prints is never personal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from qr.models import Credential
from server.settings import Settings
from tests.miniapp_api.ebikes.conftest import User, register, registration, user
from tests.support.cli import gmid

IMAGES = ("", "/qr.png", "/qr.svg", "/sticker.png")


async def statuses(client: httpx.AsyncClient, credential_id: str, who: User) -> list[int]:
    base = f"/api/v1/credentials/{credential_id}"
    return [(await client.get(base + suffix, headers=who.headers)).status_code for suffix in IMAGES]


async def credential(client: httpx.AsyncClient, credential_id: str, who: User) -> dict[str, Any]:
    response = await client.get(f"/api/v1/credentials/{credential_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sticker(client: httpx.AsyncClient, credential_id: str, who: User) -> httpx.Response:
    response = await client.get(f"/api/v1/credentials/{credential_id}/sticker.png", headers=who.headers)
    assert response.status_code == 200, response.text
    return response


async def test_a_moved_bike_s_code_is_the_new_area_s_and_no_longer_the_old_one_s(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    owner = await user(app, Role.RESIDENT)
    old_grid = await user(app, Role.GRID_STAFF, node="GM010101")
    new_grid = await user(app, Role.GRID_STAFF, node="GM020101")
    old_admin = await user(app, Role.ADMIN, node="GM01")
    new_admin = await user(app, Role.ADMIN, node="GM02")
    bike = await register(client, owner, 1)
    code = bike["credential"]["id"]
    assert await statuses(client, code, old_grid) == [200] * 4
    assert await statuses(client, code, new_grid) == [404] * 4

    moved = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"node": "GM020101"}, headers=owner.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["node"] == "/GM/GM02/GM0201/GM020101/"

    assert await statuses(client, code, old_grid) == [404] * 4
    assert await statuses(client, code, new_grid) == [200] * 4
    assert await statuses(client, code, owner) == [200] * 4
    for action, body in (("reissue", None), ("revoke", {"reason": "lost"})):
        refused = await client.post(f"/api/v1/credentials/{code}/{action}", json=body, headers=old_admin.headers)
        assert refused.status_code == 404, refused.text
        assert refused.json()["error"]["code"] == "credential_not_found"
    assert (await credential(client, code, owner))["serial"] == 1  # the old area's tries changed nothing
    reissued = await client.post(f"/api/v1/credentials/{code}/reissue", headers=new_admin.headers)
    assert reissued.status_code == 200, reissued.text
    assert reissued.json()["serial"] == 2
    revoked = await client.post(
        f"/api/v1/credentials/{code}/revoke", json={"reason": "lost"}, headers=new_admin.headers
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    # The revocation is audited for the new area's administrators, where the code now belongs.
    audit = await client.get("/api/v1/admin/audit", params={"limit": 50}, headers=new_admin.headers)
    assert audit.status_code == 200, audit.text
    assert {e["action"] for e in audit.json()["items"]} >= {"credential.reissue", "credential.revoke"}


async def test_the_sticker_sheet_of_an_area_prints_the_bikes_kept_there_now(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    moved = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"node": "GM020101"}, headers=owner.headers)
    assert moved.status_code == 200, moved.text
    code, out, err = await gmid(
        settings, "qr", "sheet", "--kind", "ebike", "--node", "GM010101", "--out", str(tmp_path / "old.pdf"), "--quiet"
    )
    assert code != 0 and "no active credentials" in err, (out, err)
    code, out, err = await gmid(
        settings, "qr", "sheet", "--kind", "ebike", "--node", "GM0201", "--out", str(tmp_path / "new.pdf"), "--quiet"
    )
    assert code == 0, err
    assert out.startswith("1 stickers on 1 A4 pages"), out


async def test_an_edited_bike_s_sticker_prints_its_new_make_and_colour(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    bike = await register(client, owner, 1)
    code = bike["credential"]["id"]
    assert (await credential(client, code, owner))["label"] == "雅迪 白色"
    before = await sticker(client, code, grid)
    scanned = await client.post("/api/v1/scan", json={"payload": bike["credential"]["url"]})
    assert scanned.json()["view"]["brand"] == "雅迪"  # the public answer is now in the scan cache

    edited = await client.patch(
        f"/api/v1/ebikes/{bike['id']}", json={"brand": "爱玛", "colour": "黑色"}, headers=owner.headers
    )
    assert edited.status_code == 200, edited.text

    for who in (owner, grid):
        assert (await credential(client, code, who))["label"] == "爱玛 黑色"
    after = await sticker(client, code, grid)
    assert after.headers["etag"] != before.headers["etag"]
    assert after.content != before.content
    # A printer holding the old sticker is told it changed, not "304 Not Modified".
    again = await client.get(
        f"/api/v1/credentials/{code}/sticker.png", headers={**grid.headers, "If-None-Match": before.headers["etag"]}
    )
    assert again.status_code == 200 and again.headers["etag"] == after.headers["etag"]
    view = (await client.post("/api/v1/scan", json={"payload": bike["credential"]["url"]})).json()["view"]
    assert (view["brand"], view["colour"]) == ("爱玛", "黑色")

    # What the label does not print leaves the sticker as it was.
    unchanged = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"model": "Q9"}, headers=owner.headers)
    assert unchanged.status_code == 200, unchanged.text
    assert (await sticker(client, code, grid)).headers["etag"] == after.headers["etag"]


async def test_after_a_change_of_owner_the_new_owner_prints_the_code_and_the_old_one_cannot(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = bike["credential"]["id"]
    assert await statuses(client, code, buyer) == [404] * 4
    started = await client.post(f"/api/v1/ebikes/{bike['id']}/transfer", headers=seller.headers)
    buyer_identity = {**registration(2)["owner"], "name": "王五"}
    accepted = await client.post(
        "/api/v1/ebikes/transfers/accept",
        json={"code": started.json()["code"], "owner": buyer_identity},
        headers=buyer.headers,
    )
    assert accepted.status_code == 200, accepted.text
    assert await statuses(client, code, seller) == [404] * 4
    assert await statuses(client, code, buyer) == [200] * 4
    shown = await credential(client, code, buyer)
    assert shown["serial"] == 2
    # The label is the bike, never its owner (old or new).
    assert shown["label"] == "雅迪 白色"
    for owner in (registration(1)["owner"], buyer_identity):
        for value in owner.values():
            assert value not in shown["label"]


PERSONAL = (
    ("brand", "张三13912345678"),
    ("brand", "雅迪 139-1234-5678"),
    ("colour", "0755-26123456"),
    ("brand", "440311198803010011"),
    # review 3 (F3): dots, underscores, slashes, digit words, ID numbers in pairs, a mobile run into a word
    ("brand", "139.1234.5678"),
    ("brand", "139_1234_5678"),
    ("colour", "139/1234/5678"),
    ("brand", "壹叁玖壹贰叁肆伍陆柒捌"),
    ("brand", "一三九一二三四五六七八"),
    ("brand", "44 03 11 19 88 03 01 00 11"),
    ("brand", "vx13912345678"),
    ("colour", "0755.2612.3456"),
)


async def test_personal_numbers_are_refused_in_what_the_sticker_prints(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    code = bike["credential"]["id"]
    for field, value in PERSONAL:
        # Refused before anything is looked at (the same owner and numbers would otherwise be a 409).
        refused = await client.post("/api/v1/ebikes", json=registration(1, **{field: value}), headers=owner.headers)
        assert refused.status_code == 422, (field, value, refused.text)
        assert refused.json()["error"]["details"]["fields"][0]["field"] == field
        assert refused.json()["error"]["code"] == "personal_number"
        assert value not in json.dumps(refused.json(), ensure_ascii=False)  # the error does not repeat it
        edited = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={field: value}, headers=owner.headers)
        assert edited.status_code == 422, (field, value, edited.text)
        assert edited.json()["error"]["details"]["fields"][0]["field"] == field
        assert value not in json.dumps(edited.json(), ensure_ascii=False)
    listed = await client.get("/api/v1/ebikes", headers=owner.headers)
    assert [(b["brand"], b["colour"]) for b in listed.json()["items"]] == [("雅迪", "白色")]
    assert (await credential(client, code, owner))["label"] == "雅迪 白色"


async def test_a_label_stored_with_a_personal_number_before_is_shown_masked(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    code = bike["credential"]["id"]
    before = await sticker(client, code, owner)
    # A row written before brand and colour refused personal numbers.
    await Credential.filter(public_id=code).update(label="雅迪 13912345678")
    shown = await credential(client, code, owner)
    assert "13912345678" not in shown["label"] and shown["label"].startswith("雅迪 139")
    assert (await sticker(client, code, owner)).headers["etag"] != before.headers["etag"]


async def test_a_make_or_colour_stored_with_a_phone_before_is_masked_in_the_anonymous_scan(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    from miniapp_api.ebikes.models import EBike
    from qr import service as qr_service

    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    # Rows written before brand and colour refused personal numbers.
    await EBike.filter(public_id=bike["id"]).update(brand="雅迪13912345678", colour="白色 139.1234.5678")
    await qr_service.changed(bike["credential"]["id"])
    view = (await client.post("/api/v1/scan", json={"payload": bike["credential"]["url"]})).json()["view"]
    assert "13912345678" not in json.dumps(view) and "1234.5678" not in json.dumps(view)
    assert view["brand"].startswith("雅迪") and view["colour"].startswith("白色")
