"""The matcher as a seeker or an employer notices it: what is filtered out, what ranks first, and why."""

from __future__ import annotations

import dataclasses
import random

import pytest

from miniapp_api.jobs import matching
from miniapp_api.jobs.matching import (
    PostingView,
    SeekerView,
    combine,
    crowding_factor,
    hard_filter,
    match,
    top_jobs,
    top_seekers,
)

# Guangming: a seeker's home and places about 1, 5 and 12 km east of it (0.01° of longitude ≈ 1.03 km here).
HOME = (22.75, 113.93)

RELATED = {
    "argon_arc_welding": frozenset({"welding"}),
    "welding": frozenset({"argon_arc_welding"}),
    "forklift": frozenset(),
}


def related(slug: str) -> frozenset[str]:
    return RELATED.get(slug, frozenset())


def east(km: float) -> tuple[float, float]:
    return HOME[0], HOME[1] + km / 103.0


def seeker(**kw: object) -> SeekerView:
    base: dict[str, object] = {
        "id": "s1",
        "occupations": ("6-18-02-04",),
        "skills": frozenset({"welding"}),
        "education": "senior",
        "experience_years": 3,
        "expected_salary_monthly": 6000,
        "lat": HOME[0],
        "lon": HOME[1],
        "radius_km": 10,
    }
    base.update(kw)
    return SeekerView(**base)  # type: ignore[arg-type]


def posting(pid: str = "p1", km: float = 1, **kw: object) -> PostingView:
    lat, lon = east(km)
    base: dict[str, object] = {
        "id": pid,
        "occupation_code": "6-18-02-04",
        "required": frozenset({"welding"}),
        "education_min": "junior",
        "experience_min_years": 2,
        "salary_monthly_min": 5500,
        "salary_monthly_max": 7000,
        "lat": lat,
        "lon": lon,
        "openings": 2,
        "applicants": 0,
    }
    base.update(kw)
    return PostingView(**base)  # type: ignore[arg-type]


def ids(results: list[matching.MatchResult]) -> list[object]:
    return [r.posting_id for r in results]


# hard filters


def test_a_seeker_lacking_the_education_never_sees_the_job() -> None:
    s = seeker(education="junior")
    needs_college = posting("college", education_min="college")
    assert hard_filter(s, needs_college) == ["education_below_min"]
    assert ids(top_jobs(s, [needs_college, posting("open")], 10, related)) == ["open"]
    assert match(s, needs_college, related) is None
    # nor does the employer see that seeker among the posting's candidates
    assert top_seekers(needs_college, [s], 10, related) == []


def test_a_posting_beyond_the_seekers_radius_is_filtered_and_one_inside_is_kept() -> None:
    s = seeker(radius_km=5)
    assert hard_filter(s, posting(km=7)) == ["beyond_radius"]
    assert hard_filter(s, posting(km=4.5)) == []
    assert ids(top_jobs(s, [posting("far", km=7), posting("near", km=4.5)], 10, related)) == ["near"]


def test_no_home_or_no_work_place_means_no_distance_filter_and_no_distance_claimed() -> None:
    s = seeker(lat=None, lon=None)
    (r,) = top_jobs(s, [posting(km=50)], 10, related)
    assert r.distance_km is None
    (r,) = top_jobs(seeker(), [posting(lat=None, lon=None)], 10, related)
    assert r.distance_km is None


def test_employment_type_and_shifts_the_seeker_does_not_want_are_filtered() -> None:
    s = seeker(employment_types=frozenset({"full_time"}), shifts=frozenset({"day"}))
    assert hard_filter(s, posting(employment_type="part_time")) == ["employment_type_not_wanted"]
    assert hard_filter(s, posting(shifts=frozenset({"day", "night"}))) == ["shift_not_wanted"]
    assert hard_filter(s, posting(shifts=frozenset({"day"}))) == []
    # a job with flexible hours, or a seeker who is flexible, fits any shift
    assert hard_filter(s, posting(shifts=frozenset({"flexible"}))) == []
    assert hard_filter(seeker(shifts=frozenset({"flexible"})), posting(shifts=frozenset({"night"}))) == []
    # several failures are all named
    assert hard_filter(s, posting(km=30, employment_type="intern", education_min="master")) == [
        "education_below_min",
        "employment_type_not_wanted",
        "beyond_radius",
    ]


