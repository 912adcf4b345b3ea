"""Request and response schemas of the Open311 GeoReport v2 API (the spec's field names) and of the
administration of its API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from server.validation import StrictModel, Stripped
from server.wire import WireTime

# Open311 clients send parameters we do not use (extensions, attribute[...]): they are ignored, not refused.


class Open311Query(BaseModel):
    model_config = ConfigDict(extra="ignore")

    jurisdiction_id: str | None = Field(
        default=None, max_length=64, description="Optional: this server serves guangming.shenzhen.gov.cn only."
    )


# The server reads at most 8 KiB of request line and headers (Sanic's REQUEST_MAX_HEADER_SIZE); the ids must
# leave room for the rest, so that a list too long is refused here, in Open311's shape.
MAX_IDS_LENGTH = 7_000


class RequestsQuery(Open311Query):
    service_request_id: str | None = Field(
        default=None,
        max_length=MAX_IDS_LENGTH,
        description=f"Comma-separated ids, at most {MAX_IDS_LENGTH:,} characters (about 400 ids); when given, the "
        "other filters are ignored. The whole request line and headers may not exceed 8 KiB: a longer request is "
        "refused with 413 before it is read.",
    )
    service_code: str | None = Field(default=None, max_length=2_000, description="Comma-separated service codes.")
    start_date: datetime | None = Field(
        default=None, description="Requested at or after (ISO 8601; without an offset, Beijing time)."
    )
    end_date: datetime | None = Field(default=None, description="Requested at or before; at most 90 days after start.")
    status: str | None = Field(default=None, max_length=16, description="open, closed, or both comma-separated.")


class RequestIn(BaseModel):
    """POST requests.json, form-encoded (as the spec says) or JSON. Location: lat and long, or
    address_string, or address_id (a building code). The reporter fields are accepted for
    compatibility and dropped on arrival: nothing of them is stored or answered."""

    model_config = ConfigDict(extra="ignore")

    api_key: str | None = Field(default=None, description="The key an administrator gave you.")
    jurisdiction_id: str | None = Field(default=None, max_length=64)
    service_code: str = Field(min_length=1, max_length=32, description="From services.json.")
    lat: float | None = Field(
        default=None, ge=-90, le=90, description="With long: filed under the grid of the nearest building within 200 m."
    )
    long: float | None = Field(default=None, ge=-180, le=180)
    address_string: str | None = Field(
        default=None, max_length=200, description="Kept in the report's text; places it if one building has it."
    )
    address_id: str | None = Field(default=None, max_length=32, description="A building code.")
    description: str = Field(default="", max_length=4000)
    media_url: str | None = Field(
        default=None,
        max_length=500,
        pattern=r"^https?://\S+$",
        description="Published as the request's media_url, unless it carries a phone or ID number, an e-mail "
        "address or a number plate (then null).",
    )
    email: str | None = Field(default=None, max_length=254, description="Dropped: never stored.")
    device_id: str | None = Field(default=None, max_length=200, description="Dropped: never stored.")
    account_id: str | None = Field(default=None, max_length=200, description="Dropped: never stored.")
    first_name: str | None = Field(default=None, max_length=200, description="Dropped: never stored.")
    last_name: str | None = Field(default=None, max_length=200, description="Dropped: never stored.")
    phone: str | None = Field(default=None, max_length=64, description="Dropped: never stored.")

    @model_validator(mode="after")
    def _has_a_location(self) -> RequestIn:
        if (self.lat is None) != (self.long is None):
            raise ValueError("lat and long go together")
        if self.lat is None and not (self.address_string or "").strip() and not (self.address_id or "").strip():
            raise ValueError("a location is required: lat and long, address_string or address_id")
        return self


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="Always false: no service asks for more than the description.")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str | None = Field(description="The department that handles the service.")


class ServiceList(RootModel[list[ServiceOut]]):
    pass


class ServiceAttribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[ServiceAttribute]


class RequestOut(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None = Field(description="The state in Chinese; for a merged report, which one it joined.")
    service_name: str
    service_code: str
    description: str = Field(
        description="For a request filed through Open311, its description as filed (phone and ID numbers, e-mail "
        "addresses and number plates redacted); for any other report (a resident's), only 居民反映：<service_name>."
    )
    agency_responsible: str | None = Field(description="The department it was dispatched to.")
    service_notice: str | None
    requested_datetime: WireTime
    updated_datetime: WireTime
    expected_datetime: WireTime | None = Field(description="The deadline of the current step.")
    address: str | None = Field(
        description="Filed through Open311: the building's address, or the address_string as filed; any other "
        "report: its community (district, street and community names), never the building."
    )
    address_id: str | None = Field(description="The building code, for a request filed through Open311 at one.")
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None = Field(
        description="The media_url a request was filed with through Open311, null when it carries a phone or ID "
        "number, an e-mail address or a number plate; null for any other report (residents' photos are never "
        "published)."
    )


class RequestList(RootModel[list[RequestOut]]):
    pass


class CreatedOut(BaseModel):
    service_request_id: str
    token: str = Field(description="Also resolves through tokens/{token}.json.")
    service_notice: str
    account_id: str | None = Field(default=None, description="Always null: no account is made for the reporter.")


class CreatedList(RootModel[list[CreatedOut]]):
    pass


class Open311Token(BaseModel):
    service_request_id: str
    token: str


class TokenList(RootModel[list[Open311Token]]):
    pass


class Open311Error(BaseModel):
    code: int = Field(description="The HTTP status.")
    description: str


class Open311Errors(RootModel[list[Open311Error]]):
    """Open311's error shape: one entry per problem."""


# Administration of API keys ---------------------------------------------------------------------------


class ClientIn(StrictModel):
    name: Stripped = Field(min_length=1, max_length=64, description="The outside system, e.g. 光明区12345热线.")
    node: Stripped | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]{1,32}$",
        description="The hierarchy node it may file under; none: the whole district (district administrators).",
    )


class ClientOut(BaseModel):
    id: str
    name: str
    node: str | None
    active: bool
    created_at: WireTime
    last_used_at: WireTime | None


class ClientCreated(ClientOut):
    api_key: str = Field(description="Shown this once: only its SHA-256 is kept.")


class ClientList(BaseModel):
    items: list[ClientOut]
