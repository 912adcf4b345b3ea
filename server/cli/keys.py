"""``gmid keys``: the secret keys under VAR_DIR/keys (access tokens, PII encryption, QR signing).

A kid may start with "-": ``server.cli`` reads ``keys retire -Ab3...`` as a kid, not an option.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from server.cli.common import CLIError, run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from qr.keys import KeyInfo
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    keys = commands.add_parser("keys", help="secret keys under VAR_DIR/keys").add_subparsers(
        dest="keys_cmd", required=True
    )
    p = keys.add_parser("init", help="create every missing key")
    p.set_defaults(func=cmd_keys_init)
    p = keys.add_parser("rotate", help="a new QR signing key signs from now on (older keys keep verifying)")
    p.set_defaults(func=cmd_keys_rotate)
    p = keys.add_parser("retire", help="stop accepting codes signed by a QR key (reissue them first)")
    p.add_argument("kid", help="the key's kid (or its first 8 characters, for keys made before full kids)")
    p.add_argument("--force", action="store_true", help="retire even while active codes it signed remain")
    p.set_defaults(func=cmd_keys_retire)
    p = keys.add_parser("list", help="the QR signing keys and their status")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("rotate-pii", help="add a PII encryption key and make it the active one")
    p.set_defaults(func=cmd_keys_rotate_pii)


def init_keys(settings: Settings) -> list[str]:
    """Create every missing key under VAR_DIR/keys (never replaces one)."""
    from identity.pii import ensure_pii_keys
    from qr.keys import ensure_keyring
    from server.keyfiles import ensure_b64_secret

    keys = settings.keys_path
    created: list[str] = []
    if not settings.access_token_secret and ensure_b64_secret(keys / "access-token.key"):
        created.append(str(keys / "access-token.key"))
    if not settings.pii_keys or not settings.pii_index_key:
        created += ensure_pii_keys(keys)
    created += ensure_keyring(keys)
    return created


def resolve_kid(settings: Settings, kid: str) -> KeyInfo:
    """The QR signing key a kid (or a legacy 8-character prefix) names; an unknown one stops the command."""
    from qr import keys as qr_keys

    try:
        return qr_keys.resolve_kid(settings.keys_path, kid)
    except qr_keys.KeyringError as exc:
        raise CLIError(str(exc)) from None


def cmd_keys_init(args: argparse.Namespace, settings: Settings) -> int:
    created = init_keys(settings)
    for path in created:
        print(f"created {path}")
    if not created:
        print("all keys present")
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from qr import keys as qr_keys

    kid = qr_keys.rotate(settings.keys_path)
    print(f"new QR signing key {kid} signs from now on; earlier keys keep verifying until retired")
    return 0


def cmd_keys_retire(args: argparse.Namespace, settings: Settings) -> int:
    from qr import key_admin
    from qr import keys as qr_keys

    info = resolve_kid(settings, args.kid)
    if info.status == qr_keys.ACTIVE:
        raise CLIError(f"{info.kid} is the active key: rotate first, then retire it")

    async def go() -> int:
        # Retiring refuses every code the key signed: not while active codes still carry it, unless forced.
        done = await key_admin.retire(keys_path=settings.keys_path, kid=info.kid, force=args.force)
        return done.refused_codes

    try:
        refused = run_with_db(go, settings)
    except key_admin.StillSigning as exc:
        raise CLIError(
            f"{exc.remaining:,} active codes are still signed by {info.kid}: reissue them first "
            f"(gmid qr reissue --kid {info.kid}), or retire with --force to refuse them"
        ) from None
    except qr_keys.KeyringError as exc:
        raise CLIError(str(exc)) from None
    if refused:
        print(
            f"QR signing key {info.kid} is retired: the {refused:,} active codes it signed are refused "
            f"from now on (reissue them: gmid qr reissue --kid {info.kid})"
        )
    else:
        print(f"QR signing key {info.kid} is retired: codes it signed are refused")
    return 0


def cmd_keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from qr import keys as qr_keys

    ring = qr_keys.load(settings.keys_path)
    for info in sorted(ring.keys.values(), key=lambda k: k.created_at):
        print(
            f"{info.kid}  {info.status:9}  created {info.created_at}"
            + (f"  retired {info.retired_at}" if info.retired_at else "")
        )
    return 0


def cmd_keys_rotate_pii(args: argparse.Namespace, settings: Settings) -> int:
    from identity.pii import rotate_pii_key

    if settings.pii_keys:
        raise CLIError("PII keys come from GMID_PII_KEYS: add the new key there instead")
    kid = rotate_pii_key(settings.keys_path)
    print(f"new PII key {kid} is active; restart the workers to use it")
    return 0
