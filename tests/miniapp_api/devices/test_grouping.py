"""Grouped alarm messages: in an alarm storm each person hears at most one message at once and one summary
per window, for households and for escalated staff alike; a summary is sent once by concurrent flushers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from pathlib import Path

import httpx
from sanic import Sanic

from identity.pii import current_vault
from identity.roles import Role
from miniapp_api.devices import notices
from miniapp_api.devices.escalation import EscalationScheduler
from miniapp_api.devices.models import AlarmNotice
from miniapp_api.devices.notices import NoticeFlusher
from notify.models import Notification
from tests.miniapp_api.devices.conftest import User, bound_resident, buildings, gas, register, send, user

STORM = 50


def later(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


async def summary_data(row: Notification) -> dict[str, str]:
    data: dict[str, str] = json.loads(current_vault().decrypt(row.data_enc, field="notify.data"))
    return data


def staff_summary_data_at(data: dict[str, str]) -> str:
    assert dt.datetime.fromisoformat(data["at"].replace("Z", "+00:00")) > dt.datetime.now(dt.UTC)
    return data["at"]


async def messages(account: User) -> Counter[str]:
    """Messages (not channel rows: a critical gas alarm goes by WeChat and SMS as two rows) by template."""
    rows = await Notification.filter(account_id=account.account.id).order_by("id")
    keys = {(r.template, r.idempotency_key.rsplit(":", 1)[0]) for r in rows}
    return Counter(template for template, _ in keys)


async def test_an_alarm_storm_in_one_building_is_one_message_and_one_summary_per_window(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101", openid="o_storm_grid")
    devices = [await register(client, staff, f"GS-{n:04d}") for n in range(STORM)]
    many = await bound_resident(app, client, devices[0], phone="13900004001", openid="o_storm_many")
    for device in devices[1:10]:  # one household with ten detectors
        bound = await client.post(
            "/api/v1/devices/bind", json={"serial": device.serial, "code": device.binding_code}, headers=many.headers
        )
        assert bound.status_code == 201, bound.text
    single = await bound_resident(app, client, devices[20], phone="13900004002", openid="o_storm_single")
    answers = await asyncio.gather(*(send(client, d, [gas(d.serial, 30.0)]) for d in devices))
    assert all(a.status_code == 200 and a.json()["alarms"] for a in answers)
    # At once: one message each (a critical gas alarm: by WeChat AND by SMS).
    assert await messages(many) == Counter({"device.alarm": 1})
    channels = await Notification.filter(account_id=many.account.id).values_list("channels", flat=True)
    assert sorted(channels) == ["sms", "wechat"]
    assert await messages(single) == Counter({"device.alarm": 1})
    # Nothing is summed up before the window ends; then one summary of the other nine, once, whoever flushes.
    assert await NoticeFlusher().run_once(now=later(notices.window().total_seconds() - 5)) == 0
    flushed = await asyncio.gather(*(NoticeFlusher().run_once(now=later(61)) for _ in range(3)))
    assert sum(flushed) == 1  # only the household of ten had more than one alarm in the window
    assert await NoticeFlusher().run_once(now=later(600)) == 0
    assert await messages(many) == Counter({"device.alarm": 1, "device.alarm_group": 1})
    assert await messages(single) == Counter({"device.alarm": 1})
    [summary] = await Notification.filter(account_id=many.account.id, template="device.alarm_group", channels="sms")
    assert summary.idempotency_key.endswith(":sms")  # critical gas: by SMS as well
    stored = await AlarmNotice.get(account_id=many.account.id)
    assert len(stored.alarm_ids) == 10 and stored.flushed_at is not None

    # Staff: fifty steps fire at once; the grid's staff hear one at once and one summary of 49.
    assert await EscalationScheduler().run_once(now=later(6 * 60)) == STORM
    assert await messages(staff) == Counter({"device.alarm_escalated": 1})
    assert await NoticeFlusher().run_once(now=later(6 * 60 + 61)) == 1
    assert await messages(staff) == Counter({"device.alarm_escalated": 1, "device.alarm_group": 1})
    staff_summary = await Notification.filter(account_id=staff.account.id, template="device.alarm_group").first()
    assert staff_summary is not None
    # The summary says which building, how many more, and the highest level.
    assert await summary_data(staff_summary) == {
        "building": "GM0101010001",
        "count": str(STORM - 1),
        "level": "紧急",
        "at": staff_summary_data_at(await summary_data(staff_summary)),
    }
    assert (await summary_data(summary))["count"] == "9"


async def test_after_the_window_a_new_alarm_goes_at_once_and_clears_are_never_held(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    first, second = await register(client, staff, "GS-1001"), await register(client, staff, "GS-1002")
    resident = await bound_resident(app, client, first, phone="13900004101", openid="o_window_home")
    bound = await client.post(
        "/api/v1/devices/bind", json={"serial": second.serial, "code": second.binding_code}, headers=resident.headers
    )
    assert bound.status_code == 201
    await send(client, first, [gas(first.serial, 12.0)])  # a warning
    await send(client, first, [gas(first.serial, 2.0)])  # cleared: told at once, inside the window
    assert await messages(resident) == Counter({"device.alarm": 1, "device.alarm_cleared": 1})
    # The window of the first message ends; it had nothing more, so no summary.
    assert await NoticeFlusher().run_once(now=later(61)) == 0
    window = await AlarmNotice.get(account_id=resident.account.id)
    # A window that ended opens no more: the next alarm is a new window's first message, sent at once.
    await AlarmNotice.filter(id=window.id).update(
        window_start=window.window_start - dt.timedelta(minutes=5),
        window_end=window.window_end - dt.timedelta(minutes=5),
    )
    await send(client, second, [gas(second.serial, 12.0)])
    assert await messages(resident) == Counter({"device.alarm": 2, "device.alarm_cleared": 1})
    assert await AlarmNotice.filter(account_id=resident.account.id).count() == 2


async def test_a_leak_inside_a_window_opened_by_a_warning_is_told_at_once_and_only_once(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await buildings(tmp_path)
    staff = await user(app, Role.GRID_STAFF, node="GM010101")
    kitchen, hall, attic = [await register(client, staff, f"GU-{n:04d}") for n in range(3)]
    resident = await bound_resident(app, client, kitchen, phone="13900004101", openid="o_urgent")
    for device in (hall, attic):
        bound = await client.post(
            "/api/v1/devices/bind",
            json={"serial": device.serial, "code": device.binding_code},
            headers=resident.headers,
        )
        assert bound.status_code == 201
    await send(client, kitchen, [gas(kitchen.serial, 12.0, 30)])  # a warning opens the window
    await send(client, hall, [gas(hall.serial, 25.0, 20)])  # critical: at once, although the window is open
    await send(client, attic, [gas(attic.serial, 26.0, 10)])  # a second critical: in the summary
    rows = await Notification.filter(account_id=resident.account.id).order_by("id")
    assert [(r.template, r.channels) for r in rows] == [
        ("device.alarm", "wechat,sms"),
        ("device.alarm", "wechat"),
        ("device.alarm", "sms"),
    ]
    assert await NoticeFlusher().run_once(now=later(notices.window().total_seconds() + 1)) == 1
    summary = (await Notification.filter(account_id=resident.account.id).order_by("id"))[3:]
    assert [(r.template, r.channels) for r in summary] == [
        ("device.alarm_group", "wechat"),
        ("device.alarm_group", "sms"),
    ]
    assert (await summary_data(summary[0]))["level"] == "紧急"
