"""A seeker's matches over HTTP: only live, valid postings of verified enterprises that pass the hard
filters, best first, both sides' scores, a Chinese explanation each, no contact of the enterprise."""

from __future__ import annotations

import datetime as dt

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.jobs.models import Posting
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import OWN, beijing_today, posting_body
from tests.miniapp_api.jobs.test_seekers import PROFILE, profile_body

MATCHES = "/api/v1/jobs/matches"


async def test_no_profile_is_409_and_bad_limits_are_422(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    r = await client.get(MATCHES, headers=resident.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "profile_missing")
    assert "/api/v1/me/jobs/profile" in r.json()["error"]["message"]
    await client.put(PROFILE, json=profile_body(), headers=resident.headers)
    for bad in ("0", "51", "-1", "x", "1e9"):
        r = await client.get(MATCHES, params={"limit": bad}, headers=resident.headers)
        assert r.status_code == 422, (bad, r.text)
    r = await client.get(MATCHES, params={"limit": "3", "extra": "1"}, headers=resident.headers)
    assert r.status_code == 422
    assert (await client.get(MATCHES)).status_code == 401


async def test_only_postings_passing_every_filter_best_first_explained(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    suspended = await seed.firm(app, client, code=seed.REAL_CODES[1], node="GM0201")
    best = await seed.live_posting(client, firm.employer)
    other = await seed.live_posting(
        client, firm.employer, title="厨师", occupation_code="4-03", skills_required=["烹饪"], skills_preferred=[]
    )
    hidden = {
        "far": await seed.live_posting(client, firm.employer, lat=22.85, lon=114.3),
        "education": await seed.live_posting(client, firm.employer, education_min="master"),
        "part_time": await seed.live_posting(client, firm.employer, employment_type="part_time"),
        "night": await seed.live_posting(client, firm.employer, shifts=["night"]),
        "suspended": await seed.live_posting(client, suspended.employer),
        "expired": await seed.live_posting(client, firm.employer),
        "closed": await seed.live_posting(client, firm.employer),
    }
    await Posting.filter(public_id=hidden["expired"]).update(valid_through=beijing_today() - dt.timedelta(days=1))
    await client.post(f"{OWN}/{hidden['closed']}/close", headers=firm.employer)
    await client.post(
        f"/api/v1/jobs/enterprises/{suspended.id}/suspend", json={"reason": "核查"}, headers=suspended.staff.headers
    )
    draft = (await client.post(OWN, json=posting_body(), headers=firm.employer)).json()["id"]
    resident = await user(app, Role.RESIDENT)
    await client.put(PROFILE, json=profile_body(), headers=resident.headers)
    r = await client.get(MATCHES, headers=resident.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [m["posting"]["id"] for m in items] == [best, other], [m["posting"]["title"] for m in items]
    assert draft not in r.text and not any(pid in r.text for pid in hidden.values())
    top = items[0]
    s = top["scores"]
    assert 0 < s["job_score"] <= 1 and 0 < s["seeker_score"] <= 1 and s["damping"] == 1
    assert abs(s["combined"] - 2 * s["job_score"] * s["seeker_score"] / (s["job_score"] + s["seeker_score"])) < 1e-3
    assert items[0]["scores"]["score"] > items[1]["scores"]["score"]
    assert top["distance_km"] is not None and top["distance_km"] < 1
    explanation = top["explanation"]
    assert "匹配技能" in explanation["skills"] and "电焊" in explanation["skills"]
    assert explanation["distance"].startswith("距家约") and explanation["text"].endswith("。")
    assert "缺少必需技能" in items[1]["explanation"]["missing"] and "烹饪" in items[1]["explanation"]["missing"]
    # The posting's public fields only: nothing of the enterprise's contact.
    assert top["posting"]["title"] == "电焊工" and top["posting"]["enterprise"]
    assert "13912340001" not in r.text and "李四" not in r.text and "华夏路" not in r.text
    assert (await client.get(MATCHES, params={"limit": 1}, headers=resident.headers)).json()["items"][0]["posting"][
        "id"
    ] == best


async def test_a_crowded_posting_is_damped_and_says_so(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    quiet = await seed.live_posting(client, firm.employer, openings=1)
    crowded = await seed.live_posting(client, firm.employer, openings=1)
    await Posting.filter(public_id=crowded).update(applicants=40)
    resident = await user(app, Role.RESIDENT)
    await client.put(PROFILE, json=profile_body(), headers=resident.headers)
    items = (await client.get(MATCHES, headers=resident.headers)).json()["items"]
    assert [m["posting"]["id"] for m in items] == [quiet, crowded]
    assert items[1]["scores"]["damping"] < 1 and items[0]["scores"]["combined"] == items[1]["scores"]["combined"]
    assert "申请" in items[1]["explanation"]["summary"]
