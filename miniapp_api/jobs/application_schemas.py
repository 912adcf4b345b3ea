"""Request and response schemas of applications and the ledger (separate from the ORM models)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from miniapp_api.jobs.schemas import Line
from server.validation import IdCursor, StrictModel
from server.wire import WireTime

StateName = Literal["applied", "invited", "accepted", "declined", "withdrawn", "rejected", "hired"]
Side = Literal["seeker", "employer"]
Note = Line(200, 0)
CandidateRef = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class NoteIn(StrictModel):
    note: Note = Field(default="", description="A short note the other side reads (at most 200 characters).")  # type: ignore[valid-type]


class InviteIn(StrictModel):
    candidate: CandidateRef = Field(description="The opaque candidate id the posting's candidate list gives.")
    note: Note = Field(default="", description="A short note the seeker reads (at most 200 characters).")  # type: ignore[valid-type]


class ApplicationEventOut(BaseModel):
    from_state: StateName | None = Field(serialization_alias="from")
    to_state: StateName = Field(serialization_alias="to")
    by: Side = Field(description="Which side made the step.")
    note: str
    at: WireTime


class PostingRef(BaseModel):
    id: str
    title: str
    enterprise: str
    status: str


class SeekerApplicationOut(BaseModel):
    id: str
    posting: PostingRef
    state: StateName
    initiated_by: Side
    created_at: WireTime
    updated_at: WireTime
    history: list[ApplicationEventOut]


class SeekerApplicationList(BaseModel):
    items: list[SeekerApplicationOut]
    next_cursor: str | None


class EmployerApplicationOut(BaseModel):
    id: str
    posting: str
    candidate: str = Field(description="The candidate id of the posting's candidate list.")
    state: StateName
    initiated_by: Side
    name: str | None = Field(
        description="The seeker's name and phone: only while the seeker has applied or accepted (and after a "
        "decision); masked before that and after they withdrew or declined."
    )
    phone: str | None
    created_at: WireTime
    updated_at: WireTime
    history: list[ApplicationEventOut]


class EmployerApplicationList(BaseModel):
    items: list[EmployerApplicationOut]
    next_cursor: str | None


class ApplicationQuery(StrictModel):
    state: StateName | None = None
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)


class JobLedgerQuery(StrictModel):
    from_date: dt.date = Field(alias="from", ge=dt.date(2020, 1, 1), le=dt.date(2100, 12, 31))
    to_date: dt.date = Field(alias="to", ge=dt.date(2020, 1, 1), le=dt.date(2100, 12, 31))
    format: Literal["json", "csv", "xlsx"] = "json"


class JobLedgerRowOut(BaseModel):
    month: str = Field(description="YYYY-MM, Beijing time.")
    node: str
    node_name: str
    occupation: str = Field(description="The middle group of the 2022 classification, e.g. 6-18.")
    occupation_name: str
    postings: int = Field(description="Postings published in the month.")
    openings: int = Field(description="Their openings.")
    applications: int = Field(description="Seekers who applied in the month.")
    invitations: int = Field(description="Invitations sent in the month.")
    hires: int = Field(description="Hires made in the month.")


class JobLedgerOut(BaseModel):
    items: list[JobLedgerRowOut]
