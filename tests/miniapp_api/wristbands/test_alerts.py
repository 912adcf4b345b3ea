"""A stop tells, at once, the checkpoint's nearest grid staff and the wearer's nearest community health
staff (SMS too when the wearer is red), and the wearer what to do; once per person per hour per reason;
an unknown band only grid staff, once per band per hour. Staff learn the place, time and category."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
from sanic import Sanic

from identity.models import Account
from identity.pii import current_vault
from identity.roles import Role
from notify.models import Notification
from tests.factories import make_account
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.gate import Gate, decide, gate

HOUR = dt.timedelta(hours=1)


async def told(account: Account | User, template: str = "checkin.stop") -> list[Notification]:
    who = account.account if isinstance(account, User) else account
    return list(await Notification.filter(account_id=who.id, template=template).order_by("id"))


def data_of(row: Notification) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(current_vault().decrypt(row.data_enc, field="notify.data"))
    return out


async def scene(app: Sanic) -> dict[str, User]:
    return {
        "grid": await user(app, Role.GRID_STAFF, node="GM010101", openid="o_gate_grid", phone="13900005001"),
        "community_grid": await user(app, Role.GRID_STAFF, node="GM0101", openid="o_gate_cgrid"),
        "other_grid": await user(app, Role.GRID_STAFF, node="GM010102", openid="o_gate_ogrid"),
        "health": await user(app, Role.HEALTH_STAFF, node="GM0101", openid="o_gate_health", phone="13900005002"),
        "street_health": await user(app, Role.HEALTH_STAFF, node="GM01", openid="o_gate_shealth"),
        "other_health": await user(app, Role.HEALTH_STAFF, node="GM0201", openid="o_gate_ohealth"),
    }


async def test_a_stop_tells_the_nearest_grid_and_health_staff_and_the_wearer(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    staff = await scene(app)
    at_gate = await gate(app)
    person = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=person, home="GM0101")
    await seed.status(person, "yellow")
    assert await decide(client, at_gate, band.ble_id) == ["health_check_needed"]
    for name in ("grid", "health"):
        [row] = await told(staff[name])
        assert row.channels == "wechat", name
        assert data_of(row) == {"place": "一号门", "at": data_of(row)["at"], "reason": "需健康核查"}
    for name in ("community_grid", "other_grid", "street_health", "other_health"):
        assert await told(staff[name]) == [], name
    [to_person] = await told(person, "checkin.stop_person")
    assert set(data_of(to_person)) == {"place", "at"}


async def test_a_red_wearer_adds_sms_and_messages_hold_no_health_details(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await scene(app)
    at_gate = await gate(app)
    person = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=person, home="GM0101")
    await seed.status(person, "red")
    assert await decide(client, at_gate, band.ble_id, temperature=38.6) == ["temperature", "health_check_needed"]
    grid_rows = await told(staff["grid"])
    assert sorted((r.channels, data_of(r)["reason"]) for r in grid_rows) == [
        ("sms", "体温异常"),
        ("sms", "需健康核查"),
        ("wechat", "体温异常"),
        ("wechat", "需健康核查"),
    ]
    assert len(await told(staff["health"])) == 4
    for row in [*grid_rows, *await told(staff["health"])]:
        text = json.dumps(data_of(row), ensure_ascii=False)
        for secret in ("38.6", "red", "红", "close_contact", person.public_id):
            assert secret not in text
    assert len(await told(person, "checkin.stop_person")) == 1  # one message, whatever the reasons


async def test_once_per_person_per_hour_per_reason(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = await scene(app)
    at_gate = await gate(app)
    hall = await seed.checkpoint(node="GM010101", staff=[at_gate.staff.account], name="礼堂")
    person = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=person, home="GM0101")
    await seed.status(person, "yellow")
    await decide(client, at_gate, band.ble_id)
    await decide(client, at_gate, band.ble_id)
    assert await decide(client, Gate(at_gate.staff, hall), band.ble_id) == ["health_check_needed"]
    assert len(await told(staff["grid"])) == 1
    assert len(await told(staff["health"])) == 1
    # Another reason within the hour is news: staff hear of it; the wearer's message is not repeated.
    await decide(client, at_gate, band.ble_id, temperature=38.0)
    assert [data_of(r)["reason"] for r in await told(staff["grid"])] == ["需健康核查", "体温异常"]
    assert len(await told(person, "checkin.stop_person")) == 1


async def test_an_unknown_band_tells_grid_staff_only_once_per_band_per_hour(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    staff = await scene(app)
    at_gate = await gate(app)
    unknown = seed.new_ble_id()
    assert await decide(client, at_gate, unknown) == ["band_invalid"]
    assert await decide(client, at_gate, unknown.lower()) == ["band_invalid"]
    [row] = await told(staff["grid"])
    assert data_of(row)["reason"] == "手环无效"
    assert await told(staff["health"]) == []
    await decide(client, at_gate, seed.new_ble_id())  # another band is another message
    assert len(await told(staff["grid"])) == 2


async def test_the_community_grid_staff_hear_when_the_grid_has_none_and_old_uploads_tell_nobody(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    community_grid = await user(app, Role.GRID_STAFF, node="GM0101", openid="o_gate_only")
    checkpoint_staff = await user(app, Role.OFFICER, node="GM010102")
    checkpoint = await seed.checkpoint(node="GM010102", staff=[checkpoint_staff.account])
    at_gate = Gate(checkpoint_staff, checkpoint)
    person = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=person)
    old = seed.now() - 2 * HOUR
    assert await decide(client, at_gate, band.ble_id, temperature=39.0, at=old, offline=True) == ["temperature"]
    assert await Notification.all().count() == 0
    assert await decide(client, at_gate, band.ble_id, temperature=39.0) == ["temperature"]
    assert len(await told(community_grid)) == 1
