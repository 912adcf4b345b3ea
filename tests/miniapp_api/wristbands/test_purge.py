"""Retention: nothing with health data older than GMID_CHECKIN_RETENTION_DAYS survives a purge, newer
rows stay, deletes go in bounded batches, each run is audited with counts only; run by the job host
(`wristbands.purge`) and by `gmid checkins purge`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from tortoise.models import Model

from identity.audit import AuditEntry
from identity.models import Account
from identity.roles import Role
from miniapp_api.wristbands import models, purge
from miniapp_api.wristbands.models import Checkin, HealthStatus, QuarantineOrder, Trip
from server.jobs import JobContext, JobHost
from server.settings import Settings
from server.worker import all_jobs
from tests.factories import make_account
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.test_tracing import checkin

DAYS = 28
DAY = dt.timedelta(days=1)

# Every table holding health data (a sealed ``*_enc`` column) and the column that says when its row
# ends. The offline stop list's change feed (StopEntry) is the bundle's: its entries are superseded,
# not aged out, and hold no temperatures, statuses or trips, only stop windows of band ids.
ENDS: dict[type[Model], tuple[str, ...]] = {
    Checkin: ("at",),
    Trip: ("until_date",),
    HealthStatus: ("expires_at",),
    QuarantineOrder: ("ends_at", "lifted_at"),
}
NOT_AGED = {models.StopEntry}


def test_every_table_with_health_data_is_purged() -> None:
    sealed_tables = {
        m
        for m in vars(models).values()
        if isinstance(m, type) and issubclass(m, Model) and m is not Model
        if any(name.endswith("_enc") for name in m._meta.fields_map)
    }
    assert sealed_tables == set(ENDS) | NOT_AGED


async def people_with_old_and_new_rows(now: dt.datetime) -> tuple[Account, Account]:
    """One person whose every row ended before the retention, one whose rows are recent (or still open)."""
    old_person, new_person = await make_account(Role.RESIDENT), await make_account(Role.RESIDENT)
    old_band, _ = await seed.band(wearer=old_person)
    new_band, _ = await seed.band(wearer=new_person)
    gate = await seed.checkpoint()
    for n in range(5):  # more than a batch of 2
        await checkin(gate, old_band, now - (DAYS + 1 + n) * DAY)
    await checkin(gate, new_band, now - (DAYS - 1) * DAY)
    await checkin(gate, new_band, now)
    today = now.date()
    await seed.trip(old_person, "420106", today - (DAYS + 10) * DAY, today - (DAYS + 2) * DAY)
    await seed.trip(new_person, "420106", today - (DAYS + 10) * DAY, today - (DAYS - 2) * DAY)  # ended recently
    await seed.status(old_person, "red", since=(DAYS + 5) * DAY, lasts=3 * DAY)
    await seed.status(new_person, "yellow", since=(DAYS + 5) * DAY, lasts=(DAYS + 3) * DAY)  # expired two days ago
    await seed.quarantine(old_person, starts=now - 50 * DAY, ends=now - (DAYS + 1) * DAY)
    lifted = await seed.quarantine(old_person, starts=now - 40 * DAY, ends=now + 10 * DAY)  # lifted long ago
    lifted.lifted_at, lifted.lifted_by = now - 30 * DAY, "seed"
    await lifted.save()
    await seed.quarantine(new_person, starts=now - 50 * DAY, ends=now - (DAYS - 1) * DAY)
    return old_person, new_person


async def assert_nothing_older_survives(now: dt.datetime, old_person: Account, new_person: Account) -> None:
    before = now - DAYS * DAY
    china_day = before.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    for model, columns in ENDS.items():
        for column in columns:
            limit = china_day if column == "until_date" else before
            assert await model.filter(**{f"{column}__lt": limit}).count() == 0, (model, column)
        assert await model.filter(account_id=old_person.id).count() == 0, model
        assert await model.filter(account_id=new_person.id).count() >= 1, model


async def test_nothing_older_than_the_retention_survives_and_newer_rows_stay(running: object) -> None:
    now = dt.datetime.now(dt.UTC)
    old_person, new_person = await people_with_old_and_new_rows(now)
    done = await purge.purge(retention_days=DAYS, now=now, batch=2)
    assert (done.checkins, done.trips, done.statuses, done.quarantines) == (5, 1, 1, 2)
    assert done.people == {old_person.id}
    await assert_nothing_older_survives(now, old_person, new_person)
    assert await Checkin.filter(account_id=new_person.id).count() == 2
    # One audit entry, the counts only.
    [entry] = await AuditEntry.filter(action=purge.ACTION)
    assert entry.actor == "system"
    assert {k: entry.details[k] for k in ("checkins", "trips", "statuses", "quarantines", "retention_days")} == {
        "checkins": 5,
        "trips": 1,
        "statuses": 1,
        "quarantines": 2,
        "retention_days": DAYS,
    }
    assert old_person.public_id not in json.dumps([entry.target, entry.details])
    # Nothing left to do: a second run deletes nothing and says so.
    again = await purge.purge(retention_days=DAYS, now=now)
    assert again.total == 0
    assert await AuditEntry.filter(action=purge.ACTION).count() == 2


@pytest.fixture
async def ctx(settings: Settings, redis_url: str) -> AsyncIterator[JobContext]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield JobContext(settings=settings.replace(checkin_retention_days=DAYS), redis=client, redis_url=redis_url)
    finally:
        await client.aclose()


async def test_the_job_host_runs_the_purge(ctx: JobContext, running: object) -> None:
    now = dt.datetime.now(dt.UTC)
    old_person, new_person = await people_with_old_and_new_rows(now)
    host = JobHost(all_jobs(ctx.settings, {"wristbands.purge"}), ctx)
    assert await host.run_once() == {"wristbands.purge": 9}
    await assert_nothing_older_survives(now, old_person, new_person)


async def test_gmid_checkins_purge(settings: Settings, running: object) -> None:
    from tests.support.cli import gmid

    now = dt.datetime.now(dt.UTC)
    old_person, new_person = await people_with_old_and_new_rows(now)
    code, out, err = await gmid(settings, "checkins", "purge")
    assert code == 0, err
    assert out.strip() == "purged past 28 days: 5 check-ins, 1 trips, 1 statuses, 2 quarantine orders"
    await assert_nothing_older_survives(now, old_person, new_person)
