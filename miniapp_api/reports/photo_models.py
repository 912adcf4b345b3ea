"""The Tortoise model of a photo attached to a 明心桥 report (the file itself is in PhotoStorage)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from miniapp_api.reports.models import Report

# No model docstring and no quotes or semicolons in descriptions: they become SQL comments, which
# Tortoise does not escape on SQLite.


class ReportPhoto(Model):
    _no_comments = True
    # One photo of one report; the same picture on two reports is two rows and one stored file.
    id = fields.BigIntField(primary_key=True)
    public_id = fields.CharField(max_length=16, unique=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "models.Report", related_name="photos", on_delete=fields.CASCADE
    )
    report_id: int
    sha256 = fields.CharField(max_length=64, description="Digest of the stored JPEG, its key in the photo store.")
    width = fields.IntField()
    height = fields.IntField()
    bytes = fields.IntField(description="Size of the stored JPEG.")
    uploader_id = fields.BigIntField(description="The account that uploaded it.")
    created_at = fields.DatetimeField()

    class Meta:
        table = "report_photo"
        unique_together = (("report", "sha256"),)
