"""Import rental buildings from a CSV (UTF-8, with a header) or XLSX file (first sheet, with a header).

Every row is checked on its own; a bad row is reported (line, column, reason: never the value, which
may be personal data) and the good rows are imported. A row is found again by its building code: a
re-import updates the building in place and keeps its QR e-ID; a row that changes nothing writes
nothing. An import writes all its good rows or none: the writes are worked out first, outside any
transaction, then go in one short transaction of bulk inserts and grouped updates, so that 15,016
rows take seconds and the database's write lock (SQLite) is held for a fraction of that.

``line`` is the row number a spreadsheet shows: the header is line 1, the first building line 2.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity.models import Node
from identity.pii import current_vault
from identity.roles import NodeLevel
from identity.validators import InvalidMobile, normalize_mobile
from miniapp_api.buildings import service
from miniapp_api.buildings.models import Building
from qr import codec, kinds
from qr import service as qr_service
from qr.models import Credential, CredentialStatus

CHUNK_ROWS = 1000
UPDATE_BATCH = 200  # buildings per UPDATE statement (one CASE per changed column)


@dataclass(frozen=True)
class Column:
    name: str
    required: bool
    aliases: tuple[str, ...] = ()


# The header names a file may use for each column (English, or the Chinese a district sheet uses).
COLUMNS: tuple[Column, ...] = (
    Column("code", True, ("楼栋编码", "编码", "building_code")),
    Column("address", True, ("地址", "楼栋地址")),
    Column("grid", True, ("网格", "网格编码", "grid_code")),
    Column("floor_area", True, ("建筑面积", "面积", "floor_area_m2")),
    Column("floors", True, ("楼层数", "层数")),
    Column("households", True, ("户数", "出租户数")),
    Column("residents", True, ("居住人数", "人数")),
    Column("extinguishers", False, ("灭火器",)),
    Column("hydrants", False, ("消防栓",)),
    Column("escape_routes", False, ("逃生通道",)),
    Column("smoke_detectors", False, ("烟感", "烟雾报警器")),
    Column("landlord_name", False, ("房东姓名", "房东")),
    Column("landlord_phone", False, ("房东电话", "房东手机")),
    Column("incidents", False, ("周边警情", "警情")),
    Column("services", False, ("周边服务", "服务")),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
FIRE_COLUMNS = ("extinguishers", "hydrants", "escape_routes", "smoke_detectors")

_CODE_RE = re.compile(r"^[A-Z0-9]{4,32}$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_KEY_RE = re.compile(r"^[\w\-]{1,32}$")
_LIST_SPLIT = re.compile(r"[;；|、\n]+")
_PAIR_SPLIT = re.compile(r"[;；,，\n]+")

# Upper bounds: a value past these is a typing error, not a building.
LIMITS = {
    "floors": (1, 200),
    "households": (0, 5000),
    "residents": (0, 50000),
    "extinguishers": (0, 10000),
    "hydrants": (0, 10000),
    "escape_routes": (0, 10000),
    "smoke_detectors": (0, 10000),
}
MAX_FLOOR_AREA = 1_000_000.0
MAX_INCIDENT_TYPES = 20
MAX_SERVICES = 30


class ImportFileError(Exception):
    """The file as a whole cannot be used (unreadable, not CSV/XLSX, no header, a required column
    missing); ``problems`` lists what is wrong in the report's own (line, column, reason) form."""

    def __init__(self, message: str, problems: list[Rejected] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


@dataclass(frozen=True)
class Rejected:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


@dataclass
class BuildingRow:
    """One good row. ``None`` for an optional column the file does not have: the building keeps what
    it had (a new one gets zero or nothing)."""

    line: int
    code: str
    address: str
    grid: str
    node_path: str
    floor_area: float
    floors: int
    households: int
    residents: int
    extinguishers: int | None = None
    hydrants: int | None = None
    escape_routes: int | None = None
    smoke_detectors: int | None = None
    landlord_name: str | None = None  # "" clears it
    landlord_phone: str | None = None  # normalised; "" clears it
    incidents: dict[str, int] | None = None
    services: list[str] | None = None


@dataclass
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line, cells)


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected_lines(self) -> int:
        return len({r.line for r in self.rejected})

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


Progress = Callable[[int, int, float], object]


