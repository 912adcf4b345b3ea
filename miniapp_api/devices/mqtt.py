"""MQTT ingest (GMID_MQTT_URL): gateways and devices that speak MQTT publish signed batches to
``gmid/devices/{serial}/up`` and read answers and commands on ``gmid/devices/{serial}/down`` (QoS 1).

A message is the same batch as the HTTP ingest's body, in an envelope that carries the signature:

    {"timestamp": "<Unix seconds>", "nonce": "<16-64 of A-Z a-z 0-9 _ ->", "signature": "<hex>",
     "body": "<the batch, {\\"readings\\": [...]}, as JSON text>"}

signed like the HTTP ingest with ``MQTT`` as the method and the topic as the path, so the broker's own
credentials (per device, in its ACL: see the README) are a second lock, not the only one. The worker
subscribes with a shared subscription (``$share/gmid/...``): with several workers the broker hands each
message to one of them. Valve commands go out on the down topic of the valve, or of its gateway, as
soon as they are due (polled every second; each delivery is claimed under the command's row lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import aiomqtt
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from miniapp_api.devices import ingest, signing, valve
from miniapp_api.devices.models import Device, DeviceCommand
from server.errors import AppError, PayloadTooLarge, ValidationFailed, error_body
from server.jobs import JobContext
from server.validation import check_json_bounds, load_json

log = logging.getLogger("gmid.devices.mqtt")

UP_FILTER = "$share/gmid/gmid/devices/+/up"
UP_RE = re.compile(r"^gmid/devices/([A-Za-z0-9][A-Za-z0-9_-]{3,63})/up$")
MAX_PAYLOAD = 1024 * 1024
CONNECTED_TTL_SECONDS = 86400  # a device heard over MQTT lately gets its commands there
POLL_SECONDS = 1.0
RETRY_CAP_SECONDS = 30.0


def up_topic(serial: str) -> str:
    return f"gmid/devices/{serial}/up"


def down_topic(serial: str) -> str:
    return f"gmid/devices/{serial}/down"


def _connected_key(device_id: int) -> str:
    return f"dev:mqtt:{device_id}"


def envelope(serial: str, secret: str, body: bytes, *, now: float | None = None) -> bytes:
    """What a device publishes (the simulator's and the tests' side of the scheme)."""
    signed = signing.headers(serial, secret, up_topic(serial), body, method="MQTT", now=now)
    return json.dumps(
        {
            "timestamp": signed[signing.TIMESTAMP_HEADER],
            "nonce": signed[signing.NONCE_HEADER],
            "signature": signed[signing.SIGNATURE_HEADER],
            "body": body.decode(),
        }
    ).encode()


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> Broker:
        parts = urlparse(url)
        tls = parts.scheme == "mqtts"
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or (8883 if tls else 1883),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            tls,
        )


async def handle(topic: str, payload: bytes, redis: aioredis.Redis) -> tuple[str, bytes] | None:
    """One message from the up topic: the answer to publish (topic, payload), or None for a topic that
    is not a device's up topic."""
    match = UP_RE.match(topic)
    if match is None:
        return None
    serial = match.group(1)
    try:
        if len(payload) > MAX_PAYLOAD:
            raise PayloadTooLarge("The message is larger than 1 MiB.", code="payload_too_large")
        document = load_json(payload)
        if not isinstance(document, dict) or set(document) != {"timestamp", "nonce", "signature", "body"}:
            raise ValidationFailed("The message is {timestamp, nonce, signature, body}.", code="invalid_envelope")
        if not all(isinstance(v, str) for v in document.values()):
            raise ValidationFailed("The envelope's fields are strings.", code="invalid_envelope")
        body = document["body"].encode()
        headers = {
            signing.DEVICE_HEADER: serial,
            signing.TIMESTAMP_HEADER: document["timestamp"],
            signing.NONCE_HEADER: document["nonce"],
            signing.SIGNATURE_HEADER: document["signature"],
        }
        check_json_bounds(body)
        signer = await ingest.authenticate(method="MQTT", path=topic, headers=headers, body=body, redis=redis)
        with contextlib.suppress(RedisError):
            await redis.set(_connected_key(signer.id), b"1", ex=CONNECTED_TTL_SECONDS)
        readings = ingest.body_readings(load_json(body))
        answer = await ingest.ingest(signer=signer, readings=readings, redis=redis)
        return down_topic(serial), answer.model_dump_json().encode()
    except AppError as exc:
        return down_topic(serial), json.dumps(error_body(exc.code, str(exc.message))).encode()


