"""Request and response schemas of enterprises and postings (separate from the ORM models).

Every text is bounded and real text (no control or invisible characters; a posting's description may
hold line breaks); numbers are bounded; a place lies inside Shenzhen's box."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from identity.schemas import checked_mobile
from server.errors import ValidationFailed
from server.validation import IdCursor, StrictModel
from server.wire import WireTime

# The shared vocabulary (vocab.py) as types the request models check; test_schemas_follow_vocab keeps them equal.
Education = Literal["none", "primary", "junior", "senior", "college", "bachelor", "master", "doctor"]
EmploymentType = Literal["full_time", "part_time", "contractor", "temporary", "intern", "per_diem"]
Shift = Literal["day", "night", "rotating", "weekend", "flexible"]
SalaryPeriod = Literal["hour", "day", "month", "year"]
EnterpriseStatusName = Literal["pending", "verified", "rejected", "suspended"]
PostingStatusName = Literal["draft", "live", "closed", "taken_down"]

# Shenzhen's box (WGS-84).
LAT_MIN, LAT_MAX, LON_MIN, LON_MAX = 22.4, 22.9, 113.7, 114.7
OCCUPATION_PATTERN = r"^[1-8](-\d{2}){1,3}$"

_NOT_TEXT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _line(value: str) -> str:
    if "\ufffd" in value or any(unicodedata.category(c) in _NOT_TEXT for c in value):
        raise ValueError("holds control or invisible characters")
    return value


def _lines(value: str) -> str:
    _line(value.replace("\n", ""))
    return value


def Line(max_length: int, min_length: int = 1) -> Any:
    """One line of real text, stripped, ``min_length`` to ``max_length`` characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_line),
    ]


Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000), AfterValidator(_lines)
]
NodeCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,32}$")]
Uscc = Annotated[str, StringConstraints(min_length=18, max_length=24)]  # blanks allowed; checked in the service
Phone = Annotated[str, Field(max_length=20), AfterValidator(checked_mobile)]
OccupationCode = Annotated[str, StringConstraints(pattern=OCCUPATION_PATTERN)]
SkillText = Line(20)
Lat = Annotated[float, Field(ge=LAT_MIN, le=LAT_MAX, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=LON_MIN, le=LON_MAX, allow_inf_nan=False)]
Salary = Annotated[int, Field(gt=0, le=10_000_000)]
Reason = Line(200)


# Enterprises ------------------------------------------------------------------------------------


class ContactIn(StrictModel):
    name: Line(40) = Field(description="The contact person (sealed; shown only to employment staff).")  # type: ignore[valid-type]
    phone: Phone


class EnterpriseIn(StrictModel):
    name: Line(100)  # type: ignore[valid-type]
    uscc: Uscc = Field(description="统一社会信用代码: 18 characters with a valid check character.")
    address: Line(200)  # type: ignore[valid-type]
    node: NodeCode = Field(description="The node the enterprise lies in (a street, community or grid).")
    contact: ContactIn


class ContactOut(BaseModel):
    name: str
    phone: str


class EnterpriseOut(BaseModel):
    id: str
    name: str
    uscc: str
    address: str
    node: str
    status: EnterpriseStatusName
    reason: str | None
    contact: ContactOut | None = Field(description="Only for employment staff and the enterprise's employers.")
    created_at: WireTime
    verified_at: WireTime | None


class EnterpriseList(BaseModel):
    items: list[EnterpriseOut]
    next_cursor: str | None


class EnterpriseQuery(StrictModel):
    status: EnterpriseStatusName | None = None
    node: NodeCode | None = Field(default=None, description="Only enterprises under this node (in your area).")
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)


class ReasonIn(StrictModel):
    reason: Reason  # type: ignore[valid-type]


class EmployerCreateIn(StrictModel):
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64)] = Field(
        pattern=r"^[A-Za-z0-9._-]+$"
    )
    password: str = Field(min_length=1, max_length=256)


