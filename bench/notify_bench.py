"""Notification throughput and enqueue-to-delivery latency, through real ``gmid notify-worker`` processes.

This process starts the loopback WeChat and SMS fakes and a real SMTP server (aiosmtpd) from
``tests/support``, then N dispatchers as ``gmid notify-worker`` subprocesses pointed at them, and
enqueues notifications in batches, one transaction per batch (``enqueue(..., using_db=conn)``).
Recipients take turns through ``--mix``: an openid (WeChat subscribe message ``ebike.stolen``), a phone
only (SMS) or an email address only; repeat a name to weight it (``wechat,wechat,sms``). Every
recipient and event is distinct, so neither the dedup window nor the per-recipient limits hold
anything back. When every row is ``sent``, each row's latency is the time its fake recorded the
delivery minus the row's ``created_at``.

    .venv/bin/python bench/notify_bench.py                      # 10,000 on SQLite + embedded Redis
    .venv/bin/python bench/notify_bench.py --count 1000 --workers 4 --rate 200
    .venv/bin/python bench/notify_bench.py --database-url postgres://gmid@127.0.0.1:5432/bench \\
        --redis-url redis://127.0.0.1:6379/0

Defaults: a temporary ``GMID_VAR_DIR`` with fresh keys, a SQLite file and the embedded Redis. A
``--database-url`` must name an empty (or fresh) database: it is migrated, and any rows already due
in it would be dispatched too. Without ``--rate`` the whole count is enqueued as fast as possible,
so the latency figures are mostly queueing time. The fakes run in this process and share the CPUs
with the dispatchers: the figures describe this machine and this run only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import GMID, Process, Workspace, gmid_env, require_gmid, run
from _load import percentile
from aiosmtpd.smtp import SMTP, Envelope, Session
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from identity import pii
from notify import outbox
from notify.models import Attempt, Notification, Status
from server import db
from server import redis as gmid_redis
from server.cli import init_keys
from server.settings import Settings
from tests.support.sms_fake import SmsFake
from tests.support.smtp_server import SmtpServer
from tests.support.wechat_fake import WeChatFake

SENDER = "noreply@gm.example.cn"
CHANNELS = ("wechat", "sms", "email")


class TimedSmtpServer(SmtpServer):
    """The test SMTP server, also noting when each Message-ID arrived (the other fakes record a time)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[str, float]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            with self._cond:  # the base class appended the message just now, with no await in between
                self.arrivals.append((str(self.messages[-1]["Message-ID"]), time.time()))
        return reply


Fakes = tuple[WeChatFake, SmsFake, TimedSmtpServer]


async def wait_ready(workers: list[Process], redis_url: str) -> None:
    """Until every dispatcher listens for wake-ups (a running ``Dispatcher.run`` subscribes)."""
    client = gmid_redis.make_client(redis_url)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for worker in workers:
                if worker.exited():
                    raise RuntimeError(f"{worker.name} exited with {worker.process.returncode}:\n{worker.log_tail()}")
            [(_, listening)] = await client.pubsub_numsub(outbox.WAKE_CHANNEL)
            if listening >= len(workers):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("the notify-workers did not start within 60 s")
    finally:
        await client.aclose()


@dataclass
class Run:
    rows: dict[str, tuple[str, float]] = field(default_factory=dict)  # public id -> (channel, created_at)
    by_openid: dict[str, str] = field(default_factory=dict)  # the WeChat fake knows messages by touser
    ids: list[int] = field(default_factory=list)
    started: float = 0.0
    enqueue_seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    load: float = 0.0  # 1-minute load average before the run: other work on the machine skews the figures
    retaken: int = 0  # rows taken again after their lease ran out (their first send may have gone out)


async def enqueue_all(args: argparse.Namespace, run: Run) -> None:
    tag = f"{int(time.time())}-{os.getpid()}"
    lost_at = dt.datetime.now(dt.UTC).isoformat()
    run.started = time.time()
    for first in range(0, args.count, args.batch):
        if args.rate:
            await asyncio.sleep(max(0.0, run.started + first / args.rate - time.time()))
        async with in_transaction() as conn:
            for i in range(first, min(first + args.batch, args.count)):
                channel = args.mix[i % len(args.mix)]
                row = await outbox.enqueue(
                    template="ebike.stolen",
                    data={"bike": f"GM{i:07d}", "lost_at": lost_at, "location": "光明区华夏路", "alarm_id": f"A{i}"},
                    idempotency_key=f"bench-{tag}-{i}",
                    openid=f"obench{tag}-{i:07d}" if channel == "wechat" else None,
                    phone=f"139{i:08d}" if channel == "sms" else None,
                    email=f"user{i}@bench.example.cn" if channel == "email" else None,
                    using_db=conn,
                )
                run.rows[row.public_id] = (channel, row.created_at.timestamp())
                run.ids.append(row.id)
                if row.openid:
                    run.by_openid[row.openid] = row.public_id
    run.enqueue_seconds = time.time() - run.started


