"""``gmid qr``: verify a code, print sticker sheets, reissue the codes a retiring key signed.

A kid may start with "-": ``server.cli`` reads ``qr reissue --kid -Ab3...`` as a kid, not an option.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from server.cli.common import CLIError, qr_keyring, run_with_db
from server.cli.keys import resolve_kid
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    qr = commands.add_parser("qr", help="QR e-ID codes").add_subparsers(dest="qr_cmd", required=True)
    p = qr.add_parser("verify", help="verify a code: a PNG/JPEG image, a scanned URL or a bare token")
    p.add_argument("code")
    p.set_defaults(func=cmd_qr_verify)
    p = qr.add_parser("sheet", help="print A4 sticker sheets (PDF) for every active credential of a kind")
    p.add_argument("--kind", required=True)
    p.add_argument("--node", help="only credentials under this hierarchy node")
    p.add_argument(
        "--reissued-since",
        metavar="TIME",
        help="only codes reissued since TIME (ISO 8601; UTC unless it has an offset): the stickers to replace",
    )
    p.add_argument("--out", required=True, help="the PDF file to write")
    p.add_argument("--workers", type=int, help="processes (default: every core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_qr_sheet)
    p = qr.add_parser("reissue", help="reissue, with the active key, every active code a key signed (resumable)")
    p.add_argument("--kid", required=True, help="the key whose codes to reissue (full kid or legacy 8 characters)")
    p.add_argument("--batch-size", type=int, default=200, help="credentials per transaction (default 200)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_qr_reissue)
    p = qr.add_parser(
        "new-epoch", help="a new revocation-feed epoch: every offline verifier drops its list and resyncs from zero"
    )
    p.set_defaults(func=cmd_qr_new_epoch)


def cmd_qr_new_epoch(args: argparse.Namespace, settings: Settings) -> int:
    from server.cli.backup import announce_new_epoch

    return announce_new_epoch(settings)


def cmd_qr_verify(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from qr import codec
    from qr import service as qr_service

    text = args.code
    path = Path(text)
    if len(text) < 400 and path.is_file():
        import zxingcpp
        from PIL import Image

        found = zxingcpp.read_barcodes(Image.open(path))
        if not found:
            raise CLIError(f"no QR code found in {path}")
        text = found[0].text

    async def go() -> int:
        with qr_keyring(settings):
            try:
                resolved = await qr_service.resolve(payload=text, base_url=settings.public_base_url)
            except codec.VerifyError as exc:
                where = f" ({exc.credential.kind} {exc.credential.public_id})" if exc.credential is not None else ""
                print(f"INVALID {exc.code}: {exc.message}{where}")
                return 1
        c = resolved.credential
        print(f"VALID {c.kind} {c.public_id} serial {c.serial} status {c.status.value}")
        return 0

    return run_with_db(go, settings)


def cmd_qr_sheet(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from identity import hierarchy
    from qr import kinds, render, sheets

    if kinds.by_name(args.kind) is None:
        raise CLIError(f"unknown kind {args.kind!r}; one of: {', '.join(k.name for k in kinds.all_kinds())}")
    try:
        render.find_cjk_font(settings.qr_font)
    except render.StickerFontError as exc:
        raise CLIError(str(exc)) from None
    reissued_since = None
    if args.reissued_since:
        try:
            reissued_since = datetime.fromisoformat(args.reissued_since)
        except ValueError:
            raise CLIError(f"--reissued-since {args.reissued_since!r} is not an ISO 8601 date or time") from None
        if reissued_since.tzinfo is None:
            reissued_since = reissued_since.replace(tzinfo=UTC)

    async def go() -> int:
        node_path = None
        if args.node:
            node = await hierarchy.get_by_code(args.node)
            if node is None:
                raise CLIError(f"no hierarchy node {args.node}")
            node_path = node.path
        query = sheets.printable(kind=args.kind, node_path=node_path, reissued_since=reissued_since)
        total = await query.count()
        if total == 0:
            raise CLIError("no active credentials match; nothing to print")
        result = await sheets.write_sheets(
            kind=args.kind,
            node_path=node_path,
            reissued_since=reissued_since,
            base_url=settings.public_base_url,
            out=Path(args.out),
            font=settings.qr_font,
            workers=args.workers,
            total=total,
            on_progress=None if args.quiet else sheets.progress_bar,
        )
        if not args.quiet:
            print(file=sys.stderr)
        print(
            f"{result.stickers:,} stickers on {result.pages:,} A4 pages in {result.seconds:.1f} s "
            f"({result.stickers / max(result.seconds, 1e-9):,.0f}/s) -> {result.path}"
        )
        return 0

    return run_with_db(go, settings)


def cmd_qr_reissue(args: argparse.Namespace, settings: Settings) -> int:
    from qr import rekey
    from qr import service as qr_service

    if args.batch_size < 1:
        raise CLIError("--batch-size must be at least 1")
    info = resolve_kid(settings, args.kid)

    async def go() -> int:
        with qr_keyring(settings) as cache:
            if cache.get().active_kid == info.kid:
                raise CLIError(f"{info.kid} is the active key: rotate first (gmid keys rotate), then reissue its codes")
            total = await qr_service.signed_by(info.kid).count()
            result = await rekey.reissue_signed_by(
                kid=info.kid,
                batch_size=args.batch_size,
                total=total,
                on_progress=None if args.quiet else rekey.progress_bar,
            )
            since = await qr_service.rekeyed_since(kid=info.kid)
        if not args.quiet and total:
            print(file=sys.stderr)
        for failure in result.failed:
            print(f"not reissued: {failure}")
        print(
            f"{result.reissued:,} codes signed by {info.kid} reissued with {cache.get().active_kid} "
            f"in {result.seconds:.1f} s; {len(result.failed):,} could not be"
        )
        if since is not None:
            # Every old sticker now answers `superseded`: print the new ones.
            for kind in sorted(await _kinds_rekeyed(info.kid)):
                print(f"new stickers: gmid qr sheet --kind {kind} --reissued-since {since.isoformat()} --out FILE.pdf")
        return 1 if result.failed else 0

    return run_with_db(go, settings, scan_cache=True)


async def _kinds_rekeyed(kid: str) -> set[str]:
    from qr import service as qr_service
    from qr.models import RevocationEntry

    rows = await RevocationEntry.filter(reason=qr_service.rekey_reason(kid)).distinct().values_list("kind", flat=True)
    return {str(kind) for kind in rows}
