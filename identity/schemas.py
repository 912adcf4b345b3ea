"""Request and response schemas of identity routes (separate from the ORM models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, StrictBool, field_validator

from identity.pii import has_personal_number
from identity.roles import NodeLevel, Role
from identity.validators import InvalidIdNumber, InvalidMobile, normalize_id_number, normalize_mobile
from server.validation import CounterCursor, IdCursor, StrictModel, Stripped, domain_error
from server.wire import WireTime


class WeChatLoginIn(StrictModel):
    # wx.login() codes are 32 letters and digits; WeChat documents no size, so leave room, but no more
    # than what could be a code: anything else goes no further than this schema.
    code: Stripped = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The code from wx.login() in the mini-program (letters, digits, - and _; at most 64).",
    )


class StaffLoginIn(StrictModel):
    username: Stripped = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class AccountOut(BaseModel):
    id: str = Field(description="The account's public id.")
    role: Role
    node: str | None = Field(description="Code of the hierarchy node a staff account works in.")
    username: str | None = None
    is_active: bool
    created_at: WireTime


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_at: WireTime
    refresh_token: str
    account: AccountOut


class ProfileOut(BaseModel):
    """Personal data, masked (``138****5678``)."""

    name: str | None
    phone: str | None
    id_number: str | None
    address: str | None = None


class MeOut(BaseModel):
    account: AccountOut
    profile: ProfileOut


def checked_id_number(value: str) -> str:
    """A schema's ID number: normalised, or `invalid_id_number` (the code every route uses)."""
    try:
        return normalize_id_number(value)
    except InvalidIdNumber as exc:
        raise domain_error("invalid_id_number", str(exc)) from None


def checked_mobile(value: str) -> str:
    """A schema's mainland mobile number: normalised, or `invalid_phone` (the code every route uses)."""
    try:
        return normalize_mobile(value)
    except InvalidMobile as exc:
        raise domain_error("invalid_phone", str(exc)) from None


def checked_public_text(value: str) -> str:
    """Text printed on an e-ID sticker or shown to anyone who scans it: `personal_number` when it
    holds a phone or ID number (the message never repeats it)."""
    if has_personal_number(value):
        raise domain_error(
            "personal_number",
            "this is shown to anyone who scans the e-ID code (or printed on its sticker): no phone or ID numbers",
        )
    return value


IdNumberText = Annotated[str, Field(max_length=20), AfterValidator(checked_id_number)]
MobileText = Annotated[str, Field(max_length=20), AfterValidator(checked_mobile)]
PublicText = Annotated[Stripped, AfterValidator(checked_public_text)]
"""Stripped text for anyone to read (a sticker's label, a public scan view): no personal numbers."""


class ProfileIn(StrictModel):
    name: Stripped | None = Field(default=None, min_length=1, max_length=50)
    phone: MobileText | None = Field(default=None, description="Mainland China mobile number.")
    id_number: IdNumberText | None = Field(default=None, description="18-character resident ID number.")
    address: Stripped | None = Field(default=None, min_length=2, max_length=200, description="Home address.")


class IdNumberCorrectionIn(StrictModel):
    """A staff correction, made at a desk against the resident's ID card."""

    id_number: IdNumberText | None = Field(
        description="The correct 18-character ID number; null removes a wrongly claimed one."
    )
    # Checked by identity.purpose (one rule and one error code for every such route), not here.
    reason: str = Field(
        default="",
        description="Why, in words (2 to 200 characters; kept in the audit log).",
        json_schema_extra={"maxLength": 200},
    )
    case_no: str = Field(
        default="",
        description="The ticket or case number of the correction (3 to 64 characters, with a digit).",
        json_schema_extra={"maxLength": 64},
    )


class NodeOut(BaseModel):
    code: str
    name: str
    level: NodeLevel
    parent: str | None
    path: str
    division_code: str | None = Field(
        description="The official code: GB/T 2260 for the district (440311), the 12-digit statistical division "
        "code (统计用区划代码) for a street or community (440311001001); none for a grid.",
        examples=["440311001001"],
    )


class NodeListQuery(StrictModel):
    under: Stripped | None = Field(default=None, max_length=32, description="Only nodes under this node code.")
    level: NodeLevel | None = None
    limit: int = Field(default=500, ge=1, le=1000)


class NodeList(BaseModel):
    items: list[NodeOut]


class StaffCreateIn(StrictModel):
    username: Stripped = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    role: Role
    node: Stripped = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=256)


class AccountListQuery(StrictModel):
    role: Role | None = None
    node: str | None = Field(default=None, max_length=32)
    limit: int = Field(default=100, ge=1, le=500)
    after: IdCursor | None = Field(default=None, description="Cursor: the last id of the previous page.")


class AccountList(BaseModel):
    items: list[AccountOut]
    next_after: str | None


class AccountPatchIn(StrictModel):
    is_active: StrictBool


class AuditQuery(StrictModel):
    actor: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=64)
    # With a time zone (a naive time would be read in whatever zone the server runs in), and within
    # years the log can hold, so the conversion to UTC cannot leave the calendar.
    since: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with a time zone, e.g. 2026-11-01T00:00:00+08:00"
    )
    until: AwareDatetime | None = Field(default=None, description="ISO 8601 with a time zone")

    @field_validator("since", "until")
    @classmethod
    def _within_the_calendar(cls, value: datetime | None) -> datetime | None:
        if value is not None and not 1970 <= value.year <= 2099:
            raise ValueError("a time from 1970 to 2099")
        return value

    limit: int = Field(default=100, ge=1, le=1000)
    after: CounterCursor | None = Field(default=None, description="Cursor: the last seq of the previous page.")


class AuditEntryOut(BaseModel):
    seq: int
    at: WireTime
    actor: str
    role: str
    action: str
    target: str
    reason: str
    client_addr: str
    request_id: str
    details: dict[str, Any]
    scope: str = Field(description="Node path of the row the entry is about; empty when none.")
    hash: str


class AuditList(BaseModel):
    items: list[AuditEntryOut]
    next_after: int | None


class AuditVerifyOut(BaseModel):
    ok: bool = Field(description="Every link of the chain holds, from the first entry to the recorded head.")
    checked: int = Field(description="Entries checked before the first broken link (all of them when ok).")
    broken_seq: int | None = Field(description="The first entry whose link does not hold; null when ok.")
    problem: str = Field(description="What is wrong with it, in English; empty when ok.")
