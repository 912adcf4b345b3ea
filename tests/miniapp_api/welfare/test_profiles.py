"""A profile is checked field by field against the variable registry before screening: a wrong value gets a
Chinese message on its path and nothing is screened; null is unknown."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from miniapp_api.welfare import engine, pack, profiles

DAY = dt.date(2025, 6, 1)


@pytest.mark.parametrize(
    ("profile", "field", "says"),
    [
        ({"members": [{"age": "七十"}]}, "members[0].age", "非负整数"),
        ({"members": [{"age": True}]}, "members[0].age", "非负整数"),
        ({"members": [{"age": -1}]}, "members[0].age", "非负整数"),
        ({"members": [{"insured_years": float("nan")}]}, "members[0].insured_years", "非负数字"),
        ({"members": [{"incomes": {"salary": 100}}]}, "members[0].incomes", "未知的收入种类"),
        ({"members": [{"incomes": {"wage": "100"}}]}, "members[0].incomes", "wage 需要一个非负金额"),
        ({"members": [{"incomes": [100]}]}, "members[0].incomes", "按收入种类"),
        ({"members": [{"birth_date": "1950-02-30"}]}, "members[0].birth_date", "YYYY-MM-DD"),
        ({"members": [{"sz_hukou": True}]}, "members[0].sz_hukou", "由系统计算"),
        ({"members": [{"shoe_size": 42}]}, "members[0].shoe_size", "不是可填写的项目"),
        ({"members": [{"receiving": []}]}, "members[0].receiving", "不是可填写的项目"),  # a household fact
        ({"members": "three"}, "members", "成员列表"),
        ({"members": [{}] * 21}, "members", "不超过 20 人"),
        ({"members": [1]}, "members[0]", "需要一个对象"),
        ({"household": {"receiving": "dibao"}}, "household.receiving", "文字列表"),
        ({"household": {"receiving": ["x" * 101]}}, "household.receiving", "文字列表"),
        ({"enterprise": {"new_hires": 2.5}}, "enterprise.new_hires", "非负整数"),
        ({"pets": 2}, "pets", "household、members、enterprise"),
    ],
)
def test_a_bad_field_gets_its_message_and_nothing_is_screened(profile: dict[str, Any], field: str, says: str) -> None:
    shipped = pack.shipped()
    errors = profiles.check(profile, shipped)
    assert field in errors and says in errors[field], errors
    with pytest.raises(profiles.ProfileError) as caught:
        engine.screen(profile, DAY, pack=shipped)
    assert caught.value.errors == errors


def test_not_a_mapping() -> None:
    assert profiles.check([1, 2], pack.shipped()) == {"profile": "需要一个对象（household、members、enterprise）"}


def test_null_is_unknown_not_an_error() -> None:
    shipped = pack.shipped()
    profile = {"household": {"receiving": None}, "members": [{"age": None, "hukou_city": "深圳", "incomes": None}]}
    assert profiles.check(profile, shipped) == {}
    result = engine.screen(profile, DAY, pack=shipped).by_id()["dibao"]
    assert result.status == "unknown" and set(result.missing) == {"member.incomes", "receiving"}
