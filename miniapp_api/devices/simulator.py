"""Simulated devices for demos and tests: ``gmid devices simulate``.

``prepare`` registers (or finds again) N devices in a building, behind gateways of at most 500 devices
each; their serials are derived from the building's code, so a second run reuses them, and the state
file under VAR_DIR records what was made (serials only: the secrets stay in the registry, encrypted, and
are read from it). ``run`` sends their readings over HTTP as the devices would: signed by each gateway
(``signing.headers``), at R readings a second, one batch per gateway a second. The gas-leak scenario
ramps one gas detector (paired with a valve, bound to the demo residents when there are any) from 0 to
30 %LEL: a warning, then a critical alarm, with the household's notifications; its valve, behind the
same gateway, takes the close command from the gateway's next answer, confirms it by its id and reports
itself shut.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from identity.models import Account
from identity.roles import Role
from miniapp_api.buildings.models import Building
from miniapp_api.devices import registry, signing
from miniapp_api.devices.models import Device, DeviceMember
from miniapp_api.devices.rules import DeviceType
from miniapp_api.devices.schemas import DeviceIn
from server.auth import Principal

READINGS_PATH = "/api/v1/devices/readings"
STATE_FILE = "device-simulator.json"
PER_GATEWAY = 500
ANSWER_SECONDS = 10.0  # an MQTT batch's answer
KINDS = (DeviceType.GAS, DeviceType.SMOKE, DeviceType.NOISE, DeviceType.AIR, DeviceType.WATER)
LEAK_RAMP = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)  # %LEL, one a second: warning at 10, critical at 20
DEMO_RESIDENTS = ("demo-openid-1",)  # `gmid seed-demo`'s first resident hears the demo leak
VIEWER = Principal("simulator", Role.ADMIN, "/")  # the operator's command: the whole hierarchy


class SimulatorError(Exception):
    pass


@dataclass(frozen=True)
class SimDevice:
    serial: str
    type: DeviceType
    gateway: str


@dataclass
class Fleet:
    building: str
    gateways: dict[str, str]  # serial -> secret
    devices: list[SimDevice]
    leak: SimDevice | None
    registered: int = 0  # new this run
    bound: int = 0
    valve: str | None = None  # the leak's valve, behind the leak's gateway


DEMO_ADDRESS = "光明区演示楼栋（设备模拟）"


async def demo_building(code: str | None) -> Building:
    """The building asked for; else the simulator's own demo building (made now, in the first grid of the
    hierarchy, the demo hierarchy when there is none). Never some real building by chance: a simulated
    leak there would raise a real alarm to real staff."""
    if code:
        found = await Building.get_or_none(code=code.upper())
        if found is None:
            raise SimulatorError("no building with this code (gmid import buildings, or leave out --building)")
        return found
    found = await Building.filter(address=DEMO_ADDRESS).order_by("id").first()
    if found is not None:
        return found
    from identity import hierarchy
    from identity.models import Node
    from miniapp_api.buildings import importer

    grid = await Node.filter(level="grid").order_by("path").first()
    if grid is None:
        await hierarchy.load_file(hierarchy.demo_file())
        grid = await Node.filter(level="grid").order_by("path").first()
    if grid is None:
        raise SimulatorError("the hierarchy has no grid to put a demo building in")
    building_code = f"{grid.code}9001"
    header = ["code", "address", "grid", "floor_area", "floors", "households", "residents"]
    if await Building.exists(code=building_code):
        raise SimulatorError(f"building {building_code} is not the simulator's: give --building CODE")
    row = [building_code, DEMO_ADDRESS, grid.code, "300", "6", "12", "30"]
    result = await importer.import_table(importer.Table(header, [(2, row)]))
    if result.rejected:
        raise SimulatorError(f"the demo building was refused: {result.rejected[0]}")
    return await Building.get(code=building_code)


def _plan(building: str, count: int) -> tuple[list[str], list[SimDevice]]:
    gateways = [f"SIM-{building}-GW{n:03d}" for n in range(1, math.ceil(count / PER_GATEWAY) + 1)]
    devices = [
        SimDevice(f"SIM-{building}-{n:05d}", KINDS[(n - 1) % len(KINDS)], gateways[(n - 1) // PER_GATEWAY])
        for n in range(1, count + 1)
    ]
    return gateways, devices


async def _ensure(serial: str, data: DeviceIn, fleet: Fleet) -> Device:
    device = await Device.get_or_none(serial=serial)
    if device is None:
        device, _, _ = await registry.register(viewer=VIEWER, data=data)
        fleet.registered += 1
    elif not device.active:
        raise SimulatorError(f"simulated device {serial} is retired: use another --building or reactivate it")
    return device


async def prepare(*, count: int, building: str | None, var_dir: Path, leak: bool) -> Fleet:
    where = await demo_building(building)
    gateway_serials, devices = _plan(where.code, count)
    fleet = Fleet(where.code, {}, devices, None)
    for serial in gateway_serials:
        data = DeviceIn(serial=serial, type=DeviceType.GATEWAY, building=where.code, place="弱电间", model="SIM-GW")
        fleet.gateways[serial] = registry.secret_of(await _ensure(serial, data, fleet))
    valve_serial = f"SIM-{where.code}-V00001"
    if leak:
        gateway = devices[0].gateway
        data = DeviceIn(
            serial=valve_serial,
            type=DeviceType.VALVE,
            building=where.code,
            gateway=gateway,
            place="厨房",
            model="SIM-V",
        )
        shutoff = await _ensure(valve_serial, data, fleet)
        if shutoff.gateway_id is None:  # made by an earlier version without one
            await Device.filter(id=shutoff.id).update(gateway_id=(await Device.get(serial=gateway)).id)
        fleet.valve = valve_serial
    for n, sim in enumerate(devices):
        valve = valve_serial if leak and n == 0 else None
        data = DeviceIn(
            serial=sim.serial, type=sim.type, building=where.code, gateway=sim.gateway, place="厨房", model="SIM"
        )
        device = await _ensure(sim.serial, data, fleet)
        if valve is not None and device.valve_id is None:
            paired = await Device.get(serial=valve_serial)
            if not await Device.filter(valve_id=paired.id).exists():
                await Device.filter(id=device.id).update(valve_id=paired.id)
    if leak:
        fleet.leak = devices[0]  # a gas detector: the first kind
        fleet.bound = await _bind_demo_residents(devices[0].serial)
    _write_state(var_dir, fleet)
    return fleet


async def _bind_demo_residents(serial: str) -> int:
    device = await Device.get(serial=serial)
    accounts = await Account.filter(wechat_openid__in=list(DEMO_RESIDENTS), is_active=True)
    members = [
        DeviceMember(device_id=device.id, account_id=a.id, added_at=registry.utcnow(), added_by="simulator")
        for a in accounts
    ]
    if members:
        await DeviceMember.bulk_create(members, ignore_conflicts=True)
    return len(members)


def _write_state(var_dir: Path, fleet: Fleet) -> None:
    """What the simulator made (serials, never secrets), for the operator and the next run."""
    path = var_dir / STATE_FILE
    state: dict[str, Any] = {}
    if path.exists():
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
    buildings = state.setdefault("buildings", {})
    buildings[fleet.building] = {
        "gateways": sorted(fleet.gateways),
        "devices": len(fleet.devices),
        "first": fleet.devices[0].serial if fleet.devices else None,
        "leak": fleet.leak.serial if fleet.leak else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(temporary, path)


def normal_reading(sim: SimDevice, rng: random.Random) -> tuple[str, float]:
    """A quiet day's reading of one device (no rule fires)."""
    if sim.type is DeviceType.GAS:
        return "gas_lel_pct", round(rng.uniform(0.0, 2.0), 1)
    if sim.type is DeviceType.SMOKE:
        return "smoke", 0.0
    if sim.type is DeviceType.NOISE:
        return "noise_dba", round(rng.uniform(35.0, 42.0), 1)
    if sim.type is DeviceType.AIR:
        return "pm25_ugm3", round(rng.uniform(15.0, 40.0), 1)
    return rng.choice((("ph", round(rng.uniform(7.0, 7.6), 2)), ("turbidity_ntu", round(rng.uniform(0.1, 0.4), 2))))


