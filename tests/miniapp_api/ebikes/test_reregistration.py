"""A deregistered bike's frame number and plate can be registered again: they are unique among the
bikes on the register (partial unique indexes, migration 0016), and still one at a time under races."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest
from sanic import Sanic
from tortoise.exceptions import IntegrityError

from identity.roles import Role
from miniapp_api.ebikes.models import BikeStatus, EBike
from tests.miniapp_api.ebikes.conftest import register, registration, user

WHY = {"reason": "盗窃案件侦查", "case_no": "GM2026-1125-01"}


def code_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def test_a_deregistered_bikes_frame_and_plate_register_again(app: Sanic, client: httpx.AsyncClient) -> None:
    seller = await user(app, Role.RESIDENT)
    old = await register(client, seller, 1, frame_no="LYD2026000001", plate="粤B12345")
    # While it is on the register, nobody registers its numbers.
    buyer = await user(app, Role.RESIDENT)
    taken = await client.post("/api/v1/ebikes", json=registration(2, frame_no="LYD2026000001"), headers=buyer.headers)
    assert taken.status_code == 409 and code_of(taken) == "frame_no_taken"
    plate_taken = await client.post(
        "/api/v1/ebikes", json=registration(2, frame_no="OTHER0000001", plate="粤B·12345"), headers=buyer.headers
    )
    assert plate_taken.status_code == 409 and code_of(plate_taken) == "plate_taken"

    assert (await client.delete(f"/api/v1/ebikes/{old['id']}", headers=seller.headers)).status_code == 200
    again = await register(client, buyer, 2, frame_no="lyd-2026-000001", plate="粤B 12345")
    assert (again["frame_no"], again["plate"], again["status"]) == ("LYD2026000001", "粤B12345", "active")
    # The old row stays, deregistered, for the history; a third registration is refused again.
    rows = await EBike.filter(frame_no="LYD2026000001").order_by("id")
    assert [r.status for r in rows] == [BikeStatus.DEREGISTERED, BikeStatus.ACTIVE]
    third = await client.post("/api/v1/ebikes", json=registration(1, frame_no="LYD2026000001"), headers=seller.headers)
    assert third.status_code == 409 and code_of(third) == "frame_no_taken"

    # The police find both owners by the frame number: today's and the one before.
    police = await user(app, Role.POLICE, node="GM01")
    found = await client.get(
        "/api/v1/police/ebikes", params={"frame_no": "LYD2026000001", **WHY}, headers=police.headers
    )
    assert found.status_code == 200, found.text
    statuses = sorted(b["bike"]["status"] for r in found.json()["results"] for b in r["bikes"])
    assert statuses == ["active", "deregistered"]


async def test_a_plate_freed_by_deregistration_can_be_moved_onto_another_bike(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    owner = await user(app, Role.RESIDENT)
    old = await register(client, owner, 1, frame_no="FRAME0000001", plate="粤B55555")
    other = await register(client, owner, 1, frame_no="FRAME0000002")
    refused = await client.patch(f"/api/v1/ebikes/{other['id']}", json={"plate": "粤B55555"}, headers=owner.headers)
    assert refused.status_code == 409 and code_of(refused) == "plate_taken"
    assert (await client.delete(f"/api/v1/ebikes/{old['id']}", headers=owner.headers)).status_code == 200
    moved = await client.patch(f"/api/v1/ebikes/{other['id']}", json={"plate": "粤B55555"}, headers=owner.headers)
    assert moved.status_code == 200 and moved.json()["plate"] == "粤B55555", moved.text


async def test_registering_a_freed_frame_twice_at_the_same_time_lets_one_through(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    first = await user(app, Role.RESIDENT)
    old = await register(client, first, 1, frame_no="RACE00000001")
    assert (await client.delete(f"/api/v1/ebikes/{old['id']}", headers=first.headers)).status_code == 200
    alice = await user(app, Role.RESIDENT)
    bob = await user(app, Role.RESIDENT)
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/ebikes", json=registration(n, frame_no="RACE00000001"), headers=who.headers)
            for who, n in ((alice, 2), (bob, 3), (alice, 2), (bob, 3))
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], [r.text for r in answers]
    assert {code_of(r) for r in answers if r.status_code == 409} == {"frame_no_taken"}
    assert await EBike.filter(frame_no="RACE00000001").exclude(status=BikeStatus.DEREGISTERED).count() == 1


async def test_the_database_itself_refuses_a_second_registered_row(app: Sanic, client: httpx.AsyncClient) -> None:
    """The rule holds below the service too (what a race between the check and the insert meets)."""
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1, frame_no="INDEX0000001", plate="粤B77777")
    row = await EBike.get(public_id=bike["id"])
    now = dt.datetime.now(dt.UTC)

    def copy(**changes: Any) -> EBike:
        suffix = changes.pop("suffix")
        fields = {
            "public_id": "eb_copy" + suffix,
            "owner_id": row.owner_id,
            "node_path": row.node_path,
            "brand": "x",
            "colour": "x",
            "frame_no": row.frame_no,
            "plate": row.plate,
            "status": BikeStatus.ACTIVE,
            "credential_id": "cr_copy" + suffix,  # unique: only the numbers can clash
            "registered_at": now,
            "updated_at": now,
        }
        fields.update(changes)
        return EBike(**fields)

    for changes in ({"suffix": "1"}, {"suffix": "2", "frame_no": "INDEX0000002"}, {"suffix": "3", "plate": None}):
        with pytest.raises(IntegrityError):
            await copy(**changes).save()
    await copy(suffix="4", status=BikeStatus.DEREGISTERED).save()  # the history may hold any number
    await copy(suffix="5", status=BikeStatus.STOLEN, plate=None, frame_no="INDEX0000003").save()
    with pytest.raises(IntegrityError):  # a stolen bike is still on the register
        await copy(suffix="6", frame_no="INDEX0000003", plate=None).save()
