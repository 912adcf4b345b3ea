"""Request and response schemas of rental buildings (separate from the ORM model)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from identity.schemas import PublicText, checked_public_text
from server.validation import SearchText, StrictModel, Stripped, TextCursor
from server.wire import WireTime

NODE_CODE = r"^[A-Za-z0-9]{1,32}$"
IncidentType = Annotated[str, StringConstraints(pattern=r"^[\w\-]{1,32}$")]
IncidentCount = Annotated[int, Field(ge=0, le=100000)]
# Shown to anyone who scans the building's code: no phone or ID numbers (422 personal_number).
ServiceName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(checked_public_text)
]
Count = Annotated[int, Field(ge=0, le=10000)]


class BuildingListQuery(StrictModel):
    grid: str | None = Field(
        default=None, pattern=NODE_CODE, description="Only buildings under this node (a grid, community or street)."
    )
    q: SearchText | None = Field(
        default=None,
        max_length=100,
        description="The start of a building code, part of the address, or the landlord's mobile number "
        "(a person lookup: audited; police also give `reason` and `case_no`, and it counts against their "
        "lookup limit).",
    )
    cursor: TextCursor | None = Field(default=None, description="`next_cursor` of the previous page.")
    limit: int = Field(default=50, ge=1, le=200)
    # Checked by identity.purpose (real text, bounded; one error code, reason_required), not here.
    reason: str | None = Field(
        default=None,
        description="Police searching by a mobile number: why, in words (kept in the audit log).",
        json_schema_extra={"maxLength": 200},
    )
    case_no: str | None = Field(
        default=None,
        description="Police searching by a mobile number: the case number.",
        json_schema_extra={"maxLength": 64},
    )


class DetailQuery(StrictModel):
    # Checked by identity.purpose (real text, bounded; one error code, reason_required), not here.
    reason: str | None = Field(
        default=None,
        description="Police: why you read the landlord, in words (kept in the audit log).",
        json_schema_extra={"maxLength": 200},
    )
    case_no: str | None = Field(
        default=None,
        description="Police: the case number (with `reason`, it shows the landlord in full).",
        json_schema_extra={"maxLength": 64},
    )


class Occupancy(BaseModel):
    floor_area: float = Field(description="Square metres.")
    floors: int
    households: int
    residents: int


class FireFacilities(BaseModel):
    extinguishers: int
    hydrants: int
    escape_routes: int
    smoke_detectors: int


class LandlordOut(BaseModel):
    name: str | None
    phone: str | None
    masked: bool = Field(
        description="False only for police of the area who gave a reason and a case number; that read is audited."
    )


class LandlordAccess(BaseModel):
    method: str
    href: str = Field(description="Ask here, with the query parameters below, to see the landlord in full.")
    requires: list[str]


class ActionOut(BaseModel):
    key: str = Field(description="`report_problem` or `message_party_branch`.")
    title: str
    method: str = Field(description="How the mini-program follows it (the target's own route).")
    href: str


class CredentialRef(BaseModel):
    id: str
    serial: int
    url: str = Field(description="The URL the QR code carries.")
    images: dict[str, str] = Field(description="PNG, SVG and sticker URLs.")


class BuildingSummary(BaseModel):
    code: str
    address: str
    grid: str
    grid_name: str | None
    floors: int
    households: int
    residents: int
    credential_id: str
    updated_at: WireTime


class BuildingList(BaseModel):
    items: list[BuildingSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class BuildingOut(BaseModel):
    code: str
    address: str
    grid: str
    grid_name: str | None
    services: list[str]
    actions: list[ActionOut]
    occupancy: Occupancy
    fire_facilities: FireFacilities
    incidents: dict[str, int] = Field(description="Police incidents nearby, by type.")
    landlord: LandlordOut
    credential: CredentialRef | None
    created_at: WireTime
    updated_at: WireTime
    audit_seq: int | None = Field(default=None, description="Police: the audit entry that records this read.")
    landlord_access: LandlordAccess | None = Field(
        default=None, description="Police of the area, shown the masked landlord: how to ask for it in full."
    )


class FireFacilitiesIn(StrictModel):
    extinguishers: Count | None = None
    hydrants: Count | None = None
    escape_routes: Count | None = None
    smoke_detectors: Count | None = None


class BuildingPatch(StrictModel):
    address: PublicText | None = Field(
        default=None, min_length=1, max_length=200, description="Shown to anyone who scans: no phone or ID numbers."
    )
    floor_area: float | None = Field(default=None, gt=0, le=1_000_000)
    floors: int | None = Field(default=None, ge=1, le=200)
    households: int | None = Field(default=None, ge=0, le=5000)
    residents: int | None = Field(default=None, ge=0, le=50000)
    fire_facilities: FireFacilitiesIn | None = None
    incidents: dict[IncidentType, IncidentCount] | None = Field(default=None, max_length=20)
    services: list[ServiceName] | None = Field(default=None, max_length=30)
    landlord_name: Stripped | None = Field(default=None, max_length=32, description='"" removes it.')
    landlord_phone: Stripped | None = Field(default=None, max_length=24, description='Mainland mobile; "" removes it.')


class ImportRejectedOut(BaseModel):
    line: int
    column: str
    reason: str


class BuildingImportOut(BaseModel):
    rows: int = Field(description="Data rows in the file.")
    imported: int = Field(description="Rows imported: created, updated or unchanged.")
    created: int
    updated: int
    unchanged: int
    rejected_lines: int = Field(description="Rows refused (each may have several reasons below).")
    rejected: list[ImportRejectedOut] = Field(description="Why, by line and column (the first 1,000).")
    ignored_columns: list[str]
