"""Key epidemic areas: ``gmid import key-areas FILE.csv`` (the same rows and report as
``POST /api/v1/health/key-areas/import``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from server.cli.common import CLIError, group, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    imports = group(commands, "import", "import district files")
    p = imports.add_parser(
        "key-areas", help="key epidemic areas from CSV (UTF-8): area_code, name, risk_level, from, until, source"
    )
    p.add_argument("file", help="the .csv file (header on line 1)")
    p.set_defaults(func=cmd_import_key_areas)


def cmd_import_key_areas(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every row was imported, 1 when some were rejected (the good ones are imported), 2
    when the file cannot be used at all (nothing imported)."""
    from pathlib import Path

    from miniapp_api.wristbands import key_areas
    from miniapp_api.wristbands.bands import Who
    from server.errors import AppError

    try:
        text = Path(args.file).read_bytes().decode("utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CLIError(f"{args.file} is not UTF-8 text") from None

    async def go() -> int:
        try:
            report = await key_areas.import_csv(text=text, who=Who("cli", "admin"))
        except AppError as exc:
            print(f"gmid: {exc.message}; nothing was imported", file=sys.stderr)
            return 2
        for rejected in report.rejected:
            print(f"line {rejected.line}, {rejected.column}: {rejected.reason}")
        print(f"key areas: {report.created} added, {len(report.rejected)} problems")
        return 1 if report.rejected else 0

    return run_with_db(go, settings)
