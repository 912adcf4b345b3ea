"""Request and response schemas of bands, people, health statuses, quarantine orders, trips and key
areas (separate from the ORM models)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.validation import CalendarTime, IdCursor, StrictModel
from server.wire import WireTime

NodeCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,32}$")]
PlaceCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
Code = Annotated[str, StringConstraints(min_length=1, max_length=40)]
BleId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]
Status = Literal["green", "yellow", "red"]
RiskLevel = Literal["high", "medium", "low"]
BandStateName = Literal["stock", "active", "revoked"]

# Bands ------------------------------------------------------------------------------------------


class WristbandIn(StrictModel):
    ble_id: BleId = Field(description="The maker's BLE identifier (12 or 32 hex digits, separators allowed).")
    code: Code = Field(description="The printed code (Crockford base32, 8 to 16 characters).")


class WristbandsIn(StrictModel):
    node: NodeCode | None = Field(default=None, description="The node that holds them (default: yours).")
    bands: list[WristbandIn] = Field(min_length=1, max_length=1000)


class WristbandRefused(BaseModel):
    index: int
    code: str = Field(description="Why: invalid_ble_id, invalid_code, duplicate_in_batch, already_registered.")


class WristbandsAnswer(BaseModel):
    registered: list[str] = Field(description="The new bands' ids, in the order given.")
    refused: list[WristbandRefused]


class WristbandOut(BaseModel):
    id: str
    ble_id: str
    node: str = Field(description="The node that holds it.")
    state: BandStateName
    wearer: str | None = Field(description="The wearer's public account id while it is active.")
    bound_at: WireTime | None
    revoked_at: WireTime | None
    revoke_reason: str | None
    created_at: WireTime


class WristbandList(BaseModel):
    items: list[WristbandOut]
    next_cursor: str | None


class WristbandQuery(StrictModel):
    state: BandStateName | None = None
    node: NodeCode | None = Field(default=None, description="Only bands under this node (in your area).")
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)


class WristbandBindIn(StrictModel):
    code: Code = Field(description="The printed code on the band.")
    community: NodeCode = Field(description="The community you live in (a community-level node code).")


class MyWristbandOut(BaseModel):
    id: str
    state: BandStateName
    community: str | None = Field(description="Your home community (its health staff look after you).")
    bound_at: WireTime | None


class WristbandIssueIn(StrictModel):
    code: Code | None = Field(default=None, description="The band's printed code (or its ble_id).")
    ble_id: BleId | None = None
    id_number: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    phone: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    community: NodeCode


class WristbandRevokeIn(StrictModel):
    reason: Literal["lost", "broken", "withdrawn"]


# Health -----------------------------------------------------------------------------------------


class HealthPeopleQuery(StrictModel):
    id_number: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    phone: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class HealthStatusIn(StrictModel):
    status: Status
    reason_code: ReasonCode
    expires_at: CalendarTime = Field(description="After now, at most GMID_CHECKIN_RETENTION_DAYS ahead.")


class HealthStatusOut(BaseModel):
    status: Status
    reason_code: str
    reason: str = Field(description="The reason in Chinese.")
    set_at: WireTime
    expires_at: WireTime
    active: bool


class HealthQuarantineIn(StrictModel):
    starts_at: CalendarTime
    ends_at: CalendarTime
    reason_code: ReasonCode


class HealthQuarantineOut(BaseModel):
    id: str
    starts_at: WireTime
    ends_at: WireTime
    reason_code: str
    reason: str
    lifted_at: WireTime | None
    active: bool


class HealthPersonBand(BaseModel):
    id: str
    state: BandStateName


class HealthPersonOut(BaseModel):
    id: str = Field(description="The person's account id.")
    name: str | None = Field(description="Masked.")
    phone: str | None = Field(description="Masked.")
    community: str
    band: HealthPersonBand | None
    status: HealthStatusOut | None
    quarantines: list[HealthQuarantineOut]


class HealthReasonOut(BaseModel):
    code: str
    label: str


# Trips ------------------------------------------------------------------------------------------


class HealthTripIn(StrictModel):
    place: PlaceCode = Field(description="GB/T 2260 code of where you were (e.g. 440311).")
    from_date: dt.date = Field(alias="from")
    until_date: dt.date = Field(alias="until")


class HealthTripOut(BaseModel):
    id: str
    place: str
    from_date: dt.date = Field(serialization_alias="from")
    until_date: dt.date = Field(serialization_alias="until")
    declared_at: WireTime


class HealthTripList(BaseModel):
    items: list[HealthTripOut]


class MyHealthOut(BaseModel):
    status: HealthStatusOut | None
    quarantines: list[HealthQuarantineOut]
    trips: list[HealthTripOut]
    band: MyWristbandOut | None


# Key areas --------------------------------------------------------------------------------------


class KeyAreaIn(StrictModel):
    area_code: PlaceCode
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    risk_level: RiskLevel
    from_date: dt.date = Field(alias="from")
    until_date: dt.date | None = Field(default=None, alias="until")
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class KeyAreaPatch(StrictModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    risk_level: RiskLevel | None = None
    from_date: dt.date | None = Field(default=None, alias="from")
    until_date: dt.date | None = Field(default=None, alias="until")
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None


class KeyAreaOut(BaseModel):
    id: str
    area_code: str
    name: str
    risk_level: str
    from_date: dt.date = Field(serialization_alias="from")
    until_date: dt.date | None = Field(serialization_alias="until")
    source: str
    updated_at: WireTime
    withdrawn_at: WireTime | None


class KeyAreaList(BaseModel):
    items: list[KeyAreaOut]


class KeyAreaQuery(StrictModel):
    state: Literal["active", "all"] = "active"


class KeyAreaImportRejected(BaseModel):
    line: int
    column: str
    reason: str


class KeyAreaImportAnswer(BaseModel):
    created: int
    rejected: list[KeyAreaImportRejected]
