"""The push after a pack change and as the calendar moves: a new parameter value is a new version of the
policies that use it; only the policies whose version changed are screened again and the answers are the
ones a full screening gives; the daily pass tells of matches the date brings (a birthday, a policy that
starts), once per policy version, screening on a later date through the function the job calls."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.roles import Role
from miniapp_api.welfare import engine, push, service, versions
from miniapp_api.welfare.jobs import jobs as welfare_jobs
from miniapp_api.welfare.models import WelfareProfile
from notify.models import Notification
from server.jobs import JobContext
from server.settings import Settings
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.welfare.test_saved import CONSENT, PROFILE, family, new_policy


async def told() -> list[str]:
    """The ``policy:version`` of every match told, in order."""
    rows = await Notification.filter(template=push.TEMPLATE).order_by("id")
    return [n.idempotency_key.split(":", 2)[2] for n in rows]


async def consenting(app: Sanic, client: httpx.AsyncClient, profile: dict[str, Any], openid: str) -> int:
    resident = await user(app, Role.RESIDENT, openid=openid)
    assert (await client.put(PROFILE, json={"profile": profile}, headers=resident.headers)).status_code == 200
    assert (await client.put(CONSENT, json={"proactive": True}, headers=resident.headers)).status_code == 200
    return resident.account.id


def raise_dibao_standard(pack_dir: Path, value: int, since: str) -> None:
    path = pack_dir / "parameters" / "social_assistance.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "      value: 1413\n"
    line = next(ln for ln in text[text.index(anchor) :].splitlines() if ln.strip().startswith("source:"))
    added = f"    - from: {since}\n      value: {value}\n{line}\n"
    path.write_text(text.replace(anchor + line + "\n", anchor + line + "\n" + added, 1), encoding="utf-8")


async def test_a_new_parameter_value_is_a_new_version_of_the_policies_using_it_and_is_told(
    app: Sanic, client: httpx.AsyncClient, pack_dir: Path
) -> None:
    on = dt.date(2026, 6, 1)
    account_id = await consenting(app, client, family(4500), "o-welfare-param")  # 1,500 a head: above 1,413
    assert (await push.rescreen_due(on=on)).screened == 1  # the baseline
    first = await versions.load(pack_dir, loaded_by="test")
    assert (await push.rescreen_due(on=on)).told == 0
    raise_dibao_standard(pack_dir, 1600, "2026-01-01")
    second = await versions.load(pack_dir, loaded_by="test")
    assert second.version == first.version + 1
    assert "dibao" in second.changed and "elderly_allowance" not in second.changed
    done = await push.rescreen_due(on=on)
    assert (done.screened, done.told) == (1, 1)
    assert await told() == ["dibao:2"]
    # Only the changed policies were screened again, and the stored answers are a full screening's.
    row = await WelfareProfile.get(account_id=account_id)
    snapshot = service.unseal(row.snapshot_enc, service.SNAPSHOT_FIELD)
    served = await versions.current()
    full = engine.screen(family(4500), on, pack=served.pack, explain=False)
    assert {pid: status for pid, (_, status) in snapshot["s"].items()} == {r.policy_id: r.status for r in full.results}
    assert snapshot["s"]["dibao"][0] == 2 and snapshot["s"]["elderly_allowance"][0] == 1
    # The same pack again: nothing new, nobody screened, nothing told twice.
    assert (await versions.load(pack_dir, loaded_by="test")).unchanged
    assert (await push.rescreen_due(on=on)).screened == 0
    assert await told() == ["dibao:2"]


async def test_a_birthday_that_crosses_a_threshold_is_told_by_the_daily_pass_once(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    profile = family(30000)
    profile["members"].append({"relation": "parent", "birth_date": "1956-06-15", "hukou_city": "深圳", "incomes": {}})
    await consenting(app, client, profile, "o-welfare-birthday")
    assert (await push.rescreen_due(on=dt.date(2026, 6, 1))).screened == 1  # the baseline: aged 69
    assert (await push.rescreen_dated(on=dt.date(2026, 6, 14))).screened == 0  # nothing moved yet
    done = await push.rescreen_dated(on=dt.date(2026, 6, 15))  # 70 today
    assert (done.screened, done.told) == (1, 1)
    assert await told() == ["elderly_allowance:0"]
    assert (await push.rescreen_dated(on=dt.date(2026, 6, 15))).screened == 0
    assert (await push.rescreen_dated(on=dt.date(2026, 7, 1))).screened == 0
    assert (await push.rescreen_dated(on=dt.date(2027, 6, 15))).told == 0  # 71: nothing new
    assert await told() == ["elderly_allowance:0"]


async def test_a_policy_that_starts_later_is_told_on_the_day_it_starts_and_not_before(
    app: Sanic, client: httpx.AsyncClient, pack_dir: Path
) -> None:
    await consenting(app, client, family(30000), "o-welfare-later")
    assert (await push.rescreen_due(on=dt.date(2026, 6, 1))).screened == 1
    await new_policy(pack_dir, "test_aid_a")
    path = pack_dir / "policies" / "test_aid_a.yaml"
    text = path.read_text(encoding="utf-8")
    start = next(ln for ln in text.splitlines() if ln.startswith("effective_from:"))
    path.write_text(text.replace(start, "effective_from: 2027-01-01"), encoding="utf-8")
    await versions.load(pack_dir, loaded_by="test")
    done = await push.rescreen_due(on=dt.date(2026, 6, 1))
    assert (done.screened, done.told) == (1, 0)  # not in force yet
    assert (await push.rescreen_dated(on=dt.date(2026, 12, 31))).screened == 0
    done = await push.rescreen_dated(on=dt.date(2027, 1, 1))
    assert (done.screened, done.told) == (1, 1)
    assert await told() == ["test_aid_a:1"]
    assert (await push.rescreen_dated(on=dt.date(2027, 1, 2))).screened == 0
    assert await told() == ["test_aid_a:1"]


async def test_the_rescreen_job_makes_the_daily_pass_once_a_day(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, redis_url: str
) -> None:
    today = service.today()
    if (today.month, today.day) == (2, 29):
        pytest.skip("no one turns 70 on 29 February this year")
    birth = today.replace(year=today.year - 70)  # 70 today
    profile = family(30000)
    profile["members"].append({"relation": "parent", "birth_date": birth.isoformat(), "hukou_city": "深圳"})
    await consenting(app, client, profile, "o-welfare-job")
    await push.rescreen_due(on=today - dt.timedelta(days=1))  # the baseline, yesterday: aged 69
    [job] = [j for j in welfare_jobs(settings) if j.name == "welfare.rescreen"]
    assert job.run is not None
    redis = aioredis.from_url(redis_url)
    try:
        ctx = JobContext(settings=settings, redis=redis, redis_url=redis_url)
        assert await job.run(ctx) == 1
        assert await told() == ["elderly_allowance:0"]
        assert await job.run(ctx) == 0  # the same day: no second pass
    finally:
        await redis.aclose()
    assert await told() == ["elderly_allowance:0"]


async def test_a_new_formula_of_a_derived_variable_is_a_new_version_of_the_policies_reading_it(
    client: httpx.AsyncClient, pack_dir: Path
) -> None:
    first = await versions.load(pack_dir, loaded_by="test")
    path = pack_dir / "variables.yaml"
    text = path.read_text(encoding="utf-8")
    old = """    formula: 'hukou_city == "深圳"'"""
    assert old in text
    new = """    formula: 'hukou_city == "深圳" or hukou_city == "深圳市"'"""
    path.write_text(text.replace(old, new), encoding="utf-8")
    second = await versions.load(pack_dir, loaded_by="test")
    assert second.version == first.version + 1
    assert "elderly_allowance" in second.changed and "ent_startup" not in second.changed


async def test_a_new_formula_of_a_variable_only_the_months_read_is_a_new_version(
    client: httpx.AsyncClient, pack_dir: Path
) -> None:
    """Unemployment benefit is paid for ``benefit_months``, read by its months formula only: a new formula for
    it changes how much a resident gets, so it is a new version of that policy (and of no other)."""
    first = await versions.load(pack_dir, loaded_by="test")
    path = pack_dir / "variables.yaml"
    text = path.read_text(encoding="utf-8")
    old = "formula: min(24, if(insured_years <= 4,"
    assert old in text
    path.write_text(text.replace(old, "formula: min(23, if(insured_years <= 4,"), encoding="utf-8")
    second = await versions.load(pack_dir, loaded_by="test")
    assert second.version == first.version + 1
    assert set(second.changed) == {"unemployment"}
