"""Postings over HTTP: an employer's own postings (another enterprise's are 404), publication only for
a verified enterprise, the staff's take-down in their area, and the public list of live postings with
its filters. Attackers first: other employers, other streets, residents, anonymous, bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.jobs.models import Posting
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import ENTERPRISES, OWN, PUBLIC, beijing_today, posting_body

TENCENT = "91440300708461136T"
HUAWEI = "914403001922038216"


async def test_another_enterprises_posting_is_404_to_an_employer(app: Sanic, client: httpx.AsyncClient) -> None:
    mine = await seed.firm(app, client, code=TENCENT)
    theirs = await seed.firm(app, client, code=HUAWEI, node="GM0201")
    pid = await seed.live_posting(client, mine.employer)
    before = (await Posting.get(public_id=pid)).updated_at
    for method, path, body in (
        ("GET", f"{OWN}/{pid}", None),
        ("PUT", f"{OWN}/{pid}", posting_body(title="改掉")),
        ("POST", f"{OWN}/{pid}/close", None),
        ("POST", f"{OWN}/{pid}/publish", None),
    ):
        r = await client.request(method, path, json=body, headers=theirs.employer)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "posting_not_found"), (method, path, r.text)
    assert (await client.get(OWN, headers=theirs.employer)).json()["items"] == []
    resident = await user(app, Role.RESIDENT)
    admin = await user(app, Role.ADMIN, node="GM")
    for caller in (resident.headers, admin.headers, mine.staff.headers):
        assert (await client.get(f"{OWN}/{pid}", headers=caller)).status_code == 403
        assert (await client.post(OWN, json=posting_body(), headers=caller)).status_code == 403
    assert (await client.post(f"{OWN}/{pid}/close")).status_code == 401
    row = await Posting.get(public_id=pid)
    assert (row.status, row.title, row.updated_at) == ("live", "电焊工", before)


async def test_staff_of_another_street_cannot_take_a_posting_down(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)  # GM0101, street GM01
    pid = await seed.live_posting(client, firm.employer)
    other = await seed.staff(app, "GM02")
    r = await client.post(f"{PUBLIC}/{pid}/take-down", json={"reason": "虚假招聘"}, headers=other.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (404, "posting_not_found")
    for caller in (firm.employer, (await user(app, Role.ADMIN, node="GM")).headers):
        r = await client.post(f"{PUBLIC}/{pid}/take-down", json={"reason": "虚假招聘"}, headers=caller)
        assert r.status_code == 403
    assert (await client.get(f"{PUBLIC}/{pid}")).status_code == 200
    # The street's own staff take it down: audited, gone from the public, the employer sees why.
    r = await client.post(f"{PUBLIC}/{pid}/take-down", json={"reason": "虚假招聘"}, headers=firm.staff.headers)
    assert r.status_code == 200 and r.json()["status"] == "taken_down"
    assert (await client.get(f"{PUBLIC}/{pid}")).status_code == 404
    assert pid not in (await client.get(PUBLIC)).text
    own = await client.get(f"{OWN}/{pid}", headers=firm.employer)
    assert own.json()["take_down_reason"] == "虚假招聘"
    edit = await client.put(f"{OWN}/{pid}", json=posting_body(), headers=firm.employer)
    assert (edit.status_code, edit.json()["error"]["code"]) == (409, "posting_not_editable")
    assert await AuditEntry.filter(action="job.posting.take_down", target=pid).count() == 1


async def test_a_work_place_in_another_street_does_not_take_a_posting_out_of_its_own_streets_reach(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    """An employer of GM0101 naming GM0201 as the work place: the staff of GM02 (the work place) and of GM01 (the
    enterprise's area) may both take it down; the employer cannot escape its own area's staff."""
    firm = await seed.firm(app, client, code=TENCENT)  # GM0101, street GM01
    pid = await seed.live_posting(client, firm.employer, node="GM0201")
    r = await client.post(f"{PUBLIC}/{pid}/take-down", json={"reason": "虚假招聘"}, headers=firm.staff.headers)
    assert r.status_code == 200 and r.json()["status"] == "taken_down"
    other = await seed.live_posting(client, firm.employer, node="GM0201", title="焊工二")
    there = await seed.staff(app, "GM02")
    r = await client.post(f"{PUBLIC}/{other}/take-down", json={"reason": "虚假招聘"}, headers=there.headers)
    assert r.status_code == 200
    third = await seed.live_posting(client, firm.employer, title="焊工三")  # GM0101: GM02's staff cannot
    r = await client.post(f"{PUBLIC}/{third}/take-down", json={"reason": "虚假招聘"}, headers=there.headers)
    assert r.status_code == 404


async def test_publishing_needs_a_verified_enterprise(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT, verify=False)  # verified, then suspended
    made = await client.post(OWN, json=posting_body(), headers=firm.employer)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    r = await client.post(f"{OWN}/{pid}/publish", headers=firm.employer)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "enterprise_not_verified")
    assert "verified" in r.json()["error"]["message"]
    assert (await Posting.get(public_id=pid)).status == "draft"
    await client.post(f"{ENTERPRISES}/{firm.id}/verify", headers=firm.staff.headers)
    assert (await client.post(f"{OWN}/{pid}/publish", headers=firm.employer)).status_code == 200
    twice = await client.post(f"{OWN}/{pid}/publish", headers=firm.employer)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "invalid_transition")


async def test_a_suspended_enterprises_postings_leave_the_public_list(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    assert [p["id"] for p in (await client.get(PUBLIC)).json()["items"]] == [pid]
    r = await client.post(f"{ENTERPRISES}/{firm.id}/suspend", json={"reason": "欠薪投诉"}, headers=firm.staff.headers)
    assert r.status_code == 200
    assert (await client.get(PUBLIC)).json()["items"] == []
    assert (await client.get(f"{PUBLIC}/{pid}")).status_code == 404
    await client.post(f"{ENTERPRISES}/{firm.id}/verify", headers=firm.staff.headers)
    assert [p["id"] for p in (await client.get(PUBLIC)).json()["items"]] == [pid]


async def test_only_live_valid_postings_are_public_and_without_contact(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    live = await seed.live_posting(client, firm.employer)
    draft = (await client.post(OWN, json=posting_body(title="草稿"), headers=firm.employer)).json()["id"]
    closed = await seed.live_posting(client, firm.employer, title="已关闭")
    assert (await client.post(f"{OWN}/{closed}/close", headers=firm.employer)).json()["status"] == "closed"
    expired = await seed.live_posting(client, firm.employer, title="已过期")
    await Posting.filter(public_id=expired).update(valid_through=beijing_today() - dt.timedelta(days=1))
    listed = await client.get(PUBLIC)
    assert [p["id"] for p in listed.json()["items"]] == [live]
    for pid in (draft, closed, expired, "jp_nope", "x" * 300):
        r = await client.get(f"{PUBLIC}/{pid}")
        assert (r.status_code, r.json()["error"]["code"]) == (404, "posting_not_found")
    page = await client.get(f"{PUBLIC}/{live}")
    assert page.status_code == 200
    assert "13912340001" not in page.text and "李四" not in page.text and "华夏路" not in page.text
    assert page.json()["take_down_reason"] is None
    # Typed skills read through the taxonomy, the words kept as typed.
    assert page.json()["skills_required"] == [{"id": "welding", "text": "电焊"}]


async def test_public_filters_and_pages(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    near = await seed.live_posting(client, firm.employer, lat=22.75, lon=113.93)
    far = await seed.live_posting(client, firm.employer, lat=22.55, lon=114.10, occupation_code="4-01-02")
    hourly = await seed.live_posting(
        client, firm.employer, salary_min=25, salary_max=30, salary_period="hour", employment_type="part_time"
    )

    async def ids(**params: Any) -> list[str]:
        r = await client.get(PUBLIC, params=params)
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["items"]]

    assert await ids() == [hourly, far, near]
    assert await ids(occupation="6-18") == [hourly, near]
    assert await ids(occupation="4") == [far]
    assert await ids(employment_type="part_time") == [hourly]
    # 30 yuan an hour is 30 x 8 x 21.75 = 5,220 a month: under 6,000.
    assert await ids(salary_at_least=6000) == [far, near]
    hourly_out = (await client.get(f"{PUBLIC}/{hourly}")).json()["salary"]
    assert (hourly_out["monthly_min"], hourly_out["monthly_max"]) == (4350, 5220)
    assert await ids(lat=22.76, lon=113.93, km=3) == [hourly, near]  # the far one is ~27 km away
    first = await client.get(PUBLIC, params={"limit": 2})
    assert [p["id"] for p in first.json()["items"]] == [hourly, far]
    rest = await client.get(PUBLIC, params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert [p["id"] for p in rest.json()["items"]] == [near] and rest.json()["next_cursor"] is None
    for params in (
        {"lat": 22.7},
        {"lat": 30.0, "lon": 113.9},
        {"km": 0},
        {"km": 1000},
        {"occupation": "9-01"},
        {"limit": 101},
        {"cursor": "jp_nope"},
        {"salary_at_least": -1},
    ):
        r = await client.get(PUBLIC, params=params)
        assert r.status_code == 422, (params, r.text)


async def test_skills_map_to_the_taxonomy_and_free_text_is_never_dropped(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    body = posting_body(skills_required=["会电焊和叉车", "吹拉弹唱", "电焊工"], skills_preferred=["氩弧焊"])
    made = await client.post(OWN, json=body, headers=firm.employer)
    assert made.status_code == 201, made.text
    required = made.json()["skills_required"]
    ids = [s["id"] for s in required]
    assert "welding" in ids and ids.count("welding") == 1  # 电焊 and 电焊工 are one skill, listed once
    assert "forklift" in ids
    assert {"id": None, "text": "吹拉弹唱"} in required  # maps to nothing: kept as typed
    stored = await Posting.get(public_id=made.json()["id"])
    assert stored.skills_required == required


async def test_bad_postings_are_refused_and_change_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    today = beijing_today()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"occupation_code": "6"}, "occupation_code"),  # the major group alone is too coarse
        ({"occupation_code": "9-18"}, "occupation_code"),
        ({"occupation_code": "6-18-02-04-01"}, "occupation_code"),
        ({"occupation_code": "6-50"}, "occupation_code"),  # well formed, in no classification
        ({"occupation_code": "6-18-50"}, "occupation_code"),
        ({"salary_min": 9000, "salary_max": 8000}, "salary_max"),
        ({"salary_min": 0}, "salary_min"),
        ({"salary_max": 10**9}, "salary_max"),
        ({"lat": 23.5}, "lat"),
        ({"lon": 113.0}, "lon"),
        ({"valid_through": (today - dt.timedelta(days=1)).isoformat()}, "valid_through"),
        ({"valid_through": (today + dt.timedelta(days=400)).isoformat()}, "valid_through"),
        ({"skills_required": [f"技能{i}" for i in range(31)]}, "skills_required"),
        ({"skills_required": ["a" * 21]}, "skills_required.0"),
        ({"skills_required": [f"甲{i}" for i in range(20)], "skills_preferred": [f"乙{i}" for i in range(11)]},
         "skills_preferred"),
        ({"openings": 0}, "openings"),
        ({"openings": 1001}, "openings"),
        ({"title": "电焊\u202e工"}, "title"),  # a direction mark
        ({"description": "好工作\u0007"}, "description"),  # a control character
        ({"description": "长" * 4001}, "description"),
        ({"title": ""}, "title"),
        ({"employment_type": "slave"}, "employment_type"),
        ({"education_min": "phd"}, "education_min"),
        ({"shifts": ["day", "day"]}, "shifts"),
        ({"experience_min_years": 51}, "experience_min_years"),
        ({"building": "NOPE1"}, "building"),
        ({"node": "GM"}, "node"),
        ({"skills_required": [{"nested": ["deep"]}]}, "skills_required.0"),
        ({"contact": "13912340001"}, "contact"),
    ]  # fmt: skip
    for changes, field in cases:
        r = await client.post(OWN, json=posting_body(**changes), headers=firm.employer)
        assert r.status_code == 422, (changes, r.text)
        fields = {f["field"] for f in r.json()["error"]["details"]["fields"]}
        assert field in fields, (changes, fields)
    assert await Posting.all().count() == 0
    # An edit with bad input changes nothing either.
    pid = await seed.live_posting(client, firm.employer)
    r = await client.put(f"{OWN}/{pid}", json=posting_body(salary_min=9000, salary_max=100), headers=firm.employer)
    assert r.status_code == 422
    assert (await Posting.get(public_id=pid)).salary_min == 6000
    # A good edit of a live posting keeps it live.
    r = await client.put(f"{OWN}/{pid}", json=posting_body(title="高级电焊工", openings=5), headers=firm.employer)
    assert r.status_code == 200 and (r.json()["title"], r.json()["status"], r.json()["openings"]) == (
        "高级电焊工",
        "live",
        5,
    )
