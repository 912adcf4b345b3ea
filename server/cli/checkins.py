"""``gmid checkins``: the reference offline checker of the check-in bundle, and a new bundle epoch."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING

from server.cli.common import CLIError, qr_keyring, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    group = commands.add_parser("checkins", help="wristband check-ins").add_subparsers(
        dest="checkins_cmd", required=True
    )
    p = group.add_parser(
        "verify-offline",
        help="decide a check-in from an offline bundle: exit 0 pass, 1 stop, 2 bad bundle",
    )
    p.add_argument("bundle", help="the bundle file (the compact JWS of GET /api/v1/checkins/bundle)")
    p.add_argument("band_id", help="the band's BLE identifier")
    p.add_argument("temp", type=float, help="body temperature in °C")
    p.add_argument("--at", metavar="ISO-TIME", help="when the check-in happened (default now; UTC unless offset)")
    p.add_argument("--jwks", metavar="FILE", help="the JWKS (/.well-known/jwks.json); default: the local QR keys")
    p.set_defaults(func=cmd_verify_offline)
    p = group.add_parser("new-epoch", help="a new bundle salt: every checkpoint app fetches the whole list again")
    p.set_defaults(func=cmd_new_epoch)


def _when(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC)
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise CLIError(f"--at: not an ISO 8601 time: {text[:40]!r}") from exc
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def cmd_verify_offline(args: argparse.Namespace, settings: Settings) -> int:
    import json
    from pathlib import Path

    from miniapp_api.wristbands import offline

    at = _when(args.at)
    try:
        token = Path(args.bundle).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"BAD BUNDLE: cannot read {args.bundle} ({type(exc).__name__})")
        return 2
    if args.jwks:
        try:
            jwks = json.loads(Path(args.jwks).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CLIError(f"--jwks: cannot read a JWKS from {args.jwks} ({type(exc).__name__})") from exc
    else:
        with qr_keyring(settings) as cache:
            jwks = cache.get().jwks()
    try:
        payload = offline.verify(token, jwks if isinstance(jwks, dict) else {}, at=at)
        verdict = offline.decide(payload, ble_id=args.band_id, temperature=args.temp, at=at)
    except offline.BadBundle as exc:
        print(f"BAD BUNDLE: {exc}")
        return 2
    if verdict.stop:
        print("stop: " + ", ".join(r.value for r in verdict.reasons))
        return 1
    print("pass")
    return 0


def cmd_new_epoch(args: argparse.Namespace, settings: Settings) -> int:
    from miniapp_api.wristbands import bundle

    async def go() -> int:
        epoch = await bundle.new_epoch()
        print(f"bundle epoch {epoch}: checkpoint apps fetch the whole list at their next sync")
        return 0

    return run_with_db(go, settings)
