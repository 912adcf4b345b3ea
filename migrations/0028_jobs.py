"""Job matching (issue 17): enterprises and their employer bindings, postings, seeker profiles,
applications and their history, pushes and the staff's skill entries; the new roles ``employer`` and
``employment_staff``. A USCC is unique among enterprises not rejected: a partial unique index."""

import functools
from enum import StrEnum
from json import dumps, loads
from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


# Frozen: the roles as this migration left them (employer and employment_staff are new).
class Role(StrEnum):
    RESIDENT = "resident"
    PARTY_MEMBER = "party_member"
    GRID_STAFF = "grid_staff"
    OFFICER = "officer"
    POLICE = "police"
    HEALTH_STAFF = "health_staff"
    ADMIN = "admin"
    EMPLOYER = "employer"
    EMPLOYMENT_STAFF = "employment_staff"


USCC_UNIQUE = "uidx_job_enterprise_uscc_live"
USCC_LIVE = "status <> 'rejected'"


class StateOnly(ops.TortoiseOperation):
    """Tortoise's view of the schema moves on; the SQL, if any, is the RunSQL after it."""

    def __init__(self, operation: ops.TortoiseOperation) -> None:
        self.operation = operation

    def describe(self) -> str:
        return f"{self.operation.describe()} (state only)"

    def state_forward(self, app_label: str, state: Any) -> None:
        self.operation.state_forward(app_label, state)


