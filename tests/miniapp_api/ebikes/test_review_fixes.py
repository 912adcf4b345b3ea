"""Review fixes of the e-bike e-ID: dates out of any sensible range are field errors (not a 500 from the
database layer), and requests at the same moment see each other's writes (the account's ID number; a
bike deregistered while an alarm is raised). The races only show on PostgreSQL; on SQLite the single
writer serialises them and these tests check the same outcomes."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
from sanic import Sanic

from identity import service as identity_service
from identity.models import Account
from identity.roles import Role
from miniapp_api.ebikes.models import Alarm, AlarmStatus, BikeStatus, EBike
from qr.models import Credential, CredentialStatus
from tests.factories import id_number
from tests.miniapp_api.ebikes.conftest import User, register, registration, user

BEIJING = dt.timezone(dt.timedelta(hours=8))
ACCEPT = "/api/v1/ebikes/transfers/accept"


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def refused_field(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_failed", response.text
    assert field in [f["field"] for f in error["details"]["fields"]], response.text


async def account_id_number(who: User) -> str | None:
    return identity_service.read_profile(await Account.get(id=who.account.id)).id_number


# 1. Dates out of range ------------------------------------------------------------------------------


async def test_alarm_times_out_of_range_are_field_errors(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    path = f"/api/v1/ebikes/{bike['id']}/alarm"
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
    for lost_at in (
        "0001-01-01T00:00:00+08:00",  # was a 500: year 0 once converted to UTC
        "1999-12-31T23:59:59+00:00",
        "9999-12-31T23:59:59-08:00",
        soon,
    ):
        refused_field(
            await client.post(path, json={"lost_at": lost_at, "location": "x"}, headers=owner.headers), "lost_at"
        )
    assert await Alarm.all().count() == 0
    assert (await EBike.get(public_id=bike["id"])).status is BikeStatus.ACTIVE

    edge = await client.post(
        path, json={"lost_at": "2000-01-01T00:00:00+00:00", "location": "x"}, headers=owner.headers
    )
    assert edge.status_code == 201, edge.text


async def test_purchase_dates_out_of_range_are_field_errors(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    today = dt.datetime.now(BEIJING).date()
    for n, purchase_date in enumerate(
        ("0001-01-01", "1989-12-31", (today + dt.timedelta(days=1)).isoformat(), "2999-01-01")
    ):
        response = await client.post(
            "/api/v1/ebikes",
            json=registration(1, frame_no=f"BAD{n:06d}", purchase_date=purchase_date),
            headers=owner.headers,
        )
        refused_field(response, "purchase_date")
    assert await EBike.all().count() == 0

    bike = await register(client, owner, 1, purchase_date=today.isoformat())  # today in Beijing is fine
    assert bike["purchase_date"] == today.isoformat()
    path = f"/api/v1/ebikes/{bike['id']}"
    for purchase_date in ("0001-01-01", "1989-12-31", (today + dt.timedelta(days=1)).isoformat()):
        refused_field(
            await client.patch(path, json={"purchase_date": purchase_date}, headers=owner.headers), "purchase_date"
        )
    assert (await EBike.get(public_id=bike["id"])).purchase_date == today
    ok = await client.patch(path, json={"purchase_date": "1990-01-01"}, headers=owner.headers)
    assert ok.status_code == 200 and ok.json()["purchase_date"] == "1990-01-01", ok.text


# 2. One resident, two ID numbers at the same moment ---------------------------------------------------


async def test_two_registrations_with_different_id_numbers_at_once(app: Sanic, client: httpx.AsyncClient) -> None:
    for n in (1, 3, 5):  # a fresh resident each round (the race is at the first registration), new ID numbers
        owner = await user(app, Role.RESIDENT)
        first, second = await asyncio.gather(
            client.post("/api/v1/ebikes", json=registration(n, frame_no=f"FIRST{n:06d}"), headers=owner.headers),
            client.post("/api/v1/ebikes", json=registration(n + 1, frame_no=f"SECOND{n:06d}"), headers=owner.headers),
        )
        assert sorted((first.status_code, second.status_code)) == [201, 409], (first.text, second.text)
        loser = first if first.status_code == 409 else second
        assert error_of(loser)["code"] == "identity_mismatch"
        # The account keeps the ID number of the registration that went through, not the refused one.
        assert await account_id_number(owner) == id_number(n if first.status_code == 201 else n + 1)
        assert await EBike.filter(owner_id=owner.account.id).count() == 1


async def test_a_transfer_and_a_registration_with_different_id_numbers_at_once(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    seller = await user(app, Role.RESIDENT)
    bike = await register(client, seller, 1)
    code = (await client.post(f"/api/v1/ebikes/{bike['id']}/transfer", headers=seller.headers)).json()["code"]
    buyer = await user(app, Role.RESIDENT)
    accepted, registered = await asyncio.gather(
        client.post(ACCEPT, json={"code": code, "owner": registration(2)["owner"]}, headers=buyer.headers),
        client.post("/api/v1/ebikes", json=registration(3, frame_no="BUYER00003"), headers=buyer.headers),
    )
    assert sorted((accepted.status_code, registered.status_code)) in ([200, 409], [201, 409]), (
        accepted.text,
        registered.text,
    )
    loser = accepted if accepted.status_code == 409 else registered
    assert error_of(loser)["code"] == "identity_mismatch"
    assert await account_id_number(buyer) == (id_number(2) if accepted.status_code == 200 else id_number(3))
    assert await EBike.filter(owner_id=buyer.account.id).count() == 1


# 3. Deregistered and alarmed at the same moment -------------------------------------------------------


async def test_deregister_and_alarm_at_once_leave_a_consistent_bike(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    alarm = {"lost_at": "2026-01-05T09:30:00+08:00", "location": "光明大街"}
    outcomes = set()
    for i in range(5):
        bike = await register(client, owner, 1, frame_no=f"RACE{i:06d}")
        path = f"/api/v1/ebikes/{bike['id']}"
        # Both requests read the bike before either writes; only the locked row tells them apart.
        deregistered, alarmed = await asyncio.gather(
            client.delete(path, headers=owner.headers),
            client.post(f"{path}/alarm", json=alarm, headers=owner.headers),
        )
        stored = await EBike.get(public_id=bike["id"])
        open_alarms = await Alarm.filter(bike_id=stored.id, status=AlarmStatus.OPEN).count()
        credential = await Credential.get(public_id=bike["credential"]["id"])
        if deregistered.status_code == 200:
            assert alarmed.status_code == 409 and error_of(alarmed)["code"] == "ebike_deregistered", alarmed.text
            assert (stored.status, open_alarms, credential.status) == (
                BikeStatus.DEREGISTERED,
                0,
                CredentialStatus.REVOKED,
            )
        else:
            assert deregistered.status_code == 409 and error_of(deregistered)["code"] == "ebike_stolen"
            assert alarmed.status_code == 201, alarmed.text
            assert (stored.status, open_alarms, credential.status) == (BikeStatus.STOLEN, 1, CredentialStatus.ACTIVE)
        outcomes.add(deregistered.status_code)
    assert outcomes <= {200, 409}
