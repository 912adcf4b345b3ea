"""An index on job_posting (updated_at): the seeker's matches read the postings changed since the in-memory
index was built (miniapp_api/jobs/index.py) on every request, and its stamp reads their latest change.
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
    ]