async def wait_sent(run: Run, deadline: float) -> None:
    """Poll until every row is sent or dead (nothing more will change), or the deadline passes."""
    shown = time.monotonic()
    while True:
        query = Notification.filter(id__gte=min(run.ids), id__lte=max(run.ids)).annotate(n=Count("id"))
        statuses = await query.group_by("status").values_list("status", "n")
        run.statuses = {str(status): int(n) for status, n in statuses}
        sent = run.statuses.get(Status.SENT, 0)
        if sent + run.statuses.get(Status.DEAD, 0) >= len(run.rows) or time.monotonic() > deadline:
            retaken = Attempt.filter(notification_id__gte=min(run.ids), notification_id__lte=max(run.ids))
            run.retaken = await retaken.filter(outcome__in=["in_doubt", "retaken"]).count()
            return
        if time.monotonic() - shown > 5:
            print(f"  ... {sent:,} of {len(run.rows):,} sent", file=sys.stderr, flush=True)
            shown = time.monotonic()
        await asyncio.sleep(0.1)


async def measure(args: argparse.Namespace, settings: Settings, workers: list[Process]) -> Run:
    redis_url = gmid_redis.redis_url_for(settings)
    await wait_ready(workers, redis_url)
    pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))
    await db.open_db(settings)
    client = gmid_redis.make_client(redis_url)
    outbox.set_wake_client(client)  # enqueue publishes wake-ups, as in the app
    try:
        run = Run(load=os.getloadavg()[0])
        await enqueue_all(args, run)
        await wait_sent(run, time.monotonic() + args.timeout)
        return run
    finally:
        outbox.set_wake_client(None)
        await client.aclose()
        await db.close_db()
        pii.set_vault(None)


def worker_noise(logs: list[Path]) -> Counter[str]:
    """The workers' log lines (JSON, WARNING and above) counted by message and last line of the exception."""
    noise: Counter[str] = Counter()
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                cause = (entry.get("exception") or "").strip().rpartition("\n")[2]
                message = re.sub(r" id=\S+", "", entry["message"])
                noise[f"{entry['level']} {message}: {cause}".rstrip(": ")] += 1
            elif line and not line.startswith("gmid: "):  # not through logging: a crash, a warning
                noise[line] += 1
    return noise


