"""A seeker's matches come from an in-memory index, yet never show what the database no longer shows: a
posting taken down, closed, expired or of a suspended enterprise is gone at the next request even while the
index is stale; a posting published or edited after the index was built ranks at once. The same for a
posting's candidates and the seeker index: opted out or erased, gone at once; a new profile, listed at once."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.jobs import index, rows
from miniapp_api.jobs.models import Posting, SeekerProfile
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import OWN, PUBLIC, beijing_today
from tests.miniapp_api.jobs.test_candidate_list import candidates_of, seeker
from tests.miniapp_api.jobs.test_seekers import PROFILE, profile_body

MATCHES = "/api/v1/jobs/matches"


@pytest.fixture
def stale_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """The index is checked for changes only once an hour: whatever follows is read with a stale one."""
    index.postings.forget()
    index.seekers.forget()
    monkeypatch.setattr(index, "RECHECK_SECONDS", 3600.0)


async def ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    r = await client.get(MATCHES, headers=headers)
    assert r.status_code == 200, r.text
    return [m["posting"]["id"] for m in r.json()["items"]]


async def indexed(public_id: str) -> bool:
    snap, keep = await index.postings.current()
    posting = await Posting.get(public_id=public_id)
    return posting.id in set(snap.ids[keep].tolist())


@pytest.mark.usefixtures("stale_index")
async def test_a_posting_gone_from_the_database_is_gone_from_matches_at_once(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    other = await seed.firm(app, client, code=seed.REAL_CODES[1], node="GM0201")
    gone = {
        "taken_down": await seed.live_posting(client, firm.employer),
        "closed": await seed.live_posting(client, firm.employer),
        "expired": await seed.live_posting(client, firm.employer),
        "hidden": await seed.live_posting(client, firm.employer),
        "suspended": await seed.live_posting(client, other.employer),
    }
    kept = await seed.live_posting(
        client, firm.employer, title="厨师", occupation_code="4-03", skills_required=["烹饪"]
    )
    resident = await user(app, Role.RESIDENT)
    await client.put(PROFILE, json=profile_body(), headers=resident.headers)
    assert set(await ids(client, resident.headers)) == {*gone.values(), kept}
    assert all([await indexed(pid) for pid in gone.values()])

    r = await client.post(
        f"{PUBLIC}/{gone['taken_down']}/take-down", json={"reason": "虚假招聘"}, headers=firm.staff.headers
    )
    assert r.status_code == 200, r.text
    assert (await client.post(f"{OWN}/{gone['closed']}/close", headers=firm.employer)).status_code == 200
    r = await client.post(
        f"/api/v1/jobs/enterprises/{other.id}/suspend", json={"reason": "核查"}, headers=other.staff.headers
    )
    assert r.status_code == 200, r.text
    # Written straight to the database, without a change of updated_at: the index cannot know.
    await Posting.filter(public_id=gone["expired"]).update(valid_through=beijing_today() - dt.timedelta(days=1))
    await Posting.filter(public_id=gone["hidden"]).update(status="taken_down")

    assert all([await indexed(pid) for pid in (gone["expired"], gone["hidden"], gone["suspended"])]), "still stale"
    assert await ids(client, resident.headers) == [kept]


@pytest.mark.usefixtures("stale_index")
async def test_a_posting_published_or_edited_after_the_index_was_built_ranks_at_once(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    cook = await seed.live_posting(
        client, firm.employer, title="厨师", occupation_code="4-03", skills_required=["烹饪"]
    )
    resident = await user(app, Role.RESIDENT)
    await client.put(PROFILE, json=profile_body(), headers=resident.headers)
    assert await ids(client, resident.headers) == [cook]

    welder = await seed.live_posting(client, firm.employer)
    assert not await indexed(welder)
    assert await ids(client, resident.headers) == [welder, cook]

    # The cook's posting now asks for welding, as the seeker has: read fresh, scored and explained as edited.
    r = await client.put(f"{OWN}/{cook}", json=seed.posting_body(title="焊工(急招)", openings=3), headers=firm.employer)
    assert r.status_code == 200, r.text
    items = (await client.get(MATCHES, headers=resident.headers)).json()["items"]
    assert {m["posting"]["id"] for m in items} == {welder, cook}
    cook_item = next(m for m in items if m["posting"]["id"] == cook)
    assert cook_item["posting"]["title"] == "焊工(急招)"
    assert "电焊" in cook_item["explanation"]["skills"]
    assert not cook_item["explanation"]["missing"]


@pytest.mark.usefixtures("stale_index")
async def test_a_posting_s_candidates_follow_the_database_not_the_stale_seeker_index(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    pid = await seed.live_posting(client, firm.employer)
    a = await seeker(app, client, 0, visible=True)
    b = await seeker(app, client, 1, visible=True, skills=["吃苦耐劳"], lat=22.80, lon=113.90, radius_km=20)
    c = await seeker(app, client, 2, visible=True, education="bachelor")

    async def listed() -> int:
        r = await client.get(candidates_of(pid), headers=firm.employer)
        assert r.status_code == 200, r.text
        return len(r.json()["items"])

    assert await listed() == 3
    snap = await index.seekers.current(await rows.skills.current())
    assert {a.account.id, b.account.id, c.account.id} <= set(snap.ids.tolist())
    # Opted out straight in the database (no updated_at change: the index cannot know), and erased.
    await SeekerProfile.filter(account_id=a.account.id).update(visible=False)
    assert (await client.delete(PROFILE, headers=b.headers)).status_code == 204
    assert await listed() == 1
    d = await seeker(app, client, 3, visible=True)
    assert d.account.id not in set((await index.seekers.current(await rows.skills.current())).ids.tolist())
    assert await listed() == 2
