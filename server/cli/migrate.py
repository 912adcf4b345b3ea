"""``gmid migrate``: the database at the current schema, and on a first start the official hierarchy."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    p = commands.add_parser(
        "migrate",
        help="bring the database to the current schema; into an empty hierarchy, load Guangming District's",
    )
    p.add_argument(
        "--no-hierarchy",
        action="store_true",
        help="schema only: leave an empty hierarchy empty (to load another one with load-hierarchy FILE)",
    )
    p.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from server import db

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            print(f"applied {app_label}.{name}", flush=True)

    asyncio.run(db.migrate(settings, progress=progress))
    print("database is at the current schema")
    if not args.no_hierarchy:
        asyncio.run(_first_hierarchy(settings))
    return 0


async def _first_hierarchy(settings: Settings) -> None:
    """On a first start, Guangming's official hierarchy, so residents can register at once; an
    existing hierarchy is never touched. Nodes hold no personal data: no vault needed."""
    from identity import hierarchy
    from identity.models import Node
    from server import db

    await db.open_db(settings)
    try:
        loaded = await hierarchy.load_official_if_empty()
        if loaded is None:
            print(f"hierarchy: {await Node.all().count()} nodes present, left as they are")
        else:
            print(f"hierarchy: loaded Guangming District's official hierarchy, {loaded.created} nodes")
    finally:
        await db.close_db()
