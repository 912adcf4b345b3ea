"""Check-ins at the gate over HTTP: only a checkpoint's staff, each rule alone and together, replays,
offline uploads decided by their original time, reason categories only, bad input."""

from __future__ import annotations

import datetime as dt

import httpx
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from miniapp_api.wristbands import engine, sealed
from miniapp_api.wristbands.models import Checkin, CheckinRuleSet, Checkpoint
from notify.models import Notification
from tests.factories import make_account
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.gate import body, check_in, decide, gate

HOUR = dt.timedelta(hours=1)


async def wearer() -> tuple[Account, str]:
    resident = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=resident)
    return resident, band.ble_id


async def test_only_the_checkpoints_own_staff_may_check_in(app: Sanic, client: httpx.AsyncClient) -> None:
    here = await gate(app)
    elsewhere = await gate(app, node="GM010102", name="二号门")
    same_grid_not_assigned = await user(app, Role.GRID_STAFF, node="GM010101")
    _, ble = await wearer()
    for sender, where in (
        (same_grid_not_assigned, here.checkpoint),
        (elsewhere.staff, here.checkpoint),
        (here.staff, "cp_doesnotexist"),
        (here.staff, "x" * 32),
    ):
        answer = await check_in(client, sender, body(where, ble), status=404)
        assert answer["error"]["code"] == "checkpoint_not_found"
    resident = await user(app, Role.RESIDENT)
    refused = await client.post("/api/v1/checkins", json=body(here.checkpoint, ble), headers=resident.headers)
    assert refused.status_code == 403
    assert (await client.post("/api/v1/checkins", json=body(here.checkpoint, ble))).status_code == 401
    # A closed checkpoint takes no check-ins.
    await Checkpoint.filter(id=here.checkpoint.id).update(active=False)
    await check_in(client, here.staff, body(here.checkpoint, ble), status=404)
    assert await Checkin.all().count() == 0


async def test_each_rule_alone_and_together_and_only_reason_categories(app: Sanic, client: httpx.AsyncClient) -> None:
    at_gate = await gate(app)
    healthy, ble = await wearer()
    assert await decide(client, at_gate, ble) == []
    assert await decide(client, at_gate, ble, temperature=None) == []
    assert await decide(client, at_gate, ble, temperature=37.2) == []
    assert await decide(client, at_gate, ble, temperature=37.3) == ["temperature"]
    await seed.status(healthy, "green")
    assert await decide(client, at_gate, ble) == []
    for status in ("yellow", "red"):
        person, band = await wearer()
        await seed.status(person, status)
        assert await decide(client, at_gate, band) == ["health_check_needed"]
    quarantined, q_band = await wearer()
    await seed.quarantine(quarantined, starts=seed.now() - HOUR, ends=seed.now() + 24 * HOUR)
    assert await decide(client, at_gate, q_band) == ["health_check_needed"]
    traveller, t_band = await wearer()
    today = dt.datetime.now(engine.CHINA).date()
    await seed.trip(traveller, "420106", today - dt.timedelta(days=10), today - dt.timedelta(days=8))
    await seed.key_area("420100", today - dt.timedelta(days=20), None)
    assert await decide(client, at_gate, t_band) == ["health_check_needed"]
    # Unknown, in stock and revoked bands.
    assert await decide(client, at_gate, seed.new_ble_id()) == ["band_invalid"]
    stock, _ = await seed.band()
    assert await decide(client, at_gate, stock.ble_id) == ["band_invalid"]
    lost, _ = await seed.band(wearer=await make_account(Role.RESIDENT), revoked=True)
    assert await decide(client, at_gate, lost.ble_id, temperature=38.5) == ["band_invalid", "temperature"]
    # Together: fever and a red status; the answer is the decision and categories, nothing else.
    sick, s_band = await wearer()
    await seed.status(sick, "red")
    answer = await check_in(client, at_gate.staff, body(at_gate.checkpoint, s_band, temperature=38.9))
    assert answer["reasons"] == ["temperature", "health_check_needed"]
    assert set(answer) == {"id", "decision", "alert", "reasons"}
    assert "38.9" not in str(answer) and "red" not in str(answer)


async def test_the_stored_check_in_keeps_temperature_and_reasons_sealed(app: Sanic, client: httpx.AsyncClient) -> None:
    at_gate = await gate(app)
    person, ble = await wearer()
    await seed.status(person, "red")
    await check_in(client, at_gate.staff, body(at_gate.checkpoint, ble, temperature=38.4))
    row = await Checkin.get()
    assert row.decision == "stop" and row.account_id == person.id and row.node_path == at_gate.checkpoint.node_path
    assert row.temperature_enc and "38.4" not in row.temperature_enc
    assert sealed.unseal(row.temperature_enc, field=sealed.TEMPERATURE) == "38.4"
    assert row.reasons_enc and "temperature" not in row.reasons_enc
    assert sealed.unseal_json(row.reasons_enc, field=sealed.REASONS) == ["temperature", "health_check_needed"]


