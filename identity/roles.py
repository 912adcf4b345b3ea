"""The roles an account can have, and which of them are staff scoped to a hierarchy node."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    PARTY_MEMBER = "party_member"
    GRID_STAFF = "grid_staff"
    OFFICER = "officer"
    POLICE = "police"
    ADMIN = "admin"


# Every role but resident works for the district and is scoped to a node of the hierarchy.
STAFF_ROLES: frozenset[Role] = frozenset(Role) - {Role.RESIDENT}
ALL_ROLES: frozenset[Role] = frozenset(Role)


class NodeLevel(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


# A child is exactly one level below its parent: 1 district, 6 streets, 31 communities, N grids.
LEVEL_ORDER: tuple[NodeLevel, ...] = (
    NodeLevel.DISTRICT,
    NodeLevel.STREET,
    NodeLevel.COMMUNITY,
    NodeLevel.GRID,
)
