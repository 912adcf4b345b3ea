"""Indexes on job_posting (updated_at) and job_seeker_profile (updated_at): a seeker's matches and a posting's
candidates read the rows changed since the in-memory index was built (miniapp_api/jobs/index.py) on every
request, and its stamp reads their latest change.
Plain SQL, as in 0022 (indexes only, the models' state does not change)."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0028_jobs")]

    initial = False

    operations = [
        ops.RunSQL(
            "CREATE INDEX job_posting_updated_at_idx ON job_posting (updated_at)",
            "DROP INDEX job_posting_updated_at_idx",
        ),
        ops.RunSQL(
            "CREATE INDEX job_seeker_profile_updated_at_idx ON job_seeker_profile (updated_at)",
            "DROP INDEX job_seeker_profile_updated_at_idx",
        ),
    ]