@dataclass
class Totals:
    requests: int = 0
    readings: int = 0
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0
    failed: int = 0  # requests the server did not take
    alarms: list[dict[str, Any]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)  # handed out, to answer in the next batch
    confirmed: int = 0


Say = Callable[[str], object]


class Channel:
    """How the gateways reach the ingest: HTTP (``POST /api/v1/devices/readings``) or MQTT (the up topic;
    the answer read from the down topic). ``send`` gives the answer, or why there is none."""

    pushed: list[dict[str, Any]]  # commands that came without a request (MQTT pushes them)

    async def send(self, gateway: str, secret: str, body: bytes) -> tuple[dict[str, Any] | None, str]:
        raise NotImplementedError


class HttpChannel(Channel):
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.pushed = []

    async def send(self, gateway: str, secret: str, body: bytes) -> tuple[dict[str, Any] | None, str]:
        try:
            response = await self.http.post(
                READINGS_PATH, content=body, headers=signing.headers(gateway, secret, READINGS_PATH, body)
            )
        except httpx.HTTPError as exc:
            return None, f"no answer ({type(exc).__name__})"
        if response.status_code != 200:
            try:
                code = response.json().get("error", {}).get("code", "")
            except ValueError:
                code = ""
            return None, f"HTTP {response.status_code} {code}".rstrip()
        answer: dict[str, Any] = response.json()
        return answer, ""


