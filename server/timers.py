"""Durable timers claimed with a row lease: the report SLA timers and the device alarms' escalation steps.

A timer table has ``id``, ``due_at``, ``fired_at``, ``cancelled``, ``lease_owner`` and ``lease_until``. One
UPDATE claims the due, unfired, uncancelled rows whose lease is free or ran out (PostgreSQL skips the rows
another worker is claiming at that moment), so any number of instances may run the same scheduler.
"""

from __future__ import annotations

import datetime as dt

from tortoise import connections


def _claim_sql(table: str, postgres: bool) -> str:
    if postgres:
        return (
            f"UPDATE {table} SET lease_owner = $1, lease_until = $2 WHERE id IN (SELECT id FROM {table} "  # noqa: S608 - fixed names
            "WHERE fired_at IS NULL AND cancelled = FALSE AND due_at <= $3 "
            "AND (lease_until IS NULL OR lease_until < $3) ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED) "
            "RETURNING id"
        )
    return (
        f"UPDATE {table} SET lease_owner = ?, lease_until = ? WHERE id IN (SELECT id FROM {table} "  # noqa: S608 - fixed names
        "WHERE fired_at IS NULL AND cancelled = 0 AND due_at <= ? AND (lease_until IS NULL OR lease_until < ?) "
        "ORDER BY due_at LIMIT ?) RETURNING id"
    )


async def claim_due(*, table: str, worker: str, lease: dt.timedelta, now: dt.datetime, batch: int) -> list[int]:
    """The ids of up to ``batch`` timers of ``table`` due at ``now``, leased to ``worker`` until now + lease."""
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    params: list[object] = [worker, now + lease, now, batch] if postgres else [worker, now + lease, now, now, batch]
    rows = await conn.execute_query_dict(_claim_sql(table, postgres), params)
    return [int(r["id"]) for r in rows]
