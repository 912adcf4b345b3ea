"""``gmid reports train``: the 明心桥 report classifier."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from server.cli.common import run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    reports = commands.add_parser("reports", help="明心桥 reports").add_subparsers(dest="reports_cmd", required=True)
    p = reports.add_parser("train", help="retrain the report classifier (a new version under VAR_DIR/models)")
    p.add_argument("--messages", help="the labelled messages CSV (id,title,text,label); default: the bundled one")
    p.add_argument("--if-missing", action="store_true", help="only when no model has been trained here yet")
    p.add_argument(
        "--ship",
        action="store_true",
        help="remake the model shipped in the package from the bundled messages (make model)",
    )
    p.set_defaults(func=cmd_reports_train)


def cmd_reports_train(args: argparse.Namespace, settings: Settings) -> int:
    """Retrain the report classifier and save the next version; running apps load it by themselves.
    With --ship: remake the model shipped in the package from the bundled messages alone (`make model`)."""
    import time
    from pathlib import Path

    from miniapp_api.clinic import classifier, training

    if args.ship:
        if args.messages or args.if_missing:
            print("--ship trains on the bundled messages alone (no --messages, no --if-missing)", file=sys.stderr)
            return 2
        started = time.monotonic()
        model = classifier.ship()
        size = sum(p.stat().st_size for p in classifier.SHIPPED.iterdir() if p.is_file())
        print(
            f"shipped {model.version} trained on {model.data['rows']:,} messages "
            f"(SHA-256 {model.data['sha256'][:16]}…) in {time.monotonic() - started:.0f} s, "
            f"cross-validated macro-F1 {model.metadata.get('cv_macro_f1_mean')} -> {classifier.SHIPPED} "
            f"({size / 1e6:.1f} MB)"
        )
        return 0
    if args.if_missing:
        from miniapp_api.clinic import analysis

        present = classifier.load_latest(analysis.model_dir(settings.var_dir))
        if present is not None:
            print(f"classifier {present.version} present; not retrained")
            return 0

    async def go() -> int:
        messages = Path(args.messages) if args.messages else None
        model, path, found = await training.retrain(settings.var_dir, messages)
        print(
            f"trained {model.version} on {len(found.samples):,} texts ({found.public:,} public messages, "
            f"{found.corrected:,} categories confirmed or corrected here, {found.confirmed:,} reports dispatched "
            f"as filed) -> {path}"
        )
        return 0

    return run_with_db(go, settings)
