"""Request and answer schemas of the clinic's routes (separate from the ORM models)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from miniapp_api.reports.states import State
from server.validation import StrictModel
from server.wire import WireTime


class InsightOut(BaseModel):
    id: str = Field(description="The report.")
    analysed: bool = Field(description="False until the background analysis has run (seconds after filing).")
    suggested_category: str | None = Field(description="The classifier's category; null below its threshold.")
    suggested_category_name: str | None
    suggested_department: str | None = Field(description="Where routing would send that category here.")
    confidence: float | None
    model_version: str | None
    group: str | None = Field(description="The first report of its duplicate group, if any.")
    group_size: int


class GroupMember(BaseModel):
    id: str
    report_no: str
    excerpt: str
    state: State
    category: str
    building: str | None
    created_at: WireTime
    similarity: float | None = Field(description="How alike its text is to the report that grouped it (0-1).")


class GroupOut(BaseModel):
    id: str = Field(description="The group's first report.")
    size: int
    main: str | None = Field(description="The report the others would be merged into.")
    members: list[GroupMember]


class GroupList(BaseModel):
    items: list[GroupOut]


class GroupQuery(StrictModel):
    include_closed: bool = False


class MergeIn(StrictModel):
    into: str | None = Field(default=None, max_length=16, description="A member; by default the oldest open one.")


class MergeItem(BaseModel):
    id: str
    ok: bool
    error: str | None


class MergeOut(BaseModel):
    main: str
    results: list[MergeItem]


class CategoryIn(StrictModel):
    category: str = Field(min_length=1, max_length=32)
    note: str = Field(default="", max_length=200)


class CategorySetOut(BaseModel):
    id: str
    category: str
    category_name: str


# Dates the system can hold a report for: bounded so date arithmetic never leaves the calendar.
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


class LedgerQuery(StrictModel):
    period: Literal["week", "month"] = "week"
    since: dt.date = Field(ge=FIRST_DAY, le=LAST_DAY)
    until: dt.date = Field(ge=FIRST_DAY, le=LAST_DAY)
    level: Literal["district", "street", "community", "grid"] | None = None
    category: str | None = Field(default=None, max_length=32)
    node: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9]+$",
        description="A node at or under your own (its code): the ledger of that part only.",
    )
    format: Literal["json", "csv", "xlsx"] = "json"


class LedgerRowOut(BaseModel):
    period: str
    node: str
    node_name: str
    category: str
    category_name: str
    count: int
    open: int
    overdue: int = Field(description="Breached a time limit at least once.")
    completed: int
    completion_rate: float | None
    rejected: int = Field(description="退单 at least once.")
    rejection_rate: float | None
    avg_handling_hours: float | None = Field(description="From filing to the first resolution.")
    p90_handling_hours: float | None
    avg_satisfaction: float | None
    rated: int
    kept: int = Field(description="Reports not merged into another: the base of the rates.")
    satisfaction_points: int = Field(
        description="The ratings added up (avg_satisfaction = satisfaction_points / rated, before rounding)."
    )


class LedgerOut(BaseModel):
    items: list[LedgerRowOut]


class HotQuery(StrictModel):
    week: dt.date | None = Field(
        default=None, ge=FIRST_DAY, le=LAST_DAY, description="Any day of the week; by default this week."
    )
    top: int = Field(default=10, ge=1, le=50)


class TermOut(BaseModel):
    term: str
    count: int = Field(
        description="Reports using it this week (it rises on voices: distinct reporters, an anonymous report "
        "counting as a voice of its own)."
    )
    previous: int = Field(description="The week before.")
    score: float
    reports: list[str] = Field(description="Some reports that use it.")
    related: list[str] = Field(description="Terms rising in mostly the same reports.")


class HotGroupOut(BaseModel):
    label: str = Field(description="The start of the group's most central report.")
    size: int
    previous: int = Field(description="Reports of the group the week before.")
    change: int
    voices: int = Field(description="Distinct reporters; an anonymous report counts as a voice of its own.")
    followers: int = Field(description="Residents who followed these reports instead of filing again.")
    first_at: WireTime
    last_at: WireTime
    heat: float
    reports: list[str]


class HotOut(BaseModel):
    week: dt.date = Field(description="The Monday of the week (Beijing time).")
    reports: int = Field(description="Reports filed under your node that week.")
    terms: list[TermOut]
    groups: list[HotGroupOut]
