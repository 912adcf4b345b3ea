"""Helpers of the gate tests: a checkpoint with its staff, and check-ins sent over HTTP."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.wristbands.models import Checkpoint
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.wristbands import seed


@dataclass
class Gate:
    staff: User
    checkpoint: Checkpoint


async def gate(app: Sanic, *, node: str = "GM010101", name: str = "一号门") -> Gate:
    staff = await user(app, Role.GRID_STAFF, node=node)
    return Gate(staff, await seed.checkpoint(node=node, staff=[staff.account], name=name))


def body(
    where: Checkpoint | str,
    ble_id: str,
    *,
    temperature: float | None = 36.5,
    at: dt.datetime | None = None,
    offline: bool = False,
    client_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": client_id or "ci-" + secrets.token_hex(8),
        "ble_id": ble_id,
        "checkpoint": where if isinstance(where, str) else where.public_id,
        "temperature": temperature,
        "at": (at or seed.now()).isoformat(),
        "offline": offline,
    }


async def check_in(client: httpx.AsyncClient, sender: User, data: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = await client.post("/api/v1/checkins", json=data, headers=sender.headers)
    assert response.status_code == status, response.text
    out: dict[str, Any] = response.json()
    return out


async def decide(client: httpx.AsyncClient, at_gate: Gate, ble_id: str, **changes: Any) -> list[str]:
    """The reasons of a check-in (empty: pass)."""
    answer = await check_in(client, at_gate.staff, body(at_gate.checkpoint, ble_id, **changes))
    assert (answer["decision"] == "stop") == bool(answer["reasons"])
    assert answer["alert"] == ("vibrate" if answer["reasons"] else None)
    return list(answer["reasons"])