def test_hard_filter_and_top_jobs_agree_on_every_pair() -> None:
    rng = random.Random(7)
    shifts = ("day", "night", "rotating", "weekend", "flexible")
    postings = [
        posting(
            f"p{i}",
            km=rng.uniform(0, 20),
            education_min=rng.choice(("none", "junior", "senior", "college")),
            employment_type=rng.choice(("full_time", "part_time")),
            shifts=frozenset(rng.sample(shifts, rng.randint(0, 2))),
        )
        for i in range(300)
    ]
    s = seeker(employment_types=frozenset({"full_time"}), shifts=frozenset({"day", "weekend"}))
    shown = set(ids(top_jobs(s, postings, len(postings), related)))
    assert shown == {p.id for p in postings if not hard_filter(s, p)}
    assert 0 < len(shown) < len(postings)


# scores


def test_an_exact_skill_beats_a_related_one_and_a_related_one_beats_none() -> None:
    exact, near, none = (
        seeker(skills=frozenset({"welding"})),
        seeker(skills=frozenset({"argon_arc_welding"})),
        seeker(skills=frozenset({"forklift"})),
    )
    p = posting()
    scores = [match(s, p, related) for s in (exact, near, none)]
    assert all(r is not None for r in scores)
    e, n, z = (r.job_parts["required"] for r in scores if r is not None)
    assert e == 1.0 and 0 < n < e and z == 0.0
    assert scores[0].score > scores[1].score > scores[2].score  # type: ignore[union-attr]
    assert scores[1].related == (("welding", "argon_arc_welding"),)  # type: ignore[union-attr]
    # the employer's ranking agrees
    ranked = top_seekers(
        p, [dataclasses.replace(s, id=k) for k, s in (("z", none), ("n", near), ("e", exact))], 3, related
    )
    assert [r.seeker_id for r in ranked] == ["e", "n", "z"]


def test_free_text_skills_that_map_to_nothing_still_match_each_other() -> None:
    p = posting(required=frozenset(), free_required=("汽车美容",))
    with_it = match(seeker(free_skills=("汽车美容 ",)), p, related)
    without = match(seeker(free_skills=("插花",)), p, related)
    assert with_it is not None and without is not None
    assert with_it.matched_free == ("汽车美容",) and without.missing_free == ("汽车美容",)
    assert with_it.score > without.score


def test_both_sides_scores_and_the_combined_score_stay_between_0_and_1() -> None:
    rng = random.Random(3)
    for _ in range(200):
        s = seeker(
            skills=frozenset(rng.sample(["welding", "forklift", "argon_arc_welding", "cnc"], rng.randint(0, 3))),
            experience_years=rng.uniform(0, 20),
            expected_salary_monthly=rng.choice([None, 3000, 9000, 20000]),
            occupations=tuple(rng.sample(["6-18-02-04", "6-18-01", "4-02", "2-02-07-01"], rng.randint(0, 2))),
            radius_km=rng.choice([None, 3, 30]),
        )
        p = posting(
            km=rng.uniform(0, 2.9),
            required=frozenset(rng.sample(["welding", "forklift", "cnc"], rng.randint(0, 2))),
            preferred=frozenset(rng.sample(["argon_arc_welding", "first_aid"], rng.randint(0, 2))),
            salary_monthly_min=rng.choice([None, 2000, 8000]),
            salary_monthly_max=rng.choice([None, 9000, 30000]),
            experience_min_years=rng.choice([0, 1, 10]),
            applicants=rng.randint(0, 100),
        )
        r = match(s, p, related)
        assert r is not None
        for v in (r.score, r.combined, r.seeker_score, r.job_score, *r.seeker_parts.values(), *r.job_parts.values()):
            assert 0.0 <= v <= 1.0


def test_the_harmonic_mean_punishes_a_one_sided_match() -> None:
    assert combine(0.5, 0.5) == pytest.approx(0.5)
    assert combine(0.9, 0.1) == pytest.approx(0.18)  # the arithmetic mean would say 0.5
    assert combine(1.0, 0.0) == 0.0
    # a job the seeker would love but whose required skills they lack ranks under a fair match both ways
    s = seeker(skills=frozenset({"forklift"}), expected_salary_monthly=5000)
    dream = posting("dream", km=0.3, required=frozenset({"cnc", "welding", "plc"}), salary_monthly_min=9000)
    fair = posting(
        "fair",
        km=8,
        required=frozenset({"forklift"}),
        occupation_code="4-02-05",
        salary_monthly_min=4000,
        salary_monthly_max=5200,
    )
    d, f = match(s, dream, related), match(s, fair, related)
    assert d is not None and f is not None
    assert d.seeker_score > f.seeker_score  # the seeker alone would put it first
    assert ids(top_jobs(s, [dream, fair], 2, related)) == ["fair", "dream"]
    assert "job_side_low" in d.reasons


