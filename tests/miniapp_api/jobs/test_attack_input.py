"""Attacks through ids in the query and hostile input, over HTTP: a cursor naming another caller's row, bodies
nested or sized beyond reason, numbers that are not numbers, far dates, invisible characters; and what the
public sees of an enterprise. Each refusal is a clear JSON error that changes nothing."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from sanic import Sanic

from miniapp_api.jobs.models import Application, Enterprise, Posting, SeekerProfile
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import ENTERPRISES, OWN, PUBLIC
from tests.miniapp_api.jobs.test_applications import EMP, HUAWEI, MINE, TENCENT, seeker


def bad_cursor(r: httpx.Response) -> bool:
    return r.status_code == 422 and r.json()["error"]["details"]["fields"][0]["field"] == "cursor"


async def test_a_cursor_naming_a_row_out_of_reach_is_refused_like_a_made_up_one(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    mine, theirs = await seed.firm(app, client, code=TENCENT), await seed.firm(app, client, code=HUAWEI, node="GM0201")
    my_posting, their_posting = (
        await seed.live_posting(client, mine.employer),
        await seed.live_posting(client, theirs.employer),
    )
    their_draft = (await client.post(OWN, json=seed.posting_body(), headers=theirs.employer)).json()["id"]
    a, b = await seeker(app, 1), await seeker(app, 2)
    my_app = (await client.post(f"{PUBLIC}/{my_posting}/apply", headers=a.user.headers)).json()["id"]
    their_app = (await client.post(f"{PUBLIC}/{their_posting}/apply", headers=b.user.headers)).json()["id"]
    probes = [
        (f"{MINE}?cursor={their_app}", b.user.headers, a.user.headers),  # another seeker's application
        (f"{EMP}/postings/{my_posting}/applications?cursor={their_app}", None, mine.employer),
        (f"{OWN}?cursor={their_posting}", None, mine.employer),  # another enterprise's posting
        (f"{PUBLIC}?cursor={their_draft}", None, {}),  # a draft nobody else has seen
        (f"{ENTERPRISES}?cursor={theirs.id}", None, mine.staff.headers),  # another street's enterprise
    ]
    for url, _, caller in probes:
        r = await client.get(url, headers=caller)
        made_up = await client.get(url.split("?")[0] + "?cursor=jx_nothing", headers=caller)
        assert bad_cursor(r) and bad_cursor(made_up), (url, r.text)
        assert r.json()["error"]["code"] == made_up.json()["error"]["code"]
    # A cursor of one's own still pages; so does one whose row changed state between the pages.
    assert (await client.get(f"{MINE}?cursor={my_app}", headers=a.user.headers)).json()["items"] == []
    assert (await client.get(f"{OWN}?cursor={my_posting}&status=closed", headers=mine.employer)).status_code == 200
    assert (
        await client.get(f"{EMP}/postings/{my_posting}/applications?cursor={my_app}&state=hired", headers=mine.employer)
    ).status_code == 200
    assert (await client.get(f"{PUBLIC}?cursor={their_posting}")).status_code == 200
    assert (await client.get(f"{ENTERPRISES}?cursor={mine.id}", headers=mine.staff.headers)).status_code == 200


async def test_hostile_bodies_are_clear_errors_that_change_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    postings, profiles = await Posting.all().count(), await SeekerProfile.all().count()
    far = (seed.beijing_today() + dt.timedelta(days=367)).isoformat()
    cases: list[tuple[str, str, dict[str, str], object]] = [
        ("POST", OWN, firm.employer, seed.posting_body(skills_required=["电焊"] * 10_000)),
        ("POST", OWN, firm.employer, seed.posting_body(valid_through="9999-12-31")),
        ("POST", OWN, firm.employer, seed.posting_body(valid_through=far)),
        ("POST", OWN, firm.employer, seed.posting_body(salary_max=10**308)),
        ("POST", OWN, firm.employer, seed.posting_body(openings=10**9)),
        ("POST", OWN, firm.employer, seed.posting_body(title="电焊工\u202e高薪")),  # a right-to-left override
        ("POST", OWN, firm.employer, seed.posting_body(title="\u200b")),  # only a zero-width space
        ("POST", OWN, firm.employer, seed.posting_body(node="GM")),  # the district as a work place
        ("PUT", "/api/v1/me/jobs/profile", s.user.headers, {"skills": ["电焊"] * 10_000}),
        ("PUT", "/api/v1/me/jobs/profile", s.user.headers, {"skills": ["电焊 138 0013 8000"]}),
        ("PUT", "/api/v1/me/jobs/profile", s.user.headers, {"skills": ["44030119900101123X"]}),
        ("PUT", "/api/v1/me/jobs/profile", s.user.headers, {"radius_km": 1e308}),
        ("PUT", "/api/v1/me/jobs/profile", s.user.headers, {"lat": 0.0, "lon": 0.0}),
        ("PUT", "/api/v1/me/jobs/profile", s.user.headers, {"available_from": "0001-01-01"}),
        ("PUT", "/api/v1/me/jobs/profile", s.user.headers, {"available_from": "9999-12-31"}),
        ("POST", f"{EMP}/postings/{pid}/invitations", firm.employer, {"candidate": "jc_" + "0" * 10_000}),
    ]
    for method, url, caller, body in cases:
        r = await client.request(method, url, json=body, headers=caller)
        assert r.status_code in (400, 422) and r.json()["error"]["code"], (url, str(body)[:80], r.text[:300])
    # Not JSON numbers, nested beyond reason, far too long: refused before any handler.
    raw_cases = [
        json.dumps(seed.posting_body()).replace('"lat": 22.75', '"lat": NaN'),
        json.dumps(seed.posting_body()).replace('"salary_min": 6000', '"salary_min": Infinity'),
        '{"note": ' + "[" * 5_000 + "]" * 5_000 + "}",
        json.dumps({"note": "好" * 100_000}),
    ]
    for raw in raw_cases:
        for url in (OWN, f"{PUBLIC}/{pid}/apply"):
            caller = firm.employer if url == OWN else s.user.headers
            r = await client.post(url, content=raw, headers=caller | {"content-type": "application/json"})
            assert 400 <= r.status_code < 500 and r.json()["error"]["code"], (url, raw[:40], r.text[:200])
    for url in (f"{PUBLIC}?limit=100000000000000000000", f"{PUBLIC}?km=inf", f"{PUBLIC}?lat=nan&lon=113.9"):
        assert (await client.get(url)).status_code == 422
    assert (await Posting.all().count(), await SeekerProfile.all().count()) == (postings, profiles)
    assert await Application.all().count() == 0


async def test_the_public_never_sees_the_enterprise_contact(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    contact = seed.enterprise_body()["contact"]
    s = await seeker(app, 1)
    await client.put("/api/v1/me/jobs/profile", json={"education": "senior"}, headers=s.user.headers)
    seen = [
        await client.get(PUBLIC),
        await client.get(f"{PUBLIC}/{pid}"),
        await client.get("/api/v1/jobs/matches", headers=s.user.headers),
        await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers),
        await client.get(MINE, headers=s.user.headers),
    ]
    for r in seen:
        assert r.status_code in (200, 201), r.text
        assert contact["phone"] not in r.text and contact["name"] not in r.text
    assert (await Enterprise.get(public_id=firm.id)).contact_enc  # kept, sealed
