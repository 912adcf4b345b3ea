"""Request and response schemas of chart data and alarm evidence (separate from the ORM models)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from server.validation import CalendarTime, StrictModel
from server.wire import WireTime

MAX_SPAN_DAYS = 400
MAX_POINTS = 10_000
MAX_EVIDENCE = 10_000

Metric = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]


class ReadingsQuery(StrictModel):
    metric: Metric = Field(description="One of the device type's metrics, e.g. gas_lel_pct.")
    from_: CalendarTime | None = Field(
        default=None, alias="from", description="Start (ISO 8601 with offset); default 24 hours before `to`."
    )
    to: CalendarTime | None = Field(default=None, description="End, exclusive (ISO 8601 with offset); default now.")


class HourPoint(BaseModel):
    hour: WireTime = Field(description="The hour's start (UTC).")
    count: int
    min: float
    max: float
    avg: float
    last: float
    last_at: WireTime


class ReadingsChart(BaseModel):
    device: str
    metric: str
    from_: WireTime = Field(serialization_alias="from")
    to: WireTime
    points: list[HourPoint]


class EvidenceItem(BaseModel):
    metric: str
    value: float
    at: WireTime


class AlarmEvidence(BaseModel):
    alarm: str
    device: str
    items: list[EvidenceItem] = Field(description="Oldest first: 30 minutes before the alarm to its end.")
    truncated: bool = Field(description=f"True when more than {MAX_EVIDENCE} readings were kept.")
