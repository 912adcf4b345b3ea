"""A building is changed only by staff of its own area, and never moved to another grid through the API
(issue 12: every upsert and move checks the existing row and the target)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.buildings.models import Building
from tests.miniapp_api.buildings.conftest import import_rows, row, user

CODE = "GM0101010001"


async def test_a_building_is_neither_changed_from_another_grid_nor_moved_to_one(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    before = await Building.get(code=CODE)
    own = await user(app, Role.GRID_STAFF, "GM010101")
    outsiders = [
        await user(app, Role.GRID_STAFF, "GM010102"),
        await user(app, Role.OFFICER, "GM02"),
        await user(app, Role.ADMIN, "GM0102"),
    ]
    for outsider in outsiders:
        refused = await client.patch(f"/api/v1/buildings/{CODE}", json={"households": 99}, headers=outsider.headers)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "building_not_found"
    # Its grid, path and code come only from the district's file: a body naming them is refused whole.
    for moved in (
        {"grid": "GM010102"},
        {"node": "GM010102"},
        {"node_path": "/GM/GM01/GM0101/GM010102/"},
        {"code": "X1"},
    ):
        refused = await client.patch(f"/api/v1/buildings/{CODE}", json={**moved, "households": 99}, headers=own.headers)
        assert refused.status_code == 422, (moved, refused.text)
    after = await Building.get(code=CODE)
    assert (after.grid_code, after.node_path, after.households, after.updated_at) == (
        before.grid_code,
        before.node_path,
        before.households,
        before.updated_at,
    )
    changed = await client.patch(f"/api/v1/buildings/{CODE}", json={"households": 20}, headers=own.headers)
    assert changed.status_code == 200 and changed.json()["grid"] == "GM010101"
