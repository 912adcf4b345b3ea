"""Request and response schemas of devices and their alarms (separate from the ORM models)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from identity.pii import has_personal_number
from identity.schemas import PublicText
from miniapp_api.buildings.schemas import CredentialRef
from miniapp_api.devices.rules import DeviceType, Severity
from server.validation import IdCursor, StrictModel, domain_error
from server.wire import WireTime

SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$"
Serial = Annotated[str, StringConstraints(pattern=SERIAL_PATTERN)]
NodeCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,32}$")]
NoiseZone = Literal["0", "1", "2", "3", "4a", "4b"]
MAX_OVERRIDES = 20


class DeviceIn(StrictModel):
    serial: Serial = Field(description="The maker's serial (4-64 of A-Z a-z 0-9 _ -), kept upper case.")
    type: DeviceType
    model: Annotated[PublicText, StringConstraints(max_length=64)] = ""
    firmware: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._+-]{0,32}$")] = ""
    building: NodeCode | None = Field(default=None, description="The rental building's code (its node is used).")
    node: NodeCode | None = Field(default=None, description="A community or grid, when there is no building.")
    place: Annotated[PublicText, StringConstraints(max_length=32)] = Field(
        default="", description="Where it is installed, e.g. 厨房 (no personal numbers)."
    )
    gateway: Serial | None = Field(default=None, description="Serial of the gateway it reports through.")
    valve: Serial | None = Field(default=None, description="A gas detector's paired valve (serial).")
    noise_zone: NoiseZone | None = Field(default=None, description="GB 3096-2008 class of the place (noise).")
    auto_shutoff: bool = Field(default=True, description="Close the paired valve on a critical gas alarm.")
    rules: list[dict[str, Any]] = Field(
        default_factory=list, max_length=MAX_OVERRIDES, description="Overrides of the type's rules."
    )


class DevicePatch(StrictModel):
    place: Annotated[PublicText, StringConstraints(max_length=32)] | None = None
    gateway: Serial | None = Field(default=None, description="A gateway's serial; null unpairs.")
    valve: Serial | None = None
    noise_zone: NoiseZone | None = None
    auto_shutoff: bool | None = None
    rules: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_OVERRIDES)
    active: bool | None = Field(default=None, description="false retires the device: its readings are refused.")


class DeviceOut(BaseModel):
    id: str
    serial: str
    type: DeviceType
    model: str
    firmware: str
    building: str | None
    node: str
    place: str
    gateway: str | None
    valve: str | None
    noise_zone: str | None
    auto_shutoff: bool
    rules: list[dict[str, Any]]
    active: bool
    last_seen_at: WireTime | None
    household: int = Field(description="How many residents the device is bound to.")
    credential: CredentialRef | None = Field(description="The code of the device's sticker (QR kind `device`).")
    created_at: WireTime
    updated_at: WireTime


class DeviceCreated(DeviceOut):
    secret: str = Field(description="The signing secret: shown this once, never again.")
    binding_code: str = Field(description="The one-time code printed inside the box: shown this once.")


class SecretOut(BaseModel):
    id: str
    secret: str = Field(description="The new signing secret: shown this once; the old one no longer signs.")
    rotated_at: WireTime


class DeviceListQuery(StrictModel):
    node: NodeCode | None = Field(default=None, description="Only devices under this node (in your area).")
    building: NodeCode | None = None
    type: DeviceType | None = None
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)


class DeviceList(BaseModel):
    items: list[DeviceOut]
    next_cursor: str | None


class BindIn(StrictModel):
    serial: Serial
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,32}$")] = Field(
        description="The binding code printed inside the box."
    )


class MyDevice(BaseModel):
    id: str
    serial: str
    type: DeviceType
    place: str
    active: bool
    auto_shutoff: bool
    last_seen_at: WireTime | None
    open_alarms: int


class MyDeviceList(BaseModel):
    items: list[MyDevice]


class ReadingRefusal(BaseModel):
    index: int
    code: str
    message: str


class DeviceAlarmChange(BaseModel):
    id: str
    device: str
    type: str
    severity: Severity
    state: str
    change: Literal["raise", "severity", "clear"]


class ReadingsIn(BaseModel):
    """The ingest's body (documented here; each reading is checked on its own, by index)."""

    readings: list[dict[str, Any]] = Field(
        max_length=1000,
        description="Up to 1,000 of {device, metric, value, at}, {device, event, at} or a valve's answer to a "
        "command {device, command, result: done|failed, at}; `at` is ISO 8601 with its offset.",
    )


