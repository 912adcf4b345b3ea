"""Each match explains itself in plain Chinese: skills matched and missing, related ones, salary, distance, rank."""

from __future__ import annotations

from miniapp_api.jobs.explain import explain
from miniapp_api.jobs.matching import PostingView, SeekerView, match

NAMES = {"welding": "电焊", "argon_arc_welding": "氩弧焊", "forklift": "叉车", "first_aid": "急救"}
RELATED = {"welding": frozenset({"argon_arc_welding"}), "argon_arc_welding": frozenset({"welding"})}
HOME = (22.75, 113.93)


def name(slug: str) -> str:
    return NAMES.get(slug, slug)


def related(slug: str) -> frozenset[str]:
    return RELATED.get(slug, frozenset())


def seeker(**kw: object) -> SeekerView:
    base: dict[str, object] = {
        "id": "s",
        "occupations": ("6-18-02-04",),
        "skills": frozenset({"welding", "forklift"}),
        "education": "senior",
        "experience_years": 3,
        "expected_salary_monthly": 6000,
        "lat": HOME[0],
        "lon": HOME[1],
        "radius_km": 10,
    }
    base.update(kw)
    return SeekerView(**base)  # type: ignore[arg-type]


def posting(**kw: object) -> PostingView:
    base: dict[str, object] = {
        "id": "p",
        "occupation_code": "6-18-02-04",
        "required": frozenset({"welding", "forklift"}),
        "salary_monthly_min": 5500,
        "salary_monthly_max": 7000,
        "lat": HOME[0],
        "lon": HOME[1] + 3.2 / 103.0,  # about 3.2 km east
        "openings": 2,
    }
    base.update(kw)
    return PostingView(**base)  # type: ignore[arg-type]


def explained(s: SeekerView, p: PostingView) -> dict[str, str]:
    r = match(s, p, related)
    assert r is not None
    return explain(r, name).as_dict()


def test_a_good_match_names_its_skills_salary_and_distance_in_chinese() -> None:
    e = explained(seeker(), posting())
    assert e["skills"] == "匹配技能：叉车、电焊"  # required skills in slug order
    assert e["salary"] == "期望 6,000 元/月，岗位 5,500-7,000 元/月"
    assert e["distance"] == "距家约 3.2 公里"
    assert "missing" not in e
    assert e["summary"].startswith("技能匹配度高")
    assert "text" in e and e["skills"] in e["text"] and e["distance"] in e["text"]


def test_missing_required_skills_and_related_ones_that_counted_partly_are_named() -> None:
    s = seeker(skills=frozenset({"argon_arc_welding"}))
    e = explained(s, posting(preferred=frozenset({"first_aid"})))
    assert e["missing"] == "缺少必需技能：叉车；缺少加分技能：急救"
    assert e["related"] == "相关技能部分计分：氩弧焊（岗位要求电焊）"
    assert "skills" not in e  # nothing matched exactly


def test_free_text_requirements_are_shown_as_typed() -> None:
    e = explained(seeker(free_skills=("会开货车",)), posting(required=frozenset(), free_required=("会开货车", "粤语")))
    assert e["skills"] == "匹配技能：会开货车"
    assert e["missing"] == "缺少必需技能：粤语"


def test_salary_below_expectation_says_so_and_one_sided_figures_read_naturally() -> None:
    e = explained(seeker(expected_salary_monthly=8000), posting(salary_monthly_min=4000, salary_monthly_max=None))
    assert e["salary"] == "期望 8,000 元/月，岗位 4,000 元/月起，低于期望"
    e = explained(seeker(expected_salary_monthly=None), posting(salary_monthly_min=None, salary_monthly_max=6000))
    assert e["salary"] == "岗位最高 6,000 元/月"
    e = explained(seeker(expected_salary_monthly=5000), posting(salary_monthly_min=None, salary_monthly_max=None))
    assert e["salary"] == "期望 5,000 元/月，岗位薪资面议"


def test_distance_is_omitted_without_a_home_and_given_to_a_tenth_of_a_km() -> None:
    assert "distance" not in explained(seeker(lat=None, lon=None), posting())
    e = explained(seeker(), posting(lon=HOME[1] + 0.6 / 103.0))
    assert e["distance"] == "距家约 0.6 公里"
    assert "离家近" in e["summary"]


def test_the_rank_reason_says_when_crowding_lowered_it() -> None:
    e = explained(seeker(), posting(applicants=10, openings=1))
    assert "技能匹配度高" in e["summary"]
    assert e["summary"].endswith("该岗位已有较多人申请，排序略降")


def test_a_one_sided_match_says_which_side_pulls_it_down() -> None:
    e = explained(seeker(skills=frozenset()), posting(required=frozenset({"welding", "forklift", "first_aid"})))
    assert "技能匹配度低" in e["summary"]
    assert "岗位要求满足得少，综合分被拉低" in e["summary"]
