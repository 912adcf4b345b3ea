"""The roles an account can have, and which of them are staff scoped to a hierarchy node."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    RESIDENT = "resident"
    PARTY_MEMBER = "party_member"
    GRID_STAFF = "grid_staff"
    OFFICER = "officer"
    POLICE = "police"
    HEALTH_STAFF = "health_staff"
    ADMIN = "admin"


# Every role but resident works for the district and is scoped to a node of the hierarchy.
STAFF_ROLES: frozenset[Role] = frozenset(Role) - {Role.RESIDENT}
ALL_ROLES: frozenset[Role] = frozenset(Role)
# Staff who work civic matters (reports, the clinic's ledgers). Health staff see health data of the
# people in their area and nothing of residents' reports: minimum necessary (PIPL art. 6).
CIVIC_STAFF_ROLES: frozenset[Role] = STAFF_ROLES - {Role.HEALTH_STAFF}


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
