"""The readings ingest over HTTP, as a device, a gateway and an attacker would use it: signatures,
the time window, replays, whose devices a gateway may report for, and bad readings refused one by one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices import signing
from miniapp_api.devices.models import DeviceAlarm
from tests.miniapp_api.devices.conftest import READINGS, Registered, at, buildings, gas, register, send, user


async def scene(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> tuple[Registered, Registered, Registered]:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    gateway = await register(client, staff, "GW-1000", "gateway")
    behind = await register(client, staff, "GD-1001", gateway=gateway.serial)
    alone = await register(client, staff, "GD-1002")
    return gateway, behind, alone


async def test_signatures_time_window_and_replays(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, _, device = await scene(app, client, tmp_path)
    body = json.dumps({"readings": [gas(device.serial, 1.0)]}).encode()
    good = signing.headers(device.serial, device.secret, READINGS, body)
    first = await client.post(READINGS, content=body, headers=good)
    assert first.status_code == 200, first.text
    replay = await client.post(READINGS, content=body, headers=good)
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "nonce_reused"

    def refused(response: httpx.Response, code: str) -> None:
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == code
        assert "GMID-HMAC-SHA256" in response.headers["www-authenticate"]

    unsigned = await client.post(READINGS, content=body, headers={"Content-Type": "application/json"})
    refused(unsigned, "signature_missing")
    stale = signing.headers(device.serial, device.secret, READINGS, body, now=time.time() - 301)
    refused(await client.post(READINGS, content=body, headers=stale), "timestamp_out_of_window")
    ahead = signing.headers(device.serial, device.secret, READINGS, body, now=time.time() + 301)
    refused(await client.post(READINGS, content=body, headers=ahead), "timestamp_out_of_window")
    tampered = signing.headers(device.serial, device.secret, READINGS, body)
    refused(await client.post(READINGS, content=body.replace(b"1.0", b"9.0"), headers=tampered), "bad_signature")
    wrong_key = signing.headers(device.serial, "not-the-secret", READINGS, body)
    refused(await client.post(READINGS, content=body, headers=wrong_key), "bad_signature")
    other_path = signing.headers(device.serial, device.secret, "/api/v1/devices/other", body)
    refused(await client.post(READINGS, content=body, headers=other_path), "bad_signature")
    unknown = signing.headers("NOPE-0001", device.secret, READINGS, body)
    refused(await client.post(READINGS, content=body, headers=unknown), "bad_signature")
    short_nonce = {**signing.headers(device.serial, device.secret, READINGS, body), signing.NONCE_HEADER: "abc"}
    refused(await client.post(READINGS, content=body, headers=short_nonce), "bad_nonce")


async def test_a_gateway_reports_only_for_its_own_devices(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    gateway, behind, alone = await scene(app, client, tmp_path)
    response = await send(
        client,
        gateway,
        [
            gas(behind.serial, 25.0),
            gas(alone.serial, 25.0),
            {"device": gateway.serial, "metric": "signal_dbm", "value": -70, "at": at()},
        ],
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 2
    assert answer["refused"] == [{"index": 1, "code": "unknown_device", "message": answer["refused"][0]["message"]}]
    # A detector cannot speak for another detector, nor for its gateway.
    crossed = await send(client, behind, [gas(alone.serial, 25.0), gas(gateway.serial, 25.0)])
    assert crossed.status_code == 422 and crossed.json()["error"]["code"] == "no_valid_readings"
    assert [r["code"] for r in crossed.json()["error"]["details"]["refused"]] == ["unknown_device", "unknown_device"]
    alarmed = await DeviceAlarm.all().values_list("alarm_type", flat=True)
    assert alarmed == ["gas"]  # the gateway's own detector only


async def test_bad_readings_are_refused_by_index_and_the_good_ones_kept(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    _, _, device = await scene(app, client, tmp_path)
    serial = device.serial
    readings = [
        gas(serial, 1.0),  # 0 good
        {"device": serial, "metric": "gas_lel_pct", "value": 150, "at": at()},  # 1 beyond 100 %LEL
        {"device": serial, "metric": "gas_lel_pct", "value": True, "at": at()},  # 2 a boolean
        {"device": serial, "metric": "gas_lel_pct", "value": "25", "at": at()},  # 3 text
        {"device": serial, "metric": "radon", "value": 1, "at": at()},  # 4 unknown metric
        {"device": serial, "metric": "noise_dba", "value": 90, "at": at()},  # 5 not a gas detector's
        {"device": serial, "metric": "gas_lel_pct", "value": 25, "at": "2026-12-05T10:00:00"},  # 6 no offset
        {"device": serial, "metric": "gas_lel_pct", "value": 25, "at": at(-3600)},  # 7 an hour ahead
        {"device": serial, "metric": "gas_lel_pct", "value": 25, "at": at(8 * 86400)},  # 8 8 days old
        {"device": serial, "metric": "gas_lel_pct", "value": 25, "at": at(), "extra": {"a": 1}},  # 9 unknown field
        [1, 2, 3],  # 10 not an object
        {"device": serial, "event": "explode", "at": at()},  # 11 unknown event
        {"device": serial, "event": "self_test", "at": at()},  # 12 good
        {"device": serial, "metric": "gas_lel_pct", "value": 25, "at": 12345},  # 13 time not text
    ]
    response = await send(client, device, readings)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 2
    codes = {r["index"]: r["code"] for r in answer["refused"]}
    assert codes == {
        1: "value_out_of_range",
        2: "bad_value",
        3: "bad_value",
        4: "unknown_metric",
        5: "metric_not_for_type",
        6: "bad_time",
        7: "time_out_of_range",
        8: "time_out_of_range",
        9: "unknown_field",
        10: "not_an_object",
        11: "unknown_event",
        13: "bad_time",
    }
    assert "25" not in str(answer["refused"])  # a refusal never repeats what was sent
    assert not await DeviceAlarm.exists()  # none of the refused 25 %LEL readings raised anything


async def test_the_body_itself_refused_whole(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, _, device = await scene(app, client, tmp_path)

    async def post(body: bytes, content_type: str = "application/json") -> httpx.Response:
        headers = signing.headers(device.serial, device.secret, READINGS, body)
        headers["Content-Type"] = content_type
        return await client.post(READINGS, content=body, headers=headers)

    too_many = json.dumps({"readings": [gas(device.serial, 1.0, n) for n in range(1001)]}).encode()
    cases = [
        (await post(b"{not json"), 400, "malformed_json"),
        (await post(b'{"readings": [' * 200 + b"]}" * 200), 400, "json_too_deep"),
        (
            await post(b'{"readings": [{"device": "GD-1002", "metric": "gas_lel_pct", "value": NaN, "at": "x"}]}'),
            400,
            "malformed_json",
        ),
        (await post(b"[]"), 422, "invalid_body"),
        (await post(b'{"readings": []}'), 422, "empty_batch"),
        (await post(b'{"readings": [], "more": 1}'), 422, "invalid_body"),
        (await post(too_many), 422, "too_many_readings"),
        (await post(json.dumps({"readings": [gas(device.serial, 25.0)]}).encode(), "text/plain"), 415, None),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        if code:
            assert response.json()["error"]["code"] == code
    assert not await DeviceAlarm.exists()


async def test_the_same_reading_counts_once(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    _, _, device = await scene(app, client, tmp_path)
    # One reading sent twice: the same time, taken once (two clock reads a few microseconds apart could
    # straddle a millisecond and make two readings, as one CI run under load showed).
    reading = gas(device.serial, 25.0, 5)
    batch = [reading, dict(reading), gas(device.serial, 26.0, 4)]
    first = (await send(client, device, batch)).json()
    assert (first["accepted"], first["duplicates"]) == (2, 1)
    again = await send(client, device, batch)  # a retry with a new nonce: nothing new
    assert again.status_code == 200, again.text
    assert (again.json()["accepted"], again.json()["duplicates"], again.json()["alarms"]) == (0, 3, [])
    assert await DeviceAlarm.all().count() == 1


async def test_a_retired_device_is_not_heard(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    gateway, behind, _ = await scene(app, client, tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    retired = await client.patch(f"/api/v1/devices/{behind.id}", json={"active": False}, headers=staff.headers)
    assert retired.status_code == 200 and retired.json()["active"] is False
    own = await send(client, behind, [gas(behind.serial, 30.0)])
    assert own.status_code == 401
    through = await send(client, gateway, [gas(behind.serial, 30.0)])
    assert through.status_code == 422 and through.json()["error"]["details"]["refused"][0]["code"] == "unknown_device"
    assert not await DeviceAlarm.exists()
