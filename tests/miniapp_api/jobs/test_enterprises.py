"""Enterprises over HTTP: registration with a checked USCC, verification by the employment staff of
the enterprise's area, employer accounts for verified enterprises only. Staff of another street,
residents, employers and anonymous callers change nothing and learn nothing."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.models import Account
from identity.roles import Role
from miniapp_api.jobs.models import EmployerBinding, Enterprise
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import ENTERPRISES, PASSWORD, enterprise_body

TENCENT = "91440300708461136T"
HUAWEI = "914403001922038216"


async def test_outsiders_cannot_see_verify_or_make_employers(app: Sanic, client: httpx.AsyncClient) -> None:
    mine = await seed.staff(app, "GM01")
    made = await client.post(ENTERPRISES, json=enterprise_body(TENCENT), headers=mine.headers)
    assert made.status_code == 201, made.text
    eid = made.json()["id"]
    other_street = await seed.staff(app, "GM02")
    resident = await user(app, Role.RESIDENT)
    admin = await user(app, Role.ADMIN, node="GM")
    health = await user(app, Role.HEALTH_STAFF, node="GM0101")
    for path in (f"{ENTERPRISES}/{eid}", f"{ENTERPRISES}/en_nope", f"{ENTERPRISES}/{'x' * 300}"):
        assert (await client.get(path, headers=other_street.headers)).status_code == 404
    for action, body in (("verify", None), ("reject", {"reason": "材料不全"}), ("suspend", {"reason": "x"})):
        r = await client.post(f"{ENTERPRISES}/{eid}/{action}", json=body, headers=other_street.headers)
        assert r.status_code == 404, r.text
        for caller in (resident, admin, health):
            r = await client.post(f"{ENTERPRISES}/{eid}/{action}", json=body, headers=caller.headers)
            assert r.status_code == 403
        assert (await client.post(f"{ENTERPRISES}/{eid}/{action}", json=body)).status_code == 401
    employer = {"username": "hr.outsider", "password": PASSWORD}
    r = await client.post(f"{ENTERPRISES}/{eid}/employers", json=employer, headers=other_street.headers)
    assert r.status_code == 404
    assert (await client.get(ENTERPRISES, headers=other_street.headers)).json()["items"] == []
    assert (await client.get(ENTERPRISES, params={"node": "GM0101"}, headers=other_street.headers)).status_code == 404
    assert (await Enterprise.get(public_id=eid)).status == "pending"
    assert not await Account.exists(username="hr.outsider")


async def test_register_verify_and_make_an_employer_who_signs_in(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    made = await client.post(ENTERPRISES, json=enterprise_body(" 9144 0300 7084 6113 6t "), headers=resident.headers)
    assert made.status_code == 201, made.text
    eid = made.json()["id"]
    assert made.json()["status"] == "pending" and made.json()["uscc"] == TENCENT
    staff = await seed.staff(app, "GM01")
    # Not verified yet: no employer account.
    early = await client.post(
        f"{ENTERPRISES}/{eid}/employers", json={"username": "hr.early", "password": PASSWORD}, headers=staff.headers
    )
    assert (early.status_code, early.json()["error"]["code"]) == (409, "enterprise_not_verified")
    listed = await client.get(ENTERPRISES, params={"status": "pending"}, headers=staff.headers)
    assert [e["id"] for e in listed.json()["items"]] == [eid]
    assert listed.json()["items"][0]["contact"] == {"name": "李四", "phone": "13912340001"}
    verified = await client.post(f"{ENTERPRISES}/{eid}/verify", headers=staff.headers)
    assert verified.json()["status"] == "verified"
    again = await client.post(f"{ENTERPRISES}/{eid}/verify", headers=staff.headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_transition")
    weak = await client.post(
        f"{ENTERPRISES}/{eid}/employers", json={"username": "hr.one", "password": "123"}, headers=staff.headers
    )
    assert (weak.status_code, weak.json()["error"]["code"]) == (422, "weak_password")
    body = {"username": "HR.One", "password": PASSWORD}
    created = await client.post(f"{ENTERPRISES}/{eid}/employers", json=body, headers=staff.headers)
    assert created.status_code == 201, created.text
    taken = await client.post(f"{ENTERPRISES}/{eid}/employers", json=body, headers=staff.headers)
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "username_taken")
    account = await Account.get(username="hr.one").prefetch_related("node")
    assert account.role is Role.EMPLOYER and account.node is None  # never a part of the district
    assert (await EmployerBinding.get(account_id=account.id).prefetch_related("enterprise")).enterprise.public_id == eid
    login = await client.post("/api/v1/auth/login", json={"username": "hr.one", "password": PASSWORD})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    mine = await client.get("/api/v1/employer/enterprise", headers=headers)
    assert mine.status_code == 200 and mine.json()["id"] == eid
    # What the staff did is in the audit log, by action, with no personal data.
    actions = set(await AuditEntry.filter(target__in=[eid, account.public_id]).values_list("action", flat=True))
    assert {"job.enterprise.register", "job.enterprise.verify", "account.create"} <= actions
    details = await AuditEntry.filter(target=eid).values_list("details", flat=True)
    assert "13912340001" not in str(details) and "李四" not in str(details)


async def test_the_contact_is_sealed_at_rest(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await seed.staff(app)
    made = await client.post(ENTERPRISES, json=enterprise_body(HUAWEI), headers=staff.headers)
    row = await Enterprise.get(public_id=made.json()["id"])
    assert "13912340001" not in row.contact_enc and "李四" not in row.contact_enc


async def test_a_code_registered_twice_is_409_without_the_other_enterprise(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    staff = await seed.staff(app)
    first = await client.post(ENTERPRISES, json=enterprise_body(HUAWEI, name="第一家"), headers=staff.headers)
    assert first.status_code == 201
    resident = await user(app, Role.RESIDENT)
    second = await client.post(ENTERPRISES, json=enterprise_body(HUAWEI, name="第二家"), headers=resident.headers)
    assert (second.status_code, second.json()["error"]["code"]) == (409, "uscc_taken")
    assert first.json()["id"] not in second.text and "第一家" not in second.text and "GM0101" not in second.text
    # Rejected, the code may be registered again.
    await client.post(f"{ENTERPRISES}/{first.json()['id']}/reject", json={"reason": "材料不全"}, headers=staff.headers)
    third = await client.post(ENTERPRISES, json=enterprise_body(HUAWEI, name="第三家"), headers=resident.headers)
    assert third.status_code == 201, third.text
    assert await Enterprise.filter(uscc=HUAWEI).count() == 2


async def test_bad_registrations_are_refused_and_change_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    staff = await seed.staff(app, "GM01")
    cases = [
        (enterprise_body("91440300708461136A"), 422, "invalid_uscc"),
        (enterprise_body(node="GM"), 422, "unknown_node"),  # the district itself
        (enterprise_body(node="NOPE"), 422, "unknown_node"),
        (enterprise_body(name="腾讯\u200b科技"), 422, "validation_failed"),  # invisible character
        (enterprise_body(name="x" * 101), 422, "validation_failed"),
        (enterprise_body(contact={"name": "李四", "phone": "12345"}), 422, "invalid_phone"),
        (enterprise_body(extra=1), 422, "validation_failed"),
        (enterprise_body(name={"nested": {"deep": [1, 2]}}), 422, "validation_failed"),
    ]
    for body, status, code in cases:
        r = await client.post(ENTERPRISES, json=body, headers=resident.headers)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
        assert "13912340001" not in r.text
    # Staff register only inside their area.
    r = await client.post(ENTERPRISES, json=enterprise_body(node="GM0201"), headers=staff.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "node_not_found")
    deep = b'{"name": ' + b"[" * 200 + b"]" * 200 + b"}"
    r = await client.post(ENTERPRISES, content=deep, headers={**resident.headers, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    r = await client.post(f"{ENTERPRISES}/x/reject", json={"reason": ""}, headers=staff.headers)
    assert r.status_code == 422
    assert await Enterprise.all().count() == 0


async def test_an_employer_without_an_enterprise_and_employers_of_others_see_nothing(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    other = await seed.firm(app, client, code=HUAWEI, node="GM0201")
    assert (await client.get("/api/v1/employer/enterprise", headers=firm.employer)).json()["id"] == firm.id
    assert (await client.get("/api/v1/employer/enterprise", headers=other.employer)).json()["id"] == other.id
    for path in (ENTERPRISES, f"{ENTERPRISES}/{firm.id}"):
        assert (await client.get(path, headers=other.employer)).status_code == 403
    r = await client.post(f"{ENTERPRISES}/{firm.id}/employers", json={"username": "hr.x", "password": PASSWORD},
                          headers=other.employer)  # fmt: skip
    assert r.status_code == 403
    unbound = await user(app, Role.EMPLOYER)
    r = await client.get("/api/v1/employer/enterprise", headers=unbound.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "enterprise_not_found")
    # Employers cannot register enterprises, nor be made through the staff account route.
    assert (await client.post(ENTERPRISES, json=enterprise_body(), headers=firm.employer)).status_code == 403
    admin = await user(app, Role.ADMIN, node="GM")
    r = await client.post(
        "/api/v1/accounts",
        json={"username": "hr.sneaky", "role": "employer", "node": "GM01", "password": PASSWORD},
        headers=admin.headers,
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "not_a_staff_role")
