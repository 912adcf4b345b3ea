"""Key areas and rule sets changed over HTTP (or by another process): the very next check-in is decided
by them, while the admin's request does no sweep; the offline stop list follows within the
`wristbands.stoplist` job's run (run here through the job host)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.roles import Role
from miniapp_api.wristbands import engine, stoplist
from miniapp_api.wristbands.jobs import STOPLIST_JOB
from miniapp_api.wristbands.models import KeyArea, StopEntry, Wristband
from server.jobs import JobContext, JobHost
from server.settings import Settings
from server.worker import all_jobs
from tests.factories import load_demo_hierarchy, make_account
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.gate import decide, gate

AREAS = "/api/v1/health/key-areas"
DAY = dt.timedelta(days=1)
STOP = ["health_check_needed"]


@pytest.fixture
async def ctx(settings: Settings, redis_url: str) -> AsyncIterator[JobContext]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield JobContext(settings=settings, redis=client, redis_url=redis_url)
    finally:
        await client.aclose()


async def run_stoplist_job(ctx: JobContext) -> int:
    return (await JobHost(all_jobs(ctx.settings, {STOPLIST_JOB}), ctx).run_once())[STOPLIST_JOB]


async def stops(band: Wristband) -> list[str]:
    """The reasons of the band's latest stop-list entry (what the offline bundle says)."""
    latest = await StopEntry.filter(band_id=band.id).order_by("-counter").first()
    return [] if latest is None else [w.reason.value for w in stoplist.entry_windows(latest)]


def area(today: dt.date, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "area_code": "420106",
        "name": "武昌区",
        "risk_level": "high",
        "from": (today - 20 * DAY).isoformat(),
        "source": "公告 2026-91",
    }
    return {**body, **changes}


async def test_a_key_area_change_decides_the_very_next_check_in_and_reaches_the_stop_list(
    app: Sanic, client: httpx.AsyncClient, ctx: JobContext
) -> None:
    await load_demo_hierarchy()
    admin = await user(app, Role.ADMIN, node="GM")
    at_gate = await gate(app)
    traveller = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=traveller)
    today = dt.datetime.now(engine.CHINA).date()
    await seed.trip(traveller, "420106", today - 5 * DAY, today - 3 * DAY)
    assert await decide(client, at_gate, band.ble_id) == []
    assert await run_stoplist_job(ctx) == 0

    made = await client.post(AREAS, json=area(today), headers=admin.headers)
    assert made.status_code == 201, made.text
    assert await decide(client, at_gate, band.ble_id) == STOP  # online: at once
    assert await StopEntry.filter(band_id=band.id).count() == 0  # the request swept nothing
    assert await run_stoplist_job(ctx) == 1 and await stops(band) == STOP
    assert await run_stoplist_job(ctx) == 0  # nothing changed since: no sweep

    ended = (today - 30 * DAY).isoformat()
    corrected = await client.patch(
        f"{AREAS}/{made.json()['id']}", json={"from": (today - 40 * DAY).isoformat(), "until": ended},
        headers=admin.headers,
    )  # fmt: skip
    assert corrected.status_code == 200, corrected.text
    assert await decide(client, at_gate, band.ble_id) == []
    assert await run_stoplist_job(ctx) == 1 and await stops(band) == []
    back = await client.patch(f"{AREAS}/{made.json()['id']}", json={"until": None}, headers=admin.headers)
    assert back.status_code == 200, back.text
    assert await decide(client, at_gate, band.ble_id) == STOP
    withdrawn = await client.delete(f"{AREAS}/{made.json()['id']}", headers=admin.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    assert await decide(client, at_gate, band.ble_id) == []

    text = f"area_code,name,risk_level,from,until,source\n420106,武昌区,high,{(today - 20 * DAY).isoformat()},,公告 3\n"
    headers = {**admin.headers, "Content-Type": "text/csv; charset=utf-8"}
    imported = await client.post(f"{AREAS}/import", content=text.encode(), headers=headers)
    assert imported.status_code == 200 and imported.json()["created"] == 1, imported.text
    assert await decide(client, at_gate, band.ble_id) == STOP
    assert await run_stoplist_job(ctx) == 1 and await stops(band) == STOP

    # Another process (a command, another instance) withdraws it straight in the database.
    await KeyArea.all().update(withdrawn_at=seed.now(), updated_at=seed.now())
    assert await decide(client, at_gate, band.ble_id) == []
    assert await run_stoplist_job(ctx) == 1 and await stops(band) == []


async def test_a_rule_set_added_decides_the_very_next_check_in_and_reaches_the_stop_list(
    app: Sanic, client: httpx.AsyncClient, ctx: JobContext
) -> None:
    admin = await user(app, Role.ADMIN)
    at_gate = await gate(app)
    yellow = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=yellow)
    await seed.status(yellow, "yellow")
    await stoplist.person_changed(yellow.id)  # as the status route does
    assert await decide(client, at_gate, band.ble_id) == STOP
    assert await stops(band) == STOP
    await run_stoplist_job(ctx)
    rules = {
        "effective_from": seed.now().isoformat(),
        "fever_celsius": 37.0,
        "trip_window_days": 14,
        "stop_statuses": ["red"],
        "source": "卫健委通知 2026-12",
    }
    added = await client.post("/api/v1/checkins/rules", json=rules, headers=admin.headers)
    assert added.status_code == 201, added.text
    assert await decide(client, at_gate, band.ble_id) == []  # only red stops now
    assert await decide(client, at_gate, band.ble_id, temperature=37.1) == ["temperature"]
    assert await stops(band) == STOP  # the request swept nothing
    assert await run_stoplist_job(ctx) == 1 and await stops(band) == []
