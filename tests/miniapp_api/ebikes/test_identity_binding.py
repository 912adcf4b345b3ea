"""An ID number bound to registered property (a bike, one sold or deregistered included) changes only
through the audited staff correction; every path a resident has (profile, registration, transfer
acceptance) refuses it, and a number bound to someone else gets the very same answer as any other
identity mismatch, so that the answer tells nobody whether a number is registered."""

from __future__ import annotations

from typing import Any

import httpx
from sanic import Sanic

from identity import service as identity_service
from identity.audit import AuditEntry
from identity.models import Account
from identity.pii import mask_id_number
from identity.roles import Role
from notify.models import Notification
from tests.factories import id_number
from tests.miniapp_api.ebikes.conftest import User, register, registration, user

PROFILE = "/api/v1/me/profile"
ACCEPT = "/api/v1/ebikes/transfers/accept"
WHY = {"reason": "盗窃案件侦查", "case_no": "GM2026-1125-01"}
DESK = {"reason": "居民持身份证到社区工作站更正", "case_no": "GZ-2026-0042"}


def refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def number_of(who: User) -> str | None:
    return identity_service.read_profile(await Account.get(id=who.account.id)).id_number


async def police_finds(client: httpx.AsyncClient, police: User, number: str) -> list[str]:
    response = await client.post(
        "/api/v1/police/ebikes/lookup", json={"owner_id_number": number, **WHY}, headers=police.headers
    )
    assert response.status_code == 200, response.text
    return [b["bike"]["id"] for r in response.json()["results"] for b in r["bikes"]]


async def transfer_code(client: httpx.AsyncClient, seller: User, bike: dict[str, Any]) -> str:
    response = await client.post(f"/api/v1/ebikes/{bike['id']}/transfer", headers=seller.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["code"])


# The resident's own paths -------------------------------------------------------------------------------


