"""The push of new postings to subscribed seekers: at most once per posting and seeker (two passes at once
included), at most GMID_JOBS_PUSH_PER_DAY a China day, never to the unsubscribed, deleted or disabled, never
of a posting taken down or of a suspended enterprise, and a message with nothing of the seeker in it.
Attackers first. Postings go live over HTTP; seeker profiles are written straight to the database (their
routes are another part's)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity import pii
from identity.models import Account
from identity.roles import Role
from miniapp_api.jobs import push
from miniapp_api.jobs.models import JobPush, Posting, SeekerProfile
from notify.models import Notification
from server.jobs import JobContext, JobHost
from server.settings import Settings
from server.worker import all_jobs
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import ENTERPRISES, OWN, PUBLIC

TENCENT = "91440300708461136T"
HUAWEI = "914403001922038216"
THRESHOLD = 0.6


@pytest.fixture
async def rds(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def seeker(app: Sanic, **changes: Any) -> Account:
    """A resident with a welder's profile living about 150 m from the test posting, subscribed."""
    who = await user(app, Role.RESIDENT, phone="13912345678")
    now = dt.datetime.now(dt.UTC)
    fields: dict[str, Any] = {
        "desired_occupations": ["6-18-02"],
        "skills": [{"id": "welding", "text": "电焊"}, {"id": "argon_arc_welding", "text": "氩弧焊"}],
        "education": "senior",
        "experience_years": 3,
        "expected_salary_monthly": 6500,
        "home_lat": 22.751,
        "home_lon": 113.931,
        "radius_km": 10.0,
        "subscribed": True,
        "visible": False,
    }
    fields.update(changes)
    await SeekerProfile.create(account=who.account, created_at=now, updated_at=now, **fields)
    return who.account


async def told(account: Account) -> list[dict[str, str]]:
    rows = await Notification.filter(template=push.TEMPLATE, account_id=account.id).order_by("id")
    vault = pii.current_vault()
    return [json.loads(vault.decrypt(r.data_enc, field="notify.data")) for r in rows]


async def run(rds: aioredis.Redis, per_day: int = 3) -> push.Pass:
    return await push.run_pass(rds, threshold=THRESHOLD, per_day=per_day)


async def test_two_passes_at_once_tell_a_seeker_once(
    app: Sanic, client: httpx.AsyncClient, rds: aioredis.Redis
) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    welder = await seeker(app)
    posting = await Posting.get(public_id=pid)
    await asyncio.gather(
        run(rds),
        run(rds),
        push.push_posting(posting.id, threshold=THRESHOLD, per_day=3),
        push.push_posting(posting.id, threshold=THRESHOLD, per_day=3),
    )
    await run(rds)
    assert len(await told(welder)) == 1
    assert await JobPush.filter(posting_id=posting.id, seeker_id=welder.id).count() == 1


async def test_no_more_than_the_daily_cap_a_china_day(
    app: Sanic, client: httpx.AsyncClient, rds: aioredis.Redis
) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    welder = await seeker(app)
    # One push yesterday (China time) does not count against today.
    old = await seed.live_posting(client, firm.employer, title="旧职位")
    yesterday = push.day_start(dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=1)
    await JobPush.create(posting=await Posting.get(public_id=old), seeker=welder, created_at=yesterday)
    for n in range(5):
        await seed.live_posting(client, firm.employer, title=f"电焊工{n}")
    await run(rds, per_day=3)
    await run(rds, per_day=3)
    assert len(await told(welder)) == 3
    today = push.day_start(dt.datetime.now(dt.UTC))
    assert await JobPush.filter(seeker_id=welder.id, created_at__gte=today).count() == 3
    # A cap of 0 tells no one.
    other = await seeker(app)
    await seed.live_posting(client, firm.employer, title="电焊工9")
    await run(rds, per_day=0)
    assert await told(other) == []


async def test_unsubscribed_deleted_or_disabled_seekers_hear_nothing(
    app: Sanic, client: httpx.AsyncClient, rds: aioredis.Redis
) -> None:
    unsubscribed = await seeker(app, subscribed=False)
    deleted = await seeker(app)
    await SeekerProfile.filter(account_id=deleted.id).delete()
    disabled = await seeker(app)
    await Account.filter(id=disabled.id).update(is_active=False)
    leaving = await seeker(app)
    firm = await seed.firm(app, client, code=TENCENT)
    await seed.live_posting(client, firm.employer)
    # Unsubscribing takes effect at once: after the posting went live, before the pass.
    await SeekerProfile.filter(account_id=leaving.id).update(subscribed=False)
    done = await run(rds)
    assert done.pushed == 0
    for account in (unsubscribed, deleted, disabled, leaving):
        assert await told(account) == []
    assert not await JobPush.exists()


