"""Reading an import file: a CSV (UTF-8, with a header) or XLSX file (first sheet, with a header) as a
header and its non-blank rows, the columns a header may name (English, or the Chinese a district sheet
uses), and the report of rejected rows.

``line`` is the row number a spreadsheet shows: the header is line 1, the first building line 2.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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

# Bounds on what a file may make us read, whatever it declares: a few KB of XLSX can declare a
# 16,384-column, million-row sheet (its <dimension>) or unpack to gigabytes of XML. A district's
# rental buildings fit well within these; a file past them is refused whole, before rows are built.
MAX_LINES = 50_000  # lines of a file, the header's included
MAX_COLUMNS = 64  # cells to the right of this column are not read (no column of ours is there)
MAX_XLSX_UNPACKED = 64 * 1024 * 1024  # bytes, all the workbook's parts unpacked
FIRE_COLUMNS = ("extinguishers", "hydrants", "escape_routes", "smoke_detectors")


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
class Table:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line, cells)


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
        return _table(path, csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportFileError(f"{path.name} is not valid CSV: {exc}") from None


def _read_xlsx(path: Path) -> Table:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            # Files from other tools often lack a default style; openpyxl warns about it, harmlessly.
            warnings.simplefilter("ignore")
            with zipfile.ZipFile(path) as archive:
                # What the parts unpack to, as their entries say (zipfile never reads past that).
                unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_XLSX_UNPACKED:
                limit = MAX_XLSX_UNPACKED // (1024 * 1024)
                raise ImportFileError(f"{path.name} unpacks to more than {limit} MB: split it into smaller files")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                sheet = book.worksheets[0]
                sheet.reset_dimensions()  # its <dimension> may claim any size: rows are padded to max_col only
                rows = sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True)
                return _table(path, ([_cell_text(v) for v in _trimmed(row)] for row in rows))
            finally:
                book.close()
    except (InvalidFileException, zipfile.BadZipFile, KeyError, IndexError, ValueError, OSError) as exc:
        raise ImportFileError(f"{path.name} is not a readable .xlsx workbook ({type(exc).__name__})") from None


def _trimmed(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row without its blank cells at the end (XLSX rows come padded to the columns read)."""
    if row.count(None) == len(row):  # a missing row, padded (fast: a sheet may skip a million of them)
        return ()
    end = len(row)
    while end and (row[end - 1] is None or row[end - 1] == ""):
        end -= 1
    return row[:end]


def _table(path: Path, records: Iterable[list[str]]) -> Table:
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    for line, record in enumerate(records, start=1):
        cells = [c.strip() for c in record[:MAX_COLUMNS]]
        if not any(cells):
            continue
        if line > MAX_LINES:
            raise ImportFileError(f"{path.name} has more than {MAX_LINES} lines: split it into smaller files")
        if header is None:
            if line != 1:
                raise ImportFileError(f"{path.name}: the header must be on line 1")
            header = cells
            continue
        rows.append((line, cells))
    if header is None:
        raise ImportFileError(f"{path.name} is empty: it needs a header line and the lines under it")
    return Table(header, rows)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-()（）㎡]+", "", name).lower()


def _aliases(columns: tuple[Column, ...]) -> dict[str, str]:
    return {_key(alias): c.name for c in columns for alias in (c.name, *c.aliases)}


_ALIASES = _aliases(COLUMNS)


def map_header(header: list[str], columns: tuple[Column, ...] = COLUMNS) -> tuple[dict[str, int], list[str]]:
    """Column name -> cell index, and the header cells no column uses (ignored). ``columns``: the
    columns of another import (devices) than the buildings'."""
    aliases = _ALIASES if columns is COLUMNS else _aliases(columns)
    positions: dict[str, int] = {}
    ignored: list[str] = []
    problems: list[Rejected] = []
    for index, title in enumerate(header):
        name = aliases.get(_key(title))
        if name is None:
            if title:
                ignored.append(title)
            continue
        if name in positions:
            problems.append(Rejected(1, name, "this column appears twice in the header"))
            continue
        positions[name] = index
    for column in columns:
        if column.required and column.name not in positions:
            problems.append(Rejected(1, column.name, "required column missing from the header"))
    if problems:
        names = ", ".join(p.column for p in problems)
        raise ImportFileError(f"the header cannot be used ({names})", problems)
    return positions, ignored


def write_report(path: Path, rejected: Iterable[Rejected]) -> None:
    """The rejected rows as CSV (UTF-8 with a BOM, so that Excel opens the Chinese right)."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "column", "reason"])
        for item in rejected:
            writer.writerow([item.line, item.column, item.reason])
