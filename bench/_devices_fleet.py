"""The bench's fleet: the devices, gateways and buildings that follow from a device's index, and their readings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

READINGS_PATH = "/api/v1/devices/readings"
GATEWAY_SIZE = 500
SECRET_FIELD = "device.secret"  # noqa: S105 - miniapp_api.devices.registry.SECRET_FIELD, a field name
HOUSEHOLD_DEVICES = 5  # devices of one storm household
STORM_HOUSEHOLDS = 10


# The fleet: everything follows from the device's index i ----------------------------------------


def device_type(i: int) -> str:
    r = i % 20
    return "gas" if r < 14 else "smoke" if r < 17 else "water" if r < 19 else "noise"


def serial(i: int) -> str:
    return f"BENCH-D{i:07d}"


def gateway_serial(g: int) -> str:
    return f"BENCH-GW{g:05d}"


def secret_for(serial_: str) -> str:
    """Known to the client without storing it; kept encrypted by the vault in the registry."""
    return hashlib.sha256(f"devices-bench:{serial_}".encode()).hexdigest()


@dataclass(frozen=True)
class Plan:
    devices: int
    storm: int  # devices 0 .. storm-1 are in the storm building

    @property
    def gateways(self) -> int:
        return -(-self.devices // GATEWAY_SIZE)

    def gateway_of(self, i: int) -> int:
        return i // GATEWAY_SIZE

    def building_of_gateway(self, g: int) -> int:
        storm_gateways = -(-self.storm // GATEWAY_SIZE)
        return 0 if g < storm_gateways else 1 + g - storm_gateways

    @property
    def buildings(self) -> int:
        return self.building_of_gateway(self.gateways - 1) + 1

    def crosses(self, i: int, offset: int) -> bool:
        """1 % of the devices, gas detectors outside the storm building (offset 0: HTTP, 50: MQTT)."""
        return i >= self.storm and i % 100 == offset

    def household_of(self, i: int) -> int | None:
        """The household (an index) of device i, if any: the HTTP minute's crossing devices, one each;
        in the storm building, ten households of five devices."""
        if self.crosses(i, 0):
            return i
        block = self.storm // STORM_HOUSEHOLDS
        if i < self.storm and block and i % block < HOUSEHOLD_DEVICES and i // block < STORM_HOUSEHOLDS:
            return -1 - i // block
        return None


def normal_reading(i: int, at: str) -> dict[str, Any]:
    kind = device_type(i)
    metric, value = {
        "gas": ("gas_lel_pct", float(i % 3)),
        "smoke": ("smoke", 0.0),
        "water": ("ph", 7.2),
        "noise": ("noise_dba", 42.0),
    }[kind]
    return {"device": serial(i), "metric": metric, "value": value, "at": at}


def alarm_reading(i: int, at: str) -> dict[str, Any]:
    kind = device_type(i)
    if kind == "gas":
        return {"device": serial(i), "metric": "gas_lel_pct", "value": 25.0 if i % 3 == 0 else 12.0, "at": at}
    if kind == "smoke":
        return {"device": serial(i), "metric": "smoke", "value": 1.0, "at": at}
    return {"device": serial(i), "event": "tamper", "at": at}  # water, noise: a major alarm at once
