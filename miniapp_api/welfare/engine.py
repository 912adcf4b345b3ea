"""Screening a profile against a pack: three-valued conditions, explained results, the questions to ask next.

A profile is plain data::

    {"household": {"hukou_city": "深圳", "receiving": []},
     "members": [{"relation": "self", "birth_date": "1950-03-01", "hukou_city": "深圳", "incomes": {"pension": 900}}],
     "enterprise": {...}}

A fact the profile does not give is *unknown*: a condition over it is unknown (never pass, never fail), the
policy is ``unknown`` unless another condition fails, and the fact joins ``questions``.

Statuses: ``eligible`` (amount and how it was computed), ``not_eligible`` (each failing condition, its value and
its limit), ``near_miss`` (exactly one condition fails, all others pass: with the gap), ``unknown`` (the missing
facts), ``not_in_force`` (the policy does not apply on that date; only from ``evaluate``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from miniapp_api.welfare import expr, profiles
from miniapp_api.welfare.pack import PERIODS, Amount, Condition, Pack, Policy

_OPS_CN = {
    "<": "低于",
    "<=": "不高于",
    ">": "高于",
    ">=": "不低于",
    "==": "等于",
    "!=": "不等于",
    "in": "属于",
    "not in": "不属于",
}
_STATUS = ("eligible", "near_miss", "unknown", "not_eligible", "not_in_force")


@dataclass(slots=True)
class ConditionResult:
    id: str
    label: str
    status: str  # pass | fail | unknown
    test: str
    value: Any = None
    limit: Any = None
    op: str | None = None
    gap: float | None = None
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class PolicyResult:
    policy_id: str
    name: str
    status: str
    explanation: str
    amount: float | None = None
    period: str | None = None
    months: int | None = None
    how: str | None = None
    failing: list[ConditionResult] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    trace: list[dict[str, Any]] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}
        out["failing"] = [c.as_dict() for c in self.failing]
        return out


@dataclass(slots=True)
class Question:
    fact: str
    text: str
    settles: int  # how many undecided policies wait for it


@dataclass(slots=True)
class Screening:
    date: dt.date
    results: list[PolicyResult]
    questions: list[Question]

    def by_id(self) -> dict[str, PolicyResult]:
        return {r.policy_id: r for r in self.results}


def _age(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def prepare(profile: dict[str, Any], day: dt.date, pack: Pack) -> expr.Env:
    """The environment of one profile on one day (members' ages from their birth dates on that day).
    Raises ``ProfileError`` with field errors for a profile the registry does not allow."""
    errors = profiles.check(profile, pack)
    if errors:
        raise profiles.ProfileError(errors)
    household = dict(profile.get("household") or {})
    members_raw = profile.get("members")
    members: list[dict[str, Any]] | None = None
    if isinstance(members_raw, list):
        members = []
        for m in members_raw:
            m = dict(m)
            birth = m.get("birth_date")
            if birth is not None:
                if isinstance(birth, str):
                    birth = dt.date.fromisoformat(birth)
                m["age"] = _age(birth, day)
            members.append(m)
    enterprise = profile.get("enterprise")
    return expr.Env(household, members, dict(enterprise) if enterprise is not None else None, pack.params_on(day))


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, int | float):
        return f"{v:,}"
    if isinstance(v, frozenset | set | list | tuple):
        return "、".join(sorted(str(x) for x in v)) or "无"
    return str(v)


def _money(v: float) -> str:
    return f"{_fmt(round(v, 2))} 元"


def _outcome(cond: Condition, env: expr.Env) -> tuple[Any, tuple[str, ...]]:
    """The condition's value and, when unknown, the facts it missed; run once per screening for every policy
    sharing the test (``Condition.key``)."""
    found = env.outcomes.get(cond.key)
    if found is None:
        env.missing.clear()
        v = _guarded(cond.run, env)
        found = (v, tuple(sorted(set(env.missing))) if v is None else ())
        env.outcomes[cond.key] = found
    return found


# What a formula may raise on a profile the linter could not foresee (text reaching a sum through a derived
# variable, a float overflowing): the value is then unknown, never an error for the whole screening.
_CANNOT = (TypeError, ValueError, ArithmeticError)


def _guarded(run: Any, env: expr.Env) -> Any:
    try:
        return run(env)
    except _CANNOT:
        return None


def _number(v: Any) -> float | None:
    """A computed amount or count of months as a finite number, or None (NaN and infinity are not amounts)."""
    if v is None or isinstance(v, bool) or not isinstance(v, int | float):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _why_failed(cond: Condition, env: expr.Env) -> expr.Comparison | None:
    """The comparison that failed closest to its limit: the condition run again, explaining (once per key)."""
    key = ("why", cond.key)
    if key in env.outcomes:
        return env.outcomes[key]
    env.failed = None
    env.explain = True
    try:
        _guarded(cond.run, env)
    finally:
        env.explain = False
    env.outcomes[key] = env.failed
    return env.failed


def _run_condition(cond: Condition, env: expr.Env, explain: bool = True) -> ConditionResult:
    """A condition's result with its details (the fast path in ``evaluate`` skips this for passes)."""
    v, missing = _outcome(cond, env)
    if v is None:
        return ConditionResult(cond.id, cond.label, "unknown", cond.text, missing=list(missing))
    if v:
        return ConditionResult(cond.id, cond.label, "pass", cond.text)
    failed = _why_failed(cond, env) if explain else None
    if failed is None:
        return ConditionResult(cond.id, cond.label, "fail", cond.text)
    return ConditionResult(
        cond.id, cond.label, "fail", cond.text, value=failed.value, limit=failed.limit, op=failed.op, gap=failed.gap
    )


def _why_not(c: ConditionResult) -> str:
    if c.id.startswith("not_receiving_"):  # an exclusion: say what is already received
        return c.label.replace("目前未在享受", "您目前已在享受", 1).replace("未在享受", "您已在享受", 1)
    if c.op is None or c.value is None:
        return f"{c.label}：不满足"
    if c.op in ("in", "not in"):
        return f"{c.label}：不满足（目前：{_fmt(c.limit)}）"
    gap = f"，相差 {_fmt(c.gap)}" if c.gap is not None else ""
    return f"{c.label}：不满足（您的情况为 {_fmt(c.value)}，要求{_OPS_CN[c.op]} {_fmt(c.limit)}{gap}）"


def evaluate(
    profile: dict[str, Any] | expr.Env,
    policy: Policy,
    day: dt.date,
    *,
    pack: Pack,
    trace: bool = False,
    explain: bool = True,
) -> PolicyResult:
    """One policy for one profile on one day. ``explain=False`` (re-screening many stored profiles): the
    status, amount, failing condition ids and missing facts only, no texts and no failing values."""
    env = profile if isinstance(profile, expr.Env) else prepare(profile, day, pack)
    steps: list[dict[str, Any]] | None = [] if trace else None
    if steps is not None:
        steps.append({"step": "date", "date": day.isoformat(), "policy": policy.id})
        for name in sorted(policy.params):
            value, since, source = pack.parameters[name].at(day)
            steps.append(
                {"step": "parameter", "name": name, "value": value, "since": since and since.isoformat(),
                 "source": source and {"title": source.title, "url": source.url}}
            )  # fmt: skip
    if not policy.in_force(day):
        when = "尚未施行" if day < policy.effective_from else "已停止执行"
        return PolicyResult(
            policy.id, policy.name, "not_in_force",
            f"「{policy.name}」在 {day.isoformat()} {when}（施行日期：{policy.effective_from.isoformat()}"
            f"{'至 ' + policy.effective_until.isoformat() if policy.effective_until else '起'}）。",
            trace=steps,
        )  # fmt: skip
    if steps is not None:
        results = [_run_condition(c, env) for c in policy.conditions]
        steps.extend({"step": "condition", **r.as_dict()} for r in results)
    else:  # the fast path: details only for the conditions that did not pass
        results = []
        for c in policy.conditions:
            v = _outcome(c, env)[0]
            if v is None or not v:
                results.append(_run_condition(c, env, explain))
    fails = [r for r in results if r.status == "fail"]
    unknown = [r for r in results if r.status == "unknown"]
    if fails:
        exclusion_ids = {c.id for c in policy.conditions if c.exclusion}
        near = len(fails) == 1 and not unknown and fails[0].id not in exclusion_ids
        status = "near_miss" if near else "not_eligible"
        if not explain:
            return PolicyResult(policy.id, policy.name, status, "", failing=fails)
        head = f"「{policy.name}」只差一项条件：" if near else f"暂不符合「{policy.name}」："
        result = PolicyResult(policy.id, policy.name, status, head + "；".join(_why_not(f) for f in fails) + "。")
        result.failing = fails
        result.trace = steps
        return result
    if unknown:
        missing = sorted({m for r in unknown for m in r.missing})
        if not explain:
            return PolicyResult(policy.id, policy.name, "unknown", "", missing=missing)
        asks = "；".join(dict.fromkeys(pack.question(m) for m in missing))
        text = (
            f"还不能判断是否符合「{policy.name}」，需要了解：{asks}"
            if asks
            else f"还不能判断是否符合「{policy.name}」：按您填写的情况无法完成计算，请向经办部门咨询。"
        )
        result = PolicyResult(policy.id, policy.name, "unknown", text, missing=missing)
        result.trace = steps
        return result
    return _eligible(policy, env, steps, pack, explain)


def _amount(amount: Amount, env: expr.Env, explain: bool) -> tuple[float | None, int | None, list[str], str | None]:
    """The amount, the months it is paid for, the facts it still needs, and how it was computed (None: it could
    not be; "" when not explaining); once per screening for every policy sharing the formula (``Amount.key``)."""
    key = ("amount", amount.key, explain)
    found = env.outcomes.get(key)
    if found is not None:
        return found
    env.missing.clear()
    value = _number(_guarded(amount.run, env))
    months = _number(_guarded(amount.months, env)) if amount.months is not None else None
    if (value is not None and value < 0) or (months is not None and months < 0):
        value = months = None  # a formula that goes negative for this profile: not an amount to show
        env.missing.clear()
    if value is None or (amount.months is not None and months is None):
        found = (None if value is None else round(value, 2), None, sorted(set(env.missing)), None)
    else:
        value = round(value, 2)
        how = f"{_strip(amount.describe(env))} = {_money(value)}/{PERIODS[amount.period]}" if explain else ""
        found = (value, None if months is None else int(months), [], how)
    env.outcomes[key] = found
    return found


def _eligible(
    policy: Policy, env: expr.Env, steps: list[dict[str, Any]] | None, pack: Pack, explain: bool
) -> PolicyResult:
    result = PolicyResult(policy.id, policy.name, "eligible", "")
    amount = policy.amount
    if not explain:
        if amount is not None:
            result.amount, result.months, missing, _ = _amount(amount, env, False)
            result.period = amount.period
            if missing:
                result.missing = list(missing)
        return result
    apply = (
        "无需申请，符合条件将自动发放（免申即享）。"
        if policy.no_application
        else f"申请渠道：{policy.channel}。" + (f"需准备：{'、'.join(policy.documents)}。" if policy.documents else "")
    )
    if amount is None:
        result.explanation = f"您可能符合「{policy.name}」。{policy.summary} {apply}"
        result.trace = steps
        return result
    value, months, missing, how = _amount(amount, env, True)
    if how is None or value is None:
        result.missing = list(missing)
        result.explanation = (
            f"您可能符合「{policy.name}」，金额还需要了解："
            + "；".join(dict.fromkeys(pack.question(m) for m in result.missing))
            if result.missing
            else f"您可能符合「{policy.name}」，金额无法按您填写的情况自动计算，以经办部门核定为准。{apply}"
        )
        result.trace = steps
        return result
    unit = PERIODS[amount.period]
    result.amount = value
    result.period = amount.period
    result.how = how
    text = f"您可能符合「{policy.name}」：{_money(value)}/{unit}（{how}）"
    if months is not None:
        result.months = months
        text += f"，可领 {result.months} 个月，合计 {_money(value * result.months)}"
    result.explanation = text + "。" + (amount.note + " " if amount.note else "") + apply
    if steps is not None:
        steps.append({"step": "amount", "how": how, "amount": value, "period": amount.period, "months": result.months})
    result.trace = steps
    return result


def _strip(text: str) -> str:
    return text[1:-1] if text.startswith("(") and text.endswith(")") else text


def _kind(profile: dict[str, Any]) -> set[str]:
    kinds = set()
    if profile.get("enterprise") is not None:
        kinds.add("enterprise")
    if profile.get("household") is not None or profile.get("members") is not None:
        kinds |= {"person", "household"}
    return kinds or {"person", "household", "enterprise"}


def screen(
    profile: dict[str, Any], day: dt.date, *, pack: Pack, trace: bool = False, explain: bool = True
) -> Screening:
    """Every policy in force on ``day`` for the profile's kind (household or enterprise), and the questions
    (``explain=False``: no texts, see ``evaluate``)."""
    kinds = _kind(profile)
    env = prepare(profile, day, pack)
    results = [
        evaluate(env, p, day, pack=pack, trace=trace, explain=explain)
        for p in pack.policies.values()
        if p.target in kinds and p.in_force(day)
    ]
    eligible = {r.policy_id for r in results if r.status == "eligible"}
    for r in results:
        if r.status == "eligible":
            others = [o for o in pack.policies[r.policy_id].not_with if o in eligible]
            if others:
                r.conflicts = others
                if not explain:
                    continue
                names = "、".join(f"「{pack.policies[o].name}」" for o in others)
                r.explanation += f" 注意：与{names}不可同时享受，需择一。"
    counts = Counter(m for r in results if r.status == "unknown" for m in r.missing)
    questions = [Question(f, pack.question(f), n) for f, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    results.sort(key=lambda r: (_STATUS.index(r.status), r.policy_id))
    return Screening(day, results, questions)
