"""Stops that could flood the people who hear of them: one person stopped at many gates within the
hour, and one gate reading a stream of bands nobody wears (a faulty reader, or an app sending made-up
ids). Staff hear of each person once per hour per reason, and of bands nobody wears at most
alerts.BANDS_PER_CHECKPOINT_HOUR times per checkpoint per hour; every check-in is still decided and kept."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.wristbands import alerts
from miniapp_api.wristbands.models import Checkin
from notify.models import Notification
from tests.factories import make_account
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.gate import Gate, body, decide, gate
from tests.miniapp_api.wristbands.test_alerts import told


async def test_one_person_stopped_at_twenty_gates_in_an_hour_is_told_once(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101", openid="o_flood_grid", phone="13900006001")
    health = await user(app, Role.HEALTH_STAFF, node="GM0101", openid="o_flood_health", phone="13900006002")
    staff = await user(app, Role.OFFICER, node="GM010101")
    person = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=person, home="GM0101")
    await seed.status(person, "red")
    for i in range(20):
        checkpoint = await seed.checkpoint(node="GM010101", staff=[staff.account], name=f"{i}号门")
        assert await decide(client, Gate(staff, checkpoint), band.ble_id) == ["health_check_needed"]
    assert [r.channels for r in await told(grid)] == ["wechat", "sms"]
    assert [r.channels for r in await told(health)] == ["wechat", "sms"]
    assert len(await told(person, "checkin.stop_person")) == 1
    assert await Checkin.filter(decision="stop").count() == 20


async def test_a_gate_reading_many_unknown_bands_does_not_flood_its_grid_staff(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101", openid="o_flood_grid2")
    at_gate = await gate(app)
    other = await gate(app, node="GM010101", name="二号门")
    items = [body(at_gate.checkpoint, seed.new_ble_id()) for _ in range(60)]
    sent = await client.post("/api/v1/checkins/batch", json={"checkins": items}, headers=at_gate.staff.headers)
    assert sent.status_code == 200, sent.text
    assert all(r["answer"]["reasons"] == ["band_invalid"] for r in sent.json()["results"])
    assert await Checkin.filter(decision="stop").count() == 60  # each decided and kept
    assert len(await told(grid)) == alerts.BANDS_PER_CHECKPOINT_HOUR
    # Another gate has its own budget; a person's stop at the flooded gate is still told.
    assert await decide(client, other, seed.new_ble_id()) == ["band_invalid"]
    assert len(await told(grid)) == alerts.BANDS_PER_CHECKPOINT_HOUR + 1
    person = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=person)
    await seed.status(person, "yellow")
    assert await decide(client, at_gate, band.ble_id) == ["health_check_needed"]
    assert len(await told(grid)) == alerts.BANDS_PER_CHECKPOINT_HOUR + 2
    assert await Notification.filter(template="checkin.stop").count() == alerts.BANDS_PER_CHECKPOINT_HOUR + 2
