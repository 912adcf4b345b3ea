"""Make accounts and tokens for tests through the real service code (the app must be running)."""

from __future__ import annotations

from datetime import date

from sanic import Sanic

from identity import hierarchy, service, tokens
from identity.models import Account, Node
from identity.roles import Role
from identity.validators import make_id_number

STAFF_NODES = {
    Role.ADMIN: "GM",
    Role.POLICE: "GM01",
    Role.OFFICER: "GM0101",
    Role.HEALTH_STAFF: "GM0101",
    Role.GRID_STAFF: "GM010101",
    Role.PARTY_MEMBER: "GM010101",
    Role.EMPLOYMENT_STAFF: "GM01",
    # Role.EMPLOYER: none. An employer account belongs to an enterprise, never to a node.
}


async def load_demo_hierarchy() -> None:
    if not await Node.exists(code="GM"):
        await hierarchy.load_file(hierarchy.demo_file())


async def make_account(role: Role, *, node: str | None = None, username: str | None = None) -> Account:
    """An account without a password (tests that sign in use ``make_staff_with_password``)."""
    await load_demo_hierarchy()
    node_code = node if node is not None else STAFF_NODES.get(role)
    node_obj = await Node.get(code=node_code) if node_code else None
    return await Account.create(
        public_id=service.new_public_id(),
        role=role,
        node=node_obj,
        username=username,
        wechat_openid=None if role is not Role.RESIDENT else f"o_{service.new_public_id()}",
    )


async def make_staff_with_password(username: str, role: Role, password: str, node: str | None = None) -> Account:
    await load_demo_hierarchy()
    return await service.create_staff(
        username=username, role=role, node_code=node or STAFF_NODES[role], password=password
    )


async def token_for(app: Sanic, account: Account, ttl: int = 600) -> str:
    await account.fetch_related("node")
    token, _ = tokens.issue_access_token(
        secret=app.ctx.access_token_secret,
        account_id=account.public_id,
        role=account.role,
        node_path=account.node.path if account.node else None,
        ttl=ttl,
    )
    return token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def id_number(n: int = 1) -> str:
    return make_id_number("440311", date(1988, 3, 1 + (n % 27)), f"{n % 1000:03d}")
