"""``gmid serve``: the HTTP server (and, on a single machine, the background jobs beside it)."""

from __future__ import annotations

import argparse
import gc
import os
import shutil
from functools import partial
from typing import TYPE_CHECKING, Any

from server.settings import Settings

if TYPE_CHECKING:
    from sanic import Sanic

    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    p = commands.add_parser("serve", help="run the HTTP server")
    p.add_argument("--workers", type=int)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--dev", action="store_true", help="auto-reload and debug (never in production)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    changes: dict[str, Any] = {}
    if args.workers:
        changes["workers"] = args.workers
    if args.host:
        changes["host"] = args.host
    if args.port:
        changes["port"] = args.port
    settings = settings.replace(**changes)
    _check_keys(settings)
    # With several workers, metrics are merged through files in this folder (set before any import);
    # one worker keeps them in memory, which is cheaper per request.
    metrics_dir = settings.var_path / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    if settings.workers > 1:
        metrics_dir.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

    from server import graceful_stop
    from server.lingering_close import LingeringHttpProtocol

    graceful_stop.install()  # before Sanic's manager exists: it binds its signal handler when created
    loader = AppLoader(factory=partial(served_app, settings))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        motd=False,
        dev=args.dev,
        protocol=LingeringHttpProtocol,
    )
    print(
        f"gmid: serving on http://{settings.host}:{settings.port} (docs at /docs); "
        f"QR codes point at {settings.public_base_url}/q/"
        + (" (GMID_PUBLIC_BASE_URL unset)" if settings.public_base_url_derived else ""),
        flush=True,
    )
    Sanic.serve(primary=app, app_loader=loader)
    return 0


def served_app(settings: Settings) -> Sanic:
    """The app as each worker of ``gmid serve`` runs it: once started, what it holds for good (modules,
    routes, models, keys) is frozen out of the garbage collector's reach. A full collection walked all
    of it, some 165,000 objects and 60-70 ms with every request waiting; now it walks only what requests
    leave behind. (Not in ``create_app``: a test process starts many apps, and frozen objects are never
    freed.)"""
    from server.app import create_app

    app = create_app(settings)
    app.after_server_start(_freeze_what_startup_made)  # last: after every listener create_app added
    return app


async def _freeze_what_startup_made(app: Sanic) -> None:
    gc.collect()  # startup's own garbage goes first: frozen, it would stay for good
    gc.freeze()


def _check_keys(settings: Settings) -> None:
    """Every key the server needs loads, before it forks workers: a missing one stops here, in one line."""
    from identity.pii import PiiKeyRing
    from qr import keys as qr_keys
    from server.app import load_access_token_secret

    load_access_token_secret(settings)
    PiiKeyRing.from_settings(settings)
    qr_keys.load(settings.keys_path)