async def push_commands(client: Any, redis: aioredis.Redis, now: dt.datetime | None = None) -> int:
    """Hand every due valve command to the valve, or its gateway, heard over MQTT lately; the count sent."""
    moment = now or dt.datetime.now(dt.UTC)
    due = await DeviceCommand.filter(
        state__in=list(valve.OPEN_STATES), next_attempt_at__lte=moment, expires_at__gt=moment
    ).values_list("device_id", flat=True)
    valve_ids = sorted(set(due))
    if not valve_ids:
        return 0
    signers: dict[int, Device] = {}
    for valve_device in await Device.filter(id__in=valve_ids):
        for candidate_id in filter(None, (valve_device.gateway_id, valve_device.id)):
            try:
                heard = await redis.exists(_connected_key(candidate_id))
            except RedisError:
                return 0
            if heard:
                signer = valve_device if candidate_id == valve_device.id else await Device.get(id=candidate_id)
                signers[signer.id] = signer
                break
    sent = 0
    for signer in signers.values():
        outgoing = await valve.due_for(signer, moment)
        if not outgoing:
            continue
        payload = {
            "commands": [
                {"id": c.id, "device": c.device, "action": c.action, "expires_at": c.expires_at.isoformat()}
                for c in outgoing
            ]
        }
        await client.publish(down_topic(signer.serial), json.dumps(payload).encode(), qos=1)
        sent += len(outgoing)
    return sent


class MqttService:
    """The worker's MQTT connection: reads the up topics, answers, and pushes valve commands; reconnects
    with a capped backoff when the broker goes away."""

    def __init__(self, url: str, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.broker = Broker.from_url(url)
        self.poll_seconds = poll_seconds
        self.handled = 0
        self.connected = asyncio.Event()

    def _client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=f"gmid-{socket.gethostname()[:32]}-{os.getpid()}",
            tls_params=aiomqtt.TLSParameters() if self.broker.tls else None,
        )

    async def serve(self, ctx: JobContext, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                async with self._client() as client:
                    await client.subscribe(UP_FILTER, qos=1)
                    self.connected.set()
                    backoff = 1.0
                    log.info("mqtt connected host=%s port=%s", self.broker.host, self.broker.port)
                    await self._run(client, ctx.redis, stop)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                log.warning("mqtt connection lost error=%s retry_in=%s", exc.__class__.__name__, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, RETRY_CAP_SECONDS)
        self.connected.clear()

    async def _run(self, client: aiomqtt.Client, redis: aioredis.Redis, stop: asyncio.Event) -> None:
        async def read() -> None:
            async for message in client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
                try:
                    answer = await handle(message.topic.value, payload, redis)
                except Exception:  # a message must never end the subscription; its error class only
                    log.exception("mqtt message failed")
                    continue
                self.handled += 1
                if answer is not None:
                    await client.publish(answer[0], answer[1], qos=1)

        async def push() -> None:
            while True:
                try:
                    await push_commands(client, redis)
                except aiomqtt.MqttError:
                    raise
                except Exception:
                    log.exception("mqtt command push failed")
                await asyncio.sleep(self.poll_seconds)

        tasks = [asyncio.create_task(read()), asyncio.create_task(push()), asyncio.create_task(stop.wait())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