class CommandOut(BaseModel):
    id: str = Field(description="Confirm with {device, command: id, result: done|failed, at}.")
    device: str
    action: Literal["close", "open"]
    expires_at: WireTime


class ReadingsAnswer(BaseModel):
    accepted: int
    duplicates: int = Field(description="Readings already received (same device, metric and time): counted once.")
    refused: list[ReadingRefusal]
    alarms: list[DeviceAlarmChange]
    commands: list[CommandOut] = Field(description="For a valve or its gateway: what to do now.")


class DeviceAlarmOut(BaseModel):
    id: str
    device: str = Field(description="The device's serial.")
    device_id: str = Field(description="The device's id: GET /devices/<id>, its readings, a silence of it.")
    device_type: str
    type: str
    severity: Severity
    state: str
    metric: str
    value: float | None
    building: str | None
    node: str
    place: str
    started_at: WireTime
    updated_at: WireTime
    acked_at: WireTime | None
    cleared_at: WireTime | None


class DeviceAlarmEventOut(BaseModel):
    at: WireTime
    action: str
    from_state: str
    to_state: str
    severity: str
    by: str = Field(description="device, system, household, or the staff member's account id (staff only).")
    note: str
    readings: list[dict[str, Any]]


class DeviceAlarmDetail(DeviceAlarmOut):
    history: list[DeviceAlarmEventOut]


class DeviceAlarmQuery(StrictModel):
    state: Literal["open", "unacknowledged", "cleared", "all"] = "open"
    severity: Severity | None = None
    type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] | None = None
    node: NodeCode | None = None
    building: NodeCode | None = None
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)


class DeviceAlarmList(BaseModel):
    items: list[DeviceAlarmOut]
    next_cursor: str | None


def checked_note(value: str) -> str:
    """An alarm's note is read by its household, the area's staff and officers: `personal_number` when
    it holds a phone or ID number (the message never repeats it)."""
    if has_personal_number(value):
        raise domain_error(
            "personal_number", "an alarm's notes are read by the household and staff: no phone or ID numbers"
        )
    return value


class AlarmClearIn(StrictModel):
    note: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), AfterValidator(checked_note)
    ] = Field(description="What was found and done (no phone or ID numbers).")


class AlarmAckIn(StrictModel):
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(checked_note)] = ""


class ValveOpenIn(StrictModel):
    confirm: Literal[True] = Field(description="true: I checked the home and the gas alarm is over.")


class DeviceCommandOut(BaseModel):
    id: str
    action: str
    state: str
    attempts: int
    created_at: WireTime
    expires_at: WireTime
    confirmed_at: WireTime | None
    failed_at: WireTime | None


class DeviceCommandList(BaseModel):
    items: list[DeviceCommandOut]


# Binding requests --------------------------------------------------------------------------------

BindingStateName = Literal["pending", "approved", "refused", "cancelled"]


class RequesterOut(BaseModel):
    """Who asks, masked: enough for grid staff to call back, never in full."""

    name: str | None
    phone: str | None


class BindingRequestOut(BaseModel):
    id: str
    device: str = Field(description="The device's id.")
    device_type: DeviceType
    building: str | None
    place: str
    state: BindingStateName
    created_at: WireTime
    decided_at: WireTime | None
    note: str = Field(description="What grid staff wrote when they decided.")
    requester: RequesterOut | None = Field(default=None, description="Staff only: who asks, masked.")


class BindingRequestList(BaseModel):
    items: list[BindingRequestOut]
    next_cursor: str | None


class BindingRequestQuery(StrictModel):
    state: BindingStateName | Literal["all"] = "pending"
    node: NodeCode | None = Field(default=None, description="Only requests under this node (in your area).")
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)


class BindingDecisionIn(StrictModel):
    note: Annotated[PublicText, StringConstraints(max_length=200)] = Field(
        default="", description="Told to the resident with the decision (no personal numbers)."
    )


class BindingRefusalIn(StrictModel):
    note: Annotated[PublicText, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Why: told to the resident (no personal numbers)."
    )
