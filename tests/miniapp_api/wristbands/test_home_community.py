"""A person's home community (whose health staff look after them) moves on a bind only when nobody's
care is escaped: never while a health status or quarantine order is in force, and never by a desk
outside the person's current community (which is refused: a desk cannot take over, or hand a band
to, a person registered elsewhere)."""

from __future__ import annotations

import datetime as dt

import httpx
from sanic import Sanic

from identity import service as identity_service
from identity.audit import AuditEntry
from identity.models import Account
from identity.roles import Role
from miniapp_api.wristbands.models import Wristband, WristbandPerson
from tests.factories import id_number, load_demo_hierarchy
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.test_bands import BANDS, MINE, desk

DAY = dt.timedelta(days=1)


async def home_of(account: Account) -> str:
    return (await WristbandPerson.get(account_id=account.id)).home_node_path


async def test_under_a_status_or_an_order_the_resident_cannot_move_away_on_rebind(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    await load_demo_hierarchy()
    now = dt.datetime.now(dt.UTC)
    red, quarantined, expired = [await user(app, Role.RESIDENT) for _ in range(3)]
    for who in (red, quarantined, expired):
        await seed.band(wearer=who.account, home="GM0101", revoked=True)  # lost: they may bind another
    await seed.status(red.account, "red")
    await seed.quarantine(quarantined.account, starts=now + DAY, ends=now + 5 * DAY)  # ordered, starts later
    await seed.status(expired.account, "red", since=10 * DAY, lasts=3 * DAY)
    for who in (red, quarantined):
        _, code = await seed.band(node="GM0201")
        moved = await client.post(MINE, json={"code": code, "community": "GM0201"}, headers=who.headers)
        assert moved.status_code == 409 and moved.json()["error"]["code"] == "community_locked", moved.text
        assert (await home_of(who.account)).endswith("/GM0101/")
        assert not await Wristband.filter(account_id=who.account.id, state="active").exists()
        # Binding with the same community is fine.
        stays = await client.post(MINE, json={"code": code, "community": "GM0101"}, headers=who.headers)
        assert stays.status_code == 201 and stays.json()["community"] == "GM0101", stays.text
    # Once the status has expired, the resident moves freely.
    _, code = await seed.band(node="GM0201")
    moved = await client.post(MINE, json={"code": code, "community": "GM0201"}, headers=expired.headers)
    assert moved.status_code == 201 and moved.json()["community"] == "GM0201", moved.text
    assert (await home_of(expired.account)).endswith("/GM0201/")


async def test_a_desk_cannot_bind_or_take_over_a_person_of_another_community(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    await load_demo_hierarchy()
    here = await user(app, Role.HEALTH_STAFF, node="GM0101")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    there = await user(app, Role.HEALTH_STAFF, node="GM0201")
    # A person of GM0201 (no band at the moment, quarantined or not) and their ID number.
    for n, quarantined in ((1, False), (2, True)):
        person = await identity_service.resident_for_desk(id_number=id_number(n), name="张三", phone="13800130000")
        account = person[0]
        await seed.band(wearer=account, home="GM0201", revoked=True)
        if quarantined:
            now = dt.datetime.now(dt.UTC)
            await seed.quarantine(account, starts=now - DAY, ends=now + 5 * DAY)
        for staff in (here, grid):
            band, code = await seed.band(node="GM0101")
            answer = await client.post(f"{BANDS}/issue", json=desk(code, n), headers=staff.headers)
            assert answer.status_code == 409, answer.text
            assert answer.json()["error"]["code"] == "person_elsewhere"  # never a word about their health
            assert "quarantine" not in answer.text and "GM0201" not in answer.text
            assert (await Wristband.get(id=band.id)).state == "stock"
        assert (await home_of(account)).endswith("/GM0201/")
        # Their own community's health staff still find them; the other desk does not.
        query = {"id_number": id_number(n)}
        found = await client.get("/api/v1/health/people", params=query, headers=there.headers)
        assert found.status_code == 200 and found.json()["community"] == "GM0201"
        assert (await client.get("/api/v1/health/people", params=query, headers=here.headers)).status_code == 404
    # The refusals are audited (an enumeration leaves a trace), without the ID number.
    refused = await AuditEntry.filter(action="wristband.issue_refused")
    assert len(refused) == 4 and all(e.details.get("why") == "person_elsewhere" for e in refused)
    assert all(id_number(1) not in str(e.details) for e in refused)
    # Their own community's desk issues them a band as for anyone.
    _, code = await seed.band(node="GM0201")
    issued = await client.post(f"{BANDS}/issue", json=desk(code, 1, community="GM0201"), headers=there.headers)
    assert issued.status_code == 201, issued.text


async def test_a_street_desk_moves_a_person_only_while_no_status_or_order_is_in_force(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    await load_demo_hierarchy()
    street = await user(app, Role.HEALTH_STAFF, node="GM01")
    for n, red in ((3, False), (4, True)):
        account, _ = await identity_service.resident_for_desk(id_number=id_number(n), name="张三", phone="13800130000")
        await seed.band(wearer=account, home="GM0101", revoked=True)
        if red:
            await seed.status(account, "red")
        _, code = await seed.band(node="GM0102")
        answer = await client.post(f"{BANDS}/issue", json=desk(code, n, community="GM0102"), headers=street.headers)
        if red:
            assert answer.status_code == 409 and answer.json()["error"]["code"] == "community_locked", answer.text
            assert (await home_of(account)).endswith("/GM0101/")
        else:
            assert answer.status_code == 201, answer.text
            assert (await home_of(account)).endswith("/GM0102/")


async def test_a_worn_band_is_revoked_by_the_wearers_community_not_by_where_it_was_stocked(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    """A band a resident of GM0201 bound from GM0101's stock: GM0101's desk cannot make them stop at
    every gate (404 like a missing band); their own community's desk can revoke it when they lose it."""
    await load_demo_hierarchy()
    resident = await user(app, Role.RESIDENT)
    band, _ = await seed.band(node="GM0101", wearer=resident.account, home="GM0201")
    stock_grid = await user(app, Role.GRID_STAFF, node="GM010101")
    stock_health = await user(app, Role.HEALTH_STAFF, node="GM0101")
    home_health = await user(app, Role.HEALTH_STAFF, node="GM0201")
    for staff in (stock_grid, stock_health):
        r = await client.post(f"{BANDS}/{band.public_id}/revoke", json={"reason": "withdrawn"}, headers=staff.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "wristband_not_found", r.text
    assert (await Wristband.get(id=band.id)).state == "active"
    r = await client.post(f"{BANDS}/{band.public_id}/revoke", json={"reason": "lost"}, headers=home_health.headers)
    assert r.status_code == 200 and r.json()["state"] == "revoked", r.text


async def test_a_desk_never_binds_a_band_to_a_disabled_account(app: Sanic, client: httpx.AsyncClient) -> None:
    """An account an administrator disabled cannot sign in to bind a band; a desk cannot bind one to it
    either (nor turn it back into a working identity at the gates)."""
    await load_demo_hierarchy()
    account, _ = await identity_service.resident_for_desk(id_number=id_number(5), name="张三", phone="13800130000")
    account.is_active = False
    await account.save()
    staff = await user(app, Role.HEALTH_STAFF, node="GM0101")
    band, code = await seed.band(node="GM0101")
    r = await client.post(f"{BANDS}/issue", json=desk(code, 5), headers=staff.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "account_disabled", r.text
    assert (await Wristband.get(id=band.id)).state == "stock"
    assert not await WristbandPerson.filter(account_id=account.id).exists()
