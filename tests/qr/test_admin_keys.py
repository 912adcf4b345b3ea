"""The admin API of the QR signing keys: district administration only, audited, with the CLI's safety
(never the active key; not while codes it signed remain unless forced; the kid repeated to confirm),
and the running app signs with a rotated key at once and refuses a retired key's codes."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from qr import keys as qr_keys
from qr import service
from server.settings import Settings
from tests.factories import auth, make_account, token_for

GRID = "/GM/GM01/GM0101/GM010101/"


async def test_only_the_district_administration_manages_keys(
    app: Sanic, settings: Settings, client: httpx.AsyncClient
) -> None:
    street_admin = await make_account(Role.ADMIN, node="GM01")
    police = await make_account(Role.POLICE)
    before = qr_keys.load(settings.keys_path)
    old = before.active_kid
    for account, status in ((street_admin, 403), (police, 403)):
        headers = auth(await token_for(app, account))
        listed = await client.get("/api/v1/admin/qr/keys", headers=headers)
        rotated = await client.post("/api/v1/admin/qr/keys/rotate", json={"confirm": True}, headers=headers)
        retired = await client.post(
            f"/api/v1/admin/qr/keys/{old}/retire", json={"confirm_kid": old, "force": True}, headers=headers
        )
        for answer in (listed, rotated, retired):
            assert answer.status_code == status, answer.text
    street = await client.get("/api/v1/admin/qr/keys", headers=auth(await token_for(app, street_admin)))
    assert street.json()["error"]["code"] == "district_only"
    assert (await client.get("/api/v1/admin/qr/keys")).status_code == 401
    assert qr_keys.load(settings.keys_path).version == before.version  # nothing changed
    assert not await AuditEntry.filter(action__startswith="qr_key.").exists()


async def test_rotate_and_retire_with_the_clis_safety(
    app: Sanic, settings: Settings, client: httpx.AsyncClient
) -> None:
    admin = await make_account(Role.ADMIN)  # the district
    headers = auth(await token_for(app, admin))
    credential = await service.issue(kind="building", subject_id="bld-keys", node_path=GRID, label="1栋")
    old = service.keyring().active_kid

    # Rotation needs its confirmation; oversized or odd bodies are refused.
    for body in (None, {}, {"confirm": False}, {"confirm": True, "extra": 1}, {"confirm": [True] * 10000}):
        refused = await client.post("/api/v1/admin/qr/keys/rotate", json=body, headers=headers)
        assert refused.status_code in (415, 422), refused.text
    assert service.keyring().active_kid == old

    # The active key is never retired.
    active = await client.post(f"/api/v1/admin/qr/keys/{old}/retire", json={"confirm_kid": old}, headers=headers)
    assert active.status_code == 409 and active.json()["error"]["code"] == "active_key"

    rotated = await client.post("/api/v1/admin/qr/keys/rotate", json={"confirm": True}, headers=headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["active_kid"]
    assert new != old and service.keyring().active_kid == new  # this process signs with it at once
    fresh = await service.issue(kind="building", subject_id="bld-after", node_path=GRID, label="2栋")
    assert (await client.post("/api/v1/scan", json={"payload": fresh.token})).status_code == 200
    assert (await client.post("/api/v1/scan", json={"payload": credential.token})).status_code == 200

    listed = (await client.get("/api/v1/admin/qr/keys", headers=headers)).json()
    assert listed["active_kid"] == new
    assert {(k["kid"], k["status"], k["active_codes"]) for k in listed["items"]} == {
        (new, "active", 1),
        (old, "verifying", 1),
    }

    # Confirmation: the kid repeated; a key whose codes remain needs force; unknown or odd kids are 404.
    wrong = await client.post(f"/api/v1/admin/qr/keys/{old}/retire", json={"confirm_kid": new}, headers=headers)
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "confirmation_mismatch"
    remain = await client.post(f"/api/v1/admin/qr/keys/{old}/retire", json={"confirm_kid": old}, headers=headers)
    assert remain.status_code == 409 and remain.json()["error"]["details"] == {"remaining": 1}
    for kid in ("nosuchk1", "..%2F..%2Fkeyring", "x" * 80):
        missing = await client.post(f"/api/v1/admin/qr/keys/{kid}/retire", json={"confirm_kid": kid}, headers=headers)
        assert missing.status_code in (404, 422), missing.text
    assert service.keyring().find(old) is not None and service.keyring().find(old).status == "verifying"  # type: ignore[union-attr]

    done = await client.post(
        f"/api/v1/admin/qr/keys/{old}/retire", json={"confirm_kid": old, "force": True}, headers=headers
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"kid": old, "refused_codes": 1, "already_retired": False}
    scanned = await client.post("/api/v1/scan", json={"payload": credential.token})
    assert scanned.json()["error"]["code"] == "retired_key"
    assert (await client.post("/api/v1/scan", json={"payload": fresh.token})).status_code == 200

    entries = await AuditEntry.filter(action__startswith="qr_key.").order_by("seq")
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("qr_key.rotate", new, admin.public_id),
        ("qr_key.retire", old, admin.public_id),
    ]
