"""The MQTT ingest on a real Mosquitto: signed batches on the up topic answered on the down topic,
forged and replayed messages refused, and a valve heard over MQTT gets its close command there."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.devices.models import DeviceAlarm, DeviceCommand
from miniapp_api.devices.mqtt import MqttService, down_topic, envelope, up_topic
from tests.miniapp_api.devices.conftest import Registered, at, bound_resident, buildings, gas, register, send, user
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.usefixtures("running")


async def next_message(client: aiomqtt.Client) -> dict[str, Any]:
    async with asyncio.timeout(10):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            answer: dict[str, Any] = json.loads(message.payload)
            return answer
    raise AssertionError("no message")


def batch(*readings: dict[str, Any]) -> bytes:
    return json.dumps({"readings": list(readings)}).encode()


async def device_client(mosquitto: Mosquitto, device: Registered) -> aiomqtt.Client:
    client = aiomqtt.Client("127.0.0.1", mosquitto.port, identifier=f"test-{device.serial}")
    await client.__aenter__()
    await client.subscribe(down_topic(device.serial), qos=1)
    return client


async def test_a_signed_batch_over_mqtt_raises_the_alarm_and_is_answered(
    app: Sanic,
    client: httpx.AsyncClient,
    tmp_path: Path,
    mosquitto: Mosquitto,
    service: MqttService,
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    detector = await register(client, staff, "GD-4001")
    dev = await device_client(mosquitto, detector)
    try:
        await dev.publish(
            up_topic(detector.serial),
            envelope(detector.serial, detector.secret, batch(gas(detector.serial, 25.0))),
            qos=1,
        )
        answer = await next_message(dev)
    finally:
        await dev.__aexit__(None, None, None)
    assert answer["accepted"] == 1 and [(a["change"], a["severity"]) for a in answer["alarms"]] == [
        ("raise", "critical")
    ]
    assert await DeviceAlarm.filter(alarm_type="gas").count() == 1


async def test_forged_replayed_and_malformed_messages_are_refused(
    app: Sanic,
    client: httpx.AsyncClient,
    tmp_path: Path,
    mosquitto: Mosquitto,
    service: MqttService,
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    detector = await register(client, staff, "GD-4002")
    dev = await device_client(mosquitto, detector)
    body = batch(gas(detector.serial, 25.0))
    good = envelope(detector.serial, detector.secret, body)
    try:
        forged = envelope(detector.serial, "not-the-secret", body)
        answers = []
        for payload in (
            forged,
            good,
            good,
            b"{not json",
            b'{"body": "x"}',
            json.dumps({"timestamp": 1, "nonce": 2, "signature": 3, "body": 4}).encode(),
        ):
            await dev.publish(up_topic(detector.serial), payload, qos=1)
            answers.append(await next_message(dev))
    finally:
        await dev.__aexit__(None, None, None)
    codes = [a.get("error", {}).get("code") for a in answers]
    assert codes == ["bad_signature", None, "nonce_reused", "malformed_json", "invalid_envelope", "invalid_envelope"]
    assert await DeviceAlarm.filter(alarm_type="gas").count() == 1  # only the good message's


async def test_a_valve_heard_over_mqtt_gets_its_close_command_there(
    app: Sanic,
    client: httpx.AsyncClient,
    tmp_path: Path,
    mosquitto: Mosquitto,
    service: MqttService,
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    shutoff = await register(client, staff, "VL-4003", "valve")
    detector = await register(client, staff, "GD-4003", valve=shutoff.serial)
    await bound_resident(app, client, detector, phone="13900004003", openid="o_household_4003")
    dev = await device_client(mosquitto, shutoff)
    try:
        state = {"device": shutoff.serial, "metric": "valve_state", "value": 1, "at": at(5)}
        await dev.publish(up_topic(shutoff.serial), envelope(shutoff.serial, shutoff.secret, batch(state)), qos=1)
        assert (await next_message(dev))["accepted"] == 1
        await send(client, detector, [gas(detector.serial, 30.0, 3)])  # over HTTP: the leak
        pushed = await next_message(dev)
        [command] = pushed["commands"]
        assert (command["device"], command["action"]) == (shutoff.serial, "close")
        done = {"device": shutoff.serial, "command": command["id"], "result": "done", "at": at(1)}
        await dev.publish(up_topic(shutoff.serial), envelope(shutoff.serial, shutoff.secret, batch(done)), qos=1)
        confirmed = await next_message(dev)
    finally:
        await dev.__aexit__(None, None, None)
    assert confirmed["accepted"] == 1 and confirmed["refused"] == []
    assert (await DeviceCommand.get(public_id=command["id"])).state == "confirmed"
