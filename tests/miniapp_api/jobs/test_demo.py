"""The demo generator: deterministic, realistic, consistent with the shipped data."""

import time

from miniapp_api.jobs import demo, occupations
from miniapp_api.jobs.taxonomy import Taxonomy


def test_same_seed_same_data_other_seed_other_data() -> None:
    one = demo.generate(3, enterprise_count=5, posting_count=20, seeker_count=20)
    assert one == demo.generate(3, enterprise_count=5, posting_count=20, seeker_count=20)
    assert one != demo.generate(4, enterprise_count=5, posting_count=20, seeker_count=20)


def test_rows_use_shipped_codes_skills_places_and_shenzhen_wages() -> None:
    data = demo.generate(7, enterprise_count=30, posting_count=500, seeker_count=500)
    taxonomy = Taxonomy.load()
    for company in data["enterprises"]:
        code = company["credit_code"]
        assert len(code) == 18 and demo.credit_check_char(code[:17]) == code[17]
        assert 22.70 <= company["lat"] <= 22.82 and 113.85 <= company["lon"] <= 113.98
    for post in data["postings"]:
        assert occupations.valid(post["occupation"]) and occupations.level(post["occupation"]) != "major"
        for skill in post["skills_required"] + post["skills_preferred"]:
            assert skill["id"] in taxonomy.skills
        monthly = post["salary_min"] * (8 * 21.75 if post["salary_period"] == "hour" else 1)
        assert monthly >= demo.MIN_WAGE_MONTH * 0.99
        assert post["salary_max"] >= post["salary_min"]
        assert post["education"] in demo.EDUCATION
    for seeker in data["seekers"]:
        assert all(occupations.valid(c) for c in seeker["desired_occupations"])
        assert all(s["id"] is None or s["id"] in taxonomy.skills for s in seeker["skills"])
        assert round(seeker["home_lat"], 3) == seeker["home_lat"]
        assert round(seeker["home_lon"], 3) == seeker["home_lon"]
        assert seeker["expected_salary"] >= demo.MIN_WAGE_MONTH


def test_bench_volume_is_quick() -> None:
    start = time.perf_counter()
    data = demo.generate(1, enterprise_count=500, posting_count=20_000, seeker_count=20_000)
    assert len(data["postings"]) == 20_000
    assert time.perf_counter() - start < 10


def test_postings_name_detail_occupations_where_shipped() -> None:
    data = demo.generate(2, enterprise_count=20, posting_count=300, seeker_count=10)
    welders = [p for p in data["postings"] if p["title"] == "电焊工"]
    assert welders and {p["occupation"] for p in welders} == {"6-18-02-04"}
    assert {occupations.level(p["occupation"]) for p in data["postings"]} >= {"detail", "small"}
