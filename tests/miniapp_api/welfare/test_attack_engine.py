"""A screening shares work between policies (a member quantifier, a condition or an amount with the same syntax
tree and counted incomes is computed once per screening): it must never make two policies share a result they
must not. Property test with a fixed seed: over the shipped pack plus generated variants (the same words with
different income_counts, quantifiers nested in quantifiers, income_per_head() inside a quantifier, derived
variables), ``engine.screen`` of a random profile gives each policy exactly what ``engine.evaluate`` gives of
that policy compiled alone (a pack of it only: nothing to share with; the shipped pack for the shipped ones),
on a fresh copy of the profile. Comparing with the same compiled pack would miss a closure shared by mistake
at compile time."""

from __future__ import annotations

import copy
import datetime as dt
import random
import shutil
from pathlib import Path
from typing import Any

from miniapp_api.welfare import engine, pack, profiles

TESTS = [
    "income_per_head() < 1500",
    "any_member(age >= 60 and income_per_head() < 2000)",
    "count_members(age < 18 and count_members(age >= 60) >= 1) >= 1",
    "any_member(certified_disabled and count_members(sz_hukou) >= 2)",
    "disabled_count >= 1 and any_member(sz_hukou)",
    "sum_members(sz_hukou, benefit_months) >= 3 or income_per_head() < 800",
    'any_member(hukou_city == "深圳")',
    'all_members(any_member(age >= 18) and (age >= 18 or student_level != ""))',
]
AMOUNTS = [
    "(1500 - income_per_head()) * household_size()",
    "sum_members(age >= 60, 100) + count_members(certified_disabled) * 50",
    "max(income_per_head(), 100) / household_size()",
]
COUNTS = [["wage"], ["wage", "pension"], ["pension", "wage"], [], list(pack.shipped().income_kinds)]


def variant(pid: str, tests: list[str], counts: list[str], formula: str, months: str | None) -> str:
    conditions = "\n".join(f"  - id: c{i}\n    label: 条件{i}\n    test: '{t}'" for i, t in enumerate(tests))
    return f"""id: {pid}
name: 测试{pid}
issuer: 测试
legal_basis: {{document: 测试, url: "https://example.org/{pid}"}}
effective_from: 2022-01-01
target: household
summary: 测试
income_counts: {counts}
conditions:
{conditions}
amount:
  formula: '{formula}'
  period: monthly
{f"  months: '{months}'" if months else ""}
documents: [身份证]
channel: 测试
no_application: false
"""


def variants(root: Path, rng: random.Random) -> dict[str, pack.Pack]:
    """Writes the variants into the pack at ``root``; returns each compiled in a pack of its own."""
    alone: dict[str, pack.Pack] = {}
    for i in range(60):
        tests = rng.sample(TESTS, rng.randint(1, 3))
        counts = rng.choice(COUNTS)
        months = rng.choice([None, "sum_members(unemployed_insured, benefit_months)"])
        text = variant(f"v{i}", tests, counts, rng.choice(AMOUNTS), months)
        (root / "policies" / f"v{i}.yaml").write_text(text, encoding="utf-8")
        single = root.parent / f"single-v{i}"
        (single / "policies").mkdir(parents=True)
        shutil.copy(root / "variables.yaml", single / "variables.yaml")
        shutil.copytree(root / "parameters", single / "parameters")
        (single / "policies" / f"v{i}.yaml").write_text(text, encoding="utf-8")
        alone[f"v{i}"] = pack.load(single)
    return alone


def maybe(rng: random.Random, value: Any, p: float = 0.15) -> Any:
    return None if rng.random() < p else value


def member(rng: random.Random, relation: str, kinds: list[str]) -> dict[str, Any]:
    m: dict[str, Any] = {"relation": relation}
    fields: dict[str, Any] = {
        "age": rng.randint(0, 95),
        "hukou_city": rng.choice(["深圳", "广州", "湖南"]),
        "incomes": {k: rng.choice([0, 300, 1200, 2500, 6000]) for k in rng.sample(kinds, rng.randint(0, 4))},
        "disability_certificate": rng.random() < 0.3,
        "disability_grade": rng.randint(1, 4),
        "insured_years": rng.choice([0, 0.5, 1, 3, 12]),
        "involuntary_job_loss": rng.random() < 0.4,
        "registered_unemployed": rng.random() < 0.4,
        "able_to_work": rng.random() < 0.7,
        "has_income": rng.random() < 0.5,
        "seriously_ill": rng.random() < 0.1,
    }
    for name, value in fields.items():
        v = maybe(rng, value)
        if v is not None:
            m[name] = v
    return m


def profile(rng: random.Random, kinds: list[str], ids: list[str]) -> dict[str, Any]:
    relations = ["self", "spouse", "child", "child", "parent", "parent"]
    members = [member(rng, relations[i], kinds) for i in range(rng.randint(1, 6))]
    out: dict[str, Any] = {"members": members}
    household = {"receiving": rng.sample(ids, rng.randint(0, 2))} if rng.random() < 0.8 else {}
    if rng.random() < 0.5:
        household["sudden_expense"] = rng.random() < 0.5
    out["household"] = household
    return out


def same(a: engine.PolicyResult, b: engine.PolicyResult) -> bool:
    keys = ("status", "amount", "months", "missing", "how")
    return all(getattr(a, k) == getattr(b, k) for k in keys) and [c.as_dict() for c in a.failing] == [
        c.as_dict() for c in b.failing
    ]


def test_a_screening_gives_each_policy_what_it_gets_alone(pack_dir: Path) -> None:
    rng = random.Random(20261205)
    alone = variants(pack_dir, rng)
    loaded = pack.load(pack_dir)
    kinds = list(loaded.income_kinds)
    ids = sorted(loaded.policies)
    checked = compared = 0
    statuses: set[str] = set()
    for _ in range(250):
        p = profile(rng, kinds, ids)
        day = rng.choice([dt.date(2023, 6, 1), dt.date(2025, 6, 1)])
        if profiles.check(p, loaded) or profiles.check_on(p, day):
            continue
        checked += 1
        for explain in (True, False):
            found = engine.screen(copy.deepcopy(p), day, pack=loaded, explain=explain).by_id()
            for pid, result in found.items():
                own = alone.get(pid) or pack.shipped()
                single = engine.evaluate(copy.deepcopy(p), own.policies[pid], day, pack=own, explain=explain)
                assert same(result, single), (pid, explain, p, result, single)
                if explain:
                    assert result.explanation.startswith(single.explanation), (pid, p)
                compared += 1
                statuses.add(result.status)
    assert checked >= 150 and compared >= 150 * 2 * 60
    assert statuses >= {"eligible", "not_eligible", "near_miss", "unknown"}
