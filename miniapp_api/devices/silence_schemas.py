"""Request and response schemas of alarm silences (separate from the ORM models)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from miniapp_api.devices.rules import DeviceType
from miniapp_api.devices.schemas import NodeCode
from server.validation import CalendarTime, IdCursor, StrictModel
from server.wire import WireTime


class SilenceIn(StrictModel):
    device: str | None = Field(default=None, max_length=16, description="A device id (or building, or type).")
    building: NodeCode | None = Field(default=None, description="A rental building's code.")
    type: DeviceType | None = Field(default=None, description="Every device of this type under `node`.")
    node: NodeCode | None = Field(default=None, description="With `type`: the node (default: yours).")
    reason: str = Field(max_length=500, description="Why, in words (kept in the audit log; no personal numbers).")
    ends_at: CalendarTime = Field(description="When it ends: after now, at most 7 days ahead.")


class SilenceOut(BaseModel):
    id: str
    scope: Literal["device", "building", "type"]
    device: str | None = Field(description="The device's id (scope device).")
    serial: str | None = Field(description="The device's serial (scope device).")
    building: str | None = Field(description="The building's code (scope building).")
    type: str | None = Field(description="The device type (scope type).")
    node: str = Field(description="The node it applies under.")
    reason: str
    starts_at: WireTime
    ends_at: WireTime
    ended_at: WireTime | None = Field(description="When it was lifted early.")
    active: bool = Field(description="In force now.")
    created_by: str
    created_at: WireTime


class SilenceList(BaseModel):
    items: list[SilenceOut]
    next_cursor: str | None


class SilenceQuery(StrictModel):
    state: Literal["active", "all"] = "active"
    node: NodeCode | None = Field(default=None, description="Only silences under this node (in your area).")
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)
