"""Request and response schemas of e-bikes (separate from the ORM models)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from identity.schemas import IdNumberText, MobileText, PublicText
from miniapp_api.ebikes.models import AlarmStatus, BikeStatus
from server.validation import StrictModel, Stripped, WithPoint
from server.wire import WireTime

NODE_CODE = r"^[A-Za-z0-9]{1,32}$"
BEIJING = timezone(timedelta(hours=8))  # China has had no DST since 1991
EARLIEST_PURCHASE = date(1990, 1, 1)
EARLIEST_LOSS = datetime(2000, 1, 1, tzinfo=UTC)
LOSS_CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock may run a little ahead


def _purchase_date(value: date) -> date:
    # Bounded so that nonsense (year 1, year 2999) is refused here rather than stored or failing in the database.
    if value < EARLIEST_PURCHASE:
        raise ValueError("the purchase date cannot be before 1990-01-01")
    if value > datetime.now(BEIJING).date():
        raise ValueError("the purchase date cannot be in the future")
    return value


def _lost_at(value: datetime) -> datetime:
    # Aware datetimes compare without converting to UTC, so year 1 or 9999 with an offset cannot overflow
    # here; outside these bounds the database layer would (a 500 instead of a field error).
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("give the time with its offset, e.g. 2026-11-25T09:30:00+08:00")
    if value < EARLIEST_LOSS:
        raise ValueError("the time cannot be before 2000-01-01")
    if value > datetime.now(UTC) + LOSS_CLOCK_SKEW:
        raise ValueError("the time is in the future")
    return value


PurchaseDate = Annotated[date, AfterValidator(_purchase_date)]
LostAt = Annotated[datetime, AfterValidator(_lost_at)]


class OwnerIdentityIn(StrictModel):
    name: Stripped = Field(min_length=1, max_length=32, description="The owner's name as on the ID card.")
    id_number: IdNumberText = Field(description="Resident ID number (18 characters, checked).")
    phone: MobileText = Field(description="Mainland mobile number.")


class BikeFieldsIn(StrictModel):
    # The make and colour are printed on the sticker and shown to anyone who scans it.
    brand: PublicText = Field(min_length=1, max_length=32, examples=["雅迪"])
    model: Stripped = Field(default="", max_length=32, examples=["DE2"])
    colour: PublicText = Field(min_length=1, max_length=16, examples=["白色"])
    plate: Stripped | None = Field(default=None, max_length=16, description="Plate, when the bike has one.")
    purchase_date: PurchaseDate | None = Field(default=None, description="Not in the future, not before 1990.")
    node: Stripped = Field(
        pattern=NODE_CODE,
        description="Code of the community or grid where the bike is kept (e.g. GM010101); "
        "a street or the district is 422 `node_level`.",
    )


class RegisterIn(BikeFieldsIn):
    owner: OwnerIdentityIn
    frame_no: Stripped = Field(min_length=6, max_length=40, description="车架号; spaces and dashes are ignored.")
    motor_no: Stripped = Field(min_length=1, max_length=32, description="电机号.")


class UpdateIn(StrictModel):
    brand: PublicText | None = Field(default=None, min_length=1, max_length=32)
    model: Stripped | None = Field(default=None, max_length=32)
    colour: PublicText | None = Field(default=None, min_length=1, max_length=16)
    plate: Stripped | None = Field(default=None, max_length=16, description="An empty string removes the plate.")
    purchase_date: PurchaseDate | None = Field(default=None, description="Not in the future, not before 1990.")
    node: Stripped | None = Field(default=None, pattern=NODE_CODE)


class CredentialRef(BaseModel):
    id: str
    serial: int
    url: str = Field(description="The URL the QR code carries.")
    images: dict[str, str] = Field(description="PNG, SVG and sticker URLs (sign in to fetch them).")


class AlarmOut(BaseModel):
    id: str
    status: AlarmStatus
    lost_at: WireTime
    location: str
    lat: float | None
    lng: float | None
    description: str
    created_at: WireTime
    closed_at: WireTime | None
    sightings: int = 0


class BikeOut(BaseModel):
    id: str
    status: BikeStatus
    brand: str
    model: str
    colour: str
    frame_no: str
    motor_no: str
    plate: str | None
    purchase_date: date | None
    node: str | None = Field(description="Path of the hierarchy node where it is kept.")
    registered_at: WireTime
    credential: CredentialRef | None
    alarm: AlarmOut | None = Field(default=None, description="The open alarm, when the bike is reported stolen.")


class BikeList(BaseModel):
    items: list[BikeOut]


class TransferOut(BaseModel):
    code: str = Field(description="Give this to the new owner; it works once, until expires_at.")
    expires_at: WireTime


class TransferAcceptIn(StrictModel):
    code: Stripped = Field(min_length=6, max_length=32)
    owner: OwnerIdentityIn


class AlarmIn(WithPoint):
    lost_at: LostAt = Field(
        description="When the bike was lost (ISO 8601 with offset); not before 2000, not more than 5 minutes ahead."
    )
    location: Stripped = Field(min_length=1, max_length=200, description="Where it was lost, in words.")
    description: Stripped = Field(default="", max_length=500)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)


class AlarmAnswer(BaseModel):
    alarm: AlarmOut
    created: bool = Field(description="False when this press repeated an alarm raised in the last 10 minutes.")


class LookupQuery(StrictModel):
    frame_no: str | None = Field(default=None, max_length=40)
    plate: str | None = Field(default=None, max_length=16)
    qr: str | None = Field(default=None, max_length=2048, description="A scanned code (URL or token).")
    owner_id_number: str | None = Field(default=None, max_length=20)
    # Checked by identity.purpose (real text, bounded; one error code, reason_required), not here.
    reason: str | None = Field(
        default=None, description="Why you look, in words (required).", json_schema_extra={"maxLength": 200}
    )
    case_no: str | None = Field(
        default=None, description="The case number (required, with a digit).", json_schema_extra={"maxLength": 64}
    )


class OwnerFull(BaseModel):
    account: str
    name: str | None
    id_number: str | None
    phone: str | None
    address: str | None


class LookupBike(BaseModel):
    bike: BikeOut
    alarms: list[AlarmOut]


class LookupResult(BaseModel):
    owner: OwnerFull
    bikes: list[LookupBike]


class LookupAnswer(BaseModel):
    results: list[LookupResult]
    count: int = Field(description="Number of bikes found.")
    audit_seq: int = Field(description="The audit entry that records this lookup.")
