"""The background jobs, apart from the web servers: ``gmid worker`` (every feature's jobs) and
``gmid notify-worker`` (the notification dispatcher alone, with its own knobs)."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

from server.cli.common import CLIError
from server.settings import Settings

if TYPE_CHECKING:
    from server.cli.common import Subparsers


def register(commands: Subparsers) -> None:
    p = commands.add_parser("worker", help="run the background jobs (notifications, SLA timers, report analysis)")
    p.add_argument("--once", action="store_true", help="run each job once (what is due now), then exit")
    p.add_argument("--job", action="append", metavar="NAME", help="only this job (repeat for several)")
    p.set_defaults(func=cmd_worker)

    p = commands.add_parser("notify-worker", help="run the notification dispatcher (outbox -> WeChat, SMS, email)")
    p.add_argument("--once", action="store_true", help="send what is due now, then exit")
    p.add_argument("--concurrency", type=int, help="sends in flight at once (GMID_NOTIFY_CONCURRENCY)")
    p.add_argument("--batch-size", type=int, help="rows claimed at a time (GMID_NOTIFY_BATCH_SIZE)")
    p.set_defaults(func=cmd_notify_worker)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Every feature's background jobs in one process, apart from the web servers (run one or more,
    on any machine, with GMID_NOTIFY_WORKER=false on the web servers)."""
    from server.logs import configure_logging
    from server.worker import all_jobs, run_worker

    only = set(args.job or ())
    try:
        names = [job.name for job in all_jobs(settings, only)]
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    configure_logging(settings.log_level)
    if not args.once:
        print(f"gmid: background jobs running: {', '.join(names)} (Ctrl-C to stop)", flush=True)
    asyncio.run(run_worker(settings, once=args.once, only=only))
    if args.once:
        print(f"gmid: ran {', '.join(names)} once")
    return 0


def cmd_notify_worker(args: argparse.Namespace, settings: Settings) -> int:
    """The notification dispatcher alone (`gmid worker --job notify.dispatcher`, with its own knobs)."""
    from notify.dispatcher import Policy
    from notify.worker import DISPATCHER_JOB, dispatcher_of
    from server.logs import configure_logging
    from server.worker import run_worker

    changes: dict[str, Any] = {}
    for flag, attr, value, most in (
        ("--concurrency", "notify_concurrency", args.concurrency, 256),  # GMID_NOTIFY_CONCURRENCY's range
        ("--batch-size", "notify_batch_size", args.batch_size, 1000),
    ):
        if value is not None:
            if not 1 <= value <= most:
                raise CLIError(f"{flag} must be from 1 to {most}")
            changes[attr] = value
    settings = settings.replace(**changes)
    Policy.from_settings(settings)  # a bad combination stops here with one line
    configure_logging(settings.log_level)
    if not args.once:
        print("gmid: notification dispatcher running (Ctrl-C to stop)", flush=True)
    ctx = asyncio.run(run_worker(settings, once=args.once, only={DISPATCHER_JOB}))
    if args.once:
        print(f"gmid: sent {dispatcher_of(ctx).sent_count} notification(s)")
    return 0