def report(args: argparse.Namespace, backend: str, fakes: Fakes, run: Run, logs: list[Path]) -> int:
    rows, t0 = run.rows, run.started
    wechat, sms, smtp = fakes
    arrivals: dict[str, list[float]] = defaultdict(list)  # public id -> delivery times at the fakes
    for m in wechat.messages:
        arrivals[run.by_openid.get(str(m.body.get("touser")), "?")].append(m.time)
    for s in list(sms.sent):
        arrivals[s.session_context or "?"].append(s.time)
    for message_id, at in smtp.arrivals:
        arrivals[message_id.strip("<>").partition("@")[0]].append(at)
    unknown = sum(len(times) for pid, times in arrivals.items() if pid not in rows)
    doubled = Counter(rows[pid][0] for pid, times in arrivals.items() if pid in rows for _ in times[1:])
    latency: dict[str, list[float]] = defaultdict(list)
    last: dict[str, float] = defaultdict(float)
    for pid, (channel, created) in rows.items():
        if arrivals.get(pid):
            first = min(arrivals[pid])
            for key in (channel, "all"):
                latency[key].append((first - created) * 1000)
                last[key] = max(last[key], first)
    enqueued = t0 + run.enqueue_seconds
    after = sum(1 for times in arrivals.values() if times and min(times) > enqueued)
    not_sent = len(rows) - run.statuses.get(Status.SENT, 0)
    wall = last["all"] - t0 if last["all"] else float("nan")

    print(
        f"{backend}, {args.workers} notify-worker processes (concurrency {args.concurrency}, batch {args.claim}), "
        f"{os.cpu_count()} CPU cores shared with the fakes and this process; load average before the run "
        f"{run.load:.2f}"
    )
    rate = f"paced at {args.rate:g}/s" if args.rate else "as fast as possible"
    print(f"enqueued {len(rows):,} in {run.enqueue_seconds:.2f} s ({len(rows) / run.enqueue_seconds:,.0f}/s, {rate})")
    print(f"delivered {len(latency['all']):,} of {len(rows):,}; first enqueue to last delivery {wall:.2f} s")
    print(f"{'channel':<8} {'count':>7} {'msg/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for key in (*[c for c in CHANNELS if c in args.mix], "all"):
        values = sorted(latency[key])
        per_s = len(values) / (last[key] - t0) if last[key] else 0.0
        print(
            f"{key:<8} {len(values):>7,} {per_s:>8,.0f} {percentile(values, 0.5):>9.1f} "
            f"{percentile(values, 0.99):>9.1f} {(values[-1] if values else float('nan')):>9.1f}"
        )
    if after and last["all"] > enqueued:
        print(f"after the last enqueue: {after:,} delivered at {after / (last['all'] - enqueued):,.0f} msg/s")
    duplicates = sum(doubled.values())
    by_channel = f" {dict(doubled)}" if duplicates else ""
    print(f"duplicates at the fakes: {duplicates}{by_channel}; rows not sent: {not_sent}")
    print(f"rows taken again after their lease ran out: {run.retaken}; unmatched deliveries: {unknown}")
    if not_sent:
        print(f"row statuses: {run.statuses}")
    noise = worker_noise(logs)
    print(f"worker log lines at WARNING or above: {sum(noise.values())}")
    for text, n in noise.most_common(5):
        print(f"  {n} x {text[:200]}")
    fake_errors = wechat.server_errors + sms.server_errors
    if fake_errors:
        print(f"errors inside the fakes: {len(fake_errors)}\n{fake_errors[0]}")
    return 0 if not (duplicates or not_sent or unknown or fake_errors) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="notifications to send (default 10,000)")
    parser.add_argument("--workers", type=int, default=2, help="gmid notify-worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=16, help="sends in flight per worker (default 16)")
    parser.add_argument("--claim", type=int, default=50, help="rows a worker claims at a time (default 50)")
    parser.add_argument("--batch", type=int, default=50, help="enqueues per transaction (default 50)")
    parser.add_argument("--rate", type=float, default=0, help="enqueues per second (default: as fast as possible)")
    parser.add_argument("--mix", default="wechat,sms,email", help="channels, in turn (default wechat,sms,email)")
    parser.add_argument("--database-url", help="an EMPTY database (default: a temporary SQLite file)")
    parser.add_argument("--redis-url", help="default: the embedded Redis in the temporary folder")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for delivery (default 600)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (worker logs)")
    args = parser.parse_args(argv)
    args.mix = [c.strip() for c in args.mix.split(",") if c.strip()]
    if not args.mix or any(c not in CHANNELS for c in args.mix):
        parser.error(f"--mix takes names from {', '.join(CHANNELS)}")
    if args.count < 1 or args.workers < 1 or args.batch < 1 or args.rate < 0:
        parser.error("--count, --workers and --batch must be at least 1, --rate not negative")
    require_gmid(parser)
    return run("notify_bench", lambda work: bench(args, work), prefix="gmidnb-", keep=args.keep)


def bench(args: argparse.Namespace, work: Workspace) -> int:
    backend = "PostgreSQL" if args.database_url and not args.database_url.startswith("sqlite") else "SQLite"
    embedded: gmid_redis.EmbeddedRedis | None = None
    smtp = TimedSmtpServer()
    with WeChatFake() as wechat, SmsFake() as sms, smtp:
        settings = Settings(
            var_dir=str(work.var_dir),
            database_url=args.database_url,
            redis_url=args.redis_url,
            log_level="WARNING",
            wechat_appid=wechat.appid,
            wechat_secret=wechat.secret,
            wechat_api_base_url=wechat.base_url,
            sms_secret_id=sms.secret_id,
            sms_secret_key=sms.secret_key,
            sms_sdk_app_id=sms.sdk_app_id,
            sms_sign_name=sms.sign_name,
            sms_endpoint=sms.base_url.rstrip("/"),
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            smtp_security="none",
            smtp_from=SENDER,
            notify_worker=False,
            notify_concurrency=args.concurrency,
            notify_batch_size=args.claim,
            notify_wechat_templates="ebike.stolen=TPL_STOLEN",
            notify_sms_templates="ebike.stolen=1001",
        )
        env = gmid_env(settings)
        init_keys(settings)
        try:
            if settings.uses_embedded_redis:
                embedded = gmid_redis.embedded_for(settings)
                embedded.start()
            asyncio.run(db.migrate(settings))
            workers = [
                work.start(f"notify-worker {i}", [str(GMID), "notify-worker"], env=env) for i in range(args.workers)
            ]
            measured = asyncio.run(measure(args, settings, workers))
            work.stop_processes()  # before reading their logs and the fakes' records
            return report(args, backend, (wechat, sms, smtp), measured, [worker.log_path for worker in workers])
        finally:
            # Workers first, while the fakes still answer; a second Ctrl-C must not skip this.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                work.stop_processes()
                if embedded is not None:
                    embedded.stop()
            finally:
                signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
