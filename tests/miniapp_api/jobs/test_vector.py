"""The column matcher gives exactly what the pure one gives: the same postings, the same scores, the same order."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from miniapp_api.jobs import demo, vocab
from miniapp_api.jobs.matching import PostingView, SeekerView, seeker_vector, top_jobs, top_seekers, vector
from miniapp_api.jobs.taxonomy import Taxonomy

TAXONOMY = Taxonomy.load([])


def _ids(skills: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(s["id"] for s in skills if s["id"])


def _postings(data: dict[str, list[dict[str, Any]]], rng: random.Random) -> list[PostingView]:
    out = []
    for i, p in enumerate(data["postings"]):
        required = _ids(p["skills_required"])
        view = PostingView(
            id=i,
            occupation_code=p["occupation"],
            required=required,
            preferred=_ids(p["skills_preferred"]) - required,
            education_min=p["education"],
            experience_min_years=float(p["experience_years"]),
            salary_monthly_min=vocab.monthly(p["salary_min"], p["salary_period"]),
            salary_monthly_max=vocab.monthly(p["salary_max"], p["salary_period"]),
            lat=p["lat"],
            lon=p["lon"],
            employment_type=p["employment_type"],
            shifts=frozenset(p["shifts"]),
            openings=p["openings"],
            applicants=rng.choice((0, 0, 0, 1, 3, 7, 40, 200)) * p["openings"] // 2,
        )
        edge = rng.random()
        if edge < 0.03:  # free-text requirements
            view = dataclasses.replace(view, free_required=(rng.choice(("能加班", "会开摩托车", "普通话")),))
        elif edge < 0.05:
            view = dataclasses.replace(view, lat=None, lon=None)
        elif edge < 0.07:
            view = dataclasses.replace(view, salary_monthly_min=None, salary_monthly_max=None)
        elif edge < 0.09:
            view = dataclasses.replace(view, salary_monthly_min=None)
        elif edge < 0.11:
            view = dataclasses.replace(view, shifts=frozenset({"flexible"}))
        elif edge < 0.13:
            view = dataclasses.replace(view, required=frozenset(), preferred=frozenset())
        out.append(view)
    # Twins: the same posting twice, so ties must keep the input order.
    out += [dataclasses.replace(out[k], id=len(out) + j) for j, k in enumerate(range(0, len(out), 7))]
    return out


def _seekers(data: dict[str, list[dict[str, Any]]], rng: random.Random) -> list[SeekerView]:
    out = []
    for i, s in enumerate(data["seekers"]):
        view = SeekerView(
            id=i,
            occupations=tuple(s["desired_occupations"]),
            skills=_ids(s["skills"]),
            free_skills=tuple(x["text"] for x in s["skills"] if not x["id"]),
            education=s["education"],
            experience_years=float(s["experience_years"]),
            expected_salary_monthly=float(s["expected_salary"]),
            lat=s["home_lat"],
            lon=s["home_lon"],
            radius_km=float(s["radius_km"]),
            employment_types=frozenset(s["employment_types"]),
            shifts=frozenset(s["shifts"]),
        )
        edge = rng.random()
        if edge < 0.1:
            view = dataclasses.replace(view, lat=None, lon=None)
        elif edge < 0.2:
            view = dataclasses.replace(view, skills=frozenset(), free_skills=())
        elif edge < 0.3:
            view = dataclasses.replace(view, expected_salary_monthly=None)
        elif edge < 0.4:
            view = dataclasses.replace(view, shifts=frozenset({"flexible", "night"}))
        elif edge < 0.5:
            view = dataclasses.replace(view, radius_km=None, employment_types=frozenset(), shifts=frozenset())
        elif edge < 0.55:
            view = dataclasses.replace(view, free_skills=("能加班", "会开摩托车"))
        elif edge < 0.6:
            view = dataclasses.replace(view, occupations=())
        out.append(view)
    return out


@pytest.mark.parametrize("crowding", [True, False])
def test_vector_top_jobs_equal_the_pure_matchers_ids_scores_and_order(crowding: bool) -> None:
    rng = random.Random(1717)
    data = demo.generate(17, enterprise_count=60, posting_count=1500, seeker_count=150)
    postings = _postings(data, rng)
    columns = vector.Columns.build(postings)
    assert columns.free, "some postings carry free-text requirements"
    related_counted = 0
    for s in _seekers(data, rng):
        for n in (1, 20, 60):
            want = top_jobs(s, postings, n, TAXONOMY.related, crowding=crowding)
            got = vector.top(s, columns, n, TAXONOMY.related, crowding=crowding)
            assert [postings[i].id for i, _ in got] == [r.posting_id for r in want], s
            for (_, score), r in zip(got, want, strict=True):
                assert abs(score - r.score) < 1e-9
        related_counted += sum(1 for r in want if r.related)
    assert related_counted > 0, "the data exercises related skills"


def test_everything_filtered_or_nothing_asked_gives_nothing() -> None:
    p = PostingView(id=1, education_min="doctor")
    columns = vector.Columns.build([p])
    assert vector.top(SeekerView(id=1, education="none"), columns, 5) == []
    assert vector.top(SeekerView(id=1, education="doctor"), columns, 0) == []
    assert vector.top(SeekerView(id=1), vector.Columns.build([]), 5) == []
    keep = vector.scores(SeekerView(id=1, education="doctor"), columns) > float("-inf")
    assert list(keep) == [True]
    assert vector.top(SeekerView(id=1, education="doctor"), columns, 5, keep=~keep) == []


def test_vector_top_seekers_equal_the_pure_matchers_ids_scores_and_order() -> None:
    rng = random.Random(1718)
    data = demo.generate(18, enterprise_count=40, posting_count=150, seeker_count=2000)
    seekers = _seekers(data, rng)
    seekers += [dataclasses.replace(seekers[k], id=len(seekers) + j) for j, k in enumerate(range(0, len(seekers), 9))]
    columns = seeker_vector.SeekerColumns.build(seekers, TAXONOMY.related)
    assert columns.free, "some seekers carry free-text skills"
    for p in _postings(data, rng):
        for n in (1, 25):
            want = top_seekers(p, seekers, n, TAXONOMY.related)
            got = seeker_vector.top_seekers(p, columns, n)
            assert [seekers[i].id for i, _ in got] == [r.seeker_id for r in want], p
            for (_, score), r in zip(got, want, strict=True):
                assert abs(score - r.combined) < 1e-9