class MqttChannel(Channel):
    """One MQTT connection for every simulated gateway; one batch in flight per gateway (its answer is the
    next message on its down topic)."""

    def __init__(self, client: Any, gateways: list[str]) -> None:
        self.client = client
        self.answers: dict[str, asyncio.Queue[bytes]] = {g: asyncio.Queue() for g in gateways}
        self.pushed = []

    async def read(self) -> None:
        async for message in self.client.messages:
            serial = str(message.topic.value).split("/")[2]
            if serial not in self.answers or not isinstance(message.payload, bytes):
                continue
            document = json.loads(message.payload)
            if isinstance(document, dict) and set(document) == {"commands"}:
                self.pushed.extend(document["commands"])  # the service pushed them: no batch asked
            else:
                await self.answers[serial].put(message.payload)

    async def send(self, gateway: str, secret: str, body: bytes) -> tuple[dict[str, Any] | None, str]:
        from miniapp_api.devices import mqtt

        await self.client.publish(mqtt.up_topic(gateway), mqtt.envelope(gateway, secret, body), qos=1)
        try:
            payload = await asyncio.wait_for(self.answers[gateway].get(), timeout=ANSWER_SECONDS)
        except TimeoutError:
            return None, f"no answer on {mqtt.down_topic(gateway)} within {ANSWER_SECONDS:g} s"
        answer: dict[str, Any] = json.loads(payload)
        if "error" in answer:
            return None, f"MQTT {answer['error'].get('code', '')}".rstrip()
        return answer, ""


async def _post(
    channel: Channel, gateway: str, secret: str, readings: list[dict[str, Any]], totals: Totals, say: Say
) -> None:
    body = json.dumps({"readings": readings}).encode()
    totals.requests += 1
    totals.readings += len(readings)
    answer, problem = await channel.send(gateway, secret, body)
    if answer is None:
        totals.failed += 1
        say(f"{gateway}: {problem}")
        return
    totals.accepted += answer["accepted"]
    totals.duplicates += answer["duplicates"]
    totals.refused += len(answer["refused"])
    for alarm in answer["alarms"]:
        totals.alarms.append(alarm)
        what = f"{alarm['type']} {alarm['severity']} on {alarm['device']}"
        say(f"alarm {alarm['change']}: {what} ({alarm['id']}, {alarm['state']})")
    for command in answer.get("commands", []):
        totals.commands.append(command)
        say(f"command {command['action']} for {command['device']} ({command['id']})")


