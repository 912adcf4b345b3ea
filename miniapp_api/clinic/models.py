"""Tortoise models of the 民情诊所: what the clinic learned about each report (the classifier's
suggestion, its duplicate group) and the people's confirmations and corrections, kept as training data."""

from __future__ import annotations

import datetime as dt

from tortoise import fields
from tortoise.models import Model

# analysed_at of a report that started a duplicate group before its own analysis ran: still to do.
NOT_YET = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

# Plain comments, not docstrings: Tortoise writes model docstrings into SQL comments unescaped.


class ReportInsight(Model):
    _no_comments = True
    # One row per analysed report, written after the report was accepted (never on its critical path).
    id = fields.BigIntField(primary_key=True)
    report_id = fields.BigIntField(unique=True)
    suggested_category_id = fields.IntField(null=True, description="Null below the confidence threshold.")
    confidence = fields.FloatField(null=True)
    model_version = fields.CharField(max_length=32, default="", description="Empty when no model was loaded.")
    group_id = fields.BigIntField(null=True, db_index=True, description="Id of the first report of its group.")
    similarity = fields.FloatField(null=True, description="To the report that put it in the group.")
    node_path = fields.CharField(max_length=255, db_index=True)
    analysed_at = fields.DatetimeField()

    class Meta:
        table = "clinic_report_insight"


class CategoryFeedback(Model):
    _no_comments = True
    # A person confirmed (dispatched as filed) or corrected a report category: training data.
    id = fields.BigIntField(primary_key=True)
    report_id = fields.BigIntField(unique=True)
    text = fields.TextField()
    category_key = fields.CharField(max_length=32)
    suggested_key = fields.CharField(max_length=32, null=True)
    corrected = fields.BooleanField(default=False)
    actor = fields.CharField(max_length=64)
    at = fields.DatetimeField()

    class Meta:
        table = "clinic_category_feedback"
