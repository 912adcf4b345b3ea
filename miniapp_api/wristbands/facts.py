"""What the rules are applied to, read from the database and opened from the vault: a person's status,
quarantine orders and trips, the key areas and the dated rule sets. The gate's decision and the
offline stop list both read through here, so they see the same facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from tortoise.backends.base.client import BaseDBAsyncClient

from miniapp_api.wristbands import engine, sealed
from miniapp_api.wristbands.models import CheckinRuleSet, HealthStatus, KeyArea, QuarantineOrder, Trip


async def rule_sets(conn: BaseDBAsyncClient | None = None) -> list[engine.Rules]:
    rows = await CheckinRuleSet.all().using_db(conn).order_by("effective_from")
    return [
        engine.Rules(
            effective_from=row.effective_from,
            fever_celsius=row.fever_celsius,
            trip_window_days=row.trip_window_days,
            stop_statuses=frozenset(row.stop_statuses),
            quarantine_stops=row.quarantine_stops,
        )
        for row in rows
    ]


async def key_areas(conn: BaseDBAsyncClient | None = None) -> list[engine.AreaFact]:
    """The key areas in force (withdrawn ones, entered by mistake, never count)."""
    rows = await KeyArea.filter(withdrawn_at__isnull=True).using_db(conn)
    return [engine.AreaFact(row.area_code, row.from_date, row.until_date) for row in rows]


async def person(account_id: int, conn: BaseDBAsyncClient | None = None) -> engine.PersonFacts:
    status_row = await HealthStatus.get_or_none(account_id=account_id, using_db=conn)
    status = None
    if status_row is not None:
        status = engine.StatusFact(
            sealed.unseal(status_row.status_enc, field=sealed.STATUS), status_row.set_at, status_row.expires_at
        )
    orders = await QuarantineOrder.filter(account_id=account_id).using_db(conn)
    trips = await Trip.filter(account_id=account_id).using_db(conn)
    return engine.PersonFacts(
        status=status,
        quarantines=[engine.QuarantineFact(o.starts_at, o.ends_at, o.lifted_at) for o in orders],
        trips=[
            engine.TripFact(sealed.unseal(t.place_enc, field=sealed.TRIP_PLACE), t.from_date, t.until_date)
            for t in trips
        ],
    )


async def person_windows(
    account_id: int,
    *,
    rules: engine.Rules,
    areas: Sequence[engine.AreaFact] | None = None,
    conn: BaseDBAsyncClient | None = None,
) -> list[engine.Window]:
    facts = await person(account_id, conn)
    return engine.person_windows(facts, areas if areas is not None else await key_areas(conn), rules)


async def rules_at(at: dt.datetime, conn: BaseDBAsyncClient | None = None) -> engine.Rules:
    return engine.rules_at(await rule_sets(conn), at)
