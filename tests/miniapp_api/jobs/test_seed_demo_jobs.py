"""``gmid seed-demo``'s job matching part: verified enterprises whose employers sign in, live postings the
public list shows, subscribed seekers; a second run changes nothing."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.models import Account
from miniapp_api.jobs import uscc
from miniapp_api.jobs.demo_seed import seed_jobs
from miniapp_api.jobs.models import EmployerBinding, Enterprise, Posting, SeekerProfile
from tests.factories import load_demo_hierarchy
from tests.miniapp_api.jobs.seed import PUBLIC

PASSWORD = "Demo-seed-pass-2026!"


async def test_seed_demo_jobs_is_usable_and_idempotent(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    first = await seed_jobs(password=PASSWORD)
    assert sum(line.startswith("employer demo.hr") for line in first) == 4
    assert PASSWORD not in "\n".join(first)
    firms = await Enterprise.all()
    assert len(firms) == 4 and {f.status for f in firms} == {"verified"}
    assert all(uscc.normalize(f.uscc) == f.uscc for f in firms)
    assert await EmployerBinding.all().count() == 4
    assert await Posting.filter(status="live").count() == 12
    assert await SeekerProfile.filter(subscribed=True).count() == 12
    listed = (await client.get(PUBLIC, params={"limit": 50})).json()["items"]
    assert len(listed) == 12
    login = await client.post("/api/v1/auth/login", json={"username": "demo.hr1", "password": PASSWORD})
    assert login.status_code == 200, login.text
    own = await client.get(
        "/api/v1/employer/postings", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert len(own.json()["items"]) == 3
    accounts = await Account.all().count()
    second = await seed_jobs(password=PASSWORD)
    assert all(line.endswith("exists") for line in second), second
    assert await Account.all().count() == accounts
    assert await Posting.all().count() == 12 and await Enterprise.all().count() == 4
