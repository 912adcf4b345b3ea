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
    # An enterprise's HR account (job matching): bound to one enterprise, no node, no district data.
    EMPLOYER = "employer"
    # The district's employment service: staff scoped to a node, verifying enterprises and postings.
    EMPLOYMENT_STAFF = "employment_staff"


# Every role but resident and employer works for the district and is scoped to a node of the hierarchy.
STAFF_ROLES: frozenset[Role] = frozenset(Role) - {Role.RESIDENT, Role.EMPLOYER}
ALL_ROLES: frozenset[Role] = frozenset(Role)
# Who signs in with a username and password: the staff and the enterprises' employer accounts.
PASSWORD_ROLES: frozenset[Role] = STAFF_ROLES | {Role.EMPLOYER}
# Staff who work civic matters (reports, the clinic's ledgers). Health staff see health data of the
# people in their area and nothing of residents' reports; employment staff see enterprises, postings
# and seekers, and nothing of reports either: minimum necessary (PIPL art. 6).
CIVIC_STAFF_ROLES: frozenset[Role] = STAFF_ROLES - {Role.HEALTH_STAFF, Role.EMPLOYMENT_STAFF}
# Staff who may be assigned to a checkpoint and check people in there (not the employment service).
CHECKPOINT_STAFF_ROLES: frozenset[Role] = STAFF_ROLES - {Role.EMPLOYMENT_STAFF}


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
