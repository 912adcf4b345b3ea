"""Bands over HTTP: stock kept by health staff and administrators of a node, a resident binds one band
by its printed code (one active band each), staff issue and revoke at a desk. Other communities'
staff, other residents, wrong roles, wrong codes and bad input change nothing and learn nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

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

BANDS = "/api/v1/wristbands"
MINE = "/api/v1/me/wristband"


def item(ble: str | None = None, code: str | None = None) -> dict[str, str]:
    return {"ble_id": ble or seed.new_ble_id(), "code": code or seed.new_code()}


async def test_outsiders_cannot_see_register_or_revoke(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    band, _ = await seed.band(node="GM0101")
    other = await user(app, Role.HEALTH_STAFF, node="GM0201")
    other_grid = await user(app, Role.GRID_STAFF, node="GM020101")  # another community's grid
    resident = await user(app, Role.RESIDENT)
    police = await user(app, Role.POLICE, node="GM")
    for path in (f"{BANDS}/{band.public_id}", f"{BANDS}/{'x' * 300}", f"{BANDS}/wb_nope"):
        answer = await client.get(path, headers=other.headers)
        assert answer.status_code == 404, answer.text
    assert (await client.get(BANDS, headers=other.headers)).json()["items"] == []
    assert (await client.get(BANDS, params={"node": "GM0101"}, headers=other.headers)).status_code == 404
    assert (await client.get(BANDS, params={"cursor": "x" * 30}, headers=other.headers)).status_code == 422
    refused = await client.post(BANDS, json={"node": "GM0101", "bands": [item()]}, headers=other.headers)
    assert refused.status_code == 404, refused.text
    for caller in (other, other_grid):
        answer = await client.post(f"{BANDS}/{band.public_id}/revoke", json={"reason": "lost"}, headers=caller.headers)
        assert answer.status_code == 404, answer.text
    for caller in (resident, police):
        assert (await client.get(BANDS, headers=caller.headers)).status_code == 403
        assert (await client.post(BANDS, json={"bands": [item()]}, headers=caller.headers)).status_code == 403
    assert (await Wristband.get(id=band.id)).state == "stock"
    assert await Wristband.all().count() == 1
    assert not await AuditEntry.filter(action__startswith="wristband.").exists()


async def test_register_refuses_items_by_index_without_echoing_codes(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    staff = await user(app, Role.HEALTH_STAFF, node="GM0101")
    existing, existing_code = await seed.band(node="GM0101")
    good = item(ble="aa:bb:cc:dd:ee:01", code="7k3m-9p2q-x4vw")
    batch = [
        good,
        item(ble="not-a-ble"),
        item(code="UUUU!"),
        item(code="7K3M9P2QX4VW"),  # the same printed code as item 0, written otherwise
        item(ble=existing.ble_id),
        item(code=existing_code),
        item(),
    ]
    answer = await client.post(BANDS, json={"bands": batch}, headers=staff.headers)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert len(body["registered"]) == 2
    assert body["refused"] == [
        {"index": 1, "code": "invalid_ble_id"},
        {"index": 2, "code": "invalid_code"},
        {"index": 3, "code": "duplicate_in_batch"},
        {"index": 4, "code": "already_registered"},
        {"index": 5, "code": "already_registered"},
    ]
    assert existing_code not in answer.text and "7K3M" not in answer.text.upper()
    row = await Wristband.get(public_id=body["registered"][0])
    assert row.ble_id == "AABBCCDDEE01" and row.state == "stock" and row.node_path.endswith("/GM0101/")
    assert "7K3M9P2QX4VW" not in json.dumps(await Wristband.all().values(), default=str)
    listed = (await client.get(BANDS, params={"state": "stock", "limit": 2}, headers=staff.headers)).json()
    assert len(listed["items"]) == 2 and listed["next_cursor"]
    assert {b["wearer"] for b in listed["items"]} == {None}
    one = await client.get(f"{BANDS}/{row.public_id}", headers=staff.headers)
    assert one.status_code == 200 and one.json()["ble_id"] == "AABBCCDDEE01"
    entry = await AuditEntry.get(action="wristband.registered")
    assert entry.details == {"count": 2} and entry.actor == staff.account.public_id
    # Too many, nested or wrongly typed input: refused whole, nothing written.
    for bad in (
        {"bands": [item() for _ in range(1001)]},
        {"bands": []},
        {"bands": [{"ble_id": ["x"], "code": "ABCDEFGH"}]},
        {"bands": [item()], "extra": 1},
    ):
        refused = await client.post(BANDS, json=bad, headers=staff.headers)
        assert refused.status_code == 422, refused.text
    assert await Wristband.all().count() == 3


async def test_resident_binds_one_band_reports_it_lost_and_binds_another(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    first, first_code = await seed.band()
    second, second_code = await seed.band()
    taken, taken_code = await seed.band(wearer=(await user(app, Role.RESIDENT)).account)
    revoked, revoked_code = await seed.band(revoked=True)
    resident = await user(app, Role.RESIDENT)
    assert (await client.get(MINE, headers=resident.headers)).status_code == 404
    # Codes that bind nothing all get one answer, whatever the cause.
    for code in (seed.new_code(), taken_code, revoked_code, "??"):
        answer = await client.post(MINE, json={"code": code, "community": "GM0101"}, headers=resident.headers)
        assert answer.status_code in (404, 422), answer.text
        if code != "??":
            assert answer.json()["error"]["code"] == "wristband_not_found"
    bad_node = await client.post(MINE, json={"code": first_code, "community": "GM010101"}, headers=resident.headers)
    assert bad_node.status_code == 422 and bad_node.json()["error"]["code"] == "unknown_community"
    spaced = first_code[:4] + " " + first_code[4:].lower()
    bound = await client.post(MINE, json={"code": spaced, "community": "gm0101"}, headers=resident.headers)
    assert bound.status_code == 201, bound.text
    assert bound.json()["id"] == first.public_id and bound.json()["community"] == "GM0101"
    assert (await client.get(MINE, headers=resident.headers)).json()["state"] == "active"
    # One active band: another is refused until the first is reported lost.
    again = await client.post(MINE, json={"code": second_code, "community": "GM0101"}, headers=resident.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "wristband_active"
    # Nobody else binds the first band.
    other = await user(app, Role.RESIDENT)
    stolen = await client.post(MINE, json={"code": first_code, "community": "GM0101"}, headers=other.headers)
    assert stolen.status_code == 404
    lost = await client.delete(MINE, headers=resident.headers)
    assert lost.status_code == 200 and lost.json()["state"] == "revoked"
    assert (await Wristband.get(id=first.id)).revoke_reason == "lost"
    assert (await client.delete(MINE, headers=resident.headers)).status_code == 404
    relost = await client.post(MINE, json={"code": first_code, "community": "GM0101"}, headers=resident.headers)
    assert relost.status_code == 404
    second_bind = await client.post(MINE, json={"code": second_code, "community": "GM0201"}, headers=resident.headers)
    assert second_bind.status_code == 201, second_bind.text
    person = await WristbandPerson.get(account_id=resident.account.id)
    assert person.home_node_path.endswith("/GM0201/")
    actions = await AuditEntry.filter(action__startswith="wristband.").order_by("seq").values_list("action", "target")
    assert actions == [
        ("wristband.bound", first.public_id),
        ("wristband.revoked", first.public_id),
        ("wristband.bound", second.public_id),
    ]
    dumped = json.dumps(await AuditEntry.all().values("details", "target", "reason"), default=str)
    assert first_code not in dumped and second_code not in dumped
    assert taken.state == "active" and revoked.state == "revoked"


async def test_wrong_codes_are_limited_per_account_then_even_the_right_one(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    await load_demo_hierarchy()
    _, code = await seed.band()
    guesser = await user(app, Role.RESIDENT)
    for _ in range(10):
        answer = await client.post(MINE, json={"code": seed.new_code(), "community": "GM0101"}, headers=guesser.headers)
        assert answer.status_code == 404, answer.text
    limited = await client.post(MINE, json={"code": code, "community": "GM0101"}, headers=guesser.headers)
    assert limited.status_code == 429, limited.text
    assert not await Wristband.filter(account_id=guesser.account.id).exists()
    fresh = await user(app, Role.RESIDENT)  # another account has its own budget
    ok = await client.post(MINE, json={"code": code, "community": "GM0101"}, headers=fresh.headers)
    assert ok.status_code == 201, ok.text


def desk(code: str, n: int = 1, **changes: str) -> dict[str, str]:
    body = {"code": code, "id_number": id_number(n), "name": "李四", "phone": f"1380013{n:04d}", "community": "GM0101"}
    body.update(changes)
    return {k: v for k, v in body.items() if v}


async def test_staff_issue_at_a_desk_and_revoke_in_their_area(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    band, code = await seed.band(node="GM0101")
    second, second_code = await seed.band(node="GM0101")
    elsewhere, elsewhere_code = await seed.band(node="GM0201")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    health = await user(app, Role.HEALTH_STAFF, node="GM0101")
    far = await user(app, Role.HEALTH_STAFF, node="GM0201")
    # Bands and communities outside the caller's area; bad identity data.
    assert (await client.post(f"{BANDS}/issue", json=desk(elsewhere_code), headers=health.headers)).status_code == 404
    assert (await client.post(f"{BANDS}/issue", json=desk(code), headers=far.headers)).status_code in (404, 422)
    for bad, field_code in (
        (desk(code, community="GM0201"), "unknown_community"),
        (desk(code, id_number="110101199001011234"), "invalid_id_number"),
        (desk(code, phone="12345"), "invalid_phone"),
        ({**desk(code), "ble_id": band.ble_id}, "band_key"),
    ):
        answer = await client.post(f"{BANDS}/issue", json=bad, headers=health.headers)
        assert answer.status_code == 422 and answer.json()["error"]["code"] == field_code, answer.text
        assert id_number(1) not in answer.text
    assert not await Account.filter(role=Role.RESIDENT).exists()
    # A new person: a resident account without WeChat is made from the desk's data.
    issued = await client.post(f"{BANDS}/issue", json=desk(code), headers=grid.headers)
    assert issued.status_code == 201, issued.text
    wearer = await identity_service.find_by_id_number(id_number=id_number(1))
    assert wearer is not None and wearer.wechat_openid is None and wearer.role == Role.RESIDENT
    assert identity_service.read_profile(wearer).name == "李四"
    assert issued.json()["wearer"] == wearer.public_id and issued.json()["state"] == "active"
    # The same person again (found by ID number): one active band.
    twice = await client.post(f"{BANDS}/issue", json=desk(second_code, name="王五"), headers=health.headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "wristband_active"
    assert await Account.filter(role=Role.RESIDENT).count() == 1
    # A staff account's ID number is never given a band.
    staff_number = id_number(7)
    await identity_service.update_profile(account=health.account, name=None, phone=None, id_number=staff_number)
    refused = await client.post(f"{BANDS}/issue", json=desk(second_code, 7), headers=health.headers)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_a_resident"
    # Revoke: in the area only, once.
    bad_reason = await client.post(f"{BANDS}/{band.public_id}/revoke", json={"reason": "x"}, headers=health.headers)
    assert bad_reason.status_code == 422
    revoked = await client.post(f"{BANDS}/{band.public_id}/revoke", json={"reason": "broken"}, headers=health.headers)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert revoked.json()["revoke_reason"] == "broken" and revoked.json()["wearer"] is None
    again = await client.post(f"{BANDS}/{band.public_id}/revoke", json={"reason": "lost"}, headers=health.headers)
    assert again.status_code == 409
    # Now the person may be issued another band, by its BLE id.
    by_ble = {**desk("", name="李四"), "ble_id": second.ble_id.lower()}
    reissued = await client.post(f"{BANDS}/issue", json=by_ble, headers=health.headers)
    assert reissued.status_code == 201, reissued.text
    entries = await AuditEntry.filter(action__startswith="wristband.").order_by("seq")
    assert [e.action for e in entries] == ["wristband.issued", "wristband.revoked", "wristband.issued"]
    assert entries[0].actor == grid.account.public_id
    dumped = json.dumps([[e.details, e.target, e.reason] for e in entries], ensure_ascii=False)
    assert id_number(1) not in dumped and "李四" not in dumped and code not in dumped
    assert elsewhere.state == "stock"


async def test_racing_binds_give_one_band_each_and_each_band_once(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    codes_ = [(await seed.band())[1] for _ in range(3)]
    resident = await user(app, Role.RESIDENT)
    others = [await user(app, Role.RESIDENT) for _ in range(2)]

    async def bind(who: Any, code: str) -> int:
        answer = await client.post(MINE, json={"code": code, "community": "GM0101"}, headers=who.headers)
        return answer.status_code

    # One person, two bands at once: one is bound, the other refused.
    same_person = sorted(await asyncio.gather(bind(resident, codes_[0]), bind(resident, codes_[1])))
    assert same_person == [201, 409]
    # Two people, one band at once: one of them has it.
    same_band = sorted(await asyncio.gather(*(bind(o, codes_[2]) for o in others)))
    assert same_band == [201, 404]
    assert await Wristband.filter(account_id=resident.account.id, state="active").count() == 1
    assert await Wristband.filter(state="active").count() == 2