async def test_postings_taken_down_closed_or_of_a_suspended_enterprise_are_not_pushed(
    app: Sanic, client: httpx.AsyncClient, rds: aioredis.Redis
) -> None:
    welder = await seeker(app)
    firm = await seed.firm(app, client, code=TENCENT)
    down = await seed.live_posting(client, firm.employer, title="被下架")
    r = await client.post(f"{PUBLIC}/{down}/take-down", json={"reason": "虚假招聘"}, headers=firm.staff.headers)
    assert r.status_code == 200
    closed = await seed.live_posting(client, firm.employer, title="已关闭")
    assert (await client.post(f"{OWN}/{closed}/close", headers=firm.employer)).status_code == 200
    suspended = await seed.firm(app, client, code=HUAWEI)
    await seed.live_posting(client, suspended.employer, title="停业企业")
    r = await client.post(
        f"{ENTERPRISES}/{suspended.id}/suspend", json={"reason": "核查中"}, headers=suspended.staff.headers
    )
    assert r.status_code == 200, r.text
    assert (await run(rds)).pushed == 0
    assert await told(welder) == []


async def test_a_posting_taken_down_during_the_pass_stops_it(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    welder = await seeker(app)
    posting = await Posting.get(public_id=pid)
    await Posting.filter(id=posting.id).update(status="taken_down")
    assert await push.push_posting(posting.id, threshold=THRESHOLD, per_day=3) == 0
    assert await told(welder) == []


async def test_only_seekers_above_the_threshold_and_inside_the_filters_hear_of_it(
    app: Sanic, client: httpx.AsyncClient, rds: aioredis.Redis
) -> None:
    welder = await seeker(app)
    far = await seeker(app, home_lat=22.95, home_lon=114.2, radius_km=5.0)  # some 40 km away
    unschooled = await seeker(app, education="primary")  # the posting asks for junior
    cook = await seeker(
        app, desired_occupations=["4-03-01"], skills=[{"id": None, "text": "做饭"}], expected_salary_monthly=15000
    )
    firm = await seed.firm(app, client, code=TENCENT)
    await seed.live_posting(client, firm.employer)
    assert (await run(rds)).pushed == 1
    assert len(await told(welder)) == 1
    for account in (far, unschooled, cook):
        assert await told(account) == []


async def test_the_message_names_the_posting_and_nothing_of_the_seeker(
    app: Sanic, client: httpx.AsyncClient, rds: aioredis.Redis
) -> None:
    welder = await seeker(app)
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    await run(rds)
    [data] = await told(welder)
    assert set(data) == {"title", "salary", "distance", "posting_id", "at"}
    assert (data["title"], data["salary"], data["distance"], data["posting_id"]) == (
        "电焊工",
        "6000-8000元/月",
        "3公里内",
        pid,
    )
    row = await Notification.get(template=push.TEMPLATE, account_id=welder.id)
    assert row.idempotency_key == f"job.match:{pid}:{welder.public_id}"
    text = json.dumps(data, ensure_ascii=False)
    for secret in ("13912345678", "22.751", "113.931", "电焊", welder.public_id):
        assert secret not in text.replace("电焊工", "")


async def test_the_registered_job_pushes_what_was_published_since_its_last_pass(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, redis_url: str, rds: aioredis.Redis
) -> None:
    welder = await seeker(app)
    firm = await seed.firm(app, client, code=TENCENT)
    await seed.live_posting(client, firm.employer)
    ctx = JobContext(settings=settings, redis=rds, redis_url=redis_url)
    assert await JobHost(all_jobs(settings, {"jobs.push"}), ctx).run_once() == {"jobs.push": 1}
    assert await JobHost(all_jobs(settings, {"jobs.push"}), ctx).run_once() == {"jobs.push": 0}
    assert len(await told(welder)) == 1
    # A posting published long before the mark is not scored again.
    mark = await rds.get(push.MARK_KEY)
    assert mark is not None
    done = await run(rds)
    assert done.postings == 1  # the one inside the overlap margin, and it tells no one again
    await Posting.all().update(published_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert (await run(rds)).postings == 0
