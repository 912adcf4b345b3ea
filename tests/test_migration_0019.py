"""Migration 0019 on a database written before notifications about anonymous reports were marked:
the ``report.updated`` rows of an anonymous report, and those sent to the reporter of an anonymous
report merged into another, are marked (no staff view shows their recipient); the rest are not; running
it again changes nothing. SQLite always; PostgreSQL too when ``GMID_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.settings import Settings
from tests.support.postgres import pg_admin, pg_url
from tests.test_migration_0016 import BACKENDS, TEST_DATABASE_URL, Db, migrate

BEFORE = "models.0018_credentials_follow_subjects"
T = "'2026-01-01 00:00:00+00'"


def account(n: int) -> str:
    return (
        "INSERT INTO account (id, public_id, role, is_active, created_at, updated_at) "  # noqa: S608 - fixed test values
        f"VALUES ({n}, 'acc_{n}', 'resident', TRUE, {T}, {T})"
    )


def report(n: int, public_id: str, *, anonymous: bool, reporter: int, merged_into: int | None = None) -> str:
    return (
        "INSERT INTO report (id, public_id, report_no, category_id, text, channel, anonymous, reporter_id, "  # noqa: S608 - fixed test values
        "node_path, state, state_since, merged_into_id, overdue, escalation_level, comment, created_at, updated_at) "
        f"VALUES ({n}, '{public_id}', 'MXQ{n}', 99, 't', 'miniapp', {'TRUE' if anonymous else 'FALSE'}, {reporter}, "
        f"'/GM/', 'submitted', {T}, {'NULL' if merged_into is None else merged_into}, FALSE, 0, '', {T}, {T})"
    )


def notification(n: int, template: str, event: str, account_id: int) -> str:
    return (
        "INSERT INTO notify_notification (public_id, idempotency_key, event_key, template, data_enc, account_id, "  # noqa: S608 - fixed test values
        "recipient_key, channels, channel_index, channel, status, attempts, total_attempts, next_attempt_at, "
        "in_doubt, sending_channel, last_error, receipt_status, created_at, updated_at) "
        f"VALUES ('n{n}', 'k{n}', '{event}', '{template}', 'x', {account_id}, 'r', 'sms', 0, '', 'sent', 0, 0, {T}, "
        f"FALSE, '', '', '', {T}, {T})"
    )


ROWS = [
    account(1),
    account(2),
    account(3),
    "INSERT INTO report_category (id, key, name, dispatch_minutes, start_minutes, resolve_minutes, "
    "feedback_minutes, active) VALUES (99, 'm19_test', '测试', 30, 60, 120, 10, TRUE)",
    report(1, "rp_a_nonymous", anonymous=True, reporter=1),
    report(2, "rp_named", anonymous=False, reporter=2),
    report(3, "rp_dup", anonymous=True, reporter=3, merged_into=2),
    notification(1, "report.updated", "report:rp_a_nonymous:submitted:1.0", 1),  # anonymous: marked
    notification(2, "report.updated", "report:rp_named:accepted:2.0", 2),  # named, its reporter: not
    notification(3, "report.updated", "report:rp_named:accepted:2.0", 3),  # to the merged anonymous reporter
    notification(4, "report.updated", "report:rp_a_nonymous_x:submitted:1.0", 2),  # another id's prefix: not
    notification(5, "ebike.stolen", "report:rp_a_nonymous:submitted:1.0", 1),  # another template: not
]
EXPECTED = [
    {"public_id": "n1", "hidden": True},
    {"public_id": "n2", "hidden": False},
    {"public_id": "n3", "hidden": True},
    {"public_id": "n4", "hidden": False},
    {"public_id": "n5", "hidden": False},
]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_0019_marks_the_rows_of_anonymous_reports(tmp_path: Path, backend: str) -> None:
    name = f"gmid_m19_{os.getpid()}"
    if backend == "postgres":
        await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
        url = pg_url(TEST_DATABASE_URL, name)
    else:
        url = f"sqlite://{tmp_path / 'm19.sqlite3'}"
    settings = Settings(var_dir=str(tmp_path / "var"), database_url=url)
    db = Db(url)
    query = "SELECT public_id, recipient_hidden FROM notify_notification ORDER BY public_id"

    async def marks() -> list[dict[str, object]]:
        return [{"public_id": r["public_id"], "hidden": bool(r["recipient_hidden"])} for r in await db.run(query)]

    try:
        await migrate(settings, BEFORE)
        for sql in ROWS:
            await db.run(sql)
        await migrate(settings)
        assert await marks() == EXPECTED
        await migrate(settings)  # again: nothing to do, nothing changes
        assert await marks() == EXPECTED
    finally:
        if backend == "postgres":
            await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
