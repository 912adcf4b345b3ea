"""The golden tests of the shipped pack: each case in golden/*.yaml is a profile on a date and the result a
resident must see for each named policy (status, amount and period, months, the failing conditions, the gap,
the facts still missing, a phrase of the Chinese explanation)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from miniapp_api.welfare import engine, pack

GOLDEN = Path(__file__).parent / "golden"


def _cases() -> list[Any]:
    cases = []
    for path in sorted(GOLDEN.glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES)
def test_golden(case: dict[str, Any]) -> None:
    shipped = pack.shipped()
    day = case["date"] if isinstance(case["date"], dt.date) else dt.date.fromisoformat(case["date"])
    for policy_id, want in case["expect"].items():
        got = engine.evaluate(case["profile"], shipped.policies[policy_id], day, pack=shipped)
        where = f"{policy_id}: {got.explanation}"
        assert got.status == want["status"], where
        if "amount" in want:
            assert got.amount == pytest.approx(want["amount"]), where
        if "period" in want:
            assert got.period == want["period"], where
        if "months" in want:
            assert got.months == want["months"], where
        if "failing" in want:
            assert [c.id for c in got.failing] == want["failing"], where
        if "gap" in want:
            assert [c.gap for c in got.failing] == [pytest.approx(want["gap"])], where
        if "missing" in want:
            assert set(want["missing"]) <= set(got.missing), where
        if "says" in want:
            assert want["says"] in got.explanation, where


def test_every_policy_has_golden_cases_with_a_boundary_a_past_date_and_an_unknown() -> None:
    """Each shipped policy appears in the golden files, and each has an unknown case and a not-eligible or
    near-miss case; a past date is covered for the dated parameters (dibao 2022/2023, minimum wage 2025)."""
    statuses: dict[str, set[str]] = {}
    for param in CASES:
        case = param.values[0]
        for policy_id, want in case["expect"].items():
            statuses.setdefault(policy_id, set()).add(want["status"])
    shipped = pack.shipped()
    assert set(statuses) == set(shipped.policies)
    for policy_id, seen in statuses.items():
        assert "eligible" in seen, policy_id
        assert seen & {"near_miss", "not_eligible"}, policy_id
        assert "unknown" in seen, policy_id
