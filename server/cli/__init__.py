"""The ``gmid`` command line.

Every command reads the same ``GMID_*`` settings as the server. Commands that scripts use are
non-interactive (passwords come on standard input) and exit non-zero with one clear line on error.

Each command group lives in its own module, which adds its subcommands in ``register``; this module
builds the parser from them in the order of ``COMMAND_MODULES`` (the order of ``gmid --help``) and
runs the chosen command. The modules import what a command needs inside the command, so that
``gmid --help`` stays quick: nothing here may import the app or the ORM at import time.
"""

from __future__ import annotations

import argparse
import os
import sys

from server.cli import (
    accounts,
    audit,
    backup,
    buildings,
    checkins,
    checkins_purge,
    devices,
    key_areas,
    keys,
    migrate,
    qr,
    reports,
    serve,
    welfare,
    workers,
)
from server.cli import settings as settings_command
from server.cli.common import CLIError, Command
from server.cli.keys import init_keys
from server.settings import Settings, SettingsError

__all__ = ["COMMAND_MODULES", "CLIError", "build_parser", "init_keys", "main"]

COMMAND_MODULES = (
    serve,  # serve
    migrate,  # migrate
    keys,  # keys init | rotate | retire | list | rotate-pii
    accounts,  # create-staff, seed-demo, load-hierarchy, token
    audit,  # audit verify
    qr,  # qr verify | sheet | reissue | new-epoch
    backup,  # backup, restore
    buildings,  # import buildings, buildings demo-file
    devices,  # import devices, devices simulate
    key_areas,  # import key-areas
    reports,  # reports train
    checkins,  # checkins verify-offline | new-epoch
    checkins_purge,  # checkins purge
    welfare,  # welfare check
    workers,  # worker, notify-worker
    settings_command,  # settings
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gmid", description="Guangming e-ID service")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def _kid_not_an_option(argv: list[str]) -> list[str]:
    """A kid is base64url and may start with "-": `gmid keys retire -Ab3xYz9` and
    `gmid qr reissue --kid -Ab3xYz9` must not read it as an option."""
    if argv[:2] == ["keys", "retire"] and "--" not in argv:
        flags = [a for a in argv[2:] if a in ("--force", "-h", "--help")]
        rest = [a for a in argv[2:] if a not in flags]
        if len(rest) == 1 and rest[0].startswith("-"):
            return [*argv[:2], *flags, "--", rest[0]]
    if argv[:2] == ["qr", "reissue"]:
        out = list(argv)
        for i in range(2, len(out) - 1):
            if out[i] == "--kid" and out[i + 1].startswith("-"):
                return [*out[:i], f"--kid={out[i + 1]}", *out[i + 2 :]]
    return argv


def main(argv: list[str] | None = None) -> int:
    # Everything gmid creates (the SQLite file, keys, sockets) is for its owner alone.
    os.umask(0o077)
    parser = build_parser()
    args = parser.parse_args(_kid_not_an_option(list(sys.argv[1:] if argv is None else argv)))
    command: Command = args.func
    try:
        settings = Settings.from_env()
        return command(args, settings)
    except (SettingsError, CLIError) as exc:
        print(f"gmid: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gmid: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an operator gets one line; the class name says what kind of failure
        from identity.validators import InvalidIdNumber
        from server.errors import AppError
        from server.keyfiles import KeyFileError

        if isinstance(exc, AppError):
            print(f"gmid: {exc.message}", file=sys.stderr)
            return 1
        if isinstance(exc, KeyFileError | InvalidIdNumber):
            print(f"gmid: {exc}", file=sys.stderr)
            return 2
        raise
