"""The request types follow the shared vocabulary, and rows map onto the matcher's views."""

from __future__ import annotations

import datetime as dt
from typing import get_args

import httpx
from sanic import Sanic

from miniapp_api.jobs import rows, schemas, vocab
from miniapp_api.jobs.models import Posting, SeekerProfile, SkillEntry
from tests.miniapp_api.jobs import seed
from tests.miniapp_api.jobs.seed import OWN, posting_body


def test_schemas_follow_vocab() -> None:
    assert get_args(schemas.Education) == vocab.EDUCATION
    assert set(get_args(schemas.EmploymentType)) == set(vocab.EMPLOYMENT_TYPES)
    assert set(get_args(schemas.Shift)) == set(vocab.SHIFTS)
    assert set(get_args(schemas.SalaryPeriod)) == set(vocab.SALARY_PERIODS)


async def test_staff_overrides_reach_the_reading_of_skills(app: Sanic, client: httpx.AsyncClient) -> None:
    """A synonym staff add (a SkillEntry row) is how the next posting's skills are read; retiring a skill
    leaves its words as free text, kept."""
    firm = await seed.firm(app, client, code="91440300708461136T")
    now = dt.datetime.now(dt.UTC)
    await SkillEntry.create(
        slug="welding", name="电焊", synonyms=["焊工", "烧焊佬"], related=[], updated_by="t", updated_at=now
    )
    rows.skills.forget()
    made = await client.post(OWN, json=posting_body(skills_required=["烧焊佬"]), headers=firm.employer)
    assert made.json()["skills_required"] == [{"id": "welding", "text": "烧焊佬"}]
    await SkillEntry.filter(slug="welding").update(retired=True, updated_at=now + dt.timedelta(seconds=1))
    rows.skills.forget()
    made = await client.post(OWN, json=posting_body(skills_required=["电焊"]), headers=firm.employer)
    assert made.json()["skills_required"] == [{"id": None, "text": "电焊"}]


def test_rows_map_onto_the_matchers_views() -> None:
    profile = SeekerProfile(
        account_id=7, desired_occupations=["6-18-02"],
        skills=[{"id": "welding", "text": "电焊"}, {"id": None, "text": "吹拉弹唱"}],
        education="senior", experience_years=3, expected_salary_monthly=6000, home_lat=22.75, home_lon=113.93,
        radius_km=5.0, employment_types=["full_time"], shifts=["day"],
    )  # fmt: skip
    seeker = rows.seeker_view(profile)
    assert seeker.skills == frozenset({"welding"}) and seeker.free_skills == ("吹拉弹唱",)
    assert (seeker.id, seeker.radius_km, seeker.employment_types) == (7, 5.0, frozenset({"full_time"}))
    posting = Posting(
        id=3, occupation_code="6-18-02", skills_required=[{"id": "welding", "text": "电焊"}],
        skills_preferred=[{"id": "welding", "text": "焊工"}, {"id": "forklift", "text": "叉车"}],
        education_min="junior",
        experience_min_years=1, salary_monthly_min=5000, salary_monthly_max=7000, lat=22.76, lon=113.94,
        employment_type="full_time", shifts=["day"], openings=2, applicants=9,
    )  # fmt: skip
    view = rows.posting_view(posting)
    assert view.required == frozenset({"welding"}) and view.preferred == frozenset({"forklift"})
    assert (view.openings, view.applicants, view.salary_monthly_max) == (2, 9, 7000.0)
