"""Dated gate rules: district administrators add a set from a time (audited); check-ins are decided by
the set in force at their time; the defaults before any."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.wristbands.models import CheckinRuleSet
from tests.factories import make_account
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.gate import decide, gate


def rules(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "effective_from": seed.now().isoformat(),
        "fever_celsius": 38.0,
        "trip_window_days": 7,
        "stop_statuses": ["red"],
        "quarantine_stops": True,
        "source": "区防控指挥部通告 2026-12",
    }
    body.update(changes)
    return body


async def test_only_district_administrators_add_rules(app: Sanic, client: httpx.AsyncClient) -> None:
    street_admin = await user(app, Role.ADMIN, node="GM01")
    health = await user(app, Role.HEALTH_STAFF)
    grid = await user(app, Role.GRID_STAFF)
    refused = await client.post("/api/v1/checkins/rules", json=rules(), headers=street_admin.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "district_admin_only"
    for caller in (health, grid):
        assert (await client.post("/api/v1/checkins/rules", json=rules(), headers=caller.headers)).status_code == 403
    assert (await client.get("/api/v1/checkins/rules", headers=grid.headers)).status_code == 403
    assert await CheckinRuleSet.all().count() == 0


async def test_bad_rules_are_refused_and_change_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await user(app, Role.ADMIN)
    for change in (
        {"fever_celsius": 35.9},
        {"fever_celsius": 40.1},
        {"fever_celsius": "37.5"},
        {"trip_window_days": 0},
        {"trip_window_days": 29},
        {"trip_window_days": 7.5},
        {"stop_statuses": ["green"]},
        {"stop_statuses": ["red", "yellow", "red"]},
        {"quarantine_stops": "yes"},
        {"source": ""},
        {"source": "x" * 201},
        {"effective_from": "2026-12-05T08:00:00"},
        {"effective_from": (seed.now() - dt.timedelta(hours=1)).isoformat()},
        {"extra": 1},
    ):
        response = await client.post("/api/v1/checkins/rules", json=rules(**change), headers=admin.headers)
        assert response.status_code == 422, (change, response.text)
    assert await CheckinRuleSet.all().count() == 0
    assert await AuditEntry.filter(action="checkin.rules_added").count() == 0


async def test_rules_added_are_listed_audited_and_decide_from_their_time(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await user(app, Role.ADMIN)
    health = await user(app, Role.HEALTH_STAFF)
    before = (await client.get("/api/v1/checkins/rules", headers=health.headers)).json()
    assert before["items"] == [] and before["in_force"]["fever_celsius"] == 37.3
    assert before["in_force"]["trip_window_days"] == 14 and before["in_force"]["source"] == "default"
    at_gate = await gate(app)
    band, _ = await seed.band(wearer=await make_account(Role.RESIDENT))
    assert await decide(client, at_gate, band.ble_id, temperature=37.5) == ["temperature"]
    body = rules(stop_statuses=["red", "red"])
    added = await client.post("/api/v1/checkins/rules", json=body, headers=admin.headers)
    assert added.status_code == 201, added.text
    assert added.json()["stop_statuses"] == ["red"] and added.json()["created_by"] == admin.account.public_id
    again = await client.post("/api/v1/checkins/rules", json=body, headers=admin.headers)
    assert again.status_code == 409
    later = rules(effective_from=(seed.now() + dt.timedelta(days=3)).isoformat(), fever_celsius=37.0)
    assert (await client.post("/api/v1/checkins/rules", json=later, headers=admin.headers)).status_code == 201
    [entry, _] = await AuditEntry.filter(action="checkin.rules_added").order_by("seq")
    assert entry.actor == admin.account.public_id and entry.details["fever_celsius"] == 38.0
    listed = (await client.get("/api/v1/checkins/rules", headers=health.headers)).json()
    assert [i["fever_celsius"] for i in listed["items"]] == [38.0, 37.0]
    assert listed["in_force"]["fever_celsius"] == 38.0
    # The next check-in (every instance's cache sees the new set) is decided by it; one of before
    # it, uploaded now, by the defaults.
    assert await decide(client, at_gate, band.ble_id, temperature=37.5) == []
    earlier = seed.now() - dt.timedelta(minutes=3)
    assert await decide(client, at_gate, band.ble_id, temperature=37.5, at=earlier, offline=True) == ["temperature"]
    yellow = await make_account(Role.RESIDENT)
    y_band, _ = await seed.band(wearer=yellow)
    await seed.status(yellow, "yellow")
    assert await decide(client, at_gate, y_band.ble_id) == []  # only red stops now
