"""Trips and the resident's own health view over HTTP: a resident declares, lists and deletes their
own trips (sealed places, checked dates, at most 50), and sees their own status, orders, trips and
band. Other residents and staff cannot touch them."""

from __future__ import annotations

import datetime as dt

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.wristbands import engine, sealed
from miniapp_api.wristbands.models import Trip
from tests.factories import load_demo_hierarchy
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed

TRIPS = "/api/v1/me/trips"


def day(offset: int) -> str:
    return (dt.datetime.now(engine.CHINA).date() + dt.timedelta(days=offset)).isoformat()


async def test_residents_declare_list_and_delete_only_their_own_trips(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    resident = await user(app, Role.RESIDENT)
    other = await user(app, Role.RESIDENT)
    health = await user(app, Role.HEALTH_STAFF, node="GM0101")
    for bad in (
        {"place": "990000", "from": day(-3), "until": day(-1)},
        {"place": "44031", "from": day(-3), "until": day(-1)},
        {"place": "440311", "from": day(-1), "until": day(-3)},
        {"place": "440311", "from": day(-1), "until": day(1)},
        {"place": "440311", "from": day(-29), "until": day(-1)},
        {"place": "440311", "from": "yesterday", "until": day(-1)},
        {"place": ["440311"], "from": day(-3), "until": day(-1)},
        {"place": "440311", "from": day(-3), "until": day(-1), "note": "x"},
    ):
        answer = await client.post(TRIPS, json=bad, headers=resident.headers)
        assert answer.status_code == 422, (bad, answer.text)
    assert (await client.post(TRIPS, json={"place": "440311"}, headers=health.headers)).status_code == 403
    assert not await Trip.exists()
    made = await client.post(
        TRIPS, json={"place": "420100", "from": day(-5), "until": day(-2)}, headers=resident.headers
    )
    assert made.status_code == 201, made.text
    trip = made.json()
    assert trip["place"] == "420100" and trip["from"] == day(-5) and trip["until"] == day(-2)
    row = await Trip.get(public_id=trip["id"])
    assert "420100" not in row.place_enc and sealed.unseal(row.place_enc, field=sealed.TRIP_PLACE) == "420100"
    assert (await client.get(TRIPS, headers=resident.headers)).json()["items"] == [trip]
    assert (await client.get(TRIPS, headers=other.headers)).json()["items"] == []
    assert (await client.delete(f"{TRIPS}/{trip['id']}", headers=other.headers)).status_code == 404
    assert (await client.delete(f"{TRIPS}/{'t' * 100}", headers=resident.headers)).status_code == 404
    assert (await client.delete(f"{TRIPS}/{trip['id']}", headers=resident.headers)).status_code == 204
    assert (await client.delete(f"{TRIPS}/{trip['id']}", headers=resident.headers)).status_code == 404
    assert not await Trip.exists()


async def test_at_most_fifty_trips_are_kept(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    resident = await user(app, Role.RESIDENT)
    first = dt.datetime.now(engine.CHINA).date() - dt.timedelta(days=5)
    for _ in range(50):
        await seed.trip(resident.account, "440311", first, first)
    full = await client.post(
        TRIPS, json={"place": "440311", "from": day(-1), "until": day(-1)}, headers=resident.headers
    )
    assert full.status_code == 409 and full.json()["error"]["code"] == "too_many_trips"
    assert await Trip.filter(account_id=resident.account.id).count() == 50


async def test_residents_see_their_own_health_data(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    resident = await user(app, Role.RESIDENT)
    other = await user(app, Role.RESIDENT)
    empty = await client.get("/api/v1/me/health", headers=resident.headers)
    assert empty.json() == {"status": None, "quarantines": [], "trips": [], "band": None}
    band, _ = await seed.band(wearer=resident.account)
    await seed.status(resident.account, "yellow")
    now = dt.datetime.now(dt.UTC)
    order = await seed.quarantine(resident.account, starts=now - dt.timedelta(hours=1), ends=now + dt.timedelta(days=2))
    today = dt.datetime.now(engine.CHINA).date()
    await seed.trip(resident.account, "110101", today - dt.timedelta(days=3), today - dt.timedelta(days=2))
    mine = (await client.get("/api/v1/me/health", headers=resident.headers)).json()
    assert (
        mine["status"]["status"] == "yellow" and mine["status"]["reason"] == "密切接触者" and mine["status"]["active"]
    )
    assert [q["id"] for q in mine["quarantines"]] == [order.public_id] and mine["quarantines"][0]["active"]
    assert [t["place"] for t in mine["trips"]] == ["110101"]
    assert mine["band"]["id"] == band.public_id and mine["band"]["community"] == "GM0101"
    theirs = (await client.get("/api/v1/me/health", headers=other.headers)).json()
    assert theirs == {"status": None, "quarantines": [], "trips": [], "band": None}