# Reading the file ---------------------------------------------------------------------------------


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # spreadsheets keep 12 as 12.0
    return str(value).strip()


def _is_xlsx(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return True
    if path.suffix.lower() in (".csv", ".txt"):
        return False
    return head.startswith(b"PK\x03\x04")


def read_table(path: Path) -> Table:
    """The header and the non-blank rows of a CSV or XLSX file; ImportFileError when unreadable."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _read_xlsx(path) if _is_xlsx(path, head) else _read_csv(path)


def _read_csv(path: Path) -> Table:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(f"{path.name} is not UTF-8 text: save it as CSV UTF-8 (or as .xlsx)") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise ImportFileError(f"{path.name} is not a CSV text file")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportFileError(f"{path.name} is not valid CSV: {exc}") from None
    return _table(path, records)


def _read_xlsx(path: Path) -> Table:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            # Files from other tools often lack a default style; openpyxl warns about it, harmlessly.
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                sheet = book.worksheets[0]
                records = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            finally:
                book.close()
    except (InvalidFileException, zipfile.BadZipFile, KeyError, IndexError, ValueError, OSError) as exc:
        raise ImportFileError(f"{path.name} is not a readable .xlsx workbook ({type(exc).__name__})") from None
    return _table(path, records)


def _table(path: Path, records: list[list[str]]) -> Table:
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    for line, record in enumerate(records, start=1):
        cells = [c.strip() for c in record]
        if not any(cells):
            continue
        if header is None:
            if line != 1:
                raise ImportFileError(f"{path.name}: the header must be on line 1")
            header = cells
            continue
        rows.append((line, cells))
    if header is None:
        raise ImportFileError(f"{path.name} is empty: it needs a header line and one line per building")
    return Table(header, rows)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-()（）㎡]+", "", name).lower()


_ALIASES = {_key(alias): c.name for c in COLUMNS for alias in (c.name, *c.aliases)}


def map_header(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Column name -> cell index, and the header cells no column uses (ignored)."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[Rejected] = []
    for index, title in enumerate(header):
        name = _ALIASES.get(_key(title))
        if name is None:
            if title:
                ignored.append(title)
            continue
        if name in positions:
            problems.append(Rejected(1, name, "this column appears twice in the header"))
            continue
        positions[name] = index
    for column in COLUMNS:
        if column.required and column.name not in positions:
            problems.append(Rejected(1, column.name, "required column missing from the header"))
    if problems:
        names = ", ".join(p.column for p in problems)
        raise ImportFileError(f"the header cannot be used ({names})", problems)
    return positions, ignored


# Checking one row ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridInfo:
    level: NodeLevel
    path: str


async def load_grids() -> dict[str, GridInfo]:
    rows = await Node.all().values_list("code", "level", "path")
    return {code: GridInfo(NodeLevel(level), path) for code, level, path in rows}


class _RowErrors:
    def __init__(self, line: int) -> None:
        self.line = line
        self.items: list[Rejected] = []

    def add(self, column: str, reason: str) -> None:
        self.items.append(Rejected(self.line, column, reason))


def _int(errors: _RowErrors, column: str, text: str) -> int:
    low, high = LIMITS[column]
    if not text:
        errors.add(column, "a number is required")
        return 0
    if not _INT_RE.fullmatch(text):
        errors.add(column, "must be a whole number")
        return 0
    value = int(text)
    if value < 0:
        errors.add(column, "must not be negative")
    elif not low <= value <= high:
        errors.add(column, f"must be from {low} to {high}")
    return value


def _optional_int(errors: _RowErrors, column: str, text: str) -> int:
    return _int(errors, column, text) if text else 0


def _floor_area(errors: _RowErrors, text: str) -> float:
    cleaned = text.replace(",", "").removesuffix("㎡").removesuffix("m²").strip()
    if not cleaned:
        errors.add("floor_area", "a number is required (square metres)")
        return 0.0
    if not _NUMBER_RE.fullmatch(cleaned):
        errors.add("floor_area", "must be a number of square metres")
        return 0.0
    value = float(cleaned)
    if value < 0:
        errors.add("floor_area", "must not be negative")
    elif not 0 < value <= MAX_FLOOR_AREA:
        errors.add("floor_area", f"must be more than 0 and at most {MAX_FLOOR_AREA:,.0f}")
    return round(value, 2)


def parse_incidents(text: str) -> dict[str, int]:
    """``{"theft": 3}`` or ``theft:3; fraud:1`` (full-width separators too); ValueError says why."""
    if not text:
        return {}
    pairs: list[tuple[str, Any]]
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("is not valid JSON (write it as theft:3; fraud:1)") from None
        if not isinstance(doc, dict):
            raise ValueError("must map incident types to counts")
        pairs = list(doc.items())
    else:
        pairs = []
        for part in _PAIR_SPLIT.split(text):
            if not part.strip():
                continue
            key, sep, count = part.replace("：", ":").partition(":")
            if not sep:
                raise ValueError("write each incident type as type:count, e.g. theft:3; fraud:1")
            pairs.append((key, count))
    result: dict[str, int] = {}
    for raw_key, raw_count in pairs:
        key = str(raw_key).strip()
        if not _KEY_RE.fullmatch(key):
            raise ValueError("an incident type is 1 to 32 letters, digits or underscores")
        count_text = str(raw_count).strip()
        if isinstance(raw_count, bool) or not _INT_RE.fullmatch(count_text):
            raise ValueError("an incident count must be a whole number")
        count = int(count_text)
        if count < 0:
            raise ValueError("an incident count must not be negative")
        if count > 100000:
            raise ValueError("an incident count is at most 100000")
        result[key] = result.get(key, 0) + count
    if len(result) > MAX_INCIDENT_TYPES:
        raise ValueError(f"at most {MAX_INCIDENT_TYPES} incident types")
    return result


def parse_services(text: str) -> list[str]:
    """A JSON list, or names separated by ; ； | 、 or new lines."""
    if not text:
        return []
    items: list[Any]
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("is not a valid JSON list (or separate the services with ;)") from None
        if not isinstance(items, list):
            raise ValueError("must be a list of services")
    else:
        items = _LIST_SPLIT.split(text)
    result: list[str] = []
    for item in items:
        name = str(item).strip()
        if not name:
            continue
        if len(name) > 64:
            raise ValueError("a service name is at most 64 characters")
        if name not in result:
            result.append(name)
    if len(result) > MAX_SERVICES:
        raise ValueError(f"at most {MAX_SERVICES} services")
    return result


def parse_row(
    line: int, cells: list[str], positions: dict[str, int], grids: dict[str, GridInfo]
) -> tuple[BuildingRow | None, list[Rejected]]:
    errors = _RowErrors(line)

    def cell(name: str) -> str:
        index = positions.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    code = cell("code").upper()
    if not code:
        errors.add("code", "a building code is required")
    elif not _CODE_RE.fullmatch(code):
        errors.add("code", "a building code is 4 to 32 letters and digits")
    address = cell("address")
    if not address:
        errors.add("address", "an address is required")
    elif len(address) > 200:
        errors.add("address", "an address is at most 200 characters")
    grid_code = cell("grid").upper()
    grid = grids.get(grid_code)
    if not grid_code:
        errors.add("grid", "a grid code is required")
    elif grid is None:
        errors.add("grid", "no hierarchy node has this code")
    elif grid.level is not NodeLevel.GRID:
        errors.add("grid", f"this node is a {grid.level.value}, not a grid")
    floor_area = _floor_area(errors, cell("floor_area"))
    floors = _int(errors, "floors", cell("floors"))
    households = _int(errors, "households", cell("households"))
    residents = _int(errors, "residents", cell("residents"))
    row = BuildingRow(
        line=line,
        code=code,
        address=address,
        grid=grid_code,
        node_path=grid.path if grid is not None else "",
        floor_area=floor_area,
        floors=floors,
        households=households,
        residents=residents,
    )
    for name in FIRE_COLUMNS:
        if name in positions:
            setattr(row, name, _optional_int(errors, name, cell(name)))
    if "landlord_name" in positions:
        name = cell("landlord_name")
        if len(name) > 32:
            errors.add("landlord_name", "a name is at most 32 characters")
        row.landlord_name = name
    if "landlord_phone" in positions:
        phone = cell("landlord_phone")
        if phone:
            try:
                phone = normalize_mobile(phone)
            except InvalidMobile:
                errors.add("landlord_phone", "not a valid mainland mobile number (11 digits, 13x-19x)")
        row.landlord_phone = phone
    if "incidents" in positions:
        try:
            row.incidents = parse_incidents(cell("incidents"))
        except ValueError as exc:
            errors.add("incidents", str(exc))
    if "services" in positions:
        try:
            row.services = parse_services(cell("services"))
        except ValueError as exc:
            errors.add("services", str(exc))
    return (None if errors.items else row), errors.items


def check_rows(
    table: Table, grids: dict[str, GridInfo]
) -> tuple[list[BuildingRow], list[Rejected], dict[str, int], list[str]]:
    """The good rows, the rejections (in line order), the column positions and the ignored columns."""
    positions, ignored = map_header(table.header)
    good: list[BuildingRow] = []
    rejected: list[Rejected] = []
    first_line: dict[str, int] = {}
    for line, cells in table.rows:
        row, problems = parse_row(line, cells, positions, grids)
        code = cells[positions["code"]].strip().upper() if positions["code"] < len(cells) else ""
        if code and _CODE_RE.fullmatch(code):
            if code in first_line:
                problems = [*problems, Rejected(line, "code", f"duplicate of line {first_line[code]} in this file")]
                row = None
            else:
                first_line[code] = line
        rejected.extend(problems)
        if row is not None:
            good.append(row)
    return good, rejected, positions, ignored


# Writing ------------------------------------------------------------------------------------------


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


async def _write(plan: dict[str, _Entry], conn: Any, chunk: int) -> None:
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
    moved: dict[str, list[str]] = {}  # new node path -> credentials whose building changed grid
    for entry in plan.values():
        if entry.moved_to is not None and entry.building is not None:
            moved.setdefault(entry.moved_to, []).append(entry.building.credential_id)
    for node_path, public_ids in moved.items():
        for ids in _parts(public_ids, chunk):
            await Credential.filter(public_id__in=ids).using_db(conn).update(node_path=node_path)


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
                await _write(plan, conn, chunk)
            break
        except IntegrityError:
            # PostgreSQL: another import inserted some of these codes after we looked, and had not
            # committed yet. All was rolled back; once more, those buildings are found and updated.
            if attempt == 2:
                raise
    created = sum(1 for e in plan.values() if e.create is not None)
    changed = [e.building.credential_id for e in plan.values() if e.building is not None]
    # After the commit: the next scan of a changed building's code shows what the file says now.
    await qr_service.changed(*changed)
    return created, len(changed), len(plan) - created - len(changed)


async def import_table(table: Table, *, progress: Progress | None = None, chunk: int = CHUNK_ROWS) -> ImportResult:
    started = time.monotonic()
    grids = await load_grids()
    if not any(g.level is NodeLevel.GRID for g in grids.values()):
        raise ImportFileError("the hierarchy has no grids yet: load it first (gmid load-hierarchy)")
    good, rejected, _, ignored = check_rows(table, grids)
    total = len(table.rows)
    done = total - len(good)  # rejected rows count as handled from the start
    if progress is not None:
        progress(done, total, started)

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total, started)

    created, updated, unchanged = await import_rows(good, chunk=chunk, progress=advance)
    return ImportResult(
        rows=total,
        created=created,
        updated=updated,
        unchanged=unchanged,
        rejected=rejected,
        ignored_columns=ignored,
        seconds=time.monotonic() - started,
    )


async def import_file(path: Path, *, progress: Progress | None = None, chunk: int = CHUNK_ROWS) -> ImportResult:
    """Read, check and import one file; ImportFileError when the file cannot be used at all."""
    return await import_table(read_table(path), progress=progress, chunk=chunk)


def write_report(path: Path, rejected: Iterable[Rejected]) -> None:
    """The rejected rows as CSV (UTF-8 with a BOM, so that Excel opens the Chinese right)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "column", "reason"])
        for item in rejected:
            writer.writerow([item.line, item.column, item.reason])


def progress_bar(done: int, total: int, started: float) -> None:
    import sys

    elapsed = time.monotonic() - started
    share = done / total if total else 1.0
    filled = int(share * 30)
    rate = done / elapsed if elapsed > 0 else 0.0
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} rows, {elapsed:5.1f} s, {rate:,.0f} rows/s"
    )
    sys.stderr.flush()
