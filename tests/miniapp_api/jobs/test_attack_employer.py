"""Attacks on the employer side from outside, over HTTP: an employer of a suspended enterprise, a disabled
employer account, hiring beyond a posting's openings (in turn and at once), and a taken-down posting still
used. Each refused step changes nothing."""

from __future__ import annotations

import asyncio

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.jobs.candidates import candidate_id
from miniapp_api.jobs.models import Application, ApplicationEvent, EmployerBinding
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import ENTERPRISES, PUBLIC
from tests.miniapp_api.jobs.test_applications import EMP, MINE, TENCENT, applicants, seeker


async def test_an_employer_of_a_suspended_enterprise_acts_on_no_seeker(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    applied, visible = await seeker(app, 1, name="李四"), await seeker(app, 2)
    aid = (await client.post(f"{PUBLIC}/{pid}/apply", headers=applied.user.headers)).json()["id"]
    suspended = await client.post(
        f"{ENTERPRISES}/{firm.id}/suspend", json={"reason": "虚假招聘核查"}, headers=firm.staff.headers
    )
    assert suspended.status_code == 200
    events = await ApplicationEvent.all().count()
    tries = [
        ("POST", f"{EMP}/postings/{pid}/invitations", {"candidate": candidate_id(pid, visible.account_id)}),
        ("GET", f"{EMP}/postings/{pid}/applications", None),  # names and phones of those who applied
        ("GET", f"{EMP}/postings/{pid}/candidates", None),
        ("POST", f"{EMP}/applications/{aid}/hire", None),
        ("POST", f"{EMP}/applications/{aid}/reject", None),
    ]
    for method, url, body in tries:
        r = await client.request(method, url, json=body, headers=firm.employer)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "enterprise_not_verified"), (url, r.text)
        assert "李四" not in r.text and "13700000001" not in r.text
    assert (await Application.get(public_id=aid)).state == "applied"
    assert await Application.all().count() == 1 and await ApplicationEvent.all().count() == events
    # Its own enterprise and postings it still reads (to learn why), and it may close them.
    assert (await client.get("/api/v1/employer/enterprise", headers=firm.employer)).json()["status"] == "suspended"
    assert (await client.get(f"{EMP}/postings/{pid}", headers=firm.employer)).status_code == 200
    # Verified again: it acts again.
    assert (await client.post(f"{ENTERPRISES}/{firm.id}/verify", headers=firm.staff.headers)).status_code == 200
    r = await client.get(f"{EMP}/postings/{pid}/applications", headers=firm.employer)
    assert r.status_code == 200 and r.json()["items"][0]["name"] == "李四"
    assert (await client.post(f"{EMP}/applications/{aid}/hire", headers=firm.employer)).status_code == 200


async def test_a_disabled_employer_account_is_refused_at_once(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    admin = await user(app, Role.ADMIN, node="GM")
    binding = await EmployerBinding.filter(enterprise__public_id=firm.id).prefetch_related("account").get()
    r = await client.patch(
        f"/api/v1/accounts/{binding.account.public_id}", json={"is_active": False}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    for method, url in (
        ("GET", f"{EMP}/postings"),
        ("GET", f"{EMP}/postings/{pid}/applications"),
        ("POST", f"{EMP}/postings/{pid}/close"),
    ):
        r = await client.request(method, url, headers=firm.employer)
        assert (r.status_code, r.json()["error"]["code"]) == (401, "account_disabled")


async def test_hires_stop_at_the_postings_openings(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer, openings=1)
    ids = []
    for n in (1, 2, 3):
        s = await seeker(app, n)
        ids.append((await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers)).json()["id"])
    assert (await client.post(f"{EMP}/applications/{ids[0]}/hire", headers=firm.employer)).status_code == 200
    r = await client.post(f"{EMP}/applications/{ids[1]}/hire", headers=firm.employer)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "openings_filled"), r.text
    assert r.json()["error"]["details"] == {"openings": 1, "hired": 1}
    assert (await Application.get(public_id=ids[1])).state == "applied"
    # The same hire asked again is still the one hire; a rejection is not held back by the openings.
    assert (await client.post(f"{EMP}/applications/{ids[0]}/hire", headers=firm.employer)).status_code == 200
    # Two more openings: two hires at once both pass, a third would not.
    more = await client.put(f"{EMP}/postings/{pid}", json=seed.posting_body(openings=2), headers=firm.employer)
    assert more.status_code == 200
    answers = await asyncio.gather(
        *(client.post(f"{EMP}/applications/{a}/hire", headers=firm.employer) for a in ids[1:])
    )
    assert sorted(r.status_code for r in answers) == [200, 409]
    assert await Application.filter(posting__public_id=pid, state="hired").count() == 2
    assert await applicants(pid) == 3


