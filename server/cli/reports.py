"""``gmid reports train``: the 明心桥 report classifier."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from server.cli.common import run_with_db
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    reports = commands.add_parser("reports", help="明心桥 reports").add_subparsers(dest="reports_cmd", required=True)
    p = reports.add_parser("train", help="retrain the report classifier (a new version under VAR_DIR/models)")
    p.add_argument("--messages", help="the labelled messages CSV (id,title,text,label); default: the bundled one")
    p.add_argument("--if-missing", action="store_true", help="only when no model has been trained yet (make run)")
    p.set_defaults(func=cmd_reports_train)


def cmd_reports_train(args: argparse.Namespace, settings: Settings) -> int:
    """Retrain the report classifier and save the next version; running apps load it by themselves."""
    from pathlib import Path

    from miniapp_api.clinic import training

    if args.if_missing:
        from miniapp_api.clinic import analysis, classifier

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
