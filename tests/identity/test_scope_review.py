"""Every administrator's list, read and change stays in their part of the hierarchy: the notification
outbox (list, dead letters, counts, one row, retry), the audit log (by actor and by the row an entry is
about), accounts (list, read, change, create), Open311 clients. The district administration sees all."""

from __future__ import annotations

from typing import Any

import httpx
from sanic import Sanic

from identity import audit
from identity.models import Account
from identity.roles import Role
from notify import outbox
from notify.models import Notification, Status
from tests.factories import auth, make_account, token_for

ADMIN_NOTIFY = "/api/v1/admin/notifications"
PASSWORD = "Correct-Horse-42-Battery"
STOLEN = {"bike": "雅迪 白色", "lost_at": "2026-11-25T02:30:00+00:00", "location": "光明大街", "alarm_id": "al1"}


async def headers_for(app: Sanic, account: Account) -> dict[str, str]:
    return auth(await token_for(app, account))


async def notification_for(account: Account, key: str, *, dead: bool = True) -> Notification:
    account.wechat_openid = account.wechat_openid or f"o_{key}"
    await account.save(update_fields=["wechat_openid"])
    row = await outbox.enqueue(template="ebike.stolen", data=STOLEN, idempotency_key=key, account=account)
    if dead:
        await Notification.filter(id=row.id).update(status=Status.DEAD, last_error="wechat 43101: refused")
    return row


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


# The notification outbox ------------------------------------------------------------------------------


