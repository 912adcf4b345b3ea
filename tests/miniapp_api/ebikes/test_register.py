"""Registering e-bikes over HTTP: the answer, the owner's identity on the account, refused input that
leaves nothing behind, duplicates, the per-person limit, and what other residents and staff may do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from sanic import Sanic

from identity import service as identity_service
from identity.models import Account
from identity.roles import Role
from miniapp_api.ebikes.models import BikeStatus, EBike
from qr.models import Credential, CredentialStatus
from tests.factories import id_number
from tests.miniapp_api.ebikes.conftest import User, register, registration, user

Body = dict[str, Any]


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def fields_of(response: httpx.Response) -> list[str]:
    return [f["field"] for f in error_of(response)["details"].get("fields", [])]


async def account_columns(account: Account) -> tuple[Any, ...]:
    """The stored identity columns, to show a refused request changed nothing."""
    fresh = await Account.get(id=account.id)
    return (fresh.name_enc, fresh.phone_enc, fresh.phone_bidx, fresh.id_number_enc, fresh.id_number_bidx)


async def stored_counts() -> tuple[int, int]:
    return await EBike.all().count(), await Credential.filter(kind="ebike").count()


# The registration answer --------------------------------------------------------------------------


async def test_registration_answers_the_bike_and_its_code(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    response = await client.post(
        "/api/v1/ebikes",
        json=registration(1, frame_no=" ab-12 34.56 ", plate="粤B·12345"),
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    bike = response.json()
    assert bike["frame_no"] == "AB123456"
    assert bike["plate"] == "粤B12345"
    assert (bike["status"], bike["brand"], bike["colour"], bike["motor_no"]) == ("active", "雅迪", "白色", "M00000001")
    assert bike["node"] == "/GM/GM01/GM0101/GM010101/"
    assert bike["purchase_date"] == "2025-03-01"
    assert bike["alarm"] is None
    credential = bike["credential"]
    assert credential["serial"] == 1
    assert credential["url"].startswith("https://eid.example.cn/q/")
    base = f"/api/v1/credentials/{credential['id']}"
    assert credential["images"] == {"png": f"{base}/qr.png", "svg": f"{base}/qr.svg", "sticker": f"{base}/sticker.png"}

    stored = await EBike.get(public_id=bike["id"])
    assert (stored.owner_id, stored.frame_no, stored.credential_id) == (owner.account.id, "AB123456", credential["id"])
    issued = await Credential.get(public_id=credential["id"])
    assert (issued.kind, issued.subject_id, issued.status) == ("ebike", bike["id"], CredentialStatus.ACTIVE)
    assert issued.label == "雅迪 白色"  # printed under the code: make and colour, never the owner

    # The code is valid; the owner may fetch its image, another resident may not.
    scan = await client.post("/api/v1/scan", json={"payload": credential["url"]})
    assert scan.status_code == 200 and scan.json()["valid"] is True
    png = await client.get(credential["images"]["png"], headers=owner.headers)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    stranger = await user(app, Role.RESIDENT)
    assert (await client.get(credential["images"]["png"], headers=stranger.headers)).status_code == 404


async def test_party_members_register_too(app: Sanic, client: httpx.AsyncClient) -> None:
    member = await user(app, Role.PARTY_MEMBER)
    await register(client, member, 1)


async def test_owner_identity_lands_encrypted_on_the_account(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    body = registration(7, owner={"name": " 李四 ", "id_number": id_number(7).lower(), "phone": "+86 13912340007"})
    response = await client.post("/api/v1/ebikes", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    account = await Account.get(id=owner.account.id)
    profile = identity_service.read_profile(account)
    assert (profile.name, profile.id_number, profile.phone) == ("李四", "44031119880308007X", "13912340007")
    # At rest only ciphertext: neither the number nor the phone appears in the columns.
    assert account.id_number_enc is not None and account.phone_enc is not None
    assert "44031119880308007" not in account.id_number_enc and "13912340007" not in account.phone_enc
    assert account.id_number_enc.startswith("v1.") and account.phone_enc.startswith("v1.")
    found = await identity_service.find_by_id_number(id_number=id_number(7))
    assert found is not None and found.id == owner.account.id


async def test_second_bike_needs_the_same_id_number(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    await register(client, owner, 1)
    before = await account_columns(owner.account)

    other_id = registration(2, owner={"name": "张三", "id_number": id_number(2), "phone": "13912340001"})
    response = await client.post("/api/v1/ebikes", json=other_id, headers=owner.headers)
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "identity_mismatch"
    assert id_number(2) not in response.text
    assert await stored_counts() == (1, 1)
    assert await account_columns(owner.account) == before

    # The same holder registers a second bike; the number may be written differently.
    same = registration(2, owner={"name": "张三", "id_number": f" {id_number(1)} ", "phone": "13912340001"})
    response = await client.post("/api/v1/ebikes", json=same, headers=owner.headers)
    assert response.status_code == 201, response.text
    assert await stored_counts() == (2, 2)


async def test_id_number_of_another_account_is_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    first = await user(app, Role.RESIDENT)
    await register(client, first, 1)
    second = await user(app, Role.RESIDENT)
    before = await account_columns(second.account)

    response = await client.post(
        "/api/v1/ebikes", json=registration(2, owner=registration(1)["owner"]), headers=second.headers
    )
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "identity_mismatch"  # the answer of any mismatch: no oracle
    assert await stored_counts() == (1, 1)
    assert await account_columns(second.account) == before


# Refused input writes nothing -----------------------------------------------------------------------


def _owner(**changes: str) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body["owner"] = {**body["owner"], **changes}

    return change


def _set(**changes: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        body.update(changes)

    return change


def _drop(*path: str) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        target = body
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


_GOOD_ID = id_number(1)
_BAD_CHECK_DIGIT = _GOOD_ID[:-1] + ("1" if _GOOD_ID[-1] != "1" else "2")

BAD_INPUT: list[tuple[str, Callable[[Body], None], str]] = [
    ("id_check_digit", _owner(id_number=_BAD_CHECK_DIGIT), "owner.id_number"),
    ("id_too_short", _owner(id_number=_GOOD_ID[:15]), "owner.id_number"),
    ("id_bad_birth_date", _owner(id_number="440311198802300018"), "owner.id_number"),
    ("phone_us", _owner(phone="+14155550100"), "owner.phone"),
    ("phone_not_mobile", _owner(phone="12345678901"), "owner.phone"),
    ("phone_too_short", _owner(phone="1391234"), "owner.phone"),
    ("name_empty", _owner(name="  "), "owner.name"),
    ("frame_too_short", _set(frame_no="ab-12"), "frame_no"),
    ("frame_short_once_normalised", _set(frame_no="a-b-1-2-3"), "frame_no"),
    ("frame_chinese", _set(frame_no="车架号12345678"), "frame_no"),
    ("frame_symbols", _set(frame_no="AB12#3456"), "frame_no"),
    ("frame_too_long", _set(frame_no="A" * 31), "frame_no"),
    ("node_unknown", _set(node="GM999999"), "node"),
    ("node_not_a_code", _set(node="GM-01/../"), "node"),
    ("missing_brand", _drop("brand"), "brand"),
    ("missing_frame_no", _drop("frame_no"), "frame_no"),
    ("missing_motor_no", _drop("motor_no"), "motor_no"),
    ("missing_node", _drop("node"), "node"),
    ("missing_owner", _drop("owner"), "owner"),
    ("missing_owner_id_number", _drop("owner", "id_number"), "owner.id_number"),
    ("unknown_field", _set(description="车筐有划痕"), "description"),
    ("unknown_owner_field", _owner(address="光明街道1号"), "owner.address"),
    ("unknown_owner_id_field", _set(owner_id="acc_someone_else"), "owner_id"),
    ("brand_too_long", _set(brand="雅" * 33), "brand"),
    ("model_too_long", _set(model="M" * 33), "model"),
    ("colour_too_long", _set(colour="白" * 17), "colour"),
    ("plate_too_long", _set(plate="粤B" + "1" * 15), "plate"),
    ("plate_symbols", _set(plate="粤B<1234>"), "plate"),
    ("purchase_date_impossible", _set(purchase_date="2025-02-30"), "purchase_date"),
    ("purchase_date_words", _set(purchase_date="last spring"), "purchase_date"),
]


async def test_bad_input_is_refused_and_nothing_is_written(app: Sanic, client: httpx.AsyncClient) -> None:
    # One app for all cases (each must leave nothing behind, so they cannot disturb each other).
    owner = await user(app, Role.RESIDENT, phone="13700009999")
    before = await account_columns(owner.account)
    problems: list[str] = []
    for name, change, field in BAD_INPUT:
        body = registration(1)
        change(body)
        response = await client.post("/api/v1/ebikes", json=body, headers=owner.headers)
        if response.status_code != 422 or field not in fields_of(response):
            problems.append(f"{name}: {response.status_code} {response.text}")
        if _GOOD_ID in response.text or _BAD_CHECK_DIGIT in response.text:  # never echoes the number
            problems.append(f"{name}: the answer repeats the ID number")
        if await stored_counts() != (0, 0) or await account_columns(owner.account) != before:
            problems.append(f"{name}: something was written")
    assert not problems, "\n".join(problems)


async def test_a_body_that_is_not_an_object_is_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    as_list = await client.post("/api/v1/ebikes", json=[registration(1)], headers=owner.headers)
    assert as_list.status_code == 422
    broken = await client.post(
        "/api/v1/ebikes", content=b'{"brand": ', headers={**owner.headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert await stored_counts() == (0, 0)


# Duplicates ---------------------------------------------------------------------------------------


async def test_a_frame_number_is_registered_once_however_it_is_written(app: Sanic, client: httpx.AsyncClient) -> None:
    first = await user(app, Role.RESIDENT)
    await register(client, first, 1, frame_no="YD-2026-000009")
    second = await user(app, Role.RESIDENT)
    before = await account_columns(second.account)

    for written in ("yd2026000009", "YD 2026 000009", " yd-2026-0000.09 ", "YD_2026_000009", "yd\t2026\u3000000009"):
        for who, n in ((first, 1), (second, 2)):  # the same owner again, and another resident
            response = await client.post("/api/v1/ebikes", json=registration(n, frame_no=written), headers=who.headers)
            assert response.status_code == 409, (written, response.text)
            assert error_of(response)["code"] == "frame_no_taken"
    assert await stored_counts() == (1, 1)
    assert await account_columns(second.account) == before


async def test_a_plate_is_registered_once(app: Sanic, client: httpx.AsyncClient) -> None:
    first = await user(app, Role.RESIDENT)
    await register(client, first, 1, plate="粤B12345")
    second = await user(app, Role.RESIDENT)
    response = await client.post("/api/v1/ebikes", json=registration(2, plate="粤b·123-45"), headers=second.headers)
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "plate_taken"
    assert await stored_counts() == (1, 1)
    # An empty plate means none: many bikes have none.
    await register(client, second, 2, plate="")
    await register(client, second, 2, plate=None, frame_no="NOPLATE02")


# The per-person limit -----------------------------------------------------------------------------


async def test_five_bikes_per_person_and_deregistering_frees_a_slot(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bikes = [await register(client, owner, 1, frame_no=f"LIMIT{i:04d}", motor_no=f"M{i}") for i in range(5)]

    sixth = await client.post("/api/v1/ebikes", json=registration(1, frame_no="LIMIT0005"), headers=owner.headers)
    assert sixth.status_code == 409, sixth.text
    assert error_of(sixth)["code"] == "too_many_bikes"
    assert error_of(sixth)["details"] == {"limit": 5}
    assert await stored_counts() == (5, 5)

    # A stolen bike still counts; a deregistered one does not.
    alarm = {"lost_at": "2026-01-05T09:30:00+08:00", "location": "光明大街"}
    assert (
        await client.post(f"/api/v1/ebikes/{bikes[0]['id']}/alarm", json=alarm, headers=owner.headers)
    ).status_code == 201
    again = await client.post("/api/v1/ebikes", json=registration(1, frame_no="LIMIT0005"), headers=owner.headers)
    assert again.status_code == 409
    assert (await client.delete(f"/api/v1/ebikes/{bikes[1]['id']}", headers=owner.headers)).status_code == 200
    await register(client, owner, 1, frame_no="LIMIT0005")
    assert await EBike.filter(owner_id=owner.account.id).exclude(status=BikeStatus.DEREGISTERED).count() == 5


# Residents see only their own bikes -----------------------------------------------------------------


async def test_the_list_shows_only_your_registered_bikes(app: Sanic, client: httpx.AsyncClient) -> None:
    alice = await user(app, Role.RESIDENT)
    bob = await user(app, Role.RESIDENT)
    a1 = await register(client, alice, 1, frame_no="ALICE0001")
    a2 = await register(client, alice, 1, frame_no="ALICE0002")
    b1 = await register(client, bob, 2, frame_no="BOB000001")
    fresh = await user(app, Role.RESIDENT)

    listed = await client.get("/api/v1/ebikes", headers=alice.headers)
    assert listed.status_code == 200
    assert [b["id"] for b in listed.json()["items"]] == [a1["id"], a2["id"]]
    assert [b["id"] for b in (await client.get("/api/v1/ebikes", headers=bob.headers)).json()["items"]] == [b1["id"]]
    assert (await client.get("/api/v1/ebikes", headers=fresh.headers)).json() == {"items": []}

    assert (await client.delete(f"/api/v1/ebikes/{a1['id']}", headers=alice.headers)).status_code == 200
    assert [b["id"] for b in (await client.get("/api/v1/ebikes", headers=alice.headers)).json()["items"]] == [a2["id"]]


async def _bike_state(public_id: str) -> tuple[Any, ...]:
    bike = await EBike.get(public_id=public_id)
    credential = await Credential.get(public_id=bike.credential_id)
    return (bike.owner_id, bike.status, bike.brand, bike.colour, bike.plate, bike.updated_at, credential.status)


async def test_another_residents_bike_is_not_found(app: Sanic, client: httpx.AsyncClient) -> None:
    alice = await user(app, Role.RESIDENT)
    mallory = await user(app, Role.RESIDENT)
    await register(client, mallory, 2)
    bike = await register(client, alice, 1, plate="粤B11111")
    before = await _bike_state(bike["id"])
    path = f"/api/v1/ebikes/{bike['id']}"

    answers = [
        await client.get(path, headers=mallory.headers),
        await client.patch(path, json={"brand": "偷来的", "plate": ""}, headers=mallory.headers),
        await client.delete(path, headers=mallory.headers),
    ]
    for answer in answers:
        assert answer.status_code == 404, answer.text  # 404, not 403: ids cannot be probed
        assert error_of(answer)["code"] == "ebike_not_found"
        assert "frame_no" not in answer.text and "雅迪" not in answer.text
    assert await _bike_state(bike["id"]) == before


async def _answers_for(client: httpx.AsyncClient, owner: User, public_id: str) -> list[httpx.Response]:
    path = f"/api/v1/ebikes/{public_id}"
    return [
        await client.get(path, headers=owner.headers),
        await client.patch(path, json={"brand": "新"}, headers=owner.headers),
        await client.delete(path, headers=owner.headers),
        await client.post(f"{path}/transfer", headers=owner.headers),
        await client.delete(f"{path}/alarm", headers=owner.headers),
    ]


async def test_unknown_ids_are_not_found(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    await register(client, owner, 1)
    for public_id in ("eb_doesnotexist1", "eb_", "%27%20OR%201%3D1", "eb_%00"):
        for answer in await _answers_for(client, owner, public_id):
            assert answer.status_code in (400, 404), (public_id, answer.text)
    assert await EBike.filter(brand="新").count() == 0


async def test_overlong_ids_are_not_found(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    await register(client, owner, 1)
    for public_id in ("x" * 17, "e" * 300):
        for answer in await _answers_for(client, owner, public_id):
            assert answer.status_code == 404, (public_id, answer.text)


# Changes and deregistration -------------------------------------------------------------------------


async def test_patch_changes_brand_colour_and_plate(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1, plate="粤B11111")
    path = f"/api/v1/ebikes/{bike['id']}"

    changed = await client.patch(
        path,
        json={"brand": " 爱玛 ", "colour": "黑色", "plate": "粤b 22222", "node": "GM010102"},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["brand"], body["colour"], body["plate"]) == ("爱玛", "黑色", "粤B22222")
    assert body["node"] == "/GM/GM01/GM0101/GM010102/"
    assert body["frame_no"] == bike["frame_no"] and body["credential"]["id"] == bike["credential"]["id"]
    stored = await EBike.get(public_id=bike["id"])
    assert (stored.brand, stored.colour, stored.plate, stored.model) == ("爱玛", "黑色", "粤B22222", "DE2")

    removed = await client.patch(path, json={"plate": ""}, headers=owner.headers)
    assert removed.status_code == 200 and removed.json()["plate"] is None
    assert (await EBike.get(public_id=bike["id"])).plate is None


PATCH_REFUSED: list[tuple[Body, str]] = [
    ({"frame_no": "NEWFRAME01"}, "frame_no"),
    ({"motor_no": "M999"}, "motor_no"),
    ({"owner": {"name": "王五"}}, "owner"),
    ({"status": "active"}, "status"),
    ({"brand": ""}, "brand"),
    ({"colour": "白" * 17}, "colour"),
    ({"node": "GM999999"}, "node"),
    ({"plate": "粤B<1>"}, "plate"),
    ({"purchase_date": "2025-13-01"}, "purchase_date"),
    ({"brand": "爱玛", "frame_no": "NEWFRAME01"}, "frame_no"),  # nothing of it applies
]


async def test_patch_refuses_what_may_not_change(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    before = await _bike_state(bike["id"])
    frame_before = (await EBike.get(public_id=bike["id"])).frame_no
    for change, field in PATCH_REFUSED:
        response = await client.patch(f"/api/v1/ebikes/{bike['id']}", json=change, headers=owner.headers)
        assert response.status_code == 422, (change, response.text)
        assert field in fields_of(response), (change, response.text)
        assert await _bike_state(bike["id"]) == before, change
    assert (await EBike.get(public_id=bike["id"])).frame_no == frame_before


async def test_patch_to_a_plate_taken_by_another_bike(app: Sanic, client: httpx.AsyncClient) -> None:
    alice = await user(app, Role.RESIDENT)
    bob = await user(app, Role.RESIDENT)
    await register(client, alice, 1, plate="粤B11111")
    bike = await register(client, bob, 2, plate="粤B22222")
    response = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"plate": "粤B·11111"}, headers=bob.headers)
    assert response.status_code == 409 and error_of(response)["code"] == "plate_taken"
    assert (await EBike.get(public_id=bike["id"])).plate == "粤B22222"
    # Its own plate again is no conflict.
    same = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"plate": "粤B22222"}, headers=bob.headers)
    assert same.status_code == 200


async def test_deregistering_revokes_the_code(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    path = f"/api/v1/ebikes/{bike['id']}"

    gone = await client.delete(path, headers=owner.headers)
    assert gone.status_code == 200, gone.text
    assert gone.json()["status"] == "deregistered" and gone.json()["credential"] is None
    stored = await EBike.get(public_id=bike["id"])
    assert stored.status is BikeStatus.DEREGISTERED and stored.deregistered_at is not None
    credential = await Credential.get(public_id=bike["credential"]["id"])
    assert credential.status is CredentialStatus.REVOKED

    scan = await client.post("/api/v1/scan", json={"payload": bike["credential"]["url"]})
    assert scan.status_code == 410, scan.text
    assert error_of(scan)["code"] == "revoked"
    assert (await client.get(bike["credential"]["images"]["png"], headers=owner.headers)).status_code == 410

    # Nothing more can be done with it.
    again = await client.delete(path, headers=owner.headers)
    assert again.status_code == 409 and error_of(again)["code"] == "ebike_deregistered"
    patched = await client.patch(path, json={"brand": "爱玛"}, headers=owner.headers)
    assert patched.status_code == 409 and error_of(patched)["code"] == "ebike_deregistered"
    alarm = {"lost_at": "2026-01-05T09:30:00+08:00", "location": "光明大街"}
    raised = await client.post(f"{path}/alarm", json=alarm, headers=owner.headers)
    assert raised.status_code == 409 and error_of(raised)["code"] == "ebike_deregistered"
    transfer = await client.post(f"{path}/transfer", headers=owner.headers)
    assert transfer.status_code == 409 and error_of(transfer)["code"] == "ebike_deregistered"


# Who may register ---------------------------------------------------------------------------------


async def test_staff_cannot_register_or_list(app: Sanic, client: httpx.AsyncClient) -> None:
    for role in (Role.OFFICER, Role.POLICE, Role.GRID_STAFF, Role.ADMIN):
        staff = await user(app, role)
        response = await client.post("/api/v1/ebikes", json=registration(1), headers=staff.headers)
        assert response.status_code == 403, (role, response.text)
        assert error_of(response)["code"] == "forbidden"
        assert (await client.get("/api/v1/ebikes", headers=staff.headers)).status_code == 403, role
    assert await stored_counts() == (0, 0)


async def test_anonymous_cannot_register(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    bike = await register(client, owner, 1)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        response = await client.post("/api/v1/ebikes", json=registration(2), headers=headers)
        assert response.status_code == 401, response.text
        assert error_of(response)["code"] in ("unauthorized", "token_invalid")
        assert (await client.get("/api/v1/ebikes", headers=headers)).status_code == 401
        assert (await client.get(f"/api/v1/ebikes/{bike['id']}", headers=headers)).status_code == 401
    assert await stored_counts() == (1, 1)


# At the same time -------------------------------------------------------------------------------------


async def test_one_frame_registered_twice_at_the_same_time(app: Sanic, client: httpx.AsyncClient) -> None:
    alice = await user(app, Role.RESIDENT)
    bob = await user(app, Role.RESIDENT)
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/ebikes", json=registration(n, frame_no="RACE000001"), headers=who.headers)
            for who, n in ((alice, 1), (bob, 2), (alice, 1), (bob, 2))
        )
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], [r.text for r in answers]
    assert {error_of(r)["code"] for r in answers if r.status_code == 409} == {"frame_no_taken"}
    assert await stored_counts() == (1, 1)


async def test_registrations_at_the_same_time_never_pass_the_limit(app: Sanic, client: httpx.AsyncClient) -> None:
    owner = await user(app, Role.RESIDENT)
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/ebikes", json=registration(1, frame_no=f"RACE1{i:05d}"), headers=owner.headers)
            for i in range(10)
        )
    )
    assert sorted(r.status_code for r in answers) == [201] * 5 + [409] * 5, [r.status_code for r in answers]
    assert {error_of(r)["code"] for r in answers if r.status_code != 201} == {"too_many_bikes"}
    assert await EBike.filter(owner_id=owner.account.id).count() == 5


async def test_a_bike_is_kept_in_a_community_or_a_grid_not_the_district_or_a_street(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    # The credential belongs to the bike's node: kept at the district or a street, the community and
    # grid staff who check it in the field would lose it.
    owner = await user(app, Role.RESIDENT)
    for node in ("GM", "GM01"):
        response = await client.post("/api/v1/ebikes", json=registration(1, node=node), headers=owner.headers)
        assert response.status_code == 422, (node, response.text)
        assert response.json()["error"]["code"] == "node_level" and "node" in fields_of(response)
        assert await stored_counts() == (0, 0)
    in_community = await register(client, owner, 1, node="GM0101")
    assert in_community["node"] == "/GM/GM01/GM0101/"
    body = registration(2, node="GM010101", owner=registration(1)["owner"])  # the same person
    created = await client.post("/api/v1/ebikes", json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    bike = created.json()
    before = await _bike_state(bike["id"])
    for node in ("GM", "GM01"):
        response = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"node": node}, headers=owner.headers)
        assert response.status_code == 422, (node, response.text)
        assert response.json()["error"]["code"] == "node_level" and "node" in fields_of(response)
        assert await _bike_state(bike["id"]) == before
        assert (await EBike.get(public_id=bike["id"])).node_path == "/GM/GM01/GM0101/GM010101/"
    moved = await client.patch(f"/api/v1/ebikes/{bike['id']}", json={"node": "GM0102"}, headers=owner.headers)
    assert moved.status_code == 200 and moved.json()["node"] == "/GM/GM01/GM0102/", moved.text
