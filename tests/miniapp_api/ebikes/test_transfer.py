"""Change of owner over HTTP: the one-time code, the buyer's acceptance with their own identity, the
new e-ID code, both owners told, and every way the code should stop working."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from sanic import Sanic

from identity import service as identity_service
from identity.models import Account
from identity.roles import Role
from miniapp_api.ebikes.models import BikeStatus, EBike, Transfer, TransferStatus
from notify.dispatcher import Dispatcher
from qr.models import Credential
from tests.factories import id_number
from tests.miniapp_api.ebikes.conftest import User, register, registration, user
from tests.support.wechat_fake import WeChatFake

ACCEPT = "/api/v1/ebikes/transfers/accept"
ALARM = {"lost_at": "2026-01-05T09:30:00+08:00", "location": "光明大街"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def identity(n: int, **changes: str) -> dict[str, str]:
    owner: dict[str, str] = {**registration(n)["owner"], "name": "王五"}
    owner.update(changes)
    return owner


async def start(client: httpx.AsyncClient, owner: User, bike: dict[str, Any]) -> str:
    response = await client.post(f"/api/v1/ebikes/{bike['id']}/transfer", headers=owner.headers)
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    return code


async def accept(client: httpx.AsyncClient, buyer: User, code: str, n: int = 2, **changes: str) -> httpx.Response:
    return await client.post(ACCEPT, json={"code": code, "owner": identity(n, **changes)}, headers=buyer.headers)


async def ids_listed(client: httpx.AsyncClient, who: User) -> list[str]:
    response = await client.get("/api/v1/ebikes", headers=who.headers)
    assert response.status_code == 200
    return [b["id"] for b in response.json()["items"]]


async def state(bike: dict[str, Any]) -> tuple[Any, ...]:
    """Owner, code serial and transfers: what a refused acceptance must leave as it was."""
    stored = await EBike.get(public_id=bike["id"])
    credential = await Credential.get(public_id=stored.credential_id)
    transfers = await Transfer.filter(bike_id=stored.id).order_by("id").values_list("status", "to_owner_id")
    return stored.owner_id, stored.status, credential.serial, credential.token, transfers


async def test_owner_gets_a_one_time_code(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    before = dt.datetime.now(dt.UTC)
    response = await client.post(f"/api/v1/ebikes/{bike['id']}/transfer", headers=seller.headers)
    assert response.status_code == 201, response.text
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert set(body) == {"code", "expires_at"}
    assert len(body["code"]) == 10 and body["code"].isalnum() and body["code"].isupper()
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(hours=23, minutes=59) < expires - before < dt.timedelta(hours=24, minutes=1)
    [row] = await Transfer.all()
    assert row.status is TransferStatus.PENDING and row.from_owner_id == seller.account.id
    assert body["code"] not in row.code_hash  # only a hash is kept


async def test_the_buyer_accepts_and_both_owners_are_told(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    old_url = bike["credential"]["url"]
    code = await start(client, seller, bike)

    response = await accept(client, buyer, code)
    assert response.status_code == 200, response.text
    taken = response.json()
    assert taken["id"] == bike["id"] and taken["frame_no"] == bike["frame_no"]
    assert taken["credential"]["id"] == bike["credential"]["id"]
    assert taken["credential"]["serial"] == bike["credential"]["serial"] + 1
    new_url = taken["credential"]["url"]
    assert new_url != old_url

    # The bike is the buyer's, and gone for the seller.
    assert (await EBike.get(public_id=bike["id"])).owner_id == buyer.account.id
    assert await ids_listed(client, buyer) == [bike["id"]]
    assert await ids_listed(client, seller) == []
    assert (await client.get(f"/api/v1/ebikes/{bike['id']}", headers=seller.headers)).status_code == 404
    assert (await client.get(f"/api/v1/ebikes/{bike['id']}", headers=buyer.headers)).status_code == 200
    seller_alarm = await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=ALARM, headers=seller.headers)
    assert seller_alarm.status_code == 404
    png = taken["credential"]["images"]["png"]
    assert (await client.get(png, headers=buyer.headers)).status_code == 200
    assert (await client.get(png, headers=seller.headers)).status_code == 404
    transfer = await Transfer.get(bike_id=(await EBike.get(public_id=bike["id"])).id)
    assert (transfer.status, transfer.to_owner_id) == (TransferStatus.ACCEPTED, buyer.account.id)

    # The buyer's identity is now on their account.
    profile = identity_service.read_profile(await Account.get(id=buyer.account.id))
    assert (profile.name, profile.id_number, profile.phone) == ("王五", id_number(2), "13912340002")

    # The old code is superseded, the new one scans.
    old = await client.post("/api/v1/scan", json={"payload": old_url})
    assert old.status_code == 410 and error_of(old)["code"] == "superseded"
    new = await client.post("/api/v1/scan", json={"payload": new_url})
    assert new.status_code == 200 and new.json()["view"]["registered"] is True

    # Both owners hear of it, each with their direction.
    await dispatcher.run_once()
    told = {
        m["touser"]: m["data"]["phrase2"]["value"]
        for m in wechat.sent_messages("subscribe")
        if m["template_id"] == "TPL_TRANSFER"
    }
    assert told == {seller.account.wechat_openid: "转出", buyer.account.wechat_openid: "转入"}
    assert len([m for m in wechat.sent_messages() if m["template_id"] == "TPL_TRANSFER"]) == 2


async def test_the_code_is_read_leniently(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    spoken = f" {code[:5].lower()}-{code[5:].lower()} "  # as typed from a phone call
    response = await accept(client, buyer, spoken)
    assert response.status_code == 200, response.text


async def test_a_code_works_once(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    third = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    assert (await accept(client, buyer, code)).status_code == 200
    after = await state(bike)

    for who, n in ((third, 3), (buyer, 2)):
        again = await accept(client, who, code, n)
        assert again.status_code == 404, again.text
        assert error_of(again)["code"] == "transfer_not_found"
    assert await state(bike) == after


async def test_wrong_codes_are_not_found(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    before = await state(bike)
    for wrong in ("ABCDEFGHJK", code[:-1] + ("2" if code[-1] != "2" else "3"), code + "2", "' OR 1=1 --"):
        response = await accept(client, buyer, wrong)
        assert response.status_code == 404, (wrong, response.text)
        assert error_of(response)["code"] == "transfer_not_found"
    for malformed in ("", "ABC", "A" * 33):
        assert (await accept(client, buyer, malformed)).status_code == 422
    assert await state(bike) == before
    assert (await accept(client, buyer, code)).status_code == 200  # the right one still works


async def test_the_owner_cannot_accept_their_own_code(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    before = await state(bike)
    response = await accept(client, seller, code, 1)
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "already_owner"
    assert await state(bike) == before


async def test_an_expired_code_is_not_found(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    await Transfer.all().update(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    before = await state(bike)
    response = await accept(client, buyer, code)
    assert response.status_code == 404, response.text
    assert error_of(response)["code"] == "transfer_not_found"
    assert await state(bike) == before


async def test_a_new_code_replaces_the_earlier_one(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    first = await start(client, seller, bike)
    second = await start(client, seller, bike)
    assert first != second
    assert (await accept(client, buyer, first)).status_code == 404
    assert (await accept(client, buyer, second)).status_code == 200
    statuses = await Transfer.all().order_by("id").values_list("status", flat=True)
    assert statuses == [TransferStatus.CANCELLED, TransferStatus.ACCEPTED]


async def test_deregistering_cancels_a_pending_code(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    assert (await client.delete(f"/api/v1/ebikes/{bike['id']}", headers=seller.headers)).status_code == 200
    response = await accept(client, buyer, code)
    assert response.status_code == 404, response.text
    assert (await EBike.get(public_id=bike["id"])).owner_id == seller.account.id


async def test_a_stolen_bike_cannot_change_owner(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    # A code taken before the alarm stops working while the bike is reported stolen...
    code = await start(client, seller, bike)
    assert (
        await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=ALARM, headers=seller.headers)
    ).status_code == 201
    before = await state(bike)
    response = await accept(client, buyer, code)
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "ebike_stolen"
    assert await state(bike) == before
    # ...and no new code is handed out.
    refused = await client.post(f"/api/v1/ebikes/{bike['id']}/transfer", headers=seller.headers)
    assert refused.status_code == 409 and error_of(refused)["code"] == "ebike_stolen"
    assert (await EBike.get(public_id=bike["id"])).status is BikeStatus.STOLEN
    # Found again: the code still works.
    assert (await client.delete(f"/api/v1/ebikes/{bike['id']}/alarm", headers=seller.headers)).status_code == 200
    assert (await accept(client, buyer, code)).status_code == 200


async def test_the_buyers_id_number_must_be_valid(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    before = await state(bike)
    good = id_number(2)
    for bad, field in (
        (good[:-1] + ("1" if good[-1] != "1" else "2"), "owner.id_number"),
        (good[:17], "owner.id_number"),
    ):
        response = await accept(client, buyer, code, id_number=bad)
        assert response.status_code == 422, response.text
        assert field in [f["field"] for f in error_of(response)["details"]["fields"]]
    bad_phone = await accept(client, buyer, code, phone="+14155550100")
    assert bad_phone.status_code == 422, bad_phone.text
    extra = await client.post(
        ACCEPT, json={"code": code, "owner": identity(2), "bike_id": bike["id"]}, headers=buyer.headers
    )
    assert extra.status_code == 422
    assert await state(bike) == before
    assert identity_service.read_profile(await Account.get(id=buyer.account.id)).id_number is None
    assert (await accept(client, buyer, code)).status_code == 200  # the code survived the refusals


async def test_the_buyers_id_number_must_not_belong_to_another_account(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    neighbour = await user(app, Role.RESIDENT)
    await register(client, neighbour, 3)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    before = await state(bike)
    for taken in (id_number(1), id_number(3)):  # the seller's number, a neighbour's
        response = await accept(client, buyer, code, id_number=taken)
        assert response.status_code == 409, response.text
        assert error_of(response)["code"] == "identity_mismatch"  # the answer of any mismatch
        assert taken not in response.text
    assert await state(bike) == before
    assert identity_service.read_profile(await Account.get(id=buyer.account.id)).id_number is None


async def test_a_buyer_with_another_id_on_the_account_is_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    await register(client, buyer, 2)
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    before = await state(bike)
    response = await accept(client, buyer, code, 4)
    assert response.status_code == 409 and error_of(response)["code"] == "identity_mismatch"
    assert await state(bike) == before


async def test_a_buyer_at_the_limit_is_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyer = await user(app, Role.RESIDENT)
    for i in range(5):
        await register(client, buyer, 2, frame_no=f"BUYER{i:04d}")
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    before = await state(bike)
    response = await accept(client, buyer, code)
    assert response.status_code == 409 and error_of(response)["code"] == "too_many_bikes"
    assert await state(bike) == before


async def test_only_the_owner_starts_a_transfer(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    stranger = await user(app, Role.RESIDENT)
    officer = await user(app, Role.OFFICER)
    bike = await register(client, seller, 1)
    path = f"/api/v1/ebikes/{bike['id']}/transfer"
    assert (await client.post(path, headers=stranger.headers)).status_code == 404
    assert (await client.post(path, headers=officer.headers)).status_code == 403
    assert (await client.post(path)).status_code == 401
    assert await Transfer.all().count() == 0
    code = await start(client, seller, bike)
    assert (await client.post(ACCEPT, json={"code": code, "owner": identity(2)})).status_code == 401
    staff_accept = await client.post(ACCEPT, json={"code": code, "owner": identity(2)}, headers=officer.headers)
    assert staff_accept.status_code == 403
    assert (await Transfer.get()).status is TransferStatus.PENDING


# At the same time -------------------------------------------------------------------------------------


async def test_two_buyers_with_one_code_at_the_same_time(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    buyers = [await user(app, Role.RESIDENT) for _ in range(4)]
    bike = await register(client, seller, 1)
    code = await start(client, seller, bike)
    answers = await asyncio.gather(*(accept(client, b, code, 2 + i) for i, b in enumerate(buyers)))
    assert sorted(a.status_code for a in answers) == [200, 404, 404, 404], [a.text for a in answers]
    winner = buyers[[a.status_code for a in answers].index(200)]
    assert (await EBike.get(public_id=bike["id"])).owner_id == winner.account.id
    assert (await Credential.get(public_id=bike["credential"]["id"])).serial == 2


async def test_a_buyer_near_the_limit_accepting_several_bikes_at_once(app: Sanic, client: httpx.AsyncClient) -> None:
    buyer = await user(app, Role.RESIDENT)
    for i in range(4):
        await register(client, buyer, 2, frame_no=f"BUYER{i:04d}")
    codes = []
    for n in (1, 3, 4, 5, 6, 8):
        seller = await user(app, Role.RESIDENT)
        codes.append(await start(client, seller, await register(client, seller, n)))
    answers = await asyncio.gather(*(accept(client, buyer, code) for code in codes))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5, [a.text for a in answers]
    assert await EBike.filter(owner_id=buyer.account.id).count() == 5
