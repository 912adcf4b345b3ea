"""The gate's reads in one round trip: the checkpoint (when the sender works it and it is open), the
band, and its wearer's status, quarantine orders and trips, as one UNION ALL of indexed look-ups.

A check-in at a busy gate is CPU-bound in the ORM long before the database is busy: building and
reading five queries cost more than the database's work. The same SQL runs on PostgreSQL and SQLite
(numbered parameters; the first branch's NULLs are typed, since PostgreSQL matches a UNION's
branches pair by pair; times come back as objects from asyncpg, as ISO text from SQLite)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from miniapp_api.wristbands import engine, sealed
from miniapp_api.wristbands.models import Checkin, Checkpoint, Wristband

_SQL = """
SELECT 'c' AS k, c.id AS n1, CAST(NULL AS BIGINT) AS n2, c.node_path AS s1, c.name AS s2,
       CAST(NULL AS TIMESTAMPTZ) AS t1, CAST(NULL AS TIMESTAMPTZ) AS t2, CAST(NULL AS TIMESTAMPTZ) AS t3,
       CAST(NULL AS DATE) AS d1, CAST(NULL AS DATE) AS d2
  FROM checkpoint c
 WHERE c.public_id = $1 AND c.active
   AND EXISTS (SELECT 1 FROM checkpoint_staff s WHERE s.checkpoint_id = c.id AND s.account_id = $2)
UNION ALL
SELECT 'b', w.id, w.account_id, w.state, NULL, w.revoked_at, NULL, NULL, NULL, NULL
  FROM wristband w WHERE w.ble_id = $3
UNION ALL
SELECT 's', NULL, NULL, h.status_enc, NULL, h.set_at, h.expires_at, NULL, NULL, NULL
  FROM health_status h WHERE h.account_id = (SELECT w2.account_id FROM wristband w2 WHERE w2.ble_id = $3)
UNION ALL
SELECT 'q', NULL, NULL, NULL, NULL, q.starts_at, q.ends_at, q.lifted_at, NULL, NULL
  FROM health_quarantine q WHERE q.account_id = (SELECT w2.account_id FROM wristband w2 WHERE w2.ble_id = $3)
UNION ALL
SELECT 't', NULL, NULL, p.place_enc, NULL, NULL, NULL, NULL, p.from_date, p.until_date
  FROM health_trip p WHERE p.account_id = (SELECT w2.account_id FROM wristband w2 WHERE w2.ble_id = $3)
"""


# One row that moves whenever a rule set or a key area is added, corrected, withdrawn or imported (by
# any instance or command): the gate's cache and the stop-list job compare it with what they last saw.
_FINGERPRINT_SQL = (
    "SELECT (SELECT COUNT(*) FROM checkin_rule_set) AS rn, (SELECT MAX(id) FROM checkin_rule_set) AS ri, "
    "(SELECT MAX(created_at) FROM checkin_rule_set) AS rc, "
    "(SELECT COUNT(*) FROM health_key_area) AS kn, (SELECT MAX(id) FROM health_key_area) AS ki, "
    "(SELECT MAX(updated_at) FROM health_key_area) AS ku, (SELECT MAX(withdrawn_at) FROM health_key_area) AS kw, "
    "(SELECT COUNT(*) FROM health_key_area WHERE withdrawn_at IS NULL) AS ka"
)


async def rules_and_areas_fingerprint() -> tuple[str, ...]:
    """The rule sets' and key areas' change fingerprint (one small query)."""
    rows = await Checkin._meta.db.execute_query_dict(_FINGERPRINT_SQL)
    return tuple(str(v) for v in rows[0].values())


def _sql_for(dialect: str) -> str:
    return _SQL if dialect == "postgres" else _SQL.replace("$", "?")


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class GateRead:
    checkpoint: Checkpoint | None  # None: no such open checkpoint that the sender works
    band: Wristband | None
    person: engine.PersonFacts  # of whoever the band names (used only if the band was valid then)


async def read(*, checkpoint: str, staff_id: int, ble_id: str) -> GateRead:
    db = Checkin._meta.db
    rows = await db.execute_query_dict(_sql_for(db.capabilities.dialect), [checkpoint, staff_id, ble_id])
    found: Checkpoint | None = None
    band: Wristband | None = None
    status: engine.StatusFact | None = None
    orders: list[engine.QuarantineFact] = []
    trips: list[engine.TripFact] = []
    for row in rows:
        kind = row["k"]
        if kind == "c":
            found = Checkpoint(id=int(row["n1"]), public_id=checkpoint, node_path=row["s1"], name=row["s2"])
        elif kind == "b":
            account = int(row["n2"]) if row["n2"] is not None else None
            band = Wristband(id=int(row["n1"]), account_id=account, state=row["s1"], revoked_at=_time(row["t1"]))
        elif kind == "s":
            value = sealed.unseal(row["s1"], field=sealed.STATUS)
            status = engine.StatusFact(value, _time(row["t1"]), _time(row["t2"]))  # type: ignore[arg-type]
        elif kind == "q":
            orders.append(engine.QuarantineFact(_time(row["t1"]), _time(row["t2"]), _time(row["t3"])))  # type: ignore[arg-type]
        elif kind == "t":
            place = sealed.unseal(row["s1"], field=sealed.TRIP_PLACE)
            trips.append(engine.TripFact(place, _date(row["d1"]), _date(row["d2"])))
    return GateRead(found, band, engine.PersonFacts(status=status, quarantines=orders, trips=trips))
