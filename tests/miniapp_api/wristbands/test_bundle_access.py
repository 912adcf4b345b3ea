"""Who may fetch the offline bundle is decided at each request: staff taken off their checkpoint, of a
checkpoint closed over HTTP, or whose account was disabled get it no more, and lose the gate's
check-ins at the same moment."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.roles import Role
from tests.factories import load_demo_hierarchy
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.gate import body, check_in

URL = "/api/v1/checkins/bundle"


async def test_staff_lose_the_bundle_when_unassigned_closed_or_disabled(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    admin = await user(app, Role.ADMIN, node="GM")
    ble = seed.new_ble_id()
    for how in ("unassigned", "closed", "disabled"):
        staff = await user(app, Role.GRID_STAFF, node="GM010101")
        checkpoint = await seed.checkpoint(node="GM010101", staff=[staff.account])
        assert (await client.get(URL, headers=staff.headers)).status_code == 200
        await check_in(client, staff, body(checkpoint, ble))
        if how == "unassigned":
            url = f"/api/v1/checkpoints/{checkpoint.public_id}/staff/{staff.account.public_id}"
            changed = await client.delete(url, headers=admin.headers)
        elif how == "closed":
            url = f"/api/v1/checkpoints/{checkpoint.public_id}"
            changed = await client.patch(url, json={"active": False}, headers=admin.headers)
        else:
            url = f"/api/v1/accounts/{staff.account.public_id}"
            changed = await client.patch(url, json={"is_active": False}, headers=admin.headers)
        assert changed.status_code in (200, 204), (how, changed.text)
        refused = await client.get(URL, headers=staff.headers)
        assert refused.status_code == (401 if how == "disabled" else 403), (how, refused.text)
        assert "eyJ" not in refused.text
        gone = await client.post("/api/v1/checkins", json=body(checkpoint, ble), headers=staff.headers)
        assert gone.status_code == (401 if how == "disabled" else 404), (how, gone.text)
