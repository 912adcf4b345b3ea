"""The people of the bench: the demo hierarchy, one police officer and the residents who register, with
their access tokens."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from identity import hierarchy, tokens
from identity import service as identity_service
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from miniapp_api.ebikes.models import EBike
from server import db
from server.app import load_access_token_secret
from server.settings import Settings

# The people of the bench: one police officer and the residents who register -------------------------


@dataclass
class People:
    police_token: str
    resident_tokens: list[str]
    grid_codes: list[str]
    grid_paths: list[str]


async def prepare(settings: Settings, residents: int) -> People:
    """Check the database is empty, load the demo hierarchy, create the accounts that make requests."""
    await db.open_db(settings)
    try:
        if await Account.all().count() or await EBike.all().count():
            raise RuntimeError("the database is not empty: give a freshly created one (it is filled with bikes)")
        if not await Node.exists(code="GM"):
            await hierarchy.load_file(hierarchy.demo_file())
        grids = await Node.filter(level=NodeLevel.GRID).order_by("code").values_list("code", "path")
        if not grids:
            raise RuntimeError("the hierarchy has no grid nodes to keep bikes in")
        police_node = await Node.get(code="GM01")
        police = await Account.create(
            public_id=identity_service.new_public_id(), role=Role.POLICE, node=police_node, username="bench.police"
        )
        await Account.bulk_create(
            [
                Account(
                    public_id=identity_service.new_public_id(),
                    role=Role.RESIDENT,
                    wechat_openid=f"oGMBENCHREG{r:017d}",
                )
                for r in range(residents)
            ],
            batch_size=1000,
        )
        resident_ids = await Account.filter(role=Role.RESIDENT).order_by("id").values_list("public_id", flat=True)
    finally:
        await db.close_db()
    secret = load_access_token_secret(settings)
    ttl = 4 * 3600  # long enough for any run

    def token(public_id: str, role: Role, node_path: str | None) -> str:
        value, _ = tokens.issue_access_token(
            secret=secret, account_id=public_id, role=role, node_path=node_path, ttl=ttl
        )
        return value

    return People(
        police_token=token(police.public_id, Role.POLICE, police_node.path),
        resident_tokens=[token(str(pid), Role.RESIDENT, None) for pid in resident_ids],
        grid_codes=[str(code) for code, _ in grids],
        grid_paths=[str(path) for _, path in grids],
    )
