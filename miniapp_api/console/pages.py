"""The console's menu, and the roles of each page: those of the API routes the page uses.

A page that shows the grid feed may be opened by exactly the roles that may read
``GET /api/v1/grid/feed``; ``roles_of`` reads them off the route's own ``@requires``, so a page
never keeps a second copy of who may do what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from identity.roles import STAFF_ROLES, Role
from server.auth import Principal, declared_access

ROLE_NAMES: dict[Role, str] = {
    Role.GRID_STAFF: "网格员",
    Role.OFFICER: "执法队员",
    Role.POLICE: "民警",
    Role.HEALTH_STAFF: "防疫人员",
    Role.ADMIN: "管理员",
    Role.PARTY_MEMBER: "党员",
    Role.EMPLOYMENT_STAFF: "就业服务专员",
    Role.RESIDENT: "居民",
    Role.EMPLOYER: "企业用人单位",
}


def roles_of(*api_handlers: object) -> tuple[Role, ...]:
    """The staff roles allowed by every one of these API routes (a public route allows all staff).
    Takes ``object``: under Sanic's route decorators mypy sees a handler as the coroutine it returns."""
    allowed: frozenset[Role] = STAFF_ROLES
    for handler in api_handlers:
        access = declared_access(cast(Callable[..., Any], handler))
        if access == "undeclared":
            raise RuntimeError(f"{getattr(handler, '__name__', handler)!r} declares no access")
        if access is not None:
            allowed = allowed & frozenset(access)
    return tuple(sorted(allowed))


@dataclass(frozen=True)
class NavItem:
    title: str
    path: str
    roles: frozenset[Role]
    order: int
    # A further condition on the account, when the API's rule is finer than the role (the district
    # administration only): the same function the route asks.
    when: Callable[[Principal], bool] | None = None


_NAV: list[NavItem] = []


def add_nav(
    title: str,
    path: str,
    roles: tuple[Role, ...],
    *,
    order: int,
    when: Callable[[Principal], bool] | None = None,
) -> None:
    """Put a page in the menu for these roles (each page module calls this once at import)."""
    if not any(item.path == path for item in _NAV):
        _NAV.append(NavItem(title, path, frozenset(roles), order, when))
        _NAV.sort(key=lambda item: item.order)


def nav_for(principal: Principal) -> list[NavItem]:
    return [item for item in _NAV if principal.role in item.roles and (item.when is None or item.when(principal))]
