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
from miniapp_api.wristbands import bundle, models, purge, stoplist
from miniapp_api.wristbands.models import Checkin, HealthStatus, QuarantineOrder, Trip
from notify import outbox
from notify.models import Attempt, Notification
from server.jobs import JobContext, JobHost
from server.settings import Settings
from server.wire import wire_time
from server.worker import all_jobs
from tests.factories import make_account
from tests.miniapp_api.wristbands import seed
from tests.miniapp_api.wristbands.test_tracing import checkin

DAYS = 28
DAY = dt.timedelta(days=1)

# Every table holding health data (a sealed ``*_enc`` column) and the column that says when its row
# ends. The offline stop list's change feed (StopEntry) is the bundle's: its windows (a reason
# category and times, per band) are health data too, but they are aged out by the compaction job
# (``wristbands.compact``, same retention, counted from the window's end), not here: see
# test_the_stop_list_keeps_no_window_ended_before_the_retention.
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
    # Messages about stops (a person was stopped at a gate: health-related), and their attempts.
    for n, template in enumerate(purge.HEALTH_TEMPLATES):
        for person, age in ((old_person, DAYS + 1 + n), (new_person, DAYS - 1)):
            row = await stop_message(template, person, now - age * DAY)
            await Attempt.create(notification_id=row.id, at=row.created_at, channel="sms", outcome="sent")
    other = await stop_message("report.updated", old_person, now - 90 * DAY)  # not health: not ours to purge
    assert other.template == "report.updated"
    return old_person, new_person


async def stop_message(template: str, person: Account, at: dt.datetime) -> Notification:
    data = {"place": "东门", "at": wire_time(at), "reason": "红码", "report_no": "1", "state": "s", "report_id": "r"}
    key = f"t:{template}:{person.public_id}"
    row = await outbox.enqueue(template=template, data=data, idempotency_key=key, account=person, phone="13800138000")
    await Notification.filter(id=row.id).update(created_at=at, updated_at=at)
    return await Notification.get(id=row.id)


async def assert_nothing_older_survives(now: dt.datetime, old_person: Account, new_person: Account) -> None:
    before = now - DAYS * DAY
    china_day = before.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    for model, columns in ENDS.items():
        for column in columns:
            limit = china_day if column == "until_date" else before
            assert await model.filter(**{f"{column}__lt": limit}).count() == 0, (model, column)
        assert await model.filter(account_id=old_person.id).count() == 0, model
        assert await model.filter(account_id=new_person.id).count() >= 1, model
    messages = Notification.filter(template__in=purge.HEALTH_TEMPLATES)
    assert await messages.filter(created_at__lt=before).count() == 0
    assert await messages.filter(account_id=old_person.id).count() == 0
    assert await messages.filter(account_id=new_person.id).count() == len(purge.HEALTH_TEMPLATES)
    kept = await Notification.filter(template__in=purge.HEALTH_TEMPLATES).values_list("id", flat=True)
    assert await Attempt.all().count() == len(kept)  # no attempt of a deleted message survives
    assert await Attempt.filter(notification_id__in=list(kept)).count() == len(kept)
    assert await Notification.filter(template="report.updated", account_id=old_person.id).count() == 1


async def test_nothing_older_than_the_retention_survives_and_newer_rows_stay(running: object) -> None:
    now = dt.datetime.now(dt.UTC)
    old_person, new_person = await people_with_old_and_new_rows(now)
    done = await purge.purge(retention_days=DAYS, now=now, batch=2)
    assert (done.checkins, done.trips, done.statuses, done.quarantines) == (5, 1, 1, 2)
    assert done.notifications == len(purge.HEALTH_TEMPLATES)
    assert done.people == {old_person.id}
    await assert_nothing_older_survives(now, old_person, new_person)
    assert await Checkin.filter(account_id=new_person.id).count() == 2
    # One audit entry, the counts only.
    [entry] = await AuditEntry.filter(action=purge.ACTION)
    assert entry.actor == "system"
    keys = ("checkins", "trips", "statuses", "quarantines", "notifications", "retention_days")
    assert {k: entry.details[k] for k in keys} == {
        "notifications": len(purge.HEALTH_TEMPLATES),
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


async def test_the_stop_list_keeps_no_window_ended_before_the_retention(
    running: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop list's entries (a band's windows: reason category and times) go with the facts they
    came from: after the purge and the compaction job, no entry holds a window that ended before the
    retention, and the windows that ended within it stay."""
    now = dt.datetime.now(dt.UTC)
    old_person, new_person = await make_account(Role.RESIDENT), await make_account(Role.RESIDENT)
    await seed.band(wearer=old_person)
    await seed.band(wearer=new_person)
    await seed.quarantine(old_person, starts=now - 50 * DAY, ends=now - (DAYS + 1) * DAY)
    await seed.quarantine(new_person, starts=now - 50 * DAY, ends=now - (DAYS - 1) * DAY)
    monkeypatch.setattr(stoplist, "now", lambda: now - 45 * DAY)  # the entries were written back then
    for person in (old_person, new_person):
        await stoplist.person_changed(person.id)
    monkeypatch.undo()
    assert await models.StopEntry.all().count() == 2
    await purge.purge(retention_days=DAYS, now=now)
    await bundle.compact(retention_days=DAYS)
    before = now - DAYS * DAY
    left = await models.StopEntry.all()
    for entry in left:
        windows = stoplist.entry_windows(entry)
        assert all(w.end is None or w.end >= before for w in windows), windows
        assert windows or entry.at >= before
    new_bands = await models.Wristband.filter(account_id=new_person.id).values_list("id", flat=True)
    assert [e.band_id for e in left] == list(new_bands)


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
    assert await host.run_once() == {"wristbands.purge": 9 + len(purge.HEALTH_TEMPLATES)}
    await assert_nothing_older_survives(now, old_person, new_person)


async def test_gmid_checkins_purge(settings: Settings, running: object) -> None:
    from tests.support.cli import gmid

    now = dt.datetime.now(dt.UTC)
    old_person, new_person = await people_with_old_and_new_rows(now)
    code, out, err = await gmid(settings, "checkins", "purge")
    assert code == 0, err
    assert out.strip() == (
        f"purged past 28 days: 5 check-ins, 1 trips, 1 statuses, 2 quarantine orders, "
        f"{len(purge.HEALTH_TEMPLATES)} stop notifications"
    )
    await assert_nothing_older_survives(now, old_person, new_person)