async def test_a_taken_down_posting_hires_nobody_and_reaches_nobody(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    applied, invited, visible = await seeker(app, 1), await seeker(app, 2), await seeker(app, 3)
    aid = (await client.post(f"{PUBLIC}/{pid}/apply", headers=applied.user.headers)).json()["id"]
    iid = (
        await client.post(
            f"{EMP}/postings/{pid}/invitations",
            json={"candidate": candidate_id(pid, invited.account_id)},
            headers=firm.employer,
        )
    ).json()["id"]
    down = await client.post(
        f"/api/v1/jobs/postings/{pid}/take-down", json={"reason": "违规"}, headers=firm.staff.headers
    )
    assert down.status_code == 200
    r = await client.post(f"{EMP}/applications/{aid}/hire", headers=firm.employer)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "posting_taken_down"), r.text
    assert (await Application.get(public_id=aid)).state == "applied"
    refused = [
        (await client.get(f"{PUBLIC}/{pid}"), 404),
        (await client.post(f"{PUBLIC}/{pid}/apply", headers=visible.user.headers), 404),
        (await client.post(f"{MINE}/{iid}/accept", headers=invited.user.headers), 409),
        (
            await client.post(
                f"{EMP}/postings/{pid}/invitations",
                json={"candidate": candidate_id(pid, visible.account_id)},
                headers=firm.employer,
            ),
            409,
        ),
        (await client.get(f"{EMP}/postings/{pid}/candidates", headers=firm.employer), 409),
        (await client.put(f"{EMP}/postings/{pid}", json=seed.posting_body(), headers=firm.employer), 409),
        (await client.post(f"{EMP}/postings/{pid}/publish", headers=firm.employer), 409),
    ]
    for r, status in refused:
        assert r.status_code == status, r.text
    assert pid not in (await client.get(PUBLIC)).text
    # Winding down stays possible: the employer rejects, the seeker withdraws or declines.
    assert (await client.post(f"{EMP}/applications/{aid}/reject", headers=firm.employer)).status_code == 200
    assert (await client.post(f"{MINE}/{iid}/decline", headers=invited.user.headers)).status_code == 200


async def test_a_closed_posting_still_hires_its_applicants(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    aid = (await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers)).json()["id"]
    assert (await client.post(f"{EMP}/postings/{pid}/close", headers=firm.employer)).status_code == 200
    assert (await client.post(f"{EMP}/applications/{aid}/hire", headers=firm.employer)).status_code == 200


