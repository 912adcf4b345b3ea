"""Who a staff member's node covers: the district level, an administrator's lists, which accounts an
administrator may see and create. Every feature asks these (a grid's reports, a street's boards, the
district-only keys), so they live apart from the account service.
"""

from __future__ import annotations

from identity.models import Account, Node
from identity.roles import Role
from server.auth import Principal
from server.errors import Forbidden


def is_district_level(viewer: Principal) -> bool:
    return viewer.node_path is not None and viewer.node_path.count("/") == 2


def require_district(viewer: Principal, does: str) -> Principal:
    """403 ``district_only`` below the district's own node. For what is one for the whole district (the
    signing keys, the audit chain, buildings that may name any grid, the key areas); ``does`` says what
    the district administration alone does, e.g. "imports buildings"."""
    if not is_district_level(viewer):
        raise Forbidden(f"Only the district administration {does}.", code="district_only")
    return viewer


NOWHERE = "//"  # no node's path starts with it (paths are /GM/..., codes never contain "/")


def admin_scope(viewer: Principal) -> str | None:
    """What an administrator's lists are limited to: None for the district administration (all of
    it), else their node's path (an account without a node: nothing)."""
    if is_district_level(viewer):
        return None
    return viewer.node_path or NOWHERE


def ensure_may_create(viewer: Principal, node: Node, role: Role) -> None:
    if not viewer.covers(node.path):
        raise Forbidden("You can only create staff inside your part of the hierarchy.", code="outside_scope")
    if role is Role.ADMIN and node.path == viewer.node_path and not is_district_level(viewer):
        raise Forbidden("Only the district administration creates administrators at its own level.")


def account_scope(account: Account) -> str:
    """The node path an audit entry about this account belongs to ("" for a resident: only the
    district administration sees residents)."""
    node = account.node if isinstance(account.node, Node) else None
    return node.path if node is not None else ""


def may_see(viewer: Principal, account: Account) -> bool:
    if viewer.account_id == account.public_id:
        return True
    if viewer.role is not Role.ADMIN:
        return False
    node: Node | None = account.node
    if node is None:
        # Residents belong to no node: only the district-level administration sees them.
        return is_district_level(viewer)
    return viewer.covers(node.path)
