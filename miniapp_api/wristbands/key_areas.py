"""Key epidemic areas: dated public data kept by the district's administrators (one by one, or
imported from a CSV file with a report per row like the building import). A withdrawn area (entered
by mistake) is kept with its withdrawal time and never counts. Every change is audited; the
offline stop list follows on the wristbands.stoplist job's next run (it watches these rows)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity import scope as identity_scope
from identity.pii import has_personal_number
from miniapp_api.wristbands import codes, engine
from miniapp_api.wristbands.bands import Who, audit_change, plausible_id
from miniapp_api.wristbands.models import KeyArea
from miniapp_api.wristbands.people_schemas import KeyAreaImportRejected, KeyAreaIn, KeyAreaOut, KeyAreaPatch
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

MAX_ROWS = 5000
COLUMNS = ("area_code", "name", "risk_level", "from", "until", "source")
REASONS = {
    "area_code": "a GB/T 2260 administrative division code (6 digits)",
    "name": "at most 64 characters, no phone or ID numbers",
    "risk_level": "one of " + ", ".join(engine.RISK_LEVELS),
    "from": "a date (YYYY-MM-DD)",
    "until": "empty, or a date (YYYY-MM-DD) on or after from",
    "source": "the document that declared it: 1 to 200 characters",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_district(viewer: Principal) -> None:
    identity_scope.require_district(viewer, "keeps the key areas")


def area_out(row: KeyArea) -> KeyAreaOut:
    return KeyAreaOut(
        id=row.public_id,
        area_code=row.area_code,
        name=row.name,
        risk_level=row.risk_level,
        from_date=row.from_date,
        until_date=row.until_date,
        source=row.source,
        updated_at=row.updated_at,
        withdrawn_at=row.withdrawn_at,
    )


async def list_areas(*, state: str) -> list[KeyArea]:
    query = KeyArea.all() if state == "all" else KeyArea.filter(withdrawn_at__isnull=True)
    return list(await query.order_by("area_code", "from_date", "id").limit(MAX_ROWS))


def _check(area_code: str, name: str, from_date: dt.date, until_date: dt.date | None) -> None:
    if not codes.valid_place_code(area_code):
        raise ValidationFailed.field("area_code", REASONS["area_code"], "unknown_place")
    if has_personal_number(name):
        raise ValidationFailed.field("name", REASONS["name"], "personal_number")
    if until_date is not None and until_date < from_date:
        raise ValidationFailed.field("until", REASONS["until"], "area_dates")


async def _audit(who: Who, action: str, row: KeyArea, conn: BaseDBAsyncClient) -> None:
    await audit_change(who, action, row.public_id, "", conn, area_code=row.area_code, risk_level=row.risk_level)


async def create(*, data: KeyAreaIn, who: Who) -> KeyArea:
    _check(data.area_code, data.name, data.from_date, data.until_date)
    now = utcnow()
    async with in_transaction() as conn:
        row = await KeyArea.create(
            public_id=public_ids.new("ka_"),
            area_code=data.area_code,
            name=data.name,
            risk_level=data.risk_level,
            from_date=data.from_date,
            until_date=data.until_date,
            source=data.source,
            created_at=now,
            updated_at=now,
            updated_by=who.actor,
            using_db=conn,
        )
        await _audit(who, "health.key_area_created", row, conn)
    return row


async def get(public_id: str) -> KeyArea:
    row = await KeyArea.get_or_none(public_id=public_id) if plausible_id(public_id) else None
    if row is None:
        raise NotFound("No such key area.", code="key_area_not_found")
    return row


async def update(*, row: KeyArea, data: KeyAreaPatch, who: Who) -> KeyArea:
    if row.withdrawn_at is not None:
        raise Conflict("The key area is withdrawn.", code="key_area_withdrawn")
    changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if getattr(row, k) != v}
    if not changes:  # nothing to correct: nothing written, nothing audited
        return row
    if any(v is None for k, v in changes.items() if k != "until_date"):
        raise ValidationFailed.field("(body)", "only until may be set to null", "null_field")
    for key, value in changes.items():
        setattr(row, key, value)
    _check(row.area_code, row.name, row.from_date, row.until_date)
    row.updated_at, row.updated_by = utcnow(), who.actor
    async with in_transaction() as conn:
        await row.save(using_db=conn)
        await _audit(who, "health.key_area_updated", row, conn)
    return row


async def withdraw(*, row: KeyArea, who: Who) -> KeyArea:
    async with in_transaction() as conn:
        now = utcnow()
        done = (
            await KeyArea.filter(id=row.id, withdrawn_at__isnull=True)
            .using_db(conn)
            .update(withdrawn_at=now, updated_at=now, updated_by=who.actor)
        )
        if not done:
            raise Conflict("The key area is withdrawn already.", code="key_area_withdrawn")
        await _audit(who, "health.key_area_withdrawn", row, conn)
    return await KeyArea.get(id=row.id)


# CSV import -------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    created: int = 0
    rejected: list[KeyAreaImportRejected] = field(default_factory=list)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def parse_rows(text: str) -> tuple[list[KeyArea], list[KeyAreaImportRejected]]:
    """The good rows as unsaved areas and the bad ones by line and column (never the value)."""
    try:
        records = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error:  # a cell beyond the csv module's limit (128 KiB): no key area is that long
        raise ValidationFailed("The file is not a CSV file of key areas.", code="unreadable_file") from None
    if not records:
        raise ValidationFailed("The file is empty; the first line names the columns.", code="empty_file")
    header = [h.strip().lower() for h in records[0]]
    missing = [c for c in COLUMNS if c not in header and c not in ("name", "until")]
    if missing:
        raise ValidationFailed(
            "The first line must name the columns " + ", ".join(COLUMNS) + ".",
            code="missing_columns",
            details={"missing": missing},
        )
    if len(records) - 1 > MAX_ROWS:
        raise ValidationFailed(f"At most {MAX_ROWS} rows in one import.", code="too_many_rows")
    at = {name: header.index(name) for name in COLUMNS if name in header}
    rows: list[KeyArea] = []
    rejected: list[KeyAreaImportRejected] = []
    now = utcnow()
    for line, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        cells = {name: (record[i].strip() if i < len(record) else "") for name, i in at.items()}
        cells.setdefault("name", "")
        cells.setdefault("until", "")
        first, last = _date(cells["from"]), _date(cells["until"]) if cells["until"] else None
        problems = [
            ("area_code", not codes.valid_place_code(cells["area_code"])),
            ("name", len(cells["name"]) > 64 or has_personal_number(cells["name"])),
            ("risk_level", cells["risk_level"].lower() not in engine.RISK_LEVELS),
            ("from", first is None),
            ("until", bool(cells["until"]) and (last is None or (first is not None and last < first))),
            ("source", not 1 <= len(cells["source"]) <= 200),
        ]
        bad = [column for column, wrong in problems if wrong]
        for column in bad:
            rejected.append(KeyAreaImportRejected(line=line, column=column, reason=REASONS[column]))
        if bad or first is None:
            continue
        rows.append(
            KeyArea(
                public_id=public_ids.new("ka_"),
                area_code=cells["area_code"],
                name=cells["name"],
                risk_level=cells["risk_level"].lower(),
                from_date=first,
                until_date=last,
                source=cells["source"],
                created_at=now,
                updated_at=now,
            )
        )
    return rows, rejected


async def import_csv(*, text: str, who: Who) -> ImportReport:
    """Import the good rows of a CSV file (all of them or none), each a new key area; audited once."""
    rows, rejected = parse_rows(text)
    report = ImportReport(created=len(rows), rejected=rejected)
    if rows:
        for row in rows:
            row.updated_by = who.actor
        async with in_transaction() as conn:
            await KeyArea.bulk_create(rows, using_db=conn)
            await audit_change(
                who, "health.key_areas_imported", "", "", conn, created=len(rows), rejected=len(rejected)
            )
    return report