async def test_a_seeker_who_withdrew_or_declined_leaves_no_number_in_the_history(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    applied, invited = await seeker(app, 1), await seeker(app, 2)
    note = {"note": "有焊工证，电话13812345678，微信同号"}
    aid = (await client.post(f"{PUBLIC}/{pid}/apply", json=note, headers=applied.user.headers)).json()["id"]
    cand = candidate_id(pid, invited.account_id)
    iid = (
        await client.post(f"{EMP}/postings/{pid}/invitations", json={"candidate": cand}, headers=firm.employer)
    ).json()["id"]
    listed = (await client.get(f"{EMP}/postings/{pid}/applications", headers=firm.employer)).text
    assert "13812345678" in listed  # applied: the seeker chose to be known
    assert (await client.post(f"{MINE}/{aid}/withdraw", headers=applied.user.headers)).status_code == 200
    declined = await client.post(
        f"{MINE}/{iid}/decline", json={"note": "不用了，联系13987654321"}, headers=invited.user.headers
    )
    assert declined.status_code == 200
    listed = (await client.get(f"{EMP}/postings/{pid}/applications", headers=firm.employer)).json()["items"]
    text = str(listed)
    for number in ("13812345678", "13987654321"):
        assert number not in text
    notes = {a["id"]: [e["note"] for e in a["history"]] for a in listed}
    assert notes[aid][0].startswith("有焊工证") and notes[iid][-1].startswith("不用了")
    # The seeker's own list keeps their words as written.
    mine = (await client.get(MINE, headers=applied.user.headers)).text
    assert "13812345678" in mine


async def test_invitations_and_applications_are_rate_limited(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    url = f"{EMP}/postings/{pid}/invitations"
    answers = [
        (await client.post(url, json={"candidate": f"jc_{n:016x}"}, headers=firm.employer)).status_code
        for n in range(121)
    ]
    assert answers[:120] == [404] * 120 and answers[120] == 429
    answers = [
        (await client.post(f"{PUBLIC}/jp_nothing{n}/apply", headers=s.user.headers)).status_code for n in range(31)
    ]
    assert answers[:30] == [404] * 30 and answers[30] == 429


async def test_an_employer_cannot_trilaterate_a_candidates_home(app: Sanic, client: httpx.AsyncClient) -> None:
    """The candidate id is stable for one posting: moving the posting and reading the distance again would
    place the seeker's home. A live posting's place is fixed, and the employer reads whole kilometres."""
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    profile = {"skills": ["电焊"], "education": "senior", "lat": 22.7612, "lon": 113.9441, "visible": True}
    assert (await client.put("/api/v1/me/jobs/profile", json=profile, headers=s.user.headers)).status_code == 200
    items = (await client.get(f"{EMP}/postings/{pid}/candidates", headers=firm.employer)).json()["items"]
    assert len(items) == 1
    km = items[0]["distance_km"]
    assert km == int(km) and km >= 1
    assert "." not in items[0]["explanation"]["distance"] and "." not in items[0]["explanation"]["text"]
    for moved in ({"lat": 22.8}, {"lon": 114.0}, {"node": "GM0201"}):
        r = await client.put(f"{EMP}/postings/{pid}", json=seed.posting_body(**moved), headers=firm.employer)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "posting_place_fixed"), (moved, r.text)
    assert (await client.get(f"{PUBLIC}/{pid}")).json()["lat"] == 22.75
    kept = await client.put(f"{EMP}/postings/{pid}", json=seed.posting_body(title="焊工"), headers=firm.employer)
    assert kept.status_code == 200
    # A draft still moves freely (nobody is matched against it).
    draft = (await client.post(seed.OWN, json=seed.posting_body(), headers=firm.employer)).json()["id"]
    assert (
        await client.put(f"{EMP}/postings/{draft}", json=seed.posting_body(lat=22.8), headers=firm.employer)
    ).status_code == 200
    # The seeker's own view keeps its 0.1 km.
    mine = (await client.get("/api/v1/jobs/matches", headers=s.user.headers)).json()["items"]
    assert mine and "." in mine[0]["explanation"]["distance"]


async def test_a_take_down_racing_edits_and_a_publish_stays_taken_down(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    draft = (await client.post(seed.OWN, json=seed.posting_body(), headers=firm.employer)).json()["id"]
    take_down = "/api/v1/jobs/postings/{}/take-down"
    for _ in range(3):
        answers = await asyncio.gather(
            *(client.put(f"{EMP}/postings/{pid}", json=seed.posting_body(), headers=firm.employer) for _ in range(3)),
            client.post(take_down.format(pid), json={"reason": "虚假招聘"}, headers=firm.staff.headers),
            *(client.put(f"{EMP}/postings/{pid}", json=seed.posting_body(), headers=firm.employer) for _ in range(3)),
            client.post(f"{EMP}/postings/{draft}/publish", headers=firm.employer),
            client.post(take_down.format(draft), json={"reason": "虚假招聘"}, headers=firm.staff.headers),
            client.post(f"{EMP}/postings/{draft}/close", headers=firm.employer),
        )
        assert all(r.status_code in (200, 409) for r in answers), [r.text for r in answers]
        statuses = {
            p: (await client.get(f"{EMP}/postings/{p}", headers=firm.employer)).json()["status"] for p in (pid, draft)
        }
        assert statuses == {pid: "taken_down", draft: "taken_down"}  # a take-down always succeeds
        assert (await client.get(f"{PUBLIC}/{pid}")).status_code == 404
        pid = await seed.live_posting(client, firm.employer)
        draft = (await client.post(seed.OWN, json=seed.posting_body(), headers=firm.employer)).json()["id"]


async def test_racing_decisions_on_an_enterprise_leave_one_winner(app: Sanic, client: httpx.AsyncClient) -> None:
    officer, other = await seed.staff(app, "GM01"), await seed.staff(app, "GM01")
    for n in range(3):
        made = await client.post(ENTERPRISES, json=seed.enterprise_body(seed.REAL_CODES[n]), headers=officer.headers)
        eid = made.json()["id"]
        answers = await asyncio.gather(
            client.post(f"{ENTERPRISES}/{eid}/verify", headers=officer.headers),
            client.post(f"{ENTERPRISES}/{eid}/reject", json={"reason": "材料不全"}, headers=other.headers),
        )
        won = [r.json()["status"] for r in answers if r.status_code == 200]
        assert len(won) == 1 and sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        now = (await client.get(f"{ENTERPRISES}/{eid}", headers=officer.headers)).json()
        assert now["status"] == won[0]
        assert (now["verified_at"] is not None) == (won[0] == "verified")
