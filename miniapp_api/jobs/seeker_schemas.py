"""Request and response schemas of seeker profiles, a seeker's matches and a posting's candidates.

A seeker's skills are typed texts (at most 30, each at most 20 characters, no phone or ID number in them:
an employer reads them); the home is a point inside Shenzhen's box, kept rounded to 3 decimals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from identity.pii import has_personal_number
from miniapp_api.jobs.schemas import (
    OCCUPATION_PATTERN,
    Education,
    EmploymentType,
    Lat,
    Line,
    Lon,
    PostingOut,
    Shift,
)
from server.errors import ValidationFailed
from server.validation import StrictModel

MAX_OCCUPATIONS = 5
MAX_SKILLS = 30
MAX_MATCHES = 50


def _no_personal_number(value: str) -> str:
    if has_personal_number(value):
        raise ValueError("a skill may not hold a phone or ID number")
    return value


SeekerSkill = Annotated[Line(20), AfterValidator(_no_personal_number)]  # type: ignore[valid-type]
OccupationCode = Annotated[str, StringConstraints(pattern=OCCUPATION_PATTERN)]


class SeekerProfileIn(StrictModel):
    """The whole profile (PUT replaces it)."""

    desired_occupations: list[OccupationCode] = Field(
        default_factory=list, max_length=MAX_OCCUPATIONS, description="2022 职业分类大典 codes, middle level or deeper."
    )
    skills: list[SeekerSkill] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=MAX_SKILLS, description="As typed; read through the skills taxonomy."
    )
    education: Education = "none"
    experience_years: int = Field(default=0, ge=0, le=60)
    expected_salary_monthly: int | None = Field(default=None, gt=0, le=1_000_000, description="Yuan per month.")
    lat: Lat | None = Field(default=None, description="Home (stored rounded to 3 decimals, about 100 m).")
    lon: Lon | None = None
    radius_km: float = Field(default=10.0, ge=1, le=50, allow_inf_nan=False)
    employment_types: list[EmploymentType] = Field(default_factory=list, max_length=6, description="Empty: any.")
    shifts: list[Shift] = Field(default_factory=list, max_length=5, description="Empty: any.")
    available_from: dt.date | None = Field(default=None, ge=dt.date(2020, 1, 1), le=dt.date(2100, 12, 31))
    visible: bool = Field(default=False, description="Enterprises may find you (without name and phone).")
    subscribed: bool = Field(default=False, description="Push new postings that match you.")

    @model_validator(mode="after")
    def _consistent(self) -> SeekerProfileIn:
        if (self.lat is None) != (self.lon is None):
            missing = "lon" if self.lon is None else "lat"
            raise ValidationFailed.field(missing, "lat and lon go together: give both or neither", "validation_failed")
        for name in ("desired_occupations", "employment_types", "shifts"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValidationFailed.field(name, "each value once", "duplicate_value")
        return self


class SeekerSkillOut(BaseModel):
    id: str | None = Field(description="The taxonomy's skill id, or null: kept as typed.")
    text: str = Field(description="The words it was read from.")
    name: str | None = Field(description="The taxonomy's Chinese name of the skill.")


class SeekerProfileOut(BaseModel):
    desired_occupations: list[str]
    skills: list[SeekerSkillOut]
    education: Education
    experience_years: int
    expected_salary_monthly: int | None
    lat: float | None
    lon: float | None
    radius_km: float
    employment_types: list[EmploymentType]
    shifts: list[Shift]
    available_from: dt.date | None
    visible: bool
    subscribed: bool


class LimitQuery(StrictModel):
    limit: int = Field(default=20, ge=1, le=MAX_MATCHES)


class ExplanationOut(BaseModel):
    summary: str
    skills: str | None = None
    related: str | None = None
    missing: str | None = None
    salary: str | None = None
    distance: str | None = None
    text: str


class Scores(BaseModel):
    score: float = Field(description="The rank key: the harmonic mean, damped when the posting is crowded.")
    combined: float
    seeker_score: float = Field(description="Seeker → job: skills covered, salary, distance, occupation.")
    job_score: float = Field(description="Job → seeker: required skills held, experience, education.")
    damping: float


class MatchOut(BaseModel):
    posting: PostingOut
    scores: Scores
    distance_km: float | None
    explanation: ExplanationOut


class MatchList(BaseModel):
    items: list[MatchOut]


class IdentityOut(BaseModel):
    name: str | None
    phone: str | None


class CandidateOut(BaseModel):
    id: str = Field(description="Stable for this posting only; names the seeker nowhere else.")
    scores: Scores
    distance_km: float | None = Field(description="From the seeker's home, to 0.1 km.")
    education: Education
    experience_years: int
    skills: list[SeekerSkillOut]
    explanation: ExplanationOut
    application: str | None = Field(description="The state of the seeker's application or invitation, if any.")
    identity: IdentityOut | None = Field(description="Only once the seeker applied or accepted your invitation.")


class CandidateList(BaseModel):
    items: list[CandidateOut]
