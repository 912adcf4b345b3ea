"""The stop list's change feed: each change that moves a band's windows appends one entry (sealed),
nothing else does; lifts are empty entries; compaction keeps what readers need."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

from tortoise.transactions import in_transaction

from identity.roles import Role
from miniapp_api.wristbands import bundle, engine, sealed, stoplist
from miniapp_api.wristbands.models import CheckinRuleSet, HealthStatus, KeyArea, QuarantineOrder, StopEntry, Wristband
from server.settings import Settings
from tests.factories import make_account
from tests.miniapp_api.wristbands import seed


async def entries(band: Wristband) -> list[list[dict[str, Any]]]:
    rows = await StopEntry.filter(band_id=band.id).order_by("counter")
    return [stoplist.windows_json(stoplist.entry_windows(r)) for r in rows]


async def test_a_revoked_band_is_one_open_ended_band_invalid_entry(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer, revoked=True)
    await stoplist.band_changed(band.id)
    await stoplist.band_changed(band.id)  # nothing moved: nothing appended
    assert band.revoked_at is not None
    assert await entries(band) == [[{"r": "band_invalid", "from": int(band.revoked_at.timestamp()), "until": None}]]
    row = await StopEntry.get(band_id=band.id)
    assert "band_invalid" not in row.windows_enc  # sealed
    assert sealed.unseal_json(row.windows_enc, field=sealed.WINDOWS)[0]["r"] == "band_invalid"


async def test_a_person_with_nothing_against_them_adds_no_entry(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer)
    await seed.status(wearer, "green")
    await stoplist.person_changed(wearer.id)
    assert await entries(band) == []


async def test_red_status_appears_and_its_lift_is_an_empty_entry(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer)
    status = await seed.status(wearer, "red")
    await stoplist.person_changed(wearer.id)
    window = {"r": "health_check_needed", "from": int(status.set_at.timestamp())}
    window["until"] = int(status.expires_at.timestamp())
    assert await entries(band) == [[window]]
    await HealthStatus.filter(id=status.id).update(status_enc=sealed.seal("green", field=sealed.STATUS))
    await stoplist.person_changed(wearer.id)
    assert await entries(band) == [[window], []]


async def test_a_quarantine_and_its_lifting(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer)
    order = await seed.quarantine(
        wearer, starts=seed.now() - dt.timedelta(days=1), ends=seed.now() + dt.timedelta(days=6)
    )
    await stoplist.person_changed(wearer.id)
    [[only]] = await entries(band)
    assert only["r"] == "health_check_needed" and only["until"] == int(order.ends_at.timestamp())
    await QuarantineOrder.filter(id=order.id).update(lifted_at=seed.now(), lifted_by="seed")
    await stoplist.person_changed(wearer.id)
    assert (await entries(band))[-1] == []


async def test_a_key_area_trip_appears_and_goes_when_the_area_is_withdrawn(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer)
    today = dt.datetime.now(engine.CHINA).date()
    await seed.trip(wearer, "420106", today - dt.timedelta(days=3), today - dt.timedelta(days=1))
    area = await seed.key_area("420100", today - dt.timedelta(days=10), None)
    await stoplist.sweep()
    [[window]] = await entries(band)
    assert window["r"] == "health_check_needed"
    await KeyArea.filter(id=area.id).update(withdrawn_at=seed.now())
    await stoplist.sweep()
    assert (await entries(band))[-1] == []
    await stoplist.sweep()  # nothing moved since
    assert len(await entries(band)) == 2


async def test_windows_that_ended_are_not_carried(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer)
    await seed.status(wearer, "red", since=dt.timedelta(days=5), lasts=dt.timedelta(days=1))
    await seed.quarantine(wearer, starts=seed.now() - dt.timedelta(days=9), ends=seed.now() - dt.timedelta(days=2))
    await stoplist.person_changed(wearer.id)
    assert await entries(band) == []


async def test_concurrent_changes_get_counters_in_order_without_gaps(running: object) -> None:
    bands = []
    for _ in range(6):
        wearer = await make_account(Role.RESIDENT)
        band, _ = await seed.band(wearer=wearer)
        await seed.status(wearer, "red")
        bands.append((band, wearer))
    await asyncio.gather(*(stoplist.person_changed(w.id) for _, w in bands))
    counters = await StopEntry.all().order_by("counter").values_list("counter", flat=True)
    assert counters == list(range(1, 7))
    assert (await stoplist.head()).counter == 6


async def test_compaction_drops_superseded_and_long_ended_entries_and_raises_the_floor(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    await seed.band(wearer=wearer)
    status = await seed.status(wearer, "red")
    await stoplist.person_changed(wearer.id)  # 1: red
    await HealthStatus.filter(id=status.id).delete()
    await stoplist.person_changed(wearer.id)  # 2: lifted
    revoked, _ = await seed.band(revoked=True)
    await stoplist.band_changed(revoked.id)  # 3: revoked, open-ended
    assert await bundle.compact(retention_days=28) == 1  # entry 1, superseded
    assert await StopEntry.all().order_by("counter").values_list("counter", flat=True) == [2, 3]
    assert await stoplist.floor() == 0
    # The lift is older than the retention: it goes too, and readers below it must start again.
    await StopEntry.filter(counter=2).update(at=seed.now() - dt.timedelta(days=29))
    assert await bundle.compact(retention_days=28) == 1
    assert await StopEntry.all().values_list("counter", flat=True) == [3]
    assert await stoplist.floor() == 2


async def test_a_change_in_a_rolled_back_transaction_leaves_no_entry(running: object) -> None:
    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer)

    class Undo(Exception):
        pass

    with contextlib.suppress(Undo):
        async with in_transaction() as tx:
            await Wristband.filter(id=band.id).using_db(tx).update(state="revoked", revoked_at=seed.now())
            await stoplist.band_changed(band.id, conn=tx)
            assert await StopEntry.filter(band_id=band.id).using_db(tx).count() == 1
            raise Undo
    assert await StopEntry.filter(band_id=band.id).count() == 0
    assert (await stoplist.head()).counter == 0


async def test_the_job_sweeps_when_a_later_rule_set_takes_effect(running: object, settings: Settings) -> None:
    from miniapp_api.wristbands.jobs import STOPLIST_JOB, stoplist_jobs
    from server.jobs import JobContext

    wearer = await make_account(Role.RESIDENT)
    band, _ = await seed.band(wearer=wearer)
    await seed.status(wearer, "yellow")  # the default rules stop yellow: nobody told the stop list yet
    job = next(j for j in stoplist_jobs(settings) if j.name == STOPLIST_JOB)
    assert job.run is not None
    ctx = JobContext(settings=settings, redis=None, redis_url="")  # type: ignore[arg-type]
    assert await job.run(ctx) == 1
    assert await job.run(ctx) == 0  # the same rules: no sweep
    at = seed.now()
    await CheckinRuleSet.create(
        effective_from=at, fever_celsius=37.3, trip_window_days=14, stop_statuses=["red"], created_at=at, created_by="t"
    )
    assert await job.run(ctx) == 1  # yellow no longer stops
    assert (await entries(band))[-1] == []
