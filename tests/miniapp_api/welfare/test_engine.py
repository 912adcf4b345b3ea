"""The engine's promises beyond single golden cases: three-valued (Kleene) logic, the questions asked next,
the trace, exclusions between eligible policies, policies chosen by the date and the profile's kind."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from miniapp_api.welfare import engine, expr, pack

DAY = dt.date(2025, 6, 1)


def run(text: str, household: dict[str, Any] | None = None, members: list[dict[str, Any]] | None = None) -> Any:
    scope = expr.Scope(
        {"a": "household", "b": "household", "c": "household", "age": "member"}, frozenset(), {}, income_kinds=("wage",)
    )
    env = expr.Env(household or {}, members, None, {"limit": 10})
    return expr.compile_node(expr.parse(text), scope)(env), env


@pytest.mark.parametrize(
    ("text", "household", "want"),
    [
        ("a > 1 and b > 1", {"a": 0}, False),  # a fail decides all() even with b unknown
        ("a > 1 and b > 1", {"a": 5}, None),
        ("all(a > 1, b > 1)", {"b": 0}, False),
        ("a > 1 or b > 1", {"a": 5}, True),  # a pass decides any()
        ("any(a > 1, b > 1)", {"a": 0}, None),
        ("not (a > 1)", {}, None),
        ("not (a > 1)", {"a": 0}, True),
        ("a + 1 > 1", {}, None),
        ("a < param.limit", {"a": 10}, False),
        ("if(a, 1, 2) == 2", {"a": False}, True),
        ("if(a, 1, 2) == 2", {}, None),
    ],
)
def test_kleene_logic(text: str, household: dict[str, Any], want: bool | None) -> None:
    got, _ = run(text, household)
    assert got is want


def test_unknown_facts_are_recorded_never_passed_or_failed() -> None:
    got, env = run("any_member(age >= 70)", {}, [{"age": 50}, {}])
    assert got is None and set(env.missing) == {"member.age"}
    got, env = run("any_member(age >= 70)", {}, [{"age": 75}, {}])
    assert got is True  # one member passing decides
    got, env = run("all_members(age >= 70)", {}, [{"age": 50}, {}])
    assert got is False
    got, env = run("count_members(age >= 70)", {}, None)
    assert got is None and set(env.missing) == {"members"}
    got, env = run("income_per_head() > 0", {}, [{"incomes": {"wage": 100, "other": 900}}, {}])
    assert got is None and set(env.missing) == {"member.incomes"}
    got, _ = run("income_per_head() == 50", {}, [{"incomes": {"wage": 100, "other": 900}}, {"incomes": {}}])
    assert got is True  # only the kinds the policy counts


def test_only_facts_that_can_change_the_answer_are_asked() -> None:
    got, env = run("(a > 1 and b > 1) or c > 1", {"b": 0})  # b decides the left part: a is not needed
    assert got is None and env.missing == ["c"]
    got, env = run("any_member(age >= 70) or a > 1", {"a": 5}, [{}])
    assert got is True and env.missing == []


def test_a_failed_comparison_keeps_the_value_the_limit_and_the_gap() -> None:
    got, env = run("a < param.limit and b == 1", {"a": 12, "b": 1})
    assert got is False and env.failed is None  # not recorded on the fast path
    scope = expr.Scope({"a": "household", "b": "household"}, frozenset(), {})
    env.explain = True
    assert expr.compile_node(expr.parse("a < param.limit and b == 1"), scope)(env) is False
    assert env.failed is not None and (env.failed.value, env.failed.limit, env.failed.gap) == (12, 10, 2)


def test_questions_are_ordered_by_how_many_undecided_policies_they_settle() -> None:
    shipped = pack.shipped()
    screening = engine.screen({"household": {}, "members": [{"relation": "self"}]}, DAY, pack=shipped)
    first = screening.questions[0]
    assert first.fact == "receiving"  # every household policy waits for it
    assert first.text.startswith("您家目前正在享受哪些补助")
    settles = [q.settles for q in screening.questions]
    assert settles == sorted(settles, reverse=True)
    unknown = [r for r in screening.results if r.status == "unknown"]
    assert first.settles == len(unknown) == 10
    assert all(q.text and not q.text.startswith("member.") for q in screening.questions)


def test_screening_only_the_profiles_kind_and_the_policies_in_force() -> None:
    shipped = pack.shipped()
    household = engine.screen({"household": {"receiving": []}, "members": []}, dt.date(2024, 6, 1), pack=shipped)
    ids = {r.policy_id for r in household.results}
    assert "childcare" not in ids  # from 2025-01-01
    assert not any(i.startswith("ent_") for i in ids)
    firm = engine.screen({"enterprise": {"enterprise_receiving": [], "new_hires": 4}}, DAY, pack=shipped)
    assert {r.policy_id for r in firm.results} == {"ent_above_scale", "ent_tech_upgrade", "ent_startup", "ent_hiring"}
    assert firm.by_id()["ent_hiring"].amount == 9000


def test_two_eligible_policies_that_exclude_each_other_say_so() -> None:
    shipped = pack.shipped()
    profile = {
        "household": {"receiving": []},
        "members": [
            {"relation": "self", "age": 75, "hukou_city": "深圳", "incomes": {}, "able_to_work": False,
             "has_income": False, "has_capable_supporter": False},
        ],
    }  # fmt: skip
    result = engine.screen(profile, DAY, pack=shipped).by_id()
    assert result["dibao"].status == "eligible" and result["tekun"].status == "eligible"
    assert result["dibao"].conflicts == ["tekun"]
    assert "与「特困人员救助供养」不可同时享受，需择一" in result["dibao"].explanation


def test_the_trace_shows_dated_parameters_with_sources_each_condition_and_the_amount() -> None:
    shipped = pack.shipped()
    profile = {
        "household": {"receiving": []},
        "members": [{"age": 40, "hukou_city": "深圳", "incomes": {"wage": 1000}}],
    }
    result = engine.evaluate(profile, shipped.policies["dibao"], dt.date(2023, 6, 1), pack=shipped, trace=True)
    assert result.trace is not None
    steps = {s["step"]: s for s in result.trace}
    assert steps["parameter"]["value"] == 1413 and steps["parameter"]["since"] == "2023-01-01"
    assert steps["parameter"]["source"]["url"].startswith("https://")
    conditions = [s for s in result.trace if s["step"] == "condition"]
    assert [c["id"] for c in conditions] == ["hukou", "income", "not_receiving_dibao", "not_receiving_tekun"]
    assert all(c["status"] == "pass" for c in conditions)
    assert steps["amount"]["amount"] == 413 and "1,413" in steps["amount"]["how"]
    assert result.explanation.startswith("您可能符合「最低生活保障（低保）」：413 元/月")
    assert engine.evaluate(profile, shipped.policies["dibao"], DAY, pack=shipped).trace is None


def test_the_shipped_pack_is_parsed_once() -> None:
    assert pack.shipped() is pack.shipped()


def test_an_empty_household_is_asked_who_lives_there() -> None:
    shipped = pack.shipped()
    result = engine.evaluate(
        {"household": {"receiving": []}, "members": []}, shipped.policies["dibao"], DAY, pack=shipped
    )
    assert result.status == "unknown" and result.missing == ["members"]
    assert "家里一共有哪些成员" in result.explanation


def test_screening_without_texts_gives_the_same_statuses_and_amounts() -> None:
    shipped = pack.shipped()
    profile = {
        "household": {"receiving": []},
        "members": [{"age": 72, "hukou_city": "深圳", "incomes": {"pension": 1000}}, {"age": 1, "incomes": {}}],
    }
    full = engine.screen(profile, DAY, pack=shipped)
    fast = engine.screen(profile, DAY, pack=shipped, explain=False)
    assert [(r.policy_id, r.status, r.amount, r.missing) for r in full.results] == [
        (r.policy_id, r.status, r.amount, r.missing) for r in fast.results
    ]
    assert [q.fact for q in full.questions] == [q.fact for q in fast.questions]
    assert all(r.explanation == "" for r in fast.results) and all(r.explanation for r in full.results)


def test_an_exclusion_is_explained_with_the_other_policys_name() -> None:
    shipped = pack.shipped()
    profile = {"household": {"receiving": ["tekun"]}, "members": [{"age": 70, "hukou_city": "深圳", "incomes": {}}]}
    result = engine.evaluate(profile, shipped.policies["dibao"], DAY, pack=shipped)
    assert result.status == "not_eligible"
    assert (
        result.explanation == "暂不符合「最低生活保障（低保）」：您已在享受「特困人员救助供养」（两者不可同时享受）。"
    )
    again = engine.evaluate(
        {**profile, "household": {"receiving": ["dibao"]}}, shipped.policies["dibao"], DAY, pack=shipped
    )
    assert again.explanation == "暂不符合「最低生活保障（低保）」：您目前已在享受本项。"


def test_policies_sharing_a_test_share_its_result_only_when_they_count_the_same_incomes(tmp_path: Path) -> None:
    """A screening runs a test once for every policy with the same test (engine.Condition.key): two policies with
    the same words but different counted incomes must still be decided apart, and so must their amounts."""
    import shutil

    root = tmp_path / "pack"
    root.mkdir()
    shutil.copy(pack.SHIPPED / "variables.yaml", root / "variables.yaml")
    shutil.copytree(pack.SHIPPED / "parameters", root / "parameters")
    shutil.copytree(pack.SHIPPED / "policies", root / "policies")
    dibao = (root / "policies" / "dibao.yaml").read_text(encoding="utf-8")
    counted = next(line for line in dibao.splitlines() if line.startswith("income_counts:"))
    wage_only = dibao.replace("id: dibao", "id: dibao_wage_only", 1).replace(counted, "income_counts: [wage]")
    wage_only = wage_only.replace("not_with: [tekun]", "not_with: []")
    (root / "policies" / "dibao_wage_only.yaml").write_text(wage_only, encoding="utf-8")
    loaded = pack.load(root)
    profile = {
        "household": {"receiving": []},
        "members": [{"relation": "self", "age": 50, "hukou_city": "深圳", "incomes": {"wage": 800, "pension": 900}}],
    }
    found = engine.screen(profile, DAY, pack=loaded).by_id()
    assert found["dibao"].status == "near_miss"  # 1,700 a month counted against 1,483: its one failing condition
    assert found["dibao_wage_only"].status == "eligible"  # 800 counted
    assert found["dibao_wage_only"].amount == 1483 - 800
    # And the same answers as each policy screened on its own, where nothing is shared.
    for pid in ("dibao", "dibao_wage_only"):
        alone = engine.evaluate(profile, loaded.policies[pid], DAY, pack=loaded)
        assert (alone.status, alone.amount, alone.explanation) == (
            found[pid].status,
            found[pid].amount,
            found[pid].explanation,
        )
