"""``gmid welfare check [DIR]``: the linter of a welfare policy pack (default: the pack shipped in the package)."""

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
