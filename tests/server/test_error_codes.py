"""The same mistake gets the same error code in every route, whether a schema or a service finds it:
an invalid ID number is `invalid_id_number`, an invalid mobile number `invalid_phone`, everywhere."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from tests.miniapp_api.ebikes.conftest import registration, user

BAD_ID_NUMBER = "440311199001010010"  # the check digit is wrong
BAD_PHONE = "1234567"


def refused(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert BAD_ID_NUMBER not in response.text and BAD_PHONE not in response.text  # never echoed
    return error


@pytest.fixture
def app(notify_settings: object) -> Sanic:
    from tests.support.notify_fixtures import app_with_channels

    return app_with_channels(notify_settings)  # type: ignore[arg-type]


async def test_an_invalid_id_number_is_invalid_id_number_in_every_route(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    police = await user(app, Role.POLICE, node="GM")
    admin = await user(app, Role.ADMIN, node="GM")
    refused(await client.put("/api/v1/me/profile", json={"id_number": BAD_ID_NUMBER}, headers=resident.headers),
            "invalid_id_number")  # fmt: skip
    body = registration(1)
    body["owner"]["id_number"] = BAD_ID_NUMBER
    refused(await client.post("/api/v1/ebikes", json=body, headers=resident.headers), "invalid_id_number")
    accept = {"code": "ABCDEFGH", "owner": body["owner"]}
    refused(
        await client.post("/api/v1/ebikes/transfers/accept", json=accept, headers=resident.headers), "invalid_id_number"
    )
    lookup = {"owner_id_number": BAD_ID_NUMBER, "reason": "盗窃案件侦查", "case_no": "GM2026-001"}
    refused(await client.post("/api/v1/police/ebikes/lookup", json=lookup, headers=police.headers), "invalid_id_number")
    # The address takes no ID number at all, valid or not (it would stand in logs).
    in_url = await client.get("/api/v1/police/ebikes", params=lookup, headers=police.headers)
    assert (in_url.status_code, in_url.json()["error"]["code"]) == (400, "id_number_in_url")
    correction = {"id_number": BAD_ID_NUMBER, "reason": "窗口核对身份证件", "case_no": "GD-2026-7"}
    refused(
        await client.put(
            f"/api/v1/accounts/{resident.account.public_id}/id-number", json=correction, headers=admin.headers
        ),
        "invalid_id_number",
    )


async def test_an_invalid_mobile_is_invalid_phone_in_every_route(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    refused(
        await client.put("/api/v1/me/profile", json={"phone": BAD_PHONE}, headers=resident.headers), "invalid_phone"
    )
    body = registration(2)
    body["owner"]["phone"] = BAD_PHONE
    refused(await client.post("/api/v1/ebikes", json=body, headers=resident.headers), "invalid_phone")


async def test_two_different_mistakes_stay_a_plain_validation_failure(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    both = {"id_number": BAD_ID_NUMBER, "phone": BAD_PHONE}
    error = refused(await client.put("/api/v1/me/profile", json=both, headers=resident.headers), "validation_failed")
    assert sorted(f["type"] for f in error["details"]["fields"]) == ["invalid_id_number", "invalid_phone"]
