"""Tortoise models of job matching: every table of the feature (the later parts add no migration).

An enterprise's contact (a person's name and phone) is sealed with the PII vault; a seeker's home is
kept only rounded to 3 decimals (about 100 m), never an address."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

from identity.models import Account, Node
from miniapp_api.buildings.models import Building

# Model docstrings become SQL table comments, which Tortoise does not escape on SQLite: plain
# comments here.


class EnterpriseStatus(StrEnum):
    PENDING = "pending"  # registered, waiting for employment staff
    VERIFIED = "verified"  # its postings may go live
    REJECTED = "rejected"  # refused, with a reason; its USCC may be registered again
    SUSPENDED = "suspended"  # its postings leave the public list


class PostingStatus(StrEnum):
    DRAFT = "draft"
    LIVE = "live"
    CLOSED = "closed"  # by the employer
    TAKEN_DOWN = "taken_down"  # by employment staff, with a reason


class ApplicationState(StrEnum):
    APPLIED = "applied"
    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"
    HIRED = "hired"


class Initiator(StrEnum):
    SEEKER = "seeker"
    EMPLOYER = "employer"


# A USCC is unique among enterprises that are not rejected (a rejected registration can be made again).
USCC_UNIQUE = "uidx_job_enterprise_uscc_live"
USCC_LIVE = "status <> 'rejected'"


class Enterprise(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    name = fields.CharField(max_length=100)
    uscc = fields.CharField(max_length=18, db_index=True, description="统一社会信用代码, upper case.")
    address = fields.CharField(max_length=200, description="The registered business address.")
    node: fields.ForeignKeyRelation[Node] = fields.ForeignKeyField(
        "models.Node", related_name="enterprises", on_delete=fields.RESTRICT
    )
    node_id: int
    contact_enc = fields.TextField(description="Sealed JSON: the contact person's name and phone.")
    status = fields.CharField(max_length=16, default=EnterpriseStatus.PENDING.value, db_index=True)
    reason = fields.CharField(max_length=200, default="", description="Why rejected or suspended.")
    registered_by = fields.CharField(max_length=32, description="Account public id.")
    verified_by = fields.CharField(max_length=32, default="", description="Account public id of the staff.")
    verified_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "job_enterprise"
        constraints = (UniqueConstraint(fields=("uscc",), name=USCC_UNIQUE, condition=USCC_LIVE),)


class EmployerBinding(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="employer_binding", unique=True, on_delete=fields.CASCADE
    )
    account_id: int
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "models.Enterprise", related_name="employers", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    created_by = fields.CharField(max_length=32, description="Account public id of the staff.")
    created_at = fields.DatetimeField()

    class Meta:
        table = "job_employer_binding"


class Posting(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "models.Enterprise", related_name="postings", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    node: fields.ForeignKeyRelation[Node] = fields.ForeignKeyField(
        "models.Node", related_name="job_postings", on_delete=fields.RESTRICT
    )
    node_id: int
    title = fields.CharField(max_length=60)
    description = fields.TextField(description="At most 4,000 characters.")
    occupation_code = fields.CharField(max_length=16, db_index=True, description="2022 职业分类大典 code.")
    skills_required: list[dict[str, Any]] = fields.JSONField(
        default=list, description='[{"id": slug or null, "text": ...}]'
    )
    skills_preferred: list[dict[str, Any]] = fields.JSONField(default=list)
    education_min = fields.CharField(max_length=16, default="none")
    experience_min_years = fields.IntField(default=0)
    salary_min = fields.IntField(description="Yuan per salary_period.")
    salary_max = fields.IntField()
    salary_period = fields.CharField(max_length=8, description="hour, day, month or year.")
    salary_monthly_min = fields.IntField(description="salary_min as monthly yuan.")
    salary_monthly_max = fields.IntField(db_index=True, description="salary_max as monthly yuan.")
    employment_type = fields.CharField(max_length=16)
    shifts: list[str] = fields.JSONField(default=list)
    hours = fields.CharField(max_length=100, default="")
    lat = fields.FloatField()
    lon = fields.FloatField()
    building: fields.ForeignKeyNullableRelation[Building] = fields.ForeignKeyField(
        "models.Building", related_name="job_postings", null=True, on_delete=fields.SET_NULL
    )
    building_id: int | None
    openings = fields.IntField(default=1)
    applicants = fields.IntField(default=0, description="Applications received (denormalised).")
    status = fields.CharField(max_length=16, default=PostingStatus.DRAFT.value)
    take_down_reason = fields.CharField(max_length=200, default="")
    valid_through = fields.DateField()
    published_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "job_posting"
        indexes = (
            Index(fields=("status", "valid_through")),
            Index(fields=("status", "lat", "lon")),
            Index(fields=("enterprise_id", "status")),
        )


class SeekerProfile(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="seeker_profile", unique=True, on_delete=fields.CASCADE
    )
    account_id: int
    desired_occupations: list[str] = fields.JSONField(default=list)
    skills: list[dict[str, Any]] = fields.JSONField(default=list, description='[{"id": slug or null, "text": ...}]')
    education = fields.CharField(max_length=16, default="none")
    experience_years = fields.IntField(default=0)
    expected_salary_monthly = fields.IntField(null=True)
    home_lat = fields.FloatField(null=True, description="Rounded to 3 decimals (about 100 m).")
    home_lon = fields.FloatField(null=True, description="Rounded to 3 decimals (about 100 m).")
    radius_km = fields.FloatField(default=10.0)
    employment_types: list[str] = fields.JSONField(default=list)
    shifts: list[str] = fields.JSONField(default=list)
    available_from = fields.DateField(null=True)
    visible = fields.BooleanField(default=False, description="Opted in to being seen by enterprises.")
    subscribed = fields.BooleanField(default=False, description="Opted in to pushes of new postings.")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "job_seeker_profile"
        indexes = (Index(fields=("visible", "home_lat", "home_lon")), Index(fields=("subscribed",)))


class Application(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    posting: fields.ForeignKeyRelation[Posting] = fields.ForeignKeyField(
        "models.Posting", related_name="applications", on_delete=fields.RESTRICT
    )
    posting_id: int
    seeker: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="job_applications", on_delete=fields.RESTRICT
    )
    seeker_id: int
    state = fields.CharField(max_length=16, db_index=True)
    initiated_by = fields.CharField(max_length=8, description="seeker or employer.")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "job_application"
        unique_together = (("posting", "seeker"),)


class ApplicationEvent(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="events", on_delete=fields.CASCADE
    )
    application_id: int
    from_state = fields.CharField(max_length=16, null=True)
    to_state = fields.CharField(max_length=16)
    actor: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="job_application_events", on_delete=fields.RESTRICT
    )
    actor_id: int
    note = fields.CharField(max_length=200, default="")
    at = fields.DatetimeField()

    class Meta:
        table = "job_application_event"


class JobPush(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    posting: fields.ForeignKeyRelation[Posting] = fields.ForeignKeyField(
        "models.Posting", related_name="pushes", on_delete=fields.CASCADE
    )
    posting_id: int
    seeker: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="job_pushes", on_delete=fields.CASCADE
    )
    seeker_id: int
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "job_push"
        unique_together = (("posting", "seeker"),)


class SkillEntry(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=40)
    synonyms: list[str] = fields.JSONField(default=list)
    related: list[str] = fields.JSONField(default=list)
    retired = fields.BooleanField(default=False)
    updated_by = fields.CharField(max_length=32)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "job_skill_entry"
