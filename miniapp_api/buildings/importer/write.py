"""Writing checked rows, all of them or none. The writes are worked out first, outside any transaction
(signing the new codes and encrypting personal data: the CPU-heavy part), then go in one short
transaction of bulk inserts and grouped updates. A row is found again by its building code: a
re-import updates the building in place and keeps its QR e-ID; a row that changes nothing writes
nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity.pii import current_vault
from miniapp_api.buildings import service
from miniapp_api.buildings.importer.rows import BuildingRow
from miniapp_api.buildings.importer.table import FIRE_COLUMNS
from miniapp_api.buildings.models import Building
from qr import codec, kinds
from qr import service as qr_service
from qr.models import Credential, CredentialStatus

CHUNK_ROWS = 1000
UPDATE_BATCH = 200  # buildings per UPDATE statement (one CASE per changed column)


def _new_credentials(rows: list[BuildingRow], now: Any) -> list[Credential]:
    # qr.service.issue, in bulk: one INSERT per chunk instead of one per building.
    spec = kinds.BUILDING
    ring = qr_service.keyring()
    iat = int(now.timestamp())
    credentials = []
    for row in rows:
        raw_id = codec.new_public_id()
        token = codec.sign(codec.Claims(spec.code, raw_id, 1, iat), ring)
        credentials.append(
            Credential(
                kind=spec.name,
                public_id=codec.encode_public_id(raw_id),
                serial=1,
                status=CredentialStatus.ACTIVE,
                subject_id=row.code,
                node_path=row.node_path,
                label=service.building_label(row.code),
                token=token,
                issued_at=now.replace(microsecond=0),
                created_at=now,
            )
        )
    return credentials


def _landlord_changes(building: Building, row: BuildingRow) -> dict[str, Any]:
    vault = current_vault()
    changes: dict[str, Any] = {}
    if row.landlord_name is not None:
        current = service.decrypt_or_none(building.landlord_name_enc, service.LANDLORD_NAME_FIELD)
        if (current or "") != row.landlord_name:
            changes["landlord_name_enc"] = (
                vault.encrypt(row.landlord_name, field=service.LANDLORD_NAME_FIELD) if row.landlord_name else None
            )
    if row.landlord_phone is not None:
        bidx = service.phone_index(row.landlord_phone) if row.landlord_phone else None
        if bidx != building.landlord_phone_bidx:
            changes["landlord_phone_enc"] = (
                vault.encrypt(row.landlord_phone, field=service.LANDLORD_PHONE_FIELD) if row.landlord_phone else None
            )
            changes["landlord_phone_bidx"] = bidx
    return changes


def _plain_changes(building: Building, row: BuildingRow) -> dict[str, Any]:
    wanted: dict[str, Any] = {
        "address": row.address,
        "grid_code": row.grid,
        "node_path": row.node_path,
        "floor_area": row.floor_area,
        "floors": row.floors,
        "households": row.households,
        "residents": row.residents,
    }
    for name in (*FIRE_COLUMNS, "incidents", "services"):
        value = getattr(row, name)
        if value is not None:
            wanted[name] = value
    return {k: v for k, v in wanted.items() if getattr(building, k) != v}


def _new_building(row: BuildingRow, credential: Credential, now: Any) -> Building:
    building = Building(
        code=row.code,
        credential_id=credential.public_id,
        created_at=now,
        updated_at=now,
        extinguishers=0,
        hydrants=0,
        escape_routes=0,
        smoke_detectors=0,
        incidents={},
        services=[],
        landlord_name_enc=None,
        landlord_phone_enc=None,
        landlord_phone_bidx=None,
    )
    for name, value in {**_plain_changes(building, row), **_landlord_changes(building, row)}.items():
        setattr(building, name, value)
    return building


@dataclass
class _Entry:
    """What the import writes for one row, worked out against the building as it was read."""

    seen: tuple[int, Any] | None  # (id, updated_at) of the building as read; None: it did not exist
    create: tuple[Credential, Building] | None = None
    building: Building | None = None  # an existing building, the changes already set on it
    changes: tuple[str, ...] = ()  # its changed columns (empty: unchanged)
    moved_to: str | None = None  # its credential's new node path, when it changed grid


def _plan(rows: list[BuildingRow], existing: dict[str, Building], now: Any) -> dict[str, _Entry]:
    """The writes for these rows (new codes signed, personal data encrypted): the CPU-heavy part."""
    plan: dict[str, _Entry] = {}
    fresh = [r for r in rows if r.code not in existing]
    for row, credential in zip(fresh, _new_credentials(fresh, now), strict=True):
        plan[row.code] = _Entry(seen=None, create=(credential, _new_building(row, credential, now)))
    for row in rows:
        building = existing.get(row.code)
        if building is None:
            continue
        entry = _Entry(seen=(building.id, building.updated_at))
        changes = {**_plain_changes(building, row), **_landlord_changes(building, row)}
        if changes:
            if "node_path" in changes:
                entry.moved_to = row.node_path
            changes["updated_at"] = now
            for name, value in changes.items():
                setattr(building, name, value)
            entry.building, entry.changes = building, tuple(sorted(changes))
        plan[row.code] = entry
    return plan


def _parts(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _seen_now(codes: list[str], conn: Any, chunk: int) -> dict[str, tuple[int, Any]]:
    seen: dict[str, tuple[int, Any]] = {}
    for part in _parts(codes, chunk):
        for code, building_id, updated_at in (
            await Building.filter(code__in=part).using_db(conn).values_list("code", "id", "updated_at")
        ):
            seen[code] = (building_id, updated_at)
    return seen


async def _write(plan: dict[str, _Entry], conn: Any, chunk: int) -> list[str]:
    """Write the plan; the credentials of the boards carried along with a moved building."""
    creates = [e.create for e in plan.values() if e.create is not None]
    for part in _parts(creates, chunk):
        await Credential.bulk_create([c for c, _ in part], using_db=conn)
        await Building.bulk_create([b for _, b in part], using_db=conn)
    # Updates grouped by the columns they change: a few statements per chunk, not one per building.
    groups: dict[tuple[str, ...], list[Building]] = {}
    for entry in plan.values():
        if entry.building is not None:
            groups.setdefault(entry.changes, []).append(entry.building)
    for columns, buildings in groups.items():
        for part in _parts(buildings, UPDATE_BATCH):
            await Building.bulk_update(part, fields=list(columns), using_db=conn)
    moved: dict[str, list[Building]] = {}  # new node path -> the buildings that changed grid
    for entry in plan.values():
        if entry.moved_to is not None and entry.building is not None:
            moved.setdefault(entry.moved_to, []).append(entry.building)
    # A board on a moved building goes with it, and its code too: its messages become reports of the
    # building's grid, whose staff must hold the board (review 3, F8).
    from miniapp_api.boards.models import Board  # here: boards build on buildings, not the reverse

    boards: list[str] = []
    for node_path, buildings in moved.items():
        for part in _parts(buildings, chunk):
            codes = [b.code for b in part]
            on_them = Board.filter(building_code__in=codes).using_db(conn)
            found = [str(c) for c in await on_them.values_list("credential_id", flat=True)]
            if found:
                await on_them.update(node_path=node_path)
            credentials = [b.credential_id for b in part] + found
            await Credential.filter(public_id__in=credentials).using_db(conn).update(node_path=node_path)
            boards += found
    return boards


async def _prepare(
    rows: list[BuildingRow], *, chunk: int, now: Any, progress: Callable[[int], object] | None
) -> dict[str, _Entry]:
    plan: dict[str, _Entry] = {}
    for part in _parts(rows, chunk):
        existing = {b.code: b for b in await Building.filter(code__in=[r.code for r in part])}
        plan.update(_plan(part, existing, now))
        if progress is not None:
            progress(len(part))
    return plan


async def import_rows(
    rows: list[BuildingRow], *, chunk: int = CHUNK_ROWS, progress: Callable[[int], object] | None = None
) -> tuple[int, int, int]:
    """Write checked rows, all of them or none; (created, updated, unchanged).

    First, outside any transaction, each row's writes are worked out against the buildings as read
    (signing the new codes and encrypting take most of the time). Then one short transaction writes
    them all; on SQLite it takes the write lock at its start (server/sqlite.py), so the server's
    writes wait only for the writing itself, and it never fails half-way. A building that another
    writer created or changed between the two steps is worked out again inside the transaction.
    """
    now = service.utcnow()
    by_code = {r.code: r for r in rows}
    for attempt in (1, 2):
        plan = await _prepare(rows, chunk=chunk, now=now, progress=progress if attempt == 1 else None)
        try:
            async with in_transaction() as conn:
                current = await _seen_now(list(by_code), conn, chunk)
                stale = [by_code[code] for code, entry in plan.items() if current.get(code) != entry.seen]
                for part in _parts(stale, chunk):
                    found = await Building.filter(code__in=[r.code for r in part]).using_db(conn)
                    plan.update(_plan(part, {b.code: b for b in found}, now))
                boards = await _write(plan, conn, chunk)
            break
        except IntegrityError:
            # PostgreSQL: another import inserted some of these codes after we looked, and had not
            # committed yet. All was rolled back; once more, those buildings are found and updated.
            if attempt == 2:
                raise
    created = sum(1 for e in plan.values() if e.create is not None)
    changed = [e.building.credential_id for e in plan.values() if e.building is not None]
    # After the commit: the next scan of a changed building's code shows what the file says now.
    await qr_service.changed(*changed, *boards)
    return created, len(changed), len(plan) - created - len(changed)