class Migration(migrations.Migration):
    dependencies = [("models", "0027_welfare")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Enterprise",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                ("name", fields.CharField(max_length=100)),
                ("uscc", fields.CharField(db_index=True, description="统一社会信用代码, upper case.", max_length=18)),
                ("address", fields.CharField(description="The registered business address.", max_length=200)),
                (
                    "node",
                    fields.ForeignKeyField(
                        "models.Node",
                        source_field="node_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="enterprises",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "contact_enc",
                    fields.TextField(description="Sealed JSON: the contact person's name and phone.", unique=False),
                ),
                ("status", fields.CharField(default="pending", db_index=True, max_length=16)),
                ("reason", fields.CharField(default="", description="Why rejected or suspended.", max_length=200)),
                ("registered_by", fields.CharField(description="Account public id.", max_length=32)),
                (
                    "verified_by",
                    fields.CharField(default="", description="Account public id of the staff.", max_length=32),
                ),
                ("verified_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "job_enterprise", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="EmployerBinding",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        unique=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="employer_binding",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "enterprise",
                    fields.ForeignKeyField(
                        "models.Enterprise",
                        source_field="enterprise_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="employers",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("created_by", fields.CharField(description="Account public id of the staff.", max_length=32)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "job_employer_binding", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Posting",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                (
                    "enterprise",
                    fields.ForeignKeyField(
                        "models.Enterprise",
                        source_field="enterprise_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="postings",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "node",
                    fields.ForeignKeyField(
                        "models.Node",
                        source_field="node_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="job_postings",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("title", fields.CharField(max_length=60)),
                ("description", fields.TextField(description="At most 4,000 characters.", unique=False)),
                (
                    "occupation_code",
                    fields.CharField(db_index=True, description="2022 职业分类大典 code.", max_length=16),
                ),
                (
                    "skills_required",
                    fields.JSONField(
                        default=list,
                        description='[{"id": slug or null, "text": ...}]',
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "skills_preferred",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("education_min", fields.CharField(default="none", max_length=16)),
                ("experience_min_years", fields.IntField(default=0)),
                ("salary_min", fields.IntField(description="Yuan per salary_period.")),
                ("salary_max", fields.IntField()),
                ("salary_period", fields.CharField(description="hour, day, month or year.", max_length=8)),
                ("salary_monthly_min", fields.IntField(description="salary_min as monthly yuan.")),
                ("salary_monthly_max", fields.IntField(db_index=True, description="salary_max as monthly yuan.")),
                ("employment_type", fields.CharField(max_length=16)),
                (
                    "shifts",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("hours", fields.CharField(default="", max_length=100)),
                ("lat", fields.FloatField()),
                ("lon", fields.FloatField()),
                (
                    "building",
                    fields.ForeignKeyField(
                        "models.Building",
                        source_field="building_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="job_postings",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("openings", fields.IntField(default=1)),
                ("applicants", fields.IntField(default=0, description="Applications received (denormalised).")),
                ("status", fields.CharField(default="draft", max_length=16)),
                ("take_down_reason", fields.CharField(default="", max_length=200)),
                ("valid_through", fields.DateField()),
                ("published_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "job_posting",
                "app": "models",
                "indexes": [
                    Index(fields=["status", "valid_through"]),
                    Index(fields=["status", "lat", "lon"]),
                    Index(fields=["enterprise_id", "status"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Application",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("public_id", fields.CharField(unique=True, max_length=16)),
                (
                    "posting",
                    fields.ForeignKeyField(
                        "models.Posting",
                        source_field="posting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="applications",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                (
                    "seeker",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="seeker_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="job_applications",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("state", fields.CharField(db_index=True, max_length=16)),
                ("initiated_by", fields.CharField(description="seeker or employer.", max_length=8)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "job_application",
                "app": "models",
                "unique_together": (("posting", "seeker"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ApplicationEvent",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "application",
                    fields.ForeignKeyField(
                        "models.Application",
                        source_field="application_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="events",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("from_state", fields.CharField(null=True, max_length=16)),
                ("to_state", fields.CharField(max_length=16)),
                (
                    "actor",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="actor_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="job_application_events",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("note", fields.CharField(default="", max_length=200)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "job_application_event", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="JobPush",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "posting",
                    fields.ForeignKeyField(
                        "models.Posting",
                        source_field="posting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="pushes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "seeker",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="seeker_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="job_pushes",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "job_push",
                "app": "models",
                "unique_together": (("posting", "seeker"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SeekerProfile",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                (
                    "account",
                    fields.ForeignKeyField(
                        "models.Account",
                        source_field="account_id",
                        unique=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="seeker_profile",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "desired_occupations",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "skills",
                    fields.JSONField(
                        default=list,
                        description='[{"id": slug or null, "text": ...}]',
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("education", fields.CharField(default="none", max_length=16)),
                ("experience_years", fields.IntField(default=0)),
                ("expected_salary_monthly", fields.IntField(null=True)),
                ("home_lat", fields.FloatField(null=True, description="Rounded to 3 decimals (about 100 m).")),
                ("home_lon", fields.FloatField(null=True, description="Rounded to 3 decimals (about 100 m).")),
                ("radius_km", fields.FloatField(default=10.0)),
                (
                    "employment_types",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "shifts",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("available_from", fields.DateField(null=True)),
                ("visible", fields.BooleanField(default=False, description="Opted in to being seen by enterprises.")),
                ("subscribed", fields.BooleanField(default=False, description="Opted in to pushes of new postings.")),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "job_seeker_profile",
                "app": "models",
                "indexes": [Index(fields=["visible", "home_lat", "home_lon"]), Index(fields=["subscribed"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SkillEntry",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("slug", fields.CharField(unique=True, max_length=40)),
                ("name", fields.CharField(max_length=40)),
                (
                    "synonyms",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                (
                    "related",
                    fields.JSONField(
                        default=list, encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("retired", fields.BooleanField(default=False)),
                ("updated_by", fields.CharField(max_length=32)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={"table": "job_skill_entry", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        StateOnly(  # new roles: only the column's comment changes; SQLite would rebuild the table
            ops.AlterField(
                model_name="Account",
                name="role",
                field=fields.CharEnumField(
                    db_index=True,
                    description="RESIDENT: resident\nPARTY_MEMBER: party_member\nGRID_STAFF: grid_staff\nOFFICER: officer\nPOLICE: police\nHEALTH_STAFF: health_staff\nADMIN: admin\nEMPLOYER: employer\nEMPLOYMENT_STAFF: employment_staff",
                    enum_type=Role,
                    max_length=16,
                ),
            ),
        ),
        StateOnly(
            ops.AddConstraint(
                model_name="Enterprise",
                constraint=UniqueConstraint(fields=("uscc",), name=USCC_UNIQUE, condition=USCC_LIVE),
            )
        ),
        ops.RunSQL(
            f'CREATE UNIQUE INDEX "{USCC_UNIQUE}" ON "job_enterprise" ("uscc") WHERE {USCC_LIVE}',
            f'DROP INDEX "{USCC_UNIQUE}"',
        ),
    ]
