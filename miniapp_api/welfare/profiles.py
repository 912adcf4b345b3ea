"""What a profile may hold: each field checked against the variable registry before any screening.

``check(profile, pack)`` returns field errors (``members[1].age: ...``), empty when the profile is good. A value
``null`` (or absent) is unknown; derived variables are computed, never given.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from typing import Any

from miniapp_api.welfare.pack import Pack

MAX_MEMBERS = 20
MAX_TEXT = 100
MAX_LIST = 50
SECTIONS = {"household": "household", "members": "member", "enterprise": "enterprise"}
# A person's facts that cannot exceed a human bound (an age of 200 matched the 100+ old-age allowance).
HUMAN_BOUNDS = {"age": (130, "岁"), "disability_grade": (4, "级"), "insured_years": (80, "年")}


class ProfileError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# Invisible and unusual characters (controls, zero-width and direction marks, lone surrogates, private use,
# unassigned code points) and surrounding blanks: "深\u200b圳" reads as 深圳 but matches no condition, and the
# household would be told "not eligible" on data it never meant. Refused, so the resident can correct it.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _plain_text(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_TEXT
        and value == value.strip()
        and not any(unicodedata.category(ch) in _HIDDEN for ch in value)
    )


def _value_error(vtype: str, value: Any, pack: Pack) -> str | None:
    if vtype == "int":
        whole = isinstance(value, int) and not isinstance(value, bool)
        return None if whole and 0 <= value <= 10**9 else "需要一个非负整数"
    if vtype == "number":
        return None if _number(value) and 0 <= value <= 10**12 else "需要一个非负数字"
    if vtype == "bool":
        return None if isinstance(value, bool) else "需要 true 或 false"
    if vtype == "str":
        return None if _plain_text(value) else f"需要不超过 {MAX_TEXT} 个字的文字（不含首尾空格和不可见字符）"
    if vtype == "list":
        ok = isinstance(value, list) and len(value) <= MAX_LIST
        ok = ok and all(_plain_text(x) for x in value)
        return None if ok else f"需要不超过 {MAX_LIST} 项的文字列表（不含首尾空格和不可见字符）"
    if vtype == "mapping":
        if not isinstance(value, dict) or len(value) > len(pack.income_kinds):
            return "需要按收入种类填写的金额"
        for kind, amount in value.items():
            if kind not in pack.income_kinds:
                return f"未知的收入种类（可用：{'、'.join(pack.income_kinds)}）"
            if not _number(amount) or not 0 <= amount <= 10**9:
                return f"{kind} 需要一个非负金额（元/月）"
        return None
    if vtype == "date":
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            day = value
        elif isinstance(value, str):
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                return "需要 YYYY-MM-DD 格式的日期"
        else:
            return "需要 YYYY-MM-DD 格式的日期"
        return None if dt.date(1880, 1, 1) <= day <= dt.date(2200, 1, 1) else "日期不在合理范围内"
    return "未知类型"


def _check_section(data: Any, entity: str, where: str, pack: Pack, errors: dict[str, str]) -> None:
    if not isinstance(data, dict):
        errors[where] = "需要一个对象"
        return
    for name, value in data.items():
        field = f"{where}.{name}"
        var = pack.variables.get(name) if isinstance(name, str) else None
        if var is None or var.entity != entity:
            errors[field[:120]] = "不是可填写的项目"
        elif var.formula is not None:
            errors[field] = "由系统计算，无需填写"
        elif value is not None:
            problem = _value_error(var.type, value, pack)
            bound = HUMAN_BOUNDS.get(name) if entity == "member" else None
            if problem is None and bound is not None and value > bound[0]:
                problem = f"不能超过 {bound[0]} {bound[1]}"
            if problem is not None:
                errors[field] = problem


def check(profile: Any, pack: Pack) -> dict[str, str]:
    """Field errors of a profile (field path -> Chinese message); empty when it is good."""
    errors: dict[str, str] = {}
    if not isinstance(profile, dict):
        return {"profile": "需要一个对象（household、members、enterprise）"}
    for key in profile:
        if key not in SECTIONS:
            errors[str(key)[:40]] = "不是可填写的项目（可用：household、members、enterprise）"
    for key in ("household", "enterprise"):
        if profile.get(key) is not None:
            _check_section(profile[key], SECTIONS[key], key, pack, errors)
    members = profile.get("members")
    if members is not None:
        if not isinstance(members, list) or len(members) > MAX_MEMBERS:
            errors["members"] = f"需要不超过 {MAX_MEMBERS} 人的成员列表"
        else:
            for i, member in enumerate(members):
                _check_section(member, "member", f"members[{i}]", pack, errors)
    return errors


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def check_on(profile: dict[str, Any], day: dt.date) -> dict[str, str]:
    """Field errors only the screening day reveals (for a profile ``check`` found good): a member born after
    the day (not a child aged 0), or an age that contradicts the birth date (the birth date would win)."""
    errors: dict[str, str] = {}
    for i, member in enumerate(profile.get("members") or []):
        birth = _as_date(member.get("birth_date"))
        if birth is None:
            continue
        if birth > day:
            errors[f"members[{i}].birth_date"] = "出生日期晚于计算日期"
            continue
        age = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
        if member.get("age") is not None and member["age"] != age:
            errors[f"members[{i}].birth_date"] = "出生日期与年龄不符（填写出生日期时可不填年龄）"
    return errors
