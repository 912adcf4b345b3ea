"""Applications over HTTP: the state table (apply, invite, accept, decline, withdraw, reject, hire), each step's
history and the posting's applicants count, masking until the seeker applies or accepts, and each side told
through the outbox. Attackers first: applying twice, unknown or invisible candidates, other enterprises, other
seekers, steps the table forbids, oversized notes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import httpx
from sanic import Sanic

from identity import service as identity_service
from identity.pii import current_vault
from identity.roles import Role
from miniapp_api.jobs.candidates import candidate_id
from miniapp_api.jobs.models import Application, ApplicationEvent, Posting, SeekerProfile
from notify.models import Notification
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import PUBLIC

TENCENT = "91440300708461136T"
HUAWEI = "914403001922038216"
MINE = "/api/v1/me/jobs/applications"
EMP = "/api/v1/employer"


@dataclass
class Seeker:
    user: User
    account_id: int


async def seeker(app: Sanic, n: int, *, visible: bool = True, name: str = "王小明") -> Seeker:
    u = await user(app, Role.RESIDENT, phone=f"1370000{n:04d}")
    await identity_service.update_profile(account=u.account, name=name, phone=None, id_number=None)
    now = dt.datetime.now(dt.UTC)
    await SeekerProfile.create(account=u.account, visible=visible, created_at=now, updated_at=now)
    return Seeker(u, u.account.id)


async def notes(template: str) -> list[dict[str, Any]]:
    rows = await Notification.filter(template=template).order_by("id")
    return [json.loads(current_vault().decrypt(r.data_enc, field="notify.data")) for r in rows]


async def applicants(pid: str) -> int:
    return (await Posting.get(public_id=pid)).applicants


async def test_applying_twice_is_one_application(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    first = await client.post(f"{PUBLIC}/{pid}/apply", json={"note": "有焊工证"}, headers=s.user.headers)
    assert first.status_code == 201, first.text
    again = await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert await Application.filter(posting__public_id=pid).count() == 1
    assert await ApplicationEvent.all().count() == 1
    assert await applicants(pid) == 1
    assert len(await notes("job.employer_update")) == 1
    # Withdrawn is final: applying again is refused, nothing moves.
    aid = first.json()["id"]
    assert (await client.post(f"{MINE}/{aid}/withdraw", headers=s.user.headers)).json()["state"] == "withdrawn"
    r = await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "invalid_transition")
    assert await applicants(pid) == 0
    # A draft, closed or unknown posting: 404.
    for bad in ("jp_nope", "x" * 300):
        r = await client.post(f"{PUBLIC}/{bad}/apply", headers=s.user.headers)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "posting_not_found")


async def test_inviting_an_unknown_or_invisible_candidate_is_the_same_404(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    other = await seed.live_posting(client, firm.employer, title="另一个岗位")
    hidden = await seeker(app, 1, visible=False)
    shown = await seeker(app, 2)
    answers = set()
    for candidate in (
        candidate_id(pid, hidden.account_id),  # opted out of being seen
        candidate_id(other, shown.account_id),  # another posting's id for the same person
        "jc_0000000000000000",
        str(shown.account_id),
        shown.user.account.public_id,
    ):
        r = await client.post(f"{EMP}/postings/{pid}/invitations", json={"candidate": candidate}, headers=firm.employer)
        answers.add((r.status_code, r.json()["error"]["code"], r.json()["error"]["message"]))
    assert answers == {(404, "candidate_not_found", "There is no such candidate for this posting.")}
    assert await Application.all().count() == 0 and await Notification.all().count() == 0
    body = {"candidate": candidate_id(pid, shown.account_id), "note": "x" * 201}
    r = await client.post(f"{EMP}/postings/{pid}/invitations", json=body, headers=firm.employer)
    assert r.status_code == 422
    body["note"] = "欢迎面试"
    r = await client.post(f"{EMP}/postings/{pid}/invitations", json=body, headers=firm.employer)
    assert r.status_code == 201, r.text
    assert (r.json()["state"], r.json()["name"], r.json()["phone"]) == ("invited", None, None)
    again = await client.post(f"{EMP}/postings/{pid}/invitations", json=body, headers=firm.employer)
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    assert await ApplicationEvent.all().count() == 1 and await applicants(pid) == 0


async def test_another_enterprise_reaches_none_of_the_postings_or_applications(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    mine = await seed.firm(app, client, code=TENCENT)
    theirs = await seed.firm(app, client, code=HUAWEI, node="GM0201")
    pid = await seed.live_posting(client, mine.employer)
    s = await seeker(app, 1)
    aid = (await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers)).json()["id"]
    cand = candidate_id(pid, s.account_id)
    for method, path, body in (
        ("GET", f"{EMP}/postings/{pid}/applications", None),
        ("POST", f"{EMP}/postings/{pid}/invitations", {"candidate": cand}),
        ("POST", f"{EMP}/applications/{aid}/hire", None),
        ("POST", f"{EMP}/applications/{aid}/reject", {"note": "不合适"}),
    ):
        r = await client.request(method, path, json=body, headers=theirs.employer)
        assert r.status_code == 404, (method, path, r.text)
    listed = (await client.get(f"{EMP}/postings/{pid}/applications", headers=mine.employer)).json()["items"]
    assert [a["state"] for a in listed] == ["applied"]
    # Seekers, staff and anonymous callers cannot use the employer's routes, nor employers the seeker's.
    for caller in (s.user.headers, mine.staff.headers):
        assert (await client.post(f"{EMP}/applications/{aid}/hire", headers=caller)).status_code == 403
    assert (await client.post(f"{MINE}/{aid}/withdraw", headers=mine.employer)).status_code == 403
    assert (await client.post(f"{PUBLIC}/{pid}/apply")).status_code == 401
    assert (await Application.get(public_id=aid)).state == "applied"


async def test_a_seeker_cannot_act_on_another_seekers_application(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    a, b = await seeker(app, 1), await seeker(app, 2)
    applied = (await client.post(f"{PUBLIC}/{pid}/apply", headers=a.user.headers)).json()["id"]
    invite = {"candidate": candidate_id(pid, a.account_id)}
    other = await seed.live_posting(client, firm.employer, title="仓管员")
    invited = (
        await client.post(
            f"{EMP}/postings/{other}/invitations",
            json=invite | {"candidate": candidate_id(other, a.account_id)},
            headers=firm.employer,
        )
    ).json()["id"]
    for aid, step in ((applied, "withdraw"), (invited, "accept"), (invited, "decline"), ("ja_nope", "accept")):
        r = await client.post(f"{MINE}/{aid}/{step}", headers=b.user.headers)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "application_not_found")
    assert (await client.get(MINE, headers=b.user.headers)).json()["items"] == []
    assert {x.state for x in await Application.all()} == {"applied", "invited"}


async def test_steps_outside_the_table_are_409_and_change_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    cand = candidate_id(pid, s.account_id)
    r = await client.post(f"{EMP}/postings/{pid}/invitations", json={"candidate": cand}, headers=firm.employer)
    aid = r.json()["id"]
    # Invited: the employer cannot hire or reject before the seeker accepts; the seeker cannot withdraw it.
    for path, headers in (
        (f"{EMP}/applications/{aid}/hire", firm.employer),
        (f"{EMP}/applications/{aid}/reject", firm.employer),
        (f"{MINE}/{aid}/withdraw", s.user.headers),
    ):
        r = await client.post(path, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "invalid_transition"), path
        assert r.json()["error"]["details"]["state"] == "invited"
    # Apply while invited: 409 too (accept the invitation instead).
    r = await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers)
    assert r.status_code == 409
    assert (await client.post(f"{MINE}/{aid}/accept", headers=s.user.headers)).json()["state"] == "accepted"
    hired = await client.post(f"{EMP}/applications/{aid}/hire", json={"note": "下周一入职"}, headers=firm.employer)
    assert hired.status_code == 200 and hired.json()["state"] == "hired"
    assert (await client.post(f"{EMP}/applications/{aid}/hire", headers=firm.employer)).status_code == 200
    for path, headers in (
        (f"{EMP}/applications/{aid}/reject", firm.employer),
        (f"{MINE}/{aid}/withdraw", s.user.headers),
        (f"{MINE}/{aid}/decline", s.user.headers),
    ):
        r = await client.post(path, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "invalid_transition"), path
    assert (await Application.get(public_id=aid)).state == "hired"
    assert await ApplicationEvent.filter(application__public_id=aid).count() == 3
    assert await applicants(pid) == 1


async def test_oversized_or_bad_notes_are_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    for body in ({"note": "长" * 201}, {"note": "a\u0000b"}, {"note": 5}, {"note": "ok", "extra": 1}, []):
        r = await client.post(f"{PUBLIC}/{pid}/apply", json=body, headers=s.user.headers)
        assert r.status_code in (400, 422), (body, r.text)
    r = await client.post(
        f"{PUBLIC}/{pid}/apply", content=b"{not json", headers=s.user.headers | {"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert await Application.all().count() == 0 and await applicants(pid) == 0
    aid = (await client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers)).json()["id"]
    for path, headers in (
        (f"{EMP}/applications/{aid}/reject", firm.employer),
        (f"{MINE}/{aid}/withdraw", s.user.headers),
    ):
        r = await client.post(path, json={"note": "长" * 201}, headers=headers)
        assert r.status_code == 422, path
    assert (await Application.get(public_id=aid)).state == "applied"
    assert await ApplicationEvent.all().count() == 1


async def test_the_whole_path_with_history_masking_and_messages(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    invited, applied = await seeker(app, 1, name="张三丰"), await seeker(app, 2, name="李四")
    # Applied: the employer sees the name and phone; hears of it with a masked name.
    aid = (await client.post(f"{PUBLIC}/{pid}/apply", json={"note": "三年经验"}, headers=applied.user.headers)).json()[
        "id"
    ]
    # Invited: masked until accepted; the employer's message about a decline names nobody.
    cand = candidate_id(pid, invited.account_id)
    iid = (
        await client.post(f"{EMP}/postings/{pid}/invitations", json={"candidate": cand}, headers=firm.employer)
    ).json()["id"]
    listed = {
        a["id"]: a
        for a in (await client.get(f"{EMP}/postings/{pid}/applications", headers=firm.employer)).json()["items"]
    }
    assert (listed[aid]["name"], listed[aid]["phone"]) == ("李四", "13700000002")
    assert (listed[iid]["name"], listed[iid]["phone"], listed[iid]["candidate"]) == (None, None, cand)
    assert listed[aid]["history"][0] | {"at": None} == {
        "from": None,
        "to": "applied",
        "by": "seeker",
        "note": "三年经验",
        "at": None,
    }
    accepted = await client.post(f"{MINE}/{iid}/accept", headers=invited.user.headers)
    assert accepted.status_code == 200
    listed = {
        a["id"]: a
        for a in (await client.get(f"{EMP}/postings/{pid}/applications", headers=firm.employer)).json()["items"]
    }
    assert listed[iid]["name"] == "张三丰"
    assert (await client.post(f"{MINE}/{iid}/withdraw", headers=invited.user.headers)).status_code == 200
    listed = {
        a["id"]: a
        for a in (await client.get(f"{EMP}/postings/{pid}/applications", headers=firm.employer)).json()["items"]
    }
    assert (listed[iid]["name"], listed[iid]["phone"]) == (None, None)  # withdrawn: gone again
    assert (
        await client.post(f"{EMP}/applications/{aid}/reject", json={"note": "经验不符"}, headers=firm.employer)
    ).status_code == 200
    # The seeker's own list, with history.
    mine = (await client.get(MINE, headers=invited.user.headers)).json()["items"]
    assert [(e["from"], e["to"], e["by"]) for e in mine[0]["history"]] == [
        (None, "invited", "employer"),
        ("invited", "accepted", "seeker"),
        ("accepted", "withdrawn", "seeker"),
    ]
    assert mine[0]["posting"]["title"] == "电焊工" and "李四" not in json.dumps(mine)
    # Messages: the seeker on invited and rejected; the employer on applied, accepted, withdrawn.
    to_seeker = await notes("job.seeker_update")
    assert [m["step"] for m in to_seeker] == ["邀请面试", "未通过"]
    to_employer = await notes("job.employer_update")
    assert [(m["step"], m["candidate"]) for m in to_employer] == [
        ("投递简历", "李*"),
        ("接受邀请", "张**"),
        ("撤回投递", cand),
    ]
    everything = json.dumps(to_seeker + to_employer, ensure_ascii=False)
    for secret in ("张三丰", "李四", "13700000001", "13700000002"):
        assert secret not in everything
    # Applicants: the applied one counted then rejected; the invited one counted while accepted.
    assert await applicants(pid) == 0
    assert await Notification.filter(template="job.employer_update").count() == 3


async def test_a_declined_invitation_never_shows_the_seeker(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1, name="赵六")
    cand = candidate_id(pid, s.account_id)
    iid = (
        await client.post(f"{EMP}/postings/{pid}/invitations", json={"candidate": cand}, headers=firm.employer)
    ).json()["id"]
    assert (await client.post(f"{MINE}/{iid}/decline", headers=s.user.headers)).json()["state"] == "declined"
    assert (await client.post(f"{MINE}/{iid}/accept", headers=s.user.headers)).status_code == 409
    listed = (await client.get(f"{EMP}/postings/{pid}/applications", headers=firm.employer)).text
    assert "赵六" not in listed and "13700000001" not in listed
    assert [m["candidate"] for m in await notes("job.employer_update")] == [cand]


async def test_accepting_an_invitation_to_a_closed_posting_is_409(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    cand = candidate_id(pid, s.account_id)
    iid = (
        await client.post(f"{EMP}/postings/{pid}/invitations", json={"candidate": cand}, headers=firm.employer)
    ).json()["id"]
    assert (await client.post(f"{EMP}/postings/{pid}/close", headers=firm.employer)).status_code == 200
    r = await client.post(f"{MINE}/{iid}/accept", headers=s.user.headers)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "posting_not_live")
    r = await client.post(f"{EMP}/postings/{pid}/invitations", json={"candidate": cand}, headers=firm.employer)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "posting_not_live")
    assert (await Application.get(public_id=iid)).state == "invited"


async def test_racing_steps_make_one_application_and_one_event_each(app: Sanic, client: httpx.AsyncClient) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    pid = await seed.live_posting(client, firm.employer)
    s = await seeker(app, 1)
    answers = await asyncio.gather(*(client.post(f"{PUBLIC}/{pid}/apply", headers=s.user.headers) for _ in range(4)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in answers}) == 1
    aid = answers[0].json()["id"]
    hires = await asyncio.gather(
        *(client.post(f"{EMP}/applications/{aid}/hire", headers=firm.employer) for _ in range(3))
    )
    assert {r.status_code for r in hires} == {200}
    assert await ApplicationEvent.filter(application__public_id=aid).count() == 2
    assert await applicants(pid) == 1
    assert len(await notes("job.employer_update")) == 1 and len(await notes("job.seeker_update")) == 1