def test_salary_below_expectation_distance_and_occupation_each_move_the_seekers_score() -> None:
    s = seeker()
    base = match(s, posting(), related)
    poor = match(s, posting(salary_monthly_min=3500, salary_monthly_max=4000), related)
    far = match(s, posting(km=9), related)
    assert base is not None and poor is not None and far is not None
    assert poor.seeker_parts["salary"] < 0.5 < 0.8 < base.seeker_parts["salary"] < 1.0  # 6,000 within 5,500-7,000
    assert poor.seeker_score < base.seeker_score and "salary_below" in poor.reasons
    assert far.seeker_parts["distance"] < base.seeker_parts["distance"] and far.distance_km == pytest.approx(9, abs=0.1)
    # same detail code > same small group > same middle group > another major group
    occ = [
        match(s, posting(occupation_code=code), related)
        for code in ("6-18-02-04", "6-18-02-05", "6-18-01-01", "4-02-05-01")
    ]
    fits = [r.seeker_parts["occupation"] for r in occ if r is not None]
    assert fits == sorted(fits, reverse=True) and len(set(fits)) == 4 and fits[-1] == 0.0
    # a seeker who wants a whole middle group is fully served by any job inside it
    wide = match(seeker(occupations=("6-18",)), posting(occupation_code="6-18-01-01"), related)
    assert wide is not None and wide.seeker_parts["occupation"] == 1.0


def test_experience_short_of_the_minimum_lowers_the_employers_score() -> None:
    p = posting(experience_min_years=4)
    enough, short = match(seeker(experience_years=5), p, related), match(seeker(experience_years=1), p, related)
    assert enough is not None and short is not None
    assert short.job_parts["experience"] < enough.job_parts["experience"] == 1.0
    assert "experience_short" in short.reasons


# crowding


def test_crowding_starts_only_when_applicants_pass_openings_several_times_and_never_reaches_zero() -> None:
    assert crowding_factor(0, 1) == crowding_factor(3, 1) == crowding_factor(6, 2) == 1.0
    assert 1.0 > crowding_factor(10, 1) > crowding_factor(40, 1) > crowding_factor(1000, 1) > 0.0
    assert crowding_factor(5, 0) == crowding_factor(5, 1)  # openings missing: counted as one


def test_damping_moves_an_over_applied_posting_down_but_not_out() -> None:
    s = seeker()
    popular = posting("popular", applicants=20, openings=1)
    quiet = posting("quiet", km=3, salary_monthly_max=6200, applicants=1)
    weak = posting("weak", km=8, required=frozenset({"cnc"}), occupation_code="4-02", applicants=0)
    undamped = top_jobs(s, [popular, quiet, weak], 3, related, crowding=False)
    assert ids(undamped) == ["popular", "quiet", "weak"]
    damped = top_jobs(s, [popular, quiet, weak], 3, related)
    assert ids(damped) == ["quiet", "popular", "weak"]
    r = damped[1]
    assert r.damping < 1.0 and r.score == pytest.approx(r.combined * r.damping) and "crowded" in r.reasons


# top-n


def test_top_jobs_returns_at_most_n_best_first_and_ties_keep_the_input_order() -> None:
    postings = [posting(f"p{i}", km=1 + i % 5) for i in range(50)]
    top = top_jobs(seeker(), postings, 7, related)
    assert len(top) == 7
    assert [r.score for r in top] == sorted((r.score for r in top), reverse=True)
    assert ids(top) == ["p0", "p5", "p10", "p15", "p20", "p25", "p30"]
    assert top_jobs(seeker(), postings, 0, related) == []
    assert top_jobs(seeker(), [], 5, related) == []


def test_top_seekers_ranks_by_required_skills_held_and_drops_seekers_out_of_range() -> None:
    p = posting(required=frozenset({"welding", "forklift"}))
    seekers = [
        seeker(id="both", skills=frozenset({"welding", "forklift"})),
        seeker(id="one", skills=frozenset({"welding"})),
        seeker(id="far", skills=frozenset({"welding", "forklift"}), radius_km=0.5),
        seeker(id="none", skills=frozenset()),
    ]
    assert [r.seeker_id for r in top_seekers(p, seekers, 10, related)] == ["both", "one", "none"]
