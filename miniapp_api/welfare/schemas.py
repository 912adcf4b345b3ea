"""Request and response schemas of the welfare calculator's HTTP API (separate from the ORM models)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from server.validation import StrictModel
from server.wire import WireTime


class WelfareProfileIn(StrictModel):
    """A household (or enterprise) profile: `household`, `members` (at most 20), `enterprise`, each field
    as in the variable registry; a field left out or null is unknown (never counted as pass or fail)."""

    profile: dict[str, Any] = Field(description="{household: {...}, members: [{...}], enterprise: {...}}")


class WelfareScreenIn(WelfareProfileIn):
    date: dt.date | None = Field(None, description="Calculate for this day (its parameters and policies in force)")


class WelfareConsentIn(StrictModel):
    proactive: bool = Field(description="true: screen my saved profile in the background and tell me what is new")


class WelfareAmountOut(BaseModel):
    yuan: float
    period: str | None
    period_name: str
    months: int | None = None
    how: str | None = None


class WelfareConditionOut(BaseModel):
    id: str
    label: str
    status: str
    value: Any = None
    limit: Any = None
    op: str | None = None
    gap: float | None = None
    missing: list[str] | None = None


class WelfareMissingOut(BaseModel):
    fact: str
    question: str


class WelfareResultOut(BaseModel):
    policy_id: str
    policy_version: int
    name: str
    status: str = Field(description="eligible, near_miss, unknown, not_eligible (not_in_force in a trace)")
    explanation: str
    amount: WelfareAmountOut | None = None
    conflicts: list[str] | None = None
    failing: list[WelfareConditionOut] | None = None
    missing: list[WelfareMissingOut] | None = None


class WelfareQuestionOut(BaseModel):
    fact: str
    text: str
    settles: int = Field(description="How many undecided policies the answer would settle")


class WelfareScreenOut(BaseModel):
    date: dt.date
    pack_version: int
    results: list[WelfareResultOut]
    questions: list[WelfareQuestionOut]


class WelfareTraceOut(WelfareResultOut):
    date: dt.date
    pack_version: int
    trace: list[dict[str, Any]]


class WelfarePolicySummaryOut(BaseModel):
    id: str
    version: int
    name: str
    issuer: str
    target: str
    summary: str
    in_force: bool
    effective_from: dt.date
    effective_until: dt.date | None
    no_application: bool
    channel: str


class WelfarePolicyList(BaseModel):
    pack_version: int
    date: dt.date
    items: list[WelfarePolicySummaryOut]


class WelfareSourceOut(BaseModel):
    title: str
    url: str


class WelfareParameterOut(BaseModel):
    name: str
    label: str
    unit: str
    value: Any
    since: dt.date | None
    source: WelfareSourceOut | None


class WelfarePolicyAmountOut(BaseModel):
    formula: str
    period: str
    period_name: str
    months: str | None
    note: str


class WelfarePolicyOut(WelfarePolicySummaryOut):
    pack_version: int
    date: dt.date = Field(description="Today: the parameters' values are today's")
    legal_basis: dict[str, str]
    sources: list[WelfareSourceOut]
    documents: list[str]
    conditions: list[dict[str, str]]
    not_with: list[str]
    amount: WelfarePolicyAmountOut | None
    parameters: list[WelfareParameterOut]


class WelfareSavedProfileOut(BaseModel):
    profile: dict[str, Any] | None
    proactive: bool
    consent_at: WireTime | None
    updated_at: WireTime
