"""Import rental buildings from a CSV (UTF-8, with a header) or XLSX file (first sheet, with a header).

Every row is checked on its own; a bad row is reported (line, column, reason: never the value, which
may be personal data) and the good rows are imported. A row is found again by its building code: a
re-import updates the building in place and keeps its QR e-ID; a row that changes nothing writes
nothing. An import writes all its good rows or none: the writes are worked out first, outside any
transaction, then go in one short transaction of bulk inserts and grouped updates, so that 15,016
rows take seconds and the database's write lock (SQLite) is held for a fraction of that.

The steps, one module each: ``table`` reads the file and its columns, ``rows`` checks each row,
``write`` plans and writes the import. This module runs them in turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from identity.roles import NodeLevel
from miniapp_api.buildings.importer.rows import (
    BuildingRow,
    GridInfo,
    check_rows,
    load_grids,
    parse_incidents,
    parse_row,
    parse_services,
)
from miniapp_api.buildings.importer.table import (
    COLUMN_NAMES,
    COLUMNS,
    Column,
    ImportFileError,
    Rejected,
    Table,
    map_header,
    read_table,
    write_report,
)
from miniapp_api.buildings.importer.write import CHUNK_ROWS, import_rows
from server import progress as progress_display

__all__ = [
    "CHUNK_ROWS",
    "COLUMNS",
    "COLUMN_NAMES",
    "BuildingRow",
    "Column",
    "GridInfo",
    "ImportFileError",
    "ImportResult",
    "Progress",
    "Rejected",
    "Table",
    "check_rows",
    "import_file",
    "import_rows",
    "import_table",
    "load_grids",
    "map_header",
    "parse_incidents",
    "parse_row",
    "parse_services",
    "progress_bar",
    "read_table",
    "write_report",
]


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


def progress_bar(done: int, total: int, started: float) -> None:
    progress_display.draw(done, total, started, what="rows", rate_unit=" rows/s")
