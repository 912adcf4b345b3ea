"""Request and response schemas of reports and the grid feed."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from miniapp_api.reports.states import State
from server.validation import CalendarTime, StrictModel, Stripped, TextCursor, WithPoint
from server.wire import WireTime


class SubmitIn(WithPoint):
    category: Stripped = Field(min_length=1, max_length=32, description="A key from GET /api/v1/report-categories.")
    text: Stripped = Field(min_length=2, max_length=2000, description="What is wrong, in your words.")
    node: Stripped | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]{1,32}$",
        description="The grid (or community) code of the place; may be left out when a building is given.",
    )
    building: Stripped | None = Field(
        default=None,
        max_length=32,
        description="The building code, when scanned: the report then belongs to the building's own grid (a node "
        "given with it must be that grid or above it, else 422 `building_not_in_node`; an unknown building is 422).",
    )
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    anonymous: bool = Field(default=False, description="Hide who you are from everyone but the system.")


class MoveIn(StrictModel):
    action: Stripped = Field(
        min_length=1,
        max_length=16,
        description="accept, dispatch, start, reject, resolve, confirm, reopen, close, return, resubmit, merge.",
    )
    note: Stripped = Field(default="", max_length=500, description="Required to reject, return and reopen.")
    department: Stripped | None = Field(default=None, max_length=32, description="dispatch: the department code.")
    merge_into: Stripped | None = Field(default=None, max_length=16, description="merge: the main report's id.")
    satisfaction: int | None = Field(default=None, ge=1, le=5, description="confirm: 1 to 5.")
    comment: Stripped = Field(default="", max_length=500)


class EventOut(BaseModel):
    at: WireTime
    actor: str = Field(
        description="An account id, `system`, a role, `reporter` for an anonymous reporter; empty in the public view."
    )
    role: str = Field(description="The actor's role; `reporter` for an anonymous reporter; empty in the public view.")
    action: str
    from_state: str
    to_state: str
    note: str = Field(description="The reason or note; empty in the public view.")


class ReportOut(BaseModel):
    id: str
    report_no: str
    category: str
    category_name: str
    text: str = Field(description="What the reporter wrote; empty in the public view.")
    channel: str = Field(description="How it was filed; empty in the public view.")
    anonymous: bool | None = Field(description="Whether the reporter hid who they are; null in the public view.")
    building: str | None = Field(description="The building code; null in the public view.")
    board: str | None = Field(
        default=None,
        description="The party-member board it was left on (GET /api/v1/boards/{code}); null in the public view.",
    )
    lat: float | None = Field(description="The exact point; null in the public view.")
    lng: float | None
    node: str = Field(description="The grid's path; the community's path in the public view.")
    place: str | None = Field(default=None, description="The community's name (光明区光明街道光明社区).")
    state: State
    state_name: str
    department: str | None
    due_at: WireTime | None = Field(description="The deadline of the current state.")
    overdue: bool
    escalation_level: int
    merged_into: str | None
    satisfaction: int | None = Field(description="The reporter's rating (1-5); null in the public view.")
    comment: str | None = Field(
        default=None,
        description="The reporter's words with their rating (confirm): for the reporter and the staff in scope; "
        "null in the public view.",
    )
    created_at: WireTime
    updated_at: WireTime
    allowed_actions: list[str]
    reporter: str | None = Field(description="The reporter's account id; hidden when anonymous.")
    redacted: bool = Field(
        default=False,
        description="True for the public view a follower reads: category, state, department, deadline, community "
        "and times; no text, position, building, reporter, rating, comment or notes.",
    )


class ReportDetail(ReportOut):
    timeline: list[EventOut]
    suggested_department: str | None = Field(default=None, description="For staff: where routing would send it.")
    followers: int = Field(description="How many people follow the report besides its reporter.")
    following: bool = Field(description="Whether you follow it.")


class FollowOut(BaseModel):
    id: str = Field(description="The report followed (a merged report's main report).")
    report_no: str
    following: bool
    followers: int


class ReportList(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None


class FeedQuery(StrictModel):
    state: list[State] | None = Field(default=None, description="Repeat for several states.")
    category: str | None = Field(default=None, max_length=32)
    building: str | None = Field(default=None, max_length=32)
    overdue: bool | None = None
    since: CalendarTime | None = Field(default=None, description="Filed at or after (ISO 8601 with offset).")
    until: CalendarTime | None = Field(default=None, description="Filed before (ISO 8601 with offset).")
    limit: int = Field(default=50, ge=1, le=200)
    cursor: TextCursor | None = Field(default=None, description="next_cursor of the previous page.")


class CategoryOut(BaseModel):
    key: str
    name: str
    department: str | None
    dispatch_minutes: int
    feedback_minutes: int


class CategoryList(BaseModel):
    items: list[CategoryOut]


class DepartmentOut(BaseModel):
    code: str = Field(description="What a dispatch names (`department`).")
    name: str
    node: str | None = Field(
        description="A local department's part of the hierarchy (a path): it takes only reports there."
    )


class DepartmentList(BaseModel):
    items: list[DepartmentOut]


class SimilarQuery(WithPoint):
    category: str = Field(min_length=1, max_length=32)
    node: str | None = Field(default=None, max_length=32)
    building: str | None = Field(default=None, max_length=32)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)


class SimilarOut(BaseModel):
    """A report that may be the same thing: its public view (nothing of its text or reporter)."""

    id: str
    report_no: str
    category: str
    category_name: str
    state: State
    state_name: str
    building: str | None = Field(
        description="The building, for staff in scope who asked about that building; always null for a resident."
    )
    place: str | None = Field(description="The community's name.")
    created_at: WireTime
    distance_m: float | None = Field(
        description="About how far from the given point (to 10 m, from the report's point rounded to about 100 m)."
    )


class SimilarList(BaseModel):
    items: list[SimilarOut]


# A report's public id (rp_ and 13 characters): longer is no id, refused before anything is echoed.
ReportId = Annotated[str, StringConstraints(min_length=1, max_length=16)]


class BulkIn(StrictModel):
    action: str = Field(min_length=1, max_length=16, description="accept, dispatch or merge (or any other action).")
    ids: list[ReportId] = Field(min_length=1, max_length=100, description="At most 100 report ids.")
    department: str | None = Field(default=None, max_length=32)
    merge_into: str | None = Field(default=None, max_length=16)
    note: str = Field(default="", max_length=500)


class BulkItem(BaseModel):
    id: str
    ok: bool
    state: State | None
    error: str | None


class BulkOut(BaseModel):
    results: list[BulkItem]
