"""Checking the rows of an import file, each on its own: a good row becomes a ``BuildingRow``, a bad
one is rejected with its line, column and reason (never the value, which may be personal data)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from identity.models import Node
from identity.pii import has_personal_number
from identity.roles import NodeLevel
from identity.validators import InvalidMobile, normalize_mobile
from miniapp_api.buildings.importer.table import FIRE_COLUMNS, Rejected, Table, map_header

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
_PERSONAL = "shown to anyone who scans the building's code: no phone or ID numbers or e-mail addresses"


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
    elif has_personal_number(code):
        # The code is printed on the building's sticker and shown to anyone who scans it.
        errors.add("code", "a building code must not be shaped like a phone or ID number")
    address = cell("address")
    if not address:
        errors.add("address", "an address is required")
    elif len(address) > 200:
        errors.add("address", "an address is at most 200 characters")
    elif has_personal_number(address):
        # Shown to anyone who scans the building's code.
        errors.add("address", _PERSONAL)
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
        else:
            if any(has_personal_number(name) for name in row.services):
                errors.add("services", _PERSONAL)
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
