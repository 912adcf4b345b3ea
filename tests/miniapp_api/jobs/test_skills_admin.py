"""Staff edit the skills taxonomy over HTTP: anyone reads it, only the district's employment staff and
administrators change it; a change that would break the taxonomy (a synonym claimed twice, an unknown
related id) is 422 and stores nothing; changes are audited and read at once by the postings. Attackers first."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.jobs.models import SkillEntry
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import OWN, posting_body

SKILLS = "/api/v1/jobs/skills"
TENCENT = "91440300708461136T"
EDIT = {"name": "电焊", "synonyms": ["焊工", "电焊工", "烧焊"], "related": ["argon_arc_welding"]}


async def test_residents_employers_and_staff_below_the_district_cannot_edit(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    firm = await seed.firm(app, client, code=TENCENT)
    resident = await user(app, Role.RESIDENT)
    street_staff = await seed.staff(app, "GM01")
    street_admin = await user(app, Role.ADMIN, node="GM01")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    for caller, status in (
        (resident.headers, 403),
        (firm.employer, 403),
        (grid.headers, 403),
        (street_staff.headers, 403),
        (street_admin.headers, 403),
        ({}, 401),
    ):
        assert (await client.put(f"{SKILLS}/welding", json=EDIT, headers=caller)).status_code == status
        assert (await client.delete(f"{SKILLS}/welding", headers=caller)).status_code == status
    assert not await SkillEntry.exists()
    assert not await AuditEntry.filter(action__startswith="job.skill").exists()


async def test_a_synonym_claimed_twice_or_an_unknown_related_id_is_refused(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    district = await seed.staff(app, "GM")
    for body, needle in (
        ({**EDIT, "synonyms": ["焊工", "氩弧焊"]}, "氩弧焊"),  # 氩弧焊 is argon_arc_welding's name
        ({**EDIT, "synonyms": ["ＴＩＧ"]}, "tig"),  # full-width, folded: argon_arc_welding's synonym
        ({**EDIT, "related": ["no_such_skill"]}, "no_such_skill"),
        ({**EDIT, "related": ["welding"]}, "itself"),
    ):
        r = await client.put(f"{SKILLS}/welding", json=body, headers=district.headers)
        assert (r.status_code, r.json()["error"]["code"]) == (422, "taxonomy_conflict"), r.text
        assert needle in str(r.json()["error"]["details"]["problems"])
    # A new skill taking an existing synonym is refused the same way.
    r = await client.put(
        f"{SKILLS}/steel_welding", json={"name": "钢结构焊", "synonyms": ["焊工"]}, headers=district.headers
    )
    assert r.status_code == 422
    for bad, status in (("Welding", 422), ("a", 422), ("焊", 422)):
        assert (await client.put(f"{SKILLS}/{bad}", json=EDIT, headers=district.headers)).status_code == status
    assert (await client.put(f"{SKILLS}/welding", json={"name": ""}, headers=district.headers)).status_code == 422
    assert (await client.put(f"{SKILLS}/welding", json={**EDIT, "x": 1}, headers=district.headers)).status_code == 422
    assert (await client.delete(f"{SKILLS}/no_such_skill", headers=district.headers)).status_code == 404
    assert not await SkillEntry.exists()


async def test_district_staff_edit_and_retire_audited_and_read_at_once(app: Sanic, client: httpx.AsyncClient) -> None:
    district = await seed.staff(app, "GM")
    admin = await user(app, Role.ADMIN, node="GM")
    assert [s["id"] for s in (await client.get(SKILLS, params={"q": "烧焊"})).json()["items"]] == []
    r = await client.put(f"{SKILLS}/welding", json=EDIT, headers=district.headers)
    assert r.status_code == 200, r.text
    assert r.json()["synonyms"] == ["焊工", "电焊工", "烧焊"] and "argon_arc_welding" in r.json()["related"]
    found = (await client.get(SKILLS, params={"q": "烧焊"})).json()["items"]
    assert [s["id"] for s in found] == ["welding"]
    # A posting written now reads the new synonym.
    firm = await seed.firm(app, client, code=TENCENT)
    made = await client.post(OWN, json=posting_body(skills_required=["烧焊"]), headers=firm.employer)
    assert made.json()["skills_required"][0]["id"] == "welding", made.text
    # A new skill, then retired by an administrator: gone from the picker and from matching typed text.
    r = await client.put(
        f"{SKILLS}/laser_welding", json={"name": "激光焊", "related": ["welding"]}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert [s["id"] for s in (await client.get(SKILLS, params={"q": "激光焊"})).json()["items"]] == ["laser_welding"]
    r = await client.delete(f"{SKILLS}/laser_welding", headers=admin.headers)
    assert (r.status_code, r.json()["retired"]) == (200, True)
    assert (await client.get(SKILLS, params={"q": "激光焊"})).json()["items"] == []
    made = await client.post(OWN, json=posting_body(skills_required=["激光焊"]), headers=firm.employer)
    assert made.json()["skills_required"][0]["id"] is None
    actions = await AuditEntry.filter(action__startswith="job.skill").order_by("seq").values_list("action", "target")
    assert actions == [
        ("job.skill.put", "welding"),
        ("job.skill.put", "laser_welding"),
        ("job.skill.retire", "laser_welding"),
    ]
    # Anyone reads the whole list.
    everything = (await client.get(SKILLS)).json()["items"]
    assert len(everything) > 50 and all(not s["retired"] for s in everything)