async def test_a_street_administrator_sees_and_retries_only_their_streets_notifications(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    district = await make_account(Role.ADMIN, node="GM")
    street = await make_account(Role.ADMIN, node="GM01")
    own_staff = await make_account(Role.GRID_STAFF, node="GM010101")
    own_police = await make_account(Role.POLICE, node="GM01")
    other_staff = await make_account(Role.GRID_STAFF, node="GM020101")
    resident = await make_account(Role.RESIDENT)
    mine = [await notification_for(own_staff, "k1"), await notification_for(own_police, "k2", dead=False)]
    theirs = [await notification_for(other_staff, "k3"), await notification_for(resident, "k4")]
    street_h, district_h = await headers_for(app, street), await headers_for(app, district)

    assert ids(await client.get(ADMIN_NOTIFY, headers=street_h)) == sorted(r.public_id for r in mine)
    dead_letters = await client.get(ADMIN_NOTIFY, params={"status": "dead"}, headers=street_h)
    assert ids(dead_letters) == [mine[0].public_id]
    counts = dead_letters.json()["counts"]
    assert (counts["dead"], counts["pending"]) == (1, 1)  # not the district's 3 dead
    # Paging with a cursor another street's row gives does not help either.
    paged = await client.get(ADMIN_NOTIFY, params={"cursor": theirs[0].public_id}, headers=street_h)
    assert paged.status_code == 422

    for row in theirs:
        detail = await client.get(f"{ADMIN_NOTIFY}/{row.public_id}", headers=street_h)
        assert detail.status_code == 404 and detail.json()["error"]["code"] == "notification_not_found"
        retried = await client.post(f"{ADMIN_NOTIFY}/{row.public_id}/retry", headers=street_h)
        assert retried.status_code == 404, retried.text
        assert (await Notification.get(id=row.id)).status is Status.DEAD  # untouched
    assert (await client.get(f"{ADMIN_NOTIFY}/{mine[0].public_id}", headers=street_h)).status_code == 200
    retried = await client.post(f"{ADMIN_NOTIFY}/{mine[0].public_id}/retry", headers=street_h)
    assert retried.status_code == 200, retried.text

    # The district sees and retries them all.
    everything = await client.get(ADMIN_NOTIFY, headers=district_h)
    assert ids(everything) == sorted(r.public_id for r in [*mine, *theirs])
    retried = await client.post(f"{ADMIN_NOTIFY}/{theirs[1].public_id}/retry", headers=district_h)
    assert retried.status_code == 200, retried.text

    # The retry's audit entry is about the row's recipient: the street sees its own retry only.
    street_audit = await client.get("/api/v1/admin/audit", params={"action": "notification.retry"}, headers=street_h)
    assert [e["target"] for e in street_audit.json()["items"]] == [mine[0].public_id]


async def test_an_administrator_without_a_node_sees_no_notification(app: Sanic, client: httpx.AsyncClient) -> None:
    nodeless = await make_account(Role.ADMIN, node="")
    await notification_for(await make_account(Role.GRID_STAFF, node="GM010101"), "k1")
    response = await client.get(ADMIN_NOTIFY, headers=await headers_for(app, nodeless))
    assert ids(response) == [] and set(response.json()["counts"].values()) == {0}


# The audit log, by actor and by target -----------------------------------------------------------------


async def test_audit_entries_about_rows_elsewhere_are_not_shown_to_a_street(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    district = await make_account(Role.ADMIN, node="GM")
    street = await make_account(Role.ADMIN, node="GM01")
    own_police = await make_account(Role.POLICE, node="GM01")
    other_police = await make_account(Role.POLICE, node="GM02")

    async def entry(actor: Account, target: str, scope: str) -> int:
        recorded = await audit.record(
            actor=actor.public_id, role="police", action="police.ebike_lookup", target=target, scope=scope
        )
        return recorded.seq

    here = await entry(own_police, "eb_here", "/GM/GM01/GM0101/GM010101/")
    elsewhere = await entry(own_police, "eb_there", "/GM/GM02/GM0201/GM020101/")  # their actor, not their row
    unplaced = await entry(own_police, "eb_unknown", "")  # about a row of unknown place
    about_nothing = await entry(own_police, "", "")  # a refused lookup that found nothing
    by_other = await entry(other_police, "eb_here2", "/GM/GM01/GM0101/")  # their row, another street's actor

    async def seen(reader: Account, **params: Any) -> list[int]:
        response = await client.get("/api/v1/admin/audit", params=params, headers=await headers_for(app, reader))
        assert response.status_code == 200, response.text
        return [e["seq"] for e in response.json()["items"] if e["action"] == "police.ebike_lookup"]

    assert await seen(street) == [here, about_nothing]
    assert await seen(street, actor=own_police.public_id) == [here, about_nothing]
    assert await seen(district) == [here, elsewhere, unplaced, about_nothing, by_other]
    listed = (await client.get("/api/v1/admin/audit", headers=await headers_for(app, district))).json()["items"]
    assert {e["seq"]: e["scope"] for e in listed}[here] == "/GM/GM01/GM0101/GM010101/"


async def test_a_police_lookup_of_a_bike_elsewhere_is_not_in_the_streets_audit(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    from tests.miniapp_api.ebikes.conftest import register, user

    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 5, node="GM020101")  # kept in street GM02
    police = await user(app, Role.POLICE, node="GM01")
    response = await client.get(
        "/api/v1/police/ebikes",
        params={"frame_no": bike["frame_no"], "reason": "盗窃案件侦查", "case_no": "GM2026-0001"},
        headers=police.headers,
    )
    assert response.status_code == 200 and response.json()["count"] == 1, response.text
    street = await make_account(Role.ADMIN, node="GM01")
    other_street = await make_account(Role.ADMIN, node="GM02")
    district = await make_account(Role.ADMIN, node="GM")

    async def targets(reader: Account) -> list[str]:
        r = await client.get(
            "/api/v1/admin/audit", params={"action": "police.ebike_lookup"}, headers=await headers_for(app, reader)
        )
        assert r.status_code == 200, r.text
        return [e["target"] for e in r.json()["items"]]

    assert await targets(street) == []  # their officer, but a bike of GM02
    assert await targets(other_street) == []  # their bike, but another street's officer
    assert await targets(district) == [bike["id"]]


# Accounts ----------------------------------------------------------------------------------------------


async def test_account_lists_reads_and_changes_stay_in_the_street(app: Sanic, client: httpx.AsyncClient) -> None:
    street = await make_account(Role.ADMIN, node="GM01")
    peer = await make_account(Role.ADMIN, node="GM01")
    own = await make_account(Role.OFFICER, node="GM0101")
    other = await make_account(Role.OFFICER, node="GM0201")
    resident = await make_account(Role.RESIDENT)
    higher = await make_account(Role.ADMIN, node="GM")
    h = await headers_for(app, street)

    listed = await client.get("/api/v1/accounts", headers=h)
    assert ids(listed) == sorted([street.public_id, peer.public_id, own.public_id])
    by_node = await client.get("/api/v1/accounts", params={"node": "GM0201"}, headers=h)
    assert ids(by_node) == []
    for hidden in (other, resident, higher):
        assert (await client.get(f"/api/v1/accounts/{hidden.public_id}", headers=h)).status_code == 404
        patched = await client.patch(f"/api/v1/accounts/{hidden.public_id}", json={"is_active": False}, headers=h)
        assert patched.status_code == 404, patched.text
        assert (await Account.get(id=hidden.id)).is_active
    # A peer administrator (same node) is changed only from above.
    patched = await client.patch(f"/api/v1/accounts/{peer.public_id}", json={"is_active": False}, headers=h)
    assert patched.status_code == 403 and (await Account.get(id=peer.id)).is_active
    # No move and no role change through PATCH: the fields are refused, nothing changes.
    for body in ({"is_active": True, "node": "GM02"}, {"is_active": True, "role": "admin"}, {"node": "GM0201"}):
        patched = await client.patch(f"/api/v1/accounts/{own.public_id}", json=body, headers=h)
        assert patched.status_code == 422, patched.text
    row = await Account.get(id=own.id).prefetch_related("node")
    assert (row.role, row.node.code) == (Role.OFFICER, "GM0101")
    assert (await client.patch(f"/api/v1/accounts/{own.public_id}", json={"is_active": False}, headers=h)).is_success


async def test_a_street_administrator_creates_staff_only_inside_and_admins_only_below(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    street = await make_account(Role.ADMIN, node="GM01")
    h = await headers_for(app, street)

    async def create(username: str, role: str, node: str) -> httpx.Response:
        body = {"username": username, "role": role, "node": node, "password": PASSWORD}
        return await client.post("/api/v1/accounts", json=body, headers=h)

    for username, role, node in (
        ("other.street", "officer", "GM02"),  # another street
        ("other.grid", "grid_staff", "GM020101"),  # somewhere in another street
        ("up.admin", "admin", "GM"),  # an administrator above
        ("peer.admin", "admin", "GM01"),  # an administrator at their own level
    ):
        response = await create(username, role, node)
        assert response.status_code == 403, (username, response.text)
        assert not await Account.exists(username=username)
    assert (await create("below.admin", "admin", "GM0101")).status_code == 201
    assert (await create("own.officer", "officer", "GM0101")).status_code == 201
    # Whose accounts were made is in the street's audit view; the entries are about GM01's rows.
    r = await client.get("/api/v1/admin/audit", params={"action": "account.create"}, headers=h)
    assert [e["scope"] for e in r.json()["items"]] == ["/GM/GM01/GM0101/", "/GM/GM01/GM0101/"]


async def test_open311_clients_are_listed_by_scope(app: Sanic, client: httpx.AsyncClient) -> None:
    district = await make_account(Role.ADMIN, node="GM")
    street = await make_account(Role.ADMIN, node="GM01")
    dh, sh = await headers_for(app, district), await headers_for(app, street)
    made = {}
    for name, node in (("street-one", "GM0101"), ("street-two", "GM0201"), ("district-wide", None)):
        body: dict[str, Any] = {"name": name}
        if node:
            body["node"] = node
        response = await client.post("/api/v1/admin/open311/clients", json=body, headers=dh)
        assert response.status_code == 201, response.text
        made[name] = response.json()["id"]
    listed = await client.get("/api/v1/admin/open311/clients", headers=sh)
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()["items"]] == [made["street-one"]]
    revoke = await client.post(f"/api/v1/admin/open311/clients/{made['street-two']}/revoke", headers=sh)
    assert revoke.status_code == 404
    r = await client.get("/api/v1/admin/audit", params={"action": "open311.client.create"}, headers=sh)
    assert r.json()["items"] == []  # made by the district: not the street's actor
