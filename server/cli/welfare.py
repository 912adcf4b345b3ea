"""``gmid welfare check [DIR]``: the linter of a welfare policy pack (default: the pack shipped in the package).
``gmid welfare load DIR``: check it and store it as the new version every app instance serves (audited); the
consenting residents are then screened again in the background (the job ``welfare.rescreen``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    welfare = commands.add_parser("welfare", help="welfare calculator packs").add_subparsers(
        dest="welfare_cmd", required=True
    )
    p = welfare.add_parser("check", help="check a policy pack (variables.yaml, parameters/, policies/)")
    p.add_argument("directory", nargs="?", help="the pack directory; default: the pack shipped in the package")
    p.set_defaults(func=cmd_welfare_check)
    p = welfare.add_parser("load", help="check a policy pack and store it as a new version (served by every instance)")
    p.add_argument("directory", help="the pack directory (variables.yaml, parameters/, policies/)")
    p.add_argument("--by", default=None, help="who loads it, for the audit log (default: the system user)")
    p.set_defaults(func=cmd_welfare_load)


def cmd_welfare_check(args: argparse.Namespace, settings: Settings) -> int:
    """Print one line per problem and exit 1, or a one-line summary and exit 0."""
    from miniapp_api.welfare import pack

    directory = args.directory or pack.SHIPPED
    problems = pack.check(directory)
    if problems:
        for problem in problems:
            print(f"gmid welfare check: {problem}", file=sys.stderr)
        print(f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: the pack is refused", file=sys.stderr)
        return 1
    loaded = pack.load(directory)
    print(
        f"{directory}: {len(loaded.policies)} policies, {len(loaded.parameters)} parameters, "
        f"{len(loaded.variables)} variables: OK"
    )
    return 0


def cmd_welfare_load(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 1 with the linter's messages when the pack is refused (nothing changes), 0 when stored."""
    import getpass

    from miniapp_api.welfare import pack, versions
    from server.cli.common import run_with_db

    problems = pack.check(args.directory)
    if problems:
        for problem in problems:
            print(f"gmid welfare load: {problem}", file=sys.stderr)
        print(f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: nothing was loaded", file=sys.stderr)
        return 1
    who = args.by or f"cli:{getpass.getuser()}"

    async def go() -> int:
        try:
            loaded = await versions.load(args.directory, loaded_by=who)
        except pack.PackError as exc:
            for problem in exc.problems:
                print(f"gmid welfare load: {problem}", file=sys.stderr)
            return 1
        if loaded.unchanged:
            print(f"welfare pack: the same as version {loaded.version}; nothing was loaded")
            return 0
        changed = ", ".join(loaded.changed) or "none"
        removed = ", ".join(loaded.removed) or "none"
        print(f"welfare pack version {loaded.version} loaded: policies new or changed: {changed}; removed: {removed}")
        return 0

    return run_with_db(go, settings)
