"""A resident's job seeker profile over HTTP: only their own, only residents, every bad input refused with
nothing changed and nothing echoed; skills read through the taxonomy (free text kept); the home rounded."""

from __future__ import annotations

from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.jobs.models import SeekerProfile
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed

PROFILE = "/api/v1/me/jobs/profile"


def profile_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "desired_occupations": ["6-18-02"],
        "skills": ["电焊", "会开叉车", "吃苦耐劳"],
        "education": "senior",
        "experience_years": 3,
        "expected_salary_monthly": 6500,
        "lat": 22.751234,
        "lon": 113.935678,
        "radius_km": 8,
        "employment_types": ["full_time"],
        "shifts": ["day", "rotating"],
        "available_from": "2026-01-10",
        "visible": True,
        "subscribed": False,
    }
    body.update(changes)
    return body


async def test_each_resident_reads_and_erases_only_their_own(app: Sanic, client: httpx.AsyncClient) -> None:
    a = await user(app, Role.RESIDENT)
    b = await user(app, Role.PARTY_MEMBER)
    assert (await client.put(PROFILE, json=profile_body(), headers=a.headers)).status_code == 201
    mine = await client.get(PROFILE, headers=b.headers)  # b has none: a's is not shown
    assert (mine.status_code, mine.json()["error"]["code"]) == (404, "profile_not_found")
    assert "6500" not in mine.text
    assert (await client.delete(PROFILE, headers=b.headers)).status_code == 404
    assert await SeekerProfile.filter(account_id=a.account.id).count() == 1
    assert (await client.put(PROFILE, json=profile_body(education="master"), headers=b.headers)).status_code == 201
    assert (await client.get(PROFILE, headers=a.headers)).json()["education"] == "senior"
    assert (await client.get(PROFILE)).status_code == 401


async def test_staff_and_employers_cannot_have_a_seeker_profile(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    callers = [firm.employer, firm.staff.headers]
    for role in (Role.GRID_STAFF, Role.OFFICER, Role.POLICE, Role.HEALTH_STAFF, Role.ADMIN):
        callers.append((await user(app, role, node="GM")).headers)
    for headers in callers:
        for method in ("PUT", "GET", "DELETE"):
            r = await client.request(method, PROFILE, json=profile_body(), headers=headers)
            assert r.status_code == 403, (method, r.text)
        assert (await client.get("/api/v1/jobs/matches", headers=headers)).status_code == 403
    assert await SeekerProfile.all().count() == 0


async def test_bad_input_is_refused_field_by_field_and_changes_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    assert (await client.put(PROFILE, json=profile_body(), headers=resident.headers)).status_code == 201
    before = await client.get(PROFILE, headers=resident.headers)
    cases: list[tuple[dict[str, Any], str]] = [
        (profile_body(desired_occupations=["9-99-99"]), "desired_occupations"),
        (profile_body(desired_occupations=["6-50"]), "desired_occupations"),  # well-formed, not a 2022 code
        (profile_body(desired_occupations=["6-18"] * 2), "desired_occupations"),
        (
            profile_body(desired_occupations=["6-18", "6-18-02", "6-18-01", "6-18-03", "4-01", "4-02"]),
            "desired_occupations",
        ),
        (profile_body(skills=["焊"] * 31), "skills"),
        (profile_body(skills=["电焊工" * 7 + "x"]), "skills"),
        (profile_body(skills=["电焊\u202e"]), "skills"),
        (profile_body(skills=["13912345678"]), "skills"),  # an employer reads skills: no phone in them
        (profile_body(skills=[{"nested": ["电焊"]}]), "skills"),
        (profile_body(lat=23.5), "lat"),  # outside Shenzhen
        (profile_body(lon=None), "lon"),
        (profile_body(radius_km=0.5), "radius_km"),
        (profile_body(radius_km=51), "radius_km"),
        (profile_body(education="phd"), "education"),
        (profile_body(employment_types=["full_time", "full_time"]), "employment_types"),
        (profile_body(shifts=["always"]), "shifts"),
        (profile_body(expected_salary_monthly=-1), "expected_salary_monthly"),
        (profile_body(visible="yes please"), "visible"),
        (profile_body(owner="someone else"), "owner"),
    ]
    for body, field in cases:
        r = await client.put(PROFILE, json=body, headers=resident.headers)
        assert r.status_code == 422, (field, r.text)
        assert field in [f["field"].split(".")[0] for f in r.json()["error"]["details"]["fields"]], r.text
        assert "13912345678" not in r.text and "someone else" not in r.text and "yes please" not in r.text
    for raw in (b'{"lat": NaN, "lon": 113.9}', b'{"lat": Infinity, "lon": 113.9}', b'{"radius_km": -Infinity}'):
        r = await client.put(PROFILE, content=raw, headers={**resident.headers, "Content-Type": "application/json"})
        assert r.status_code == 400, r.text
    for raw in (b'{"lat": 1e999, "lon": 113.9}', b'{"lat": 22.7, "lon": 113.9, "radius_km": 1e999}'):
        r = await client.put(PROFILE, content=raw, headers={**resident.headers, "Content-Type": "application/json"})
        assert r.status_code == 422, r.text
    r = await client.put(
        PROFILE, content=b"[" * 600 + b"]" * 600, headers={**resident.headers, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_too_deep"
    assert (await client.get(PROFILE, headers=resident.headers)).json() == before.json()


async def test_skills_are_read_through_the_taxonomy_and_free_text_is_kept(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    r = await client.put(PROFILE, json=profile_body(skills=["电焊", "吃苦耐劳", "焊工"]), headers=resident.headers)
    assert r.status_code == 201, r.text
    skills = r.json()["skills"]
    assert skills[0] == {"id": "welding", "text": "电焊", "name": skills[0]["name"]} and skills[0]["name"]
    assert {"id": None, "text": "吃苦耐劳", "name": None} in skills  # never dropped
    assert [s["id"] for s in skills].count("welding") == 1  # 焊工 is the same skill: once
    # The home is kept rounded to 3 decimals (about 100 m), never the point as sent.
    row = await SeekerProfile.get(account_id=resident.account.id)
    assert (row.home_lat, row.home_lon) == (22.751, 113.936)
    assert (r.json()["lat"], r.json()["lon"]) == (22.751, 113.936)
    # PUT replaces the whole profile (200 the second time); DELETE erases it.
    again = await client.put(PROFILE, json=profile_body(lat=None, lon=None, skills=[]), headers=resident.headers)
    assert again.status_code == 200 and again.json()["lat"] is None and again.json()["skills"] == []
    assert (await client.delete(PROFILE, headers=resident.headers)).status_code == 204
    assert await SeekerProfile.filter(account_id=resident.account.id).count() == 0
    assert (await client.get(PROFILE, headers=resident.headers)).status_code == 404
