"""The bench's clients: a minute of readings sent over HTTP (signed gateway batches) or MQTT, and what they saw."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _devices_fleet import READINGS_PATH, Plan, alarm_reading, gateway_serial, normal_reading, secret_for
from _harness import HOST
from _load import RawConnection, RawError


def batch_body(readings: list[dict[str, Any]]) -> bytes:
    # As RawConnection serialises its json argument: the bytes signed are the bytes sent.
    return json.dumps({"readings": readings}, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Minute:
    name: str
    readings: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sent_at: dict[int, float] = field(default_factory=dict)  # gateway -> wall-clock time of its send
    latency_ms: list[float] = field(default_factory=list)  # per request (HTTP) or answer (MQTT)

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


def minute_batches(
    plan: Plan, start: dt.datetime, offset: int, still: Sequence[int] = ()
) -> list[list[dict[str, Any]]]:
    """One reading per device, their times spread over the minute from ``start``; 1 % crossing (and the
    devices that crossed in an earlier minute, ``still``, at the same value: no change, no clear)."""
    batches: list[list[dict[str, Any]]] = [[] for _ in range(plan.gateways)]
    for i in range(plan.devices):
        at = (start + dt.timedelta(seconds=60 * i / plan.devices)).isoformat()
        alarming = plan.crosses(i, offset) or any(plan.crosses(i, o) for o in still)
        reading = alarm_reading(i, at) if alarming else normal_reading(i, at)
        batches[plan.gateway_of(i)].append(reading)
    return batches


async def http_minute(base_url: str, batches: list[list[dict[str, Any]]], concurrency: int, name: str) -> Minute:
    from miniapp_api.devices import signing

    minute = Minute(name)
    todo = iter(range(len(batches)))

    async def lane() -> None:
        conn = RawConnection(base_url)
        try:
            for g in todo:
                readings = batches[g]
                if not readings:
                    continue
                body = batch_body(readings)
                s = gateway_serial(g)
                headers = signing.headers(s, secret_for(s), READINGS_PATH, body)
                headers.pop("Content-Type")
                minute.sent_at[g] = time.time()
                started = time.perf_counter()
                try:
                    answer = await conn.request("POST", READINGS_PATH, json={"readings": readings}, headers=headers)
                except RawError as exc:
                    minute.failures[f"exception {exc}"] += 1
                    continue
                minute.latency_ms.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    minute.failures[f"{answer.status_code}"] += 1
                    continue
                accepted = answer.json().get("accepted", 0)
                minute.readings += accepted
                if accepted != len(readings):
                    minute.failures["readings not accepted"] += len(readings) - accepted
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    minute.seconds = time.perf_counter() - started
    return minute


async def mqtt_minute(port: int, batches: list[list[dict[str, Any]]], concurrency: int, name: str) -> Minute:
    import aiomqtt

    from miniapp_api.devices.mqtt import down_topic, envelope, up_topic

    minute = Minute(name)
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[bytes]] = {}
    async with aiomqtt.Client(HOST, port, identifier=f"devbench-{os.getpid()}") as client:
        await client.subscribe("gmid/devices/+/down", qos=1)

        async def answers() -> None:
            async for message in client.messages:
                future = waiting.get(str(message.topic.value).split("/")[2])
                if future is not None and not future.done():
                    payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                    future.set_result(payload)

        reader = asyncio.create_task(answers())
        todo = iter(range(len(batches)))

        async def lane() -> None:
            for g in todo:
                readings = batches[g]
                if not readings:
                    continue
                s = gateway_serial(g)
                future: asyncio.Future[bytes] = loop.create_future()
                waiting[s] = future
                minute.sent_at[g] = time.time()
                started = time.perf_counter()
                await client.publish(up_topic(s), envelope(s, secret_for(s), batch_body(readings)), qos=1)
                try:
                    payload = await asyncio.wait_for(future, timeout=120)
                except TimeoutError:
                    minute.failures["no answer on the down topic in 120 s"] += 1
                    continue
                minute.latency_ms.append((time.perf_counter() - started) * 1000)
                answer = json.loads(payload)
                accepted = answer.get("accepted", 0) if "error" not in answer else 0
                minute.readings += accepted
                if accepted != len(readings):
                    minute.failures[answer.get("error", {}).get("code", "readings not accepted")] += 1
                assert down_topic(s)

        started = time.perf_counter()
        try:
            await asyncio.gather(*(lane() for _ in range(concurrency)))
            minute.seconds = time.perf_counter() - started
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await reader
    return minute
