"""Rental buildings: ``gmid import buildings`` (a district file, or the generated demo) and
``gmid buildings demo-file``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from server.cli.common import CLIError, group, qr_keyring, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    imports = group(commands, "import", "import district files")
    p = imports.add_parser("buildings", help="rental buildings from CSV (UTF-8) or XLSX; re-import updates by code")
    p.add_argument("file", nargs="?", help="the .csv or .xlsx file (header on line 1)")
    p.add_argument("--demo", action="store_true", help="generate the 15,016 demo buildings and import them")
    p.add_argument("--count", type=int, help="with --demo: how many buildings (default 15,016)")
    p.add_argument("--report", help="also write the rejected rows (line, column, reason) to this CSV file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_import_buildings)

    buildings = commands.add_parser("buildings", help="rental buildings").add_subparsers(
        dest="buildings_cmd", required=True
    )
    p = buildings.add_parser("demo-file", help="write the generated demo buildings file (CSV, or .xlsx by suffix)")
    p.add_argument("out")
    p.add_argument("--count", type=int, help="how many buildings (default 15,016)")
    p.set_defaults(func=cmd_buildings_demo_file)


SHOWN_REJECTIONS = 200  # on the terminal; --report FILE has them all


def cmd_import_buildings(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every row was imported, 1 when some were rejected (the good ones are imported),
    2 when the file cannot be used at all, 3 when the database could not take the import; in the
    last two cases nothing was imported (the rows are written in one transaction, all or none)."""
    import tempfile
    from pathlib import Path

    from tortoise.exceptions import BaseORMException

    from identity import hierarchy
    from miniapp_api.buildings import demo, importer
    from server.sqlite import DatabaseBusy

    if bool(args.file) == bool(args.demo):
        raise CLIError("give the FILE to import, or --demo for the generated demo buildings")
    if args.count is not None and not args.demo:
        raise CLIError("--count goes with --demo")
    written = False

    async def go() -> int:
        nonlocal written
        with qr_keyring(settings), tempfile.TemporaryDirectory(prefix="gmid-buildings-") as tmp:
            if args.demo:
                loaded = await hierarchy.load_file(hierarchy.demo_file())
                print(f"hierarchy: {loaded.created} created, {loaded.updated} updated, {loaded.unchanged} same")
                path = Path(tmp) / "buildings-demo.csv"
                demo.write_demo_file(path, demo.DEMO_COUNT if args.count is None else args.count)
            else:
                path = Path(args.file)
            progress = None if args.quiet else importer.progress_bar
            try:
                result = await importer.import_file(path, progress=progress)
                written = True
            except importer.ImportFileError as exc:
                for problem in exc.problems:
                    print(problem)
                print(f"gmid: {exc.message}; nothing was imported", file=sys.stderr)
                return 2
        if not args.quiet:
            print(file=sys.stderr)
        for rejected in result.rejected[:SHOWN_REJECTIONS]:
            print(rejected)
        if len(result.rejected) > SHOWN_REJECTIONS:
            more = len(result.rejected) - SHOWN_REJECTIONS
            where = f"all in {args.report}" if args.report else "all of them: --report FILE"
            print(f"... and {more:,} more ({where})")
        if args.report:
            importer.write_report(Path(args.report), result.rejected)
        if result.ignored_columns:
            print(f"ignored columns: {', '.join(result.ignored_columns)}")
        print(
            f"buildings: {result.rows:,} rows, {result.imported:,} imported ({result.created:,} created, "
            f"{result.updated:,} updated, {result.unchanged:,} unchanged), {result.rejected_lines:,} rejected "
            f"in {result.seconds:.1f} s ({result.rows / max(result.seconds, 1e-9):,.0f} rows/s)"
        )
        return 1 if result.rejected else 0

    def failed(why: str) -> int:
        # After a progress bar, on a line of its own.
        print(("\n" if not args.quiet else "") + f"gmid: {why}; nothing was imported", file=sys.stderr)
        return 3

    try:
        return run_with_db(go, settings, scan_cache=True)
    except DatabaseBusy:
        return failed(
            f"the database stayed busy with another process's write for {settings.sqlite_busy_timeout} s "
            "(GMID_SQLITE_BUSY_TIMEOUT); run the import again"
        )
    except (BaseORMException, OSError) as exc:
        # The kind of failure only: a database's message may quote a row's values (personal data).
        strerror = getattr(exc, "strerror", None)
        return failed(f"the database failed ({type(exc).__name__}{': ' + strerror if strerror else ''})")
    except KeyboardInterrupt:
        if written:
            raise
        print(("\n" if not args.quiet else "") + "gmid: interrupted; nothing was imported", file=sys.stderr)
        return 130


def cmd_buildings_demo_file(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from miniapp_api.buildings import demo

    count = demo.write_demo_file(Path(args.out), demo.DEMO_COUNT if args.count is None else args.count)
    print(f"{count:,} demo buildings -> {args.out}")
    return 0
