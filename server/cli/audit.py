"""``gmid audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from server.cli.common import run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    audit = commands.add_parser("audit", help="the audit log").add_subparsers(dest="audit_cmd", required=True)
    p = audit.add_parser("verify", help="check the hash chain; report the first broken link")
    p.set_defaults(func=cmd_audit_verify)


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from identity import audit

    async def go() -> int:
        result = await audit.verify()
        if result.ok:
            print(f"audit log intact: {result.checked} entries")
            return 0
        print(f"audit log BROKEN at entry {result.broken_seq}: {result.problem} ({result.checked} entries before it)")
        return 1

    return run_with_db(go, settings)