@contextlib.asynccontextmanager
async def channel_for(url: str, mqtt_url: str | None, gateways: list[str]) -> AsyncIterator[Channel]:
    """HTTP to ``url``, or MQTT through the broker at ``mqtt_url`` when one is given."""
    if not mqtt_url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield HttpChannel(http)
        return
    import aiomqtt

    from miniapp_api.devices import mqtt

    broker = mqtt.Broker.from_url(mqtt_url)
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        identifier=f"gmid-simulator-{os.getpid()}",
        tls_params=aiomqtt.TLSParameters() if broker.tls else None,
    )
    async with client:
        for gateway in gateways:
            await client.subscribe(mqtt.down_topic(gateway), qos=1)
        channel = MqttChannel(client, gateways)
        reader = asyncio.create_task(channel.read())
        try:
            yield channel
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def run(
    *,
    fleet: Fleet,
    url: str,
    rate: float,
    seconds: float,
    say: Say,
    seed: int | None = None,
    mqtt_url: str | None = None,
) -> Totals:
    """Send readings for ``seconds`` (at least the leak's ramp) at ``rate`` readings a second, over HTTP
    to ``url`` or, with ``mqtt_url``, over MQTT."""
    rng = random.Random(seed)
    totals = Totals()
    ticks = max(1, math.ceil(seconds))
    if fleet.leak is not None:
        ticks = max(ticks, len(LEAK_RAMP) + 2)  # and the valve's confirmation after the last step
    budget = 0.0  # readings owed: a rate below 1 a second sends one every few seconds
    cursor = 0
    async with channel_for(url, mqtt_url, list(fleet.gateways)) as channel:
        for tick in range(ticks):
            started = time.monotonic()
            now = dt.datetime.now(dt.UTC)
            batches: dict[str, list[dict[str, Any]]] = {}
            budget += rate
            per_tick, budget = int(budget), budget - int(budget)
            for i in range(per_tick):
                sim = fleet.devices[cursor % len(fleet.devices)]
                cursor += 1
                if sim is fleet.leak:
                    continue  # its readings follow the scenario
                metric, value = normal_reading(sim, rng)
                at = (now - dt.timedelta(milliseconds=i)).isoformat()
                batches.setdefault(sim.gateway, []).append(
                    {"device": sim.serial, "metric": metric, "value": value, "at": at}
                )
            if fleet.leak is not None:
                value = LEAK_RAMP[min(tick, len(LEAK_RAMP) - 1)]
                say(f"t+{tick}s {fleet.leak.serial} gas {value:g} %LEL")
                reading = {"device": fleet.leak.serial, "metric": "gas_lel_pct", "value": value, "at": now.isoformat()}
                batches.setdefault(fleet.leak.gateway, []).append(reading)
            for command in channel.pushed:
                say(f"command {command['action']} for {command['device']} ({command['id']}, pushed)")
            totals.commands.extend(channel.pushed)
            channel.pushed.clear()
            if fleet.leak is not None and fleet.valve is not None:
                for command in totals.commands:  # the valve does it, then says so with the command's id
                    confirm = {
                        "device": command["device"],
                        "command": command["id"],
                        "result": "done",
                        "at": now.isoformat(),
                    }
                    shut = {"device": command["device"], "metric": "valve_state", "value": 0.0, "at": now.isoformat()}
                    batches.setdefault(fleet.leak.gateway, []).extend([confirm, shut])
                    totals.confirmed += 1
                    say(f"valve {command['device']}: {command['action']} done, confirmed ({command['id']})")
                totals.commands.clear()
            for gateway, readings in batches.items():
                for start in range(0, len(readings), PER_GATEWAY):
                    await _post(
                        channel, gateway, fleet.gateways[gateway], readings[start : start + PER_GATEWAY], totals, say
                    )
            if tick < ticks - 1:
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    return totals
