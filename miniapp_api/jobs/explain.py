"""A match explained in plain Chinese: the skills that matched and those missing, related skills that counted
partly, salary against expectation, distance from home, and why it ranks where it does.

Pure: it reads a ``MatchResult`` and a ``name`` callable (taxonomy slug → Chinese name); free-text skills are
shown as the user typed them. The phrases are neutral (no 您) so the seeker's list and the employer's
candidate list can both show them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from miniapp_api.jobs.matching import MatchResult

# Reason codes (matching.ranking) in the order they are read out.
REASON_PHRASES: dict[str, str] = {
    "skills_high": "技能匹配度高",
    "skills_partial": "技能部分匹配",
    "skills_low": "技能匹配度低",
    "related_counted": "相近技能计入部分分数",
    "occupation_wanted": "属于意向职业",
    "occupation_other": "不在意向职业内",
    "salary_meets": "薪资达到期望",
    "salary_in_range": "薪资范围覆盖期望",
    "salary_below": "薪资低于期望",
    "near": "离家近",
    "far": "通勤较远",
    "experience_short": "工作经验少于岗位要求",
    "job_side_low": "岗位要求满足得少，综合分被拉低",
    "seeker_side_low": "与求职意向差距较大，综合分被拉低",
    "crowded": "该岗位已有较多人申请，排序略降",
}
CROWDED_HARD = "该岗位申请人数远超招聘人数，排序明显下降"
HARD_DAMPING = 0.5  # below this factor the crowding phrase says the drop is marked


@dataclass(frozen=True, slots=True)
class Explanation:
    summary: str  # why it ranks where it does
    skills: str | None = None  # 匹配技能：…
    related: str | None = None  # 相关技能部分计分：…
    missing: str | None = None  # 缺少必需技能：…；缺少加分技能：…
    salary: str | None = None  # 期望 6,000 元/月，岗位 5,500-7,000 元/月
    distance: str | None = None  # 距家约 3.2 公里

    @property
    def lines(self) -> list[str]:
        parts = (self.summary, self.skills, self.related, self.missing, self.salary, self.distance)
        return [p for p in parts if p]

    @property
    def text(self) -> str:
        return "。".join(self.lines) + "。"

    def as_dict(self) -> dict[str, str]:
        """The parts that have something to say, and the whole as ``text``."""
        out = {k: v for k, v in (("summary", self.summary), *self._parts()) if v}
        out["text"] = self.text
        return out

    def _parts(self) -> tuple[tuple[str, str | None], ...]:
        return (
            ("skills", self.skills),
            ("related", self.related),
            ("missing", self.missing),
            ("salary", self.salary),
            ("distance", self.distance),
        )


def yuan(amount: float) -> str:
    return f"{round(amount):,}"


def salary_text(expected: float | None, low: float | None, high: float | None) -> str | None:
    """期望 6,000 元/月，岗位 5,500-7,000 元/月 (with 起 / 最高 / 面议 when one side is missing)."""
    if low is not None and high is not None:
        offer = f"岗位 {yuan(low)} 元/月" if round(low) == round(high) else f"岗位 {yuan(low)}-{yuan(high)} 元/月"
    elif low is not None:
        offer = f"岗位 {yuan(low)} 元/月起"
    elif high is not None:
        offer = f"岗位最高 {yuan(high)} 元/月"
    else:
        offer = "岗位薪资面议"
    if not expected:
        return None if offer == "岗位薪资面议" else offer
    top = high if high is not None else low
    below = "，低于期望" if top is not None and top < expected else ""
    return f"期望 {yuan(expected)} 元/月，{offer}{below}"


def distance_text(km: float | None) -> str | None:
    return None if km is None else f"距家约 {km:.1f} 公里"


def explain(result: MatchResult, name: Callable[[str], str]) -> Explanation:
    r = result
    matched = [name(s) for s in r.matched] + list(r.matched_free)
    missing = []
    required = [name(s) for s in r.missing_required] + list(r.missing_free)
    if required:
        missing.append("缺少必需技能：" + "、".join(required))
    if r.missing_preferred:
        missing.append("缺少加分技能：" + "、".join(name(s) for s in r.missing_preferred))
    related = "、".join(f"{name(via)}（岗位要求{name(need)}）" for need, via in r.related)
    phrases = [REASON_PHRASES[c] for c in r.reasons if c != "crowded"]
    if "crowded" in r.reasons:
        phrases.append(CROWDED_HARD if r.damping < HARD_DAMPING else REASON_PHRASES["crowded"])
    return Explanation(
        summary="；".join(phrases) or "综合匹配",
        skills="匹配技能：" + "、".join(matched) if matched else None,
        related="相关技能部分计分：" + related if related else None,
        missing="；".join(missing) or None,
        salary=salary_text(r.expected_salary_monthly, r.salary_monthly_min, r.salary_monthly_max),
        distance=distance_text(r.distance_km),
    )
