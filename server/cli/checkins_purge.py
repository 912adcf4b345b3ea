"""``gmid checkins purge``: delete the wristband health data past GMID_CHECKIN_RETENTION_DAYS now, as
the ``wristbands.purge`` background job does every hour."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from server.cli.common import group, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    checkins = group(commands, "checkins", "wristband check-ins")
    p = checkins.add_parser("purge", help="delete the health data and stop messages past the retention")
    p.set_defaults(func=cmd_checkins_purge)


def cmd_checkins_purge(args: argparse.Namespace, settings: Settings) -> int:
    from miniapp_api.wristbands import purge

    async def go() -> int:
        done = await purge.purge(retention_days=settings.checkin_retention_days)
        print(
            f"purged past {settings.checkin_retention_days} days: {done.checkins} check-ins, {done.trips} trips, "
            f"{done.statuses} statuses, {done.quarantines} quarantine orders, {done.notifications} stop notifications"
        )
        return 0

    return run_with_db(go, settings)
