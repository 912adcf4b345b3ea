"""Tortoise models of 明心桥 reports: categories, departments and routing, the report, its history
and its SLA timers."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from miniapp_api.reports.states import State

# Model docstrings become SQL table comments, which Tortoise does not escape on SQLite: plain
# comments here, and no quotes or semicolons in field descriptions.


class Department(Model):
    _no_comments = True
    # Who handles a report: a district bureau, a street office, a service hall.
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=64)
    node_path = fields.CharField(max_length=255, null=True, description="Its part of the hierarchy, if local.")

    class Meta:
        table = "report_department"


class Category(Model):
    _no_comments = True
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=32)
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", related_name="categories", null=True, on_delete=fields.SET_NULL
    )
    department_id: int | None
    # SLA targets in minutes (the district: dispatched within 30, feedback within 10 of resolution).
    dispatch_minutes = fields.IntField(default=30)
    start_minutes = fields.IntField(default=240)
    resolve_minutes = fields.IntField(default=7 * 24 * 60)
    feedback_minutes = fields.IntField(default=10)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "report_category"


class RoutingRule(Model):
    _no_comments = True
    # A category goes to another department under part of the hierarchy (the longest path wins).
    id = fields.IntField(primary_key=True)
    category: fields.ForeignKeyRelation[Category] = fields.ForeignKeyField(
        "models.Category", related_name="rules", on_delete=fields.CASCADE
    )
    category_id: int
    node_path = fields.CharField(max_length=255)
    department: fields.ForeignKeyRelation[Department] = fields.ForeignKeyField(
        "models.Department", related_name="rules", on_delete=fields.CASCADE
    )
    department_id: int

    class Meta:
        table = "report_routing_rule"
        unique_together = (("category", "node_path"),)


class Report(Model):
    _no_comments = True
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    report_no = fields.CharField(max_length=24, unique=True, description="MXQ + date + sequence, for people.")
    category: fields.ForeignKeyRelation[Category] = fields.ForeignKeyField(
        "models.Category", related_name="reports", on_delete=fields.RESTRICT
    )
    category_id: int
    text = fields.TextField()
    channel = fields.CharField(max_length=16, description="party_member, board, building, grid_staff, miniapp.")
    anonymous = fields.BooleanField(default=False)
    reporter_id = fields.BigIntField(null=True, db_index=True)
    building_code = fields.CharField(max_length=32, null=True, db_index=True)
    board_code = fields.CharField(max_length=32, null=True, db_index=True)
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    node_path = fields.CharField(max_length=255, db_index=True, description="The grid the report belongs to.")
    state = fields.CharEnumField(State, max_length=16, default=State.SUBMITTED)
    state_since = fields.DatetimeField()
    department: fields.ForeignKeyNullableRelation[Department] = fields.ForeignKeyField(
        "models.Department", related_name="reports", null=True, on_delete=fields.SET_NULL
    )
    department_id: int | None
    merged_into_id = fields.BigIntField(null=True, db_index=True)
    due_at = fields.DatetimeField(null=True, description="Deadline of the current state, when it has one.")
    overdue = fields.BooleanField(default=False)
    escalation_level = fields.SmallIntField(default=0)
    satisfaction = fields.SmallIntField(null=True)
    comment = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "report"
        indexes = (("node_path", "state"), ("state", "due_at"))


class ReportEvent(Model):
    _no_comments = True
    # Append-only history: who moved the report, when, from which state to which, and why.
    id = fields.BigIntField(primary_key=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "models.Report", related_name="events", on_delete=fields.CASCADE
    )
    report_id: int
    at = fields.DatetimeField()
    actor = fields.CharField(max_length=64, description="Account public id, or system.")
    role = fields.CharField(max_length=16)
    action = fields.CharField(max_length=16)
    from_state = fields.CharField(max_length=16, default="")
    to_state = fields.CharField(max_length=16)
    note = fields.CharField(max_length=500, default="")

    class Meta:
        table = "report_event"


class SlaTimer(Model):
    _no_comments = True
    # One deadline of one report in one state. A scheduler claims due timers with a lease, so each
    # fires once however many app instances run; a timer whose state has passed is cancelled.
    id = fields.BigIntField(primary_key=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "models.Report", related_name="timers", on_delete=fields.CASCADE
    )
    report_id: int
    state = fields.CharEnumField(State, max_length=16)
    kind = fields.CharField(max_length=16, description="dispatch, start, resolve or feedback.")
    due_at = fields.DatetimeField(db_index=True)
    fired_at = fields.DatetimeField(null=True)
    cancelled = fields.BooleanField(default=False)
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "report_sla_timer"
        indexes = (("fired_at", "cancelled", "due_at"),)


class ReportFollower(Model):
    _no_comments = True
    # An account that follows someone else's report (found among the similar ones instead of filing the
    # same thing again): it may read the report and hears of each step, like the reporter.
    id = fields.BigIntField(primary_key=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "models.Report", related_name="followers", on_delete=fields.CASCADE
    )
    report_id: int
    account_id = fields.BigIntField(db_index=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "report_follower"
        unique_together = (("report", "account_id"),)
