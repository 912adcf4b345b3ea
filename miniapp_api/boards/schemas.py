"""Request and response schemas of party-member boards."""

from __future__ import annotations

from pydantic import BaseModel, Field, HttpUrl

from identity.schemas import PublicText
from server.validation import StrictModel, Stripped
from server.wire import WireTime


class MemberIn(StrictModel):
    """Shown to anyone who scans the board: no phone or ID numbers (contact goes through the platform)."""

    name: PublicText = Field(min_length=1, max_length=16)
    duty: PublicText = Field(min_length=1, max_length=32, description="What they do for the grid, e.g. 消防安全.")
    photo_url: HttpUrl | None = None


class BoardIn(StrictModel):
    code: Stripped = Field(pattern=r"^[A-Za-z0-9-]{3,32}$")
    title: PublicText = Field(
        min_length=1,
        max_length=64,
        examples=["凤凰社区第一网格党员亮相牌"],
        description="Printed on its e-ID sticker and shown to anyone who scans it: no phone or ID numbers.",
    )
    node: Stripped = Field(pattern=r"^[A-Za-z0-9]{1,32}$", description="The grid it serves.")
    building: Stripped | None = Field(default=None, max_length=32)
    members: list[MemberIn] = Field(min_length=1, max_length=30)


class MemberOut(BaseModel):
    name: str
    duty: str
    photo_url: str | None


class BoardOut(BaseModel):
    code: str
    title: str
    node: str
    building: str | None
    members: list[MemberOut]
    credential: str = Field(description="The board's e-ID credential id (images under /api/v1/credentials/{id}).")
    url: str = Field(description="The URL its QR code carries.")
    updated_at: WireTime


class MessageIn(StrictModel):
    text: Stripped = Field(min_length=2, max_length=2000, description="Your message to the grid's party branch.")
    category: Stripped = Field(default="other", max_length=32)


class MessageOut(BaseModel):
    report: str = Field(description="The report it became; follow it at GET /api/v1/reports/{id}.")
    report_no: str


class BoardQuery(StrictModel):
    building: Stripped = Field(min_length=1, max_length=32, description="A building code.")