class EmployerOut(BaseModel):
    id: str
    username: str
    enterprise: str


# Postings ---------------------------------------------------------------------------------------


class PostingIn(StrictModel):
    """A posting's fields (schema.org JobPosting's, named for this API)."""

    title: Line(60)  # type: ignore[valid-type]
    description: Description
    occupation_code: OccupationCode = Field(
        description="2022 职业分类大典 code, middle level or deeper: 6-18, 6-18-02."
    )
    skills_required: list[SkillText] = Field(default_factory=list, max_length=30)  # type: ignore[valid-type]
    skills_preferred: list[SkillText] = Field(default_factory=list, max_length=30)  # type: ignore[valid-type]
    education_min: Education = "none"
    experience_min_years: int = Field(default=0, ge=0, le=50)
    salary_min: Salary
    salary_max: Salary
    salary_period: SalaryPeriod
    employment_type: EmploymentType
    shifts: list[Shift] = Field(default_factory=list, max_length=5)
    hours: Line(100, 0) = ""  # type: ignore[valid-type]
    lat: Lat
    lon: Lon
    building: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,32}$")] | None = None
    node: NodeCode | None = Field(default=None, description="Where the work is (default: the enterprise's node).")
    openings: int = Field(default=1, ge=1, le=1000)
    valid_through: dt.date = Field(description="The last day it may be applied to: today to a year ahead.")

    @model_validator(mode="after")
    def _consistent(self) -> PostingIn:
        if self.salary_min > self.salary_max:
            raise ValidationFailed.field("salary_max", "salary_max must be at least salary_min", "salary_range")
        if len(self.skills_required) + len(self.skills_preferred) > 30:
            raise ValidationFailed.field("skills_preferred", "at most 30 skills in all", "too_many_skills")
        if len(set(self.shifts)) != len(self.shifts):
            raise ValidationFailed.field("shifts", "each shift once", "duplicate_shift")
        return self


class SkillOut(BaseModel):
    id: str | None
    text: str


class SalaryOut(BaseModel):
    min: int
    max: int
    period: SalaryPeriod
    monthly_min: int
    monthly_max: int


class PostingOut(BaseModel):
    id: str
    enterprise: str = Field(description="The enterprise's name.")
    enterprise_id: str
    title: str
    description: str
    occupation_code: str
    skills_required: list[SkillOut]
    skills_preferred: list[SkillOut]
    education_min: Education
    experience_min_years: int
    salary: SalaryOut
    employment_type: EmploymentType
    shifts: list[Shift]
    hours: str
    lat: float
    lon: float
    node: str
    openings: int
    valid_through: dt.date
    status: PostingStatusName
    take_down_reason: str | None = None
    published_at: WireTime | None
    updated_at: WireTime


class PostingList(BaseModel):
    items: list[PostingOut]
    next_cursor: str | None


class PublicPostingQuery(StrictModel):
    occupation: Annotated[str, StringConstraints(pattern=r"^[1-8](-\d{2}){0,3}$")] | None = Field(
        default=None, description="An occupation code prefix: 6, 6-18, 6-18-02."
    )
    employment_type: EmploymentType | None = None
    salary_at_least: int | None = Field(default=None, ge=0, le=10_000_000, description="Monthly yuan.")
    lat: Lat | None = None
    lon: Lon | None = None
    km: float = Field(default=10.0, gt=0, le=100)
    cursor: IdCursor | None = None
    limit: int = Field(default=20, ge=1, le=100)

    @model_validator(mode="after")
    def _a_whole_point(self) -> PublicPostingQuery:
        if (self.lat is None) != (self.lon is None):
            missing = "lon" if self.lon is None else "lat"
            raise ValidationFailed.field(missing, "lat and lon go together: give both or neither", "validation_failed")
        return self


class OwnPostingQuery(StrictModel):
    status: PostingStatusName | None = None
    cursor: IdCursor | None = None
    limit: int = Field(default=50, ge=1, le=200)
