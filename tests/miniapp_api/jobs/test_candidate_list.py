"""A posting's candidates over HTTP: only its own enterprise's employers (another's posting is 404), only
seekers who opted in, ranked, each masked (an id made for this posting, no name, phone or home) until the
seeker applied or accepted an invitation (Application rows seeded straight into the DB)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
from sanic import Sanic

from identity import service as identity_service
from identity.roles import Role
from miniapp_api.jobs.models import Application, Posting
from server import public_ids
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import OWN
from tests.miniapp_api.jobs.test_seekers import PROFILE, profile_body


def candidates_of(posting: str) -> str:
    return f"{OWN}/{posting}/candidates"


async def seeker(app: Sanic, client: httpx.AsyncClient, n: int, **profile: object) -> User:
    person = await user(app, Role.RESIDENT)
    await identity_service.update_profile(
        account=person.account, name=f"王小{'明红刚丽'[n]}", phone=f"1380013800{n}", id_number=None
    )
    r = await client.put(PROFILE, json=profile_body(**profile), headers=person.headers)
    assert r.status_code == 201, r.text
    return person


async def apply(posting: str, person: User, state: str, by: str = "seeker") -> None:
    now = dt.datetime.now(dt.UTC)
    row = await Posting.get(public_id=posting)
    await Application.update_or_create(
        posting_id=row.id,
        seeker_id=person.account.id,
        defaults={
            "public_id": public_ids.new("ja_"),
            "state": state,
            "initiated_by": by,
            "created_at": now,
            "updated_at": now,
        },
    )


async def test_another_enterprises_posting_is_404_and_others_are_403(app: Sanic, client: httpx.AsyncClient) -> None:
    mine = await seed.firm(app, client, code=seed.REAL_CODES[0])
    theirs = await seed.firm(app, client, code=seed.REAL_CODES[1], node="GM0201")
    pid = await seed.live_posting(client, mine.employer)
    await seeker(app, client, 0, visible=True)
    for posting in (pid, "jp_nope", "x" * 300):
        r = await client.get(candidates_of(posting), headers=theirs.employer)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "posting_not_found"), r.text
        assert "王小明" not in r.text
    for role in (Role.RESIDENT, Role.PARTY_MEMBER, Role.EMPLOYMENT_STAFF, Role.ADMIN):
        caller = await user(app, role, node=None if role in (Role.RESIDENT, Role.PARTY_MEMBER) else "GM")
        assert (await client.get(candidates_of(pid), headers=caller.headers)).status_code == 403
    assert (await client.get(candidates_of(pid))).status_code == 401
    assert len((await client.get(candidates_of(pid), headers=mine.employer)).json()["items"]) == 1


async def test_only_opted_in_seekers_masked_and_leaving_at_once(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    pid = await seed.live_posting(client, firm.employer)
    other_pid = await seed.live_posting(client, firm.employer, title="焊工二")
    a = await seeker(app, client, 0, visible=True)
    b = await seeker(app, client, 1, visible=True, skills=["吃苦耐劳"], lat=22.80, lon=113.90, radius_km=20)
    hidden = await seeker(app, client, 2, visible=False)
    too_little = await seeker(app, client, 3, visible=True, education="primary")  # the posting asks junior
    r = await client.get(candidates_of(pid), headers=firm.employer)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 2 and items[0]["scores"]["score"] >= items[1]["scores"]["score"]
    first, second = items
    assert "电焊" in first["explanation"]["skills"] and "缺少必需技能" in second["explanation"]["missing"]
    assert first["skills"][0]["id"] == "welding" and first["education"] == "senior"
    assert first["experience_years"] == 3
    # Masked: an id of this posting only, no name, phone, account id or home point; distance to 0.1 km.
    for c in items:
        assert re.fullmatch(r"jc_[0-9a-f]{16}", c["id"]) and c["identity"] is None and c["application"] is None
        assert set(c) == {
            "id",
            "scores",
            "distance_km",
            "education",
            "experience_years",
            "skills",
            "explanation",
            "application",
            "identity",
        }
        assert c["distance_km"] == round(c["distance_km"], 1)
    for person in (a, b, hidden, too_little):
        assert person.account.public_id not in r.text and f'"{person.account.id}"' not in r.text
    assert "王小" not in r.text and "1380013800" not in r.text and "22.751" not in r.text and "113.936" not in r.text
    # Stable for this posting; a different id for the same person on another posting (no joining lists).
    again = (await client.get(candidates_of(pid), headers=firm.employer)).json()["items"]
    assert [c["id"] for c in again] == [c["id"] for c in items]
    elsewhere = (await client.get(candidates_of(other_pid), headers=firm.employer)).json()["items"]
    assert len(elsewhere) == 2 and not {c["id"] for c in elsewhere} & {c["id"] for c in items}
    # Opting out, or erasing the profile, takes the seeker out at once.
    await client.put(PROFILE, json=profile_body(visible=False), headers=a.headers)
    assert [c["id"] for c in (await client.get(candidates_of(pid), headers=firm.employer)).json()["items"]] == [
        second["id"]
    ]
    assert (await client.delete(PROFILE, headers=b.headers)).status_code == 204
    assert (await client.get(candidates_of(pid), headers=firm.employer)).json()["items"] == []


async def test_identity_only_after_applying_or_accepting(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    pid = await seed.live_posting(client, firm.employer)
    other = await seed.live_posting(client, firm.employer, title="焊工二")
    a = await seeker(app, client, 0, visible=True)
    b = await seeker(app, client, 1, visible=True)

    async def shown() -> dict[str | None, dict[str, str] | None]:
        items = (await client.get(candidates_of(pid), headers=firm.employer)).json()["items"]
        return {c["application"]: c["identity"] for c in items}

    await apply(pid, a, "applied")
    await apply(pid, b, "invited", by="employer")
    await apply(other, b, "applied")  # applying elsewhere reveals nothing here
    assert await shown() == {"applied": {"name": "王小明", "phone": "13800138000"}, "invited": None}
    await apply(pid, b, "accepted", by="employer")
    await apply(pid, a, "withdrawn")
    assert await shown() == {"withdrawn": None, "accepted": {"name": "王小红", "phone": "13800138001"}}
    # Turned down after accepting the employer's invitation: they had shown themself, as the applications list
    # and its messages say (applications.CONSENTED; rejected is reached only from applied or accepted).
    await apply(pid, b, "rejected", by="employer")
    assert await shown() == {"withdrawn": None, "rejected": {"name": "王小红", "phone": "13800138001"}}
    await apply(pid, b, "declined", by="employer")
    assert await shown() == {"withdrawn": None, "declined": None}


async def test_only_a_live_posting_of_a_verified_enterprise_has_candidates(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=seed.REAL_CODES[0])
    await seeker(app, client, 0, visible=True)
    draft = (await client.post(OWN, json=seed.posting_body(), headers=firm.employer)).json()["id"]
    r = await client.get(candidates_of(draft), headers=firm.employer)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "posting_not_live")
    pid = await seed.live_posting(client, firm.employer)
    for bad in ("0", "51", "abc"):
        assert (await client.get(candidates_of(pid), params={"limit": bad}, headers=firm.employer)).status_code == 422
    await client.post(f"{seed.ENTERPRISES}/{firm.id}/suspend", json={"reason": "核查"}, headers=firm.staff.headers)
    r = await client.get(candidates_of(pid), headers=firm.employer)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "enterprise_not_verified")
    assert "王小明" not in r.text
