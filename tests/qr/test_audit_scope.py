"""An administrator's revocation or reissue of a code is in the audit log of the code's place: the
administrators there (and the district) see it, another street's do not (nor can they act on it)."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from qr import service
from tests.factories import auth, make_account, token_for


async def test_revoke_and_reissue_are_seen_by_the_codes_place_only(app: Sanic, client: httpx.AsyncClient) -> None:
    district = await make_account(Role.ADMIN, node="GM")
    here = await make_account(Role.ADMIN, node="GM02")
    other = await make_account(Role.ADMIN, node="GM01")
    first = await service.issue(kind="building", subject_id="GM0201010001", node_path="/GM/GM02/GM0201/GM020101/")
    second = await service.issue(kind="building", subject_id="GM0201010002", node_path="/GM/GM02/GM0201/GM020101/")
    headers = auth(await token_for(app, here))
    revoke = f"/api/v1/credentials/{first.public_id}/revoke"
    revoked = await client.post(revoke, json={"reason": "damaged"}, headers=headers)
    assert revoked.status_code == 200, revoked.text
    reissued = await client.post(f"/api/v1/credentials/{second.public_id}/reissue", headers=headers)
    assert reissued.status_code == 200, reissued.text

    async def seen(reader: Account) -> list[str]:
        listed = await client.get("/api/v1/admin/audit", headers=auth(await token_for(app, reader)))
        assert listed.status_code == 200, listed.text
        return sorted(e["action"] for e in listed.json()["items"] if e["action"].startswith("credential."))

    assert await seen(district) == ["credential.reissue", "credential.revoke"]
    assert await seen(here) == ["credential.reissue", "credential.revoke"]
    assert await seen(other) == []
    elsewhere = await client.post(
        f"/api/v1/credentials/{second.public_id}/reissue", headers=auth(await token_for(app, other))
    )
    assert elsewhere.status_code == 404