async def test_a_resident_cannot_change_the_id_number_behind_a_registered_bike(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    police = await user(app, Role.POLICE, node="GM01")
    stranger_number = id_number(9)  # registered to nobody

    changed = await client.put(PROFILE, json={"name": "张三", "id_number": stranger_number}, headers=owner.headers)
    assert refusal(changed)["code"] == "identity_mismatch"
    assert stranger_number not in changed.text and id_number(1) not in changed.text
    assert await number_of(owner) == id_number(1)
    # The police still find the bike by the true owner's number, and nothing by the other one.
    assert await police_finds(client, police, id_number(1)) == [bike["id"]]
    assert await police_finds(client, police, stranger_number) == []
    # Re-saving the profile with the same number (written differently) is fine.
    same = await client.put(PROFILE, json={"id_number": id_number(1).lower(), "name": "张三丰"}, headers=owner.headers)
    assert same.status_code == 200, same.text

    # A second registration, or taking over a bike, with another number: the same refusal.
    again = await client.post(
        "/api/v1/ebikes", json=registration(2, owner={**registration(9)["owner"]}), headers=owner.headers
    )
    assert refusal(again)["code"] == "identity_mismatch"
    seller = await user(app, Role.RESIDENT)
    sold = await register(client, seller, 3)
    code = await transfer_code(client, seller, sold)
    taken = await client.post(ACCEPT, json={"code": code, "owner": registration(9)["owner"]}, headers=owner.headers)
    assert refusal(taken)["code"] == "identity_mismatch"
    assert await number_of(owner) == id_number(1)


async def test_a_deregistered_or_sold_bike_still_binds_the_number(app: Sanic, client: httpx.AsyncClient) -> None:
    deregistered = await user(app, Role.RESIDENT)
    bike = await register(client, deregistered, 1)
    assert (await client.delete(f"/api/v1/ebikes/{bike['id']}", headers=deregistered.headers)).status_code == 200
    response = await client.put(PROFILE, json={"id_number": id_number(8)}, headers=deregistered.headers)
    assert refusal(response)["code"] == "identity_mismatch"

    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    sold = await register(client, seller, 2)
    code = await transfer_code(client, seller, sold)
    accepted = await client.post(ACCEPT, json={"code": code, "owner": registration(3)["owner"]}, headers=buyer.headers)
    assert accepted.status_code == 200, accepted.text
    for who, other in ((seller, 7), (buyer, 6)):
        response = await client.put(PROFILE, json={"id_number": id_number(other)}, headers=who.headers)
        assert refusal(response)["code"] == "identity_mismatch"
    police = await user(app, Role.POLICE, node="GM01")
    assert await police_finds(client, police, id_number(3)) == [sold["id"]]
    assert await police_finds(client, police, id_number(1)) == [bike["id"]]  # its history


async def test_a_number_bound_elsewhere_gets_the_answer_of_any_mismatch(app: Sanic, client: httpx.AsyncClient) -> None:
    holder = await user(app, Role.RESIDENT)
    await register(client, holder, 1)  # id_number(1) is registered
    with_bike = await user(app, Role.RESIDENT)
    await register(client, with_bike, 2)
    prober = await user(app, Role.RESIDENT)

    answers = {
        # Someone else's number, on every path a resident has.
        "profile, taken": await client.put(PROFILE, json={"id_number": id_number(1)}, headers=prober.headers),
        "register, taken": await client.post(
            "/api/v1/ebikes", json=registration(5, owner=registration(1)["owner"]), headers=prober.headers
        ),
        # A number nobody holds, on an account whose own number is bound.
        "profile, bound": await client.put(PROFILE, json={"id_number": id_number(4)}, headers=with_bike.headers),
        "register, bound": await client.post(
            "/api/v1/ebikes", json=registration(6, owner=registration(4)["owner"]), headers=with_bike.headers
        ),
    }
    seller = await user(app, Role.RESIDENT)
    code = await transfer_code(client, seller, await register(client, seller, 7))
    answers["transfer, taken"] = await client.post(
        ACCEPT, json={"code": code, "owner": registration(1)["owner"]}, headers=prober.headers
    )
    answers["transfer, bound"] = await client.post(
        ACCEPT, json={"code": code, "owner": registration(4)["owner"]}, headers=with_bike.headers
    )
    bodies = {name: r.json() for name, r in answers.items()}
    assert {r.status_code for r in answers.values()} == {409}, {n: r.text for n, r in answers.items()}
    assert len({repr(body) for body in bodies.values()}) == 1, bodies  # word for word the same
    assert all(id_number(1) not in r.text and id_number(4) not in r.text for r in answers.values())
    assert await number_of(prober) is None
    assert await number_of(with_bike) == id_number(2)


async def test_tries_of_other_numbers_are_limited_per_account_and_day(app: Sanic, client: httpx.AsyncClient) -> None:
    prober = await user(app, Role.RESIDENT)
    limit = identity_service.ID_NUMBER_TRIES_PER_DAY
    for n in range(limit):  # an account without property may change its number: each is a try
        response = await client.put(PROFILE, json={"id_number": id_number(20 + n)}, headers=prober.headers)
        assert response.status_code == 200, response.text
    # Past the limit, even a number nobody holds is refused, with the same answer: probing stops here.
    response = await client.put(PROFILE, json={"id_number": id_number(40)}, headers=prober.headers)
    assert refusal(response)["code"] == "identity_mismatch"
    assert await number_of(prober) == id_number(20 + limit - 1)
    # Its own number is not a try: saving the profile goes on working.
    same = await client.put(
        PROFILE, json={"id_number": id_number(20 + limit - 1), "name": "李四"}, headers=prober.headers
    )
    assert same.status_code == 200, same.text


async def test_what_the_refusal_reveals_is_bounded_by_the_daily_tries(app: Sanic, client: httpx.AsyncClient) -> None:
    # The README's narrowed promise: an account with nothing bound can tell a free number (200, and
    # it now holds it) from another account's (409), for at most ID_NUMBER_TRIES_PER_DAY numbers a day;
    # past them, a registered number and a free one get the same answer.
    holder = await user(app, Role.RESIDENT)
    await register(client, holder, 1)
    prober = await user(app, Role.RESIDENT)
    taken = await client.put(PROFILE, json={"id_number": id_number(1)}, headers=prober.headers)
    assert refusal(taken)["code"] == "identity_mismatch" and id_number(1) not in taken.text
    assert holder.account.public_id not in taken.text
    free = await client.put(PROFILE, json={"id_number": id_number(30)}, headers=prober.headers)
    assert free.status_code == 200, free.text
    for n in range(identity_service.ID_NUMBER_TRIES_PER_DAY - 2):
        assert (await client.put(PROFILE, json={"id_number": id_number(31 + n)}, headers=prober.headers)).is_success
    past = [
        await client.put(PROFILE, json={"id_number": number}, headers=prober.headers)
        for number in (id_number(1), id_number(50))
    ]
    assert [r.status_code for r in past] == [409, 409]
    assert past[0].json() == past[1].json()


# The staff correction ----------------------------------------------------------------------------------


async def correct(
    client: httpx.AsyncClient, staff: User, who: User, number: str | None, **purpose: str
) -> httpx.Response:
    body: dict[str, Any] = {"id_number": number, **(purpose or DESK)}
    return await client.put(f"/api/v1/accounts/{who.account.public_id}/id-number", json=body, headers=staff.headers)


async def test_staff_of_the_bikes_place_correct_the_number_audited_and_the_resident_told(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    owner = await user(app, Role.RESIDENT, openid="o_owner_mp")
    bike = await register(client, owner, 1)  # kept in GM010101
    police = await user(app, Role.POLICE, node="GM01")
    officer = await user(app, Role.OFFICER, node="GM0101")

    for outsider, status in (
        (await user(app, Role.OFFICER, node="GM0102"), 404),  # another community
        (await user(app, Role.ADMIN, node="GM02"), 404),  # another street
        (await user(app, Role.GRID_STAFF, node="GM010101"), 403),
        (await user(app, Role.POLICE, node="GM"), 403),
        (owner, 403),
    ):
        response = await correct(client, outsider, owner, id_number(5))
        assert response.status_code == status, response.text
    for bad in (
        {"reason": "\u200b\u200b", "case_no": "GZ-1"},
        {"reason": "更正", "case_no": "!!!"},
        {"reason": "更正"},
    ):
        response = await correct(client, officer, owner, id_number(5), **bad)
        assert response.status_code == 422 and response.json()["error"]["code"] == "reason_required", response.text
    assert await number_of(owner) == id_number(1)

    response = await correct(client, officer, owner, id_number(5))
    assert response.status_code == 200, response.text
    assert response.json()["profile"]["id_number"] == mask_id_number(id_number(5))
    assert await number_of(owner) == id_number(5)
    assert await police_finds(client, police, id_number(5)) == [bike["id"]]
    assert await police_finds(client, police, id_number(1)) == []

    [entry] = await AuditEntry.filter(action="account.id_number_change")
    assert (entry.actor, entry.target, entry.reason) == (
        officer.account.public_id,
        owner.account.public_id,
        DESK["reason"],
    )
    assert entry.details["case_no"] == DESK["case_no"] and entry.details["outcome"] == "changed"
    assert (entry.details["old"], entry.details["new"]) == (mask_id_number(id_number(1)), mask_id_number(id_number(5)))
    assert entry.scope == "/GM/GM01/GM0101/GM010101/"
    assert id_number(1) not in str(entry.details) and id_number(5) not in str(entry.details)
    [told] = await Notification.filter(template="identity.id_number_changed")
    assert told.account_id == owner.account.id


async def test_a_number_claimed_by_the_wrong_account_is_freed_then_given_to_its_holder(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    squatter = await user(app, Role.RESIDENT)
    await register(client, squatter, 1)  # claimed id_number(1) first, with a bike in GM010101
    holder = await user(app, Role.RESIDENT)
    bike = await register(client, holder, 2, frame_no="HOLDER000001")
    officer = await user(app, Role.OFFICER, node="GM0101")

    in_use = await correct(client, officer, holder, id_number(1))
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "id_number_in_use"
    assert (await correct(client, officer, squatter, None)).status_code == 200  # removed from the squatter
    # Its bikes still bind it: the squatter cannot claim another number for them either.
    claimed = await client.put(PROFILE, json={"id_number": id_number(8)}, headers=squatter.headers)
    assert refusal(claimed)["code"] == "identity_mismatch"
    assert await number_of(squatter) is None
    assert (await correct(client, officer, holder, id_number(1))).status_code == 200
    police = await user(app, Role.POLICE, node="GM01")
    assert await police_finds(client, police, id_number(1)) == [bike["id"]]
    outcomes = [
        e.details["outcome"] for e in await AuditEntry.filter(action="account.id_number_change").order_by("seq")
    ]
    assert outcomes == ["refused_in_use", "removed", "changed"]


async def test_a_resident_without_property_is_corrected_only_by_the_district(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    street = await user(app, Role.ADMIN, node="GM01")
    district = await user(app, Role.ADMIN, node="GM")
    assert (await correct(client, street, resident, id_number(3))).status_code == 404
    assert (await correct(client, district, resident, id_number(3))).status_code == 200
    assert await number_of(resident) == id_number(3)
