"""A request line or headers past Sanic's 8 KiB are refused before any route (413): the answer says
what was too large (not "the request body") and, under /open311/, comes in Open311's error shape."""

from __future__ import annotations

import httpx

LONG = "rp_abcdefghijklm," * 600  # about 10 KiB


async def test_a_too_long_open311_address_is_413_in_open311_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/open311/v2/requests.json", params={"service_request_id": LONG})
    assert response.status_code == 413, response.text
    body = response.json()
    assert isinstance(body, list) and body[0]["code"] == 413, body
    description = body[0]["description"]
    assert "body" not in description and "rp_abcdefghijklm" not in response.text
    assert "address" in description or "header" in description


async def test_a_too_long_api_address_is_413_and_says_what_was_too_large(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/buildings", params={"q": LONG})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and "body" not in error["message"], error
    assert "rp_abcdefghijklm" not in response.text
