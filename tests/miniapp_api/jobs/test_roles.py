"""The two job roles give no new access: an employer is no staff and has no node; employment staff are
staff of a node but no civic staff (no reports, clinic, feeds) and work no checkpoint; both see an e-ID
code as a resident does."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.roles import CHECKPOINT_STAFF_ROLES, CIVIC_STAFF_ROLES, PASSWORD_ROLES, STAFF_ROLES, Role
from qr.kinds import Audience
from qr.routes import audience_of
from server.auth import Principal
from tests.miniapp_api.ebikes.conftest import user


def test_role_sets() -> None:
    assert Role.EMPLOYER not in STAFF_ROLES and Role.EMPLOYER in PASSWORD_ROLES
    assert Role.EMPLOYMENT_STAFF in STAFF_ROLES
    assert not {Role.EMPLOYER, Role.EMPLOYMENT_STAFF} & (CIVIC_STAFF_ROLES | CHECKPOINT_STAFF_ROLES)
    assert Role.RESIDENT not in PASSWORD_ROLES


def test_a_scan_by_either_role_is_a_residents_view() -> None:
    for role in (Role.EMPLOYER, Role.EMPLOYMENT_STAFF, Role.HEALTH_STAFF, Role.RESIDENT):
        assert audience_of(Principal("acc_x", role, None)) == Audience.RESIDENT
    assert audience_of(Principal("acc_x", Role.POLICE, "/GM/")) == Audience.POLICE


async def test_employment_staff_read_no_reports_ledgers_or_people(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await user(app, Role.EMPLOYMENT_STAFF, node="GM")  # even at the district level
    employer = await user(app, Role.EMPLOYER)
    for path in ("/api/v1/grid/feed", "/api/v1/clinic/ledger", "/api/v1/buildings", "/api/v1/health/people",
                 "/api/v1/accounts", "/api/v1/devices", "/api/v1/admin/audit"):  # fmt: skip
        for caller in (staff, employer):
            r = await client.get(path, headers=caller.headers)
            assert r.status_code == 403, (path, r.text)
