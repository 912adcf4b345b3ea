"""Tortoise models of the welfare calculator: loaded pack versions, policy versions, and the residents'
saved profiles (sealed with the PII vault) with their consent and their last screening (sealed too)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# Plain comments, not docstrings: Tortoise writes model docstrings into SQL comments unescaped.


class WelfarePack(Model):
    _no_comments = True
    # One row per loaded pack: the app serves the highest version (the shipped pack when there is none).
    id = fields.IntField(primary_key=True, generated=False, description="The pack version number.")
    content_hash = fields.CharField(max_length=64, description="SHA-256 of the pack files.")
    files = fields.TextField(description="The pack files as JSON (path to text), so every instance can load it.")
    policy_versions = fields.TextField(description="JSON: policy id to its version in this pack.")
    loaded_by = fields.CharField(max_length=64)
    loaded_at = fields.DatetimeField()

    class Meta:
        table = "welfare_pack"


class WelfarePolicyVersion(Model):
    _no_comments = True
    # A policy's version changes when its content does (the hash of its parsed file).
    id = fields.BigIntField(primary_key=True)
    policy_id = fields.CharField(max_length=64)
    version = fields.IntField()
    content_hash = fields.CharField(max_length=64)
    pack_version = fields.IntField(description="The pack that brought this version.")
    created_at = fields.DatetimeField()

    class Meta:
        table = "welfare_policy_version"
        unique_together = (("policy_id", "version"),)


class WelfareProfile(Model):
    _no_comments = True
    # A resident's household profile and consent. profile_enc and snapshot_enc are sealed (personal data).
    id = fields.BigIntField(primary_key=True)
    account_id = fields.BigIntField(unique=True)
    profile_enc = fields.TextField(null=True, description="Sealed JSON profile, null before one is saved.")
    proactive = fields.BooleanField(default=False, description="Consent to background screening and messages.")
    consent_at = fields.DatetimeField(null=True)
    revision = fields.IntField(default=0, description="Bumped on every change of the profile or consent.")
    due = fields.BooleanField(default=False, description="To be screened again (profile or consent changed).")
    screened_pack = fields.IntField(default=-1, description="The pack version the snapshot was taken with.")
    snapshot_enc = fields.TextField(null=True, description="Sealed JSON: statuses and policies already told.")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "welfare_profile"
        indexes = (("proactive", "screened_pack"), ("proactive", "due"))
