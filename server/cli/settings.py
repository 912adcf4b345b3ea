"""``gmid settings``: the effective settings, secrets hidden."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers

# Shown with only their password hidden: where the database and Redis are is no secret.
URL_SETTINGS = frozenset({"database_url", "redis_url"})
# Shown as "(set)": the fields Settings keeps out of its repr, so a new secret is hidden in both at once.
SECRET_SETTINGS = frozenset(f.name for f in dataclasses.fields(Settings) if not f.repr) - URL_SETTINGS


def register(commands: Subparsers) -> None:
    p = commands.add_parser("settings", help="print the effective settings (secrets hidden)")
    p.set_defaults(func=cmd_settings)


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    from server.settings import SPECS

    for spec in SPECS:
        value = getattr(settings, spec.attr)
        secret = spec.attr in SECRET_SETTINGS
        shown = "(set)" if secret and value else value
        if spec.attr in URL_SETTINGS and isinstance(value, str):
            shown = hide_password(value)
        print(f"{spec.env}={shown if shown is not None else ''}")
    return 0


def hide_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
