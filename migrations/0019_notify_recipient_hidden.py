"""Notifications about an anonymous report are marked, and no staff view of the outbox shows their
recipient: the row's time and the report's steps would otherwise name the reporter. New rows are
marked when queued; this marks the rows queued before: each ``report.updated`` row (its event key is
``report:<public id>:...``) of an anonymous report, or sent to the reporter of an anonymous report
merged into it. Running it again changes nothing; going back drops the column."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

# Plain SQL that runs on SQLite and PostgreSQL alike (substr, not LIKE: public ids hold '_').
BACKFILL = [
    "UPDATE notify_notification SET recipient_hidden = TRUE "
    "WHERE template = 'report.updated' AND EXISTS ("
    "SELECT 1 FROM report r "
    "WHERE substr(notify_notification.event_key, 1, length(r.public_id) + 8) = 'report:' || r.public_id || ':' "
    "AND (r.anonymous OR EXISTS (SELECT 1 FROM report m WHERE m.merged_into_id = r.id AND m.anonymous "
    "AND m.reporter_id = notify_notification.account_id)))",
]


class Migration(migrations.Migration):
    dependencies = [("models", "0018_credentials_follow_subjects")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Notification",
            name="recipient_hidden",
            field=fields.BooleanField(
                default=False, db_default=False, description="Staff views do not show the recipient (anonymous report)."
            ),
        ),
        ops.RunSQL(BACKFILL, []),
    ]
