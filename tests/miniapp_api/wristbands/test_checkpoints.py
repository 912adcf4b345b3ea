"""Checkpoints and their staff: grid staff and administrators keep those of their area; a checkpoint's
staff are staff accounts whose node covers the checkpoint's node or lies under it."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.wristbands.models import Checkpoint, CheckpointStaff
from tests.miniapp_api.ebikes.conftest import User, user


async def create(client: httpx.AsyncClient, staff: User, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {"name": "一号门", "kind": "gate", "node": "GM010101", **changes}
    response = await client.post("/api/v1/checkpoints", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    out: dict[str, object] = response.json()
    return out


async def test_other_areas_checkpoints_are_not_found_and_not_listed(app: Sanic, client: httpx.AsyncClient) -> None:
    mine = await user(app, Role.GRID_STAFF, node="GM010101")
    sibling = await user(app, Role.GRID_STAFF, node="GM010102")
    other_street_admin = await user(app, Role.ADMIN, node="GM02")
    made = await create(client, mine)
    path = f"/api/v1/checkpoints/{made['id']}"
    for stranger in (sibling, other_street_admin):
        assert (await client.get(path, headers=stranger.headers)).status_code == 404
        patched = await client.patch(path, json={"name": "改名"}, headers=stranger.headers)
        assert patched.status_code == 404
        listed = await client.get("/api/v1/checkpoints", headers=stranger.headers)
        assert listed.json()["items"] == []
        assigned = await client.put(f"{path}/staff/{stranger.account.public_id}", headers=stranger.headers)
        assert assigned.status_code == 404
    # A node outside the caller's area, or a street (not a community or grid), is refused.
    outside = await client.post(
        "/api/v1/checkpoints", json={"name": "门", "kind": "gate", "node": "GM010102"}, headers=mine.headers
    )
    assert outside.status_code == 422 and outside.json()["error"]["details"]["fields"][0]["type"] == "unknown_node"
    district = await user(app, Role.ADMIN, node="GM")
    street = await client.post(
        "/api/v1/checkpoints", json={"name": "门", "kind": "gate", "node": "GM01"}, headers=district.headers
    )
    assert street.status_code == 422
    listed = await client.get("/api/v1/checkpoints?node=GM02", headers=mine.headers)
    assert listed.status_code == 404
    assert await Checkpoint.all().count() == 1
    assert (await Checkpoint.get()).name == "一号门"


async def test_grid_staff_create_list_and_edit_checkpoints_in_their_area(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    admin = await user(app, Role.ADMIN, node="GM01")
    gate = await create(client, grid)
    hall = await create(client, admin, name="社区礼堂", kind="hall", node="GM0101")
    assert gate["node"] == "GM010101" and gate["kind"] == "gate" and gate["active"] is True and gate["staff"] == []
    seen_by_admin = (await client.get("/api/v1/checkpoints", headers=admin.headers)).json()["items"]
    assert [c["id"] for c in seen_by_admin] == [gate["id"], hall["id"]]
    seen_by_grid = (await client.get("/api/v1/checkpoints", headers=grid.headers)).json()["items"]
    assert [c["id"] for c in seen_by_grid] == [gate["id"]]  # the community's hall is above the grid
    page = (await client.get("/api/v1/checkpoints?limit=1", headers=admin.headers)).json()
    assert page["next_cursor"] == gate["id"]
    rest = await client.get(f"/api/v1/checkpoints?limit=1&cursor={page['next_cursor']}", headers=admin.headers)
    assert [c["id"] for c in rest.json()["items"]] == [hall["id"]]
    changed = await client.patch(
        f"/api/v1/checkpoints/{gate['id']}", json={"name": "北门", "kind": "park_entrance"}, headers=grid.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "北门" and changed.json()["kind"] == "park_entrance"
    closed = await client.patch(f"/api/v1/checkpoints/{gate['id']}", json={"active": False}, headers=admin.headers)
    assert closed.json()["active"] is False


async def test_staff_are_accounts_of_a_staff_role_above_or_below_the_checkpoint(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    community_health = await user(app, Role.HEALTH_STAFF, node="GM0101")
    officer_here = await user(app, Role.OFFICER, node="GM010101")
    sibling_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    other_street = await user(app, Role.HEALTH_STAFF, node="GM02")
    resident = await user(app, Role.RESIDENT)
    gate = await create(client, grid)
    path = f"/api/v1/checkpoints/{gate['id']}/staff"
    for ok in (community_health, officer_here, officer_here):  # twice: the same answer
        response = await client.put(f"{path}/{ok.account.public_id}", headers=grid.headers)
        assert response.status_code == 200, response.text
    for refused in (sibling_grid, other_street, resident):
        response = await client.put(f"{path}/{refused.account.public_id}", headers=grid.headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "account_not_found"
    assert (await client.put(f"{path}/nobody", headers=grid.headers)).status_code == 404
    assert (await client.put(f"{path}/{'x' * 200}", headers=grid.headers)).status_code == 404
    shown = (await client.get(f"/api/v1/checkpoints/{gate['id']}", headers=grid.headers)).json()["staff"]
    assert [(s["account"], s["role"], s["node"]) for s in shown] == [
        (community_health.account.public_id, "health_staff", "GM0101"),
        (officer_here.account.public_id, "officer", "GM010101"),
    ]
    removed = await client.delete(f"{path}/{officer_here.account.public_id}", headers=grid.headers)
    assert removed.status_code == 204
    again = await client.delete(f"{path}/{officer_here.account.public_id}", headers=grid.headers)
    assert again.status_code == 404
    assert await CheckpointStaff.all().count() == 1


async def test_bad_checkpoint_input_is_refused_and_changes_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    for body in (
        {"name": "门", "kind": "door", "node": "GM010101"},
        {"name": "", "kind": "gate", "node": "GM010101"},
        {"name": "门" * 65, "kind": "gate", "node": "GM010101"},
        {"name": "440306199001011234", "kind": "gate", "node": "GM010101"},
        {"name": "门", "kind": "gate", "node": "GM010101", "extra": 1},
        {"name": ["门"], "kind": "gate", "node": "GM010101"},
        {"name": "门", "kind": "gate", "node": "GM/0101"},
    ):
        response = await client.post("/api/v1/checkpoints", json=body, headers=grid.headers)
        assert response.status_code == 422, (body, response.text)
        assert "440306199001011234" not in response.text
    assert await Checkpoint.all().count() == 0