async def test_a_replay_answers_the_first_answer_and_another_body_is_a_conflict(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    at_gate = await gate(app)
    person, ble = await wearer()
    first_body = body(at_gate.checkpoint, ble, temperature=38.0)
    first = await check_in(client, at_gate.staff, first_body)
    assert first["reasons"] == ["temperature"]
    told = await Notification.all().count()
    await seed.status(person, "red")  # the facts move on; the replay still answers the first answer
    assert await check_in(client, at_gate.staff, first_body) == first
    assert await Notification.all().count() == told  # and tells nobody again
    changed = {**first_body, "temperature": 36.5}
    conflict = await check_in(client, at_gate.staff, changed, status=409)
    assert conflict["error"]["code"] == "checkin_id_reused" and "36.5" not in str(conflict)
    assert await Checkin.all().count() == 1


async def test_an_offline_upload_is_decided_by_its_original_time(app: Sanic, client: httpx.AsyncClient) -> None:
    at_gate = await gate(app)
    person, ble = await wearer()
    now = seed.now()
    await seed.status(person, "red", since=HOUR, lasts=3 * 24 * HOUR)  # red from an hour ago
    assert await decide(client, at_gate, ble, at=now - 2 * HOUR, offline=True) == []
    assert await decide(client, at_gate, ble, at=now - 30 * dt.timedelta(minutes=1), offline=True) == [
        "health_check_needed"
    ]
    released, r_ble = await wearer()
    await seed.quarantine(released, starts=now - 48 * HOUR, ends=now - HOUR / 2)
    assert await decide(client, at_gate, r_ble, at=now - HOUR, offline=True) == ["health_check_needed"]
    assert await decide(client, at_gate, r_ble) == []
    # The rules in force then: 38.0 °C from a day ago, the default 37.3 before.
    await CheckinRuleSet.create(
        effective_from=now - 24 * HOUR,
        fever_celsius=38.0,
        trip_window_days=14,
        stop_statuses=["red"],
        quarantine_stops=True,
        source="test",
        created_at=now,
        created_by="seed",
    )
    _, plain = await wearer()
    assert await decide(client, at_gate, plain, temperature=37.5) == []
    assert await decide(client, at_gate, plain, temperature=37.5, at=now - 48 * HOUR, offline=True) == ["temperature"]
    # A band revoked since was valid when the offline check-in happened.
    lost, _ = await seed.band(wearer=await make_account(Role.RESIDENT), revoked=True)
    assert await decide(client, at_gate, lost.ble_id, at=now - HOUR, offline=True) == []
    assert await decide(client, at_gate, lost.ble_id) == ["band_invalid"]


async def test_times_out_of_bounds_are_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    at_gate = await gate(app)
    _, ble = await wearer()
    now = seed.now()
    for at, offline, code in (
        (now + 10 * dt.timedelta(minutes=1), False, "at_future"),
        (now + 10 * dt.timedelta(minutes=1), True, "at_future"),
        (now - 29 * 24 * HOUR, True, "at_too_old"),
        (now - HOUR, False, "at_not_now"),
    ):
        answer = await check_in(client, at_gate.staff, body(at_gate.checkpoint, ble, at=at, offline=offline), 422)
        assert answer["error"]["details"]["fields"][0]["type"] == code
    naive = {**body(at_gate.checkpoint, ble), "at": "2026-12-05T08:00:00"}
    await check_in(client, at_gate.staff, naive, 422)
    assert await Checkin.all().count() == 0


async def test_bad_check_in_input_is_refused_and_changes_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    at_gate = await gate(app)
    _, ble = await wearer()
    good = body(at_gate.checkpoint, ble)
    for change in (
        {"temperature": 29.9},
        {"temperature": 45.1},
        {"temperature": "37.5"},
        {"temperature": True},
        {"ble_id": "not-a-band"},
        {"ble_id": "A" * 65},
        {"ble_id": 12345},
        {"id": "short"},
        {"id": "x" * 65},
        {"id": "bad id with spaces"},
        {"checkpoint": ["x"]},
        {"offline": "yes"},
        {"at": 1764921600},
        {"extra": 1},
        {"temperature": {"value": 37}},
    ):
        response = await client.post("/api/v1/checkins", json={**good, **change}, headers=at_gate.staff.headers)
        assert response.status_code == 422, (change, response.text)
    assert await Checkin.all().count() == 0


async def test_a_batch_of_offline_check_ins_is_answered_by_index(app: Sanic, client: httpx.AsyncClient) -> None:
    at_gate = await gate(app)
    elsewhere = await gate(app, node="GM010102")
    sick, sick_ble = await wearer()
    await seed.status(sick, "red", since=3 * HOUR)
    _, ble = await wearer()
    earlier = seed.now() - HOUR
    items = [
        body(at_gate.checkpoint, ble, at=earlier, offline=True),
        body(at_gate.checkpoint, sick_ble, at=earlier, offline=True),
        {**body(at_gate.checkpoint, ble, offline=True), "temperature": 99},
        body(elsewhere.checkpoint, ble, at=earlier, offline=True),
        "not an object",
    ]
    sent = await client.post("/api/v1/checkins/batch", json={"checkins": items}, headers=at_gate.staff.headers)
    assert sent.status_code == 200, sent.text
    results = sent.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert results[0]["answer"]["decision"] == "pass" and results[0]["error"] is None
    assert results[1]["answer"]["reasons"] == ["health_check_needed"]
    assert results[2]["error"]["status"] == 422 and results[2]["error"]["fields"] == ["temperature"]
    assert results[3]["error"] == {
        "status": 404,
        "code": "checkpoint_not_found",
        "message": results[3]["error"]["message"],
        "fields": [],
    }
    assert results[4]["error"]["status"] == 422
    again = await client.post("/api/v1/checkins/batch", json={"checkins": items}, headers=at_gate.staff.headers)
    assert again.json() == sent.json()
    assert await Checkin.all().count() == 2
    too_many = [body(at_gate.checkpoint, ble, offline=True) for _ in range(501)]
    refused = await client.post("/api/v1/checkins/batch", json={"checkins": too_many}, headers=at_gate.staff.headers)
    assert refused.status_code == 422
    assert await Checkin.all().count() == 2
