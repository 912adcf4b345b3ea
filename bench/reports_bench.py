"""明心桥 reports at scale: the building import, the grid feed on 1,000,000 reports, a day of 4,100 reports.

On its own PostgreSQL database (``--bench-database``, default ``gmid_reports_bench``, dropped and
created again on the server of ``--database-url``; the URL's own database is only used to connect):

1. **Building import**: ``gmid buildings demo-file`` writes the 15,016-building demo file and
   ``gmid import buildings FILE`` imports it (subprocesses, wall clock; target under 60 s).
2. **Seed**: N reports (default 1,000,000) at about 4,100 a day, so about eight months of history, with
   ``COPY`` (asyncpg), then ``ANALYZE``. Each report's life is simulated from its submission to now
   (accepted after ~15 min, dispatched ~10 min later, started ~2 h later, resolved ~2.5 days later,
   rated and closed; some returned, rejected, reopened or merged): most are closed, the newest are in
   each open state, with the deadline of their state (``due_at``), overdue and escalated when it has
   passed; only the states with a deadline (submitted, accepted, rejected, reopened, dispatched,
   in_progress, resolved) have ``due_at``: every other state has none and is never overdue, as the
   feed's first run relies on. No ``report_event`` or SLA timer rows are written for the seeded
   reports (the feed reads neither). Reporters are seeded resident accounts.
3. **Feed**: ``gmid serve`` runs against the database (the migrations' indexes, nothing made by
   hand); staff sign in over HTTP (``/api/v1/auth/login``) at a grid, its community, its street and
   the district; ``GET /api/v1/grid/feed`` is measured at ``--concurrency`` clients: the first page,
   the following pages (the cursor the API returns, as an opaque string), and with a state, a
   category or an overdue filter (target: p99 under 50 ms at the district level; also one client at
   a time there, the service time). Then, in this process, for the district's and the grid's first
   page: the statements ``feed_service.feed`` sends (captured from Tortoise's query log) under
   ``EXPLAIN (ANALYZE, BUFFERS)`` with the index each reads, and how many SQL statements one page
   costs as the route makes it (``feed_service.feed``, then ``answers.report_outs``).
4. **A day**: ``--day`` reports (default 4,100) submitted over HTTP by residents and party members
   (and some by grid staff) across the grids, with a mix of categories and buildings, each taken
   through its transitions as fast as ``--concurrency`` clients go: the grid worker accepts and
   dispatches (to the suggested department), the street's officer starts and resolves, the reporter
   confirms with a satisfaction score, the grid closes; some are returned and resubmitted, rejected
   (退单) and dispatched again, reopened by an unsatisfied reporter, merged into another, or left open
   at the end of the day. Reporters look at their report and at similar ones; grid workers at their
   feed. Then the SLA scheduler runs here with a clock one day later, over the day's open reports.

    .venv/bin/python bench/reports_bench.py --database-url postgres://gmid@127.0.0.1:55432/gmid \\
        --reports 50000 --day 300                                     # quick
    .venv/bin/python bench/reports_bench.py --database-url postgres://gmid@127.0.0.1:55432/gmid  # the real figures

``--database-url`` defaults to ``GMID_BENCH_DATABASE_URL``. Redis is the embedded one in a temporary
``GMID_VAR_DIR`` unless ``--redis-url``. The server runs with its notification dispatcher (WeChat is not
configured: the content check is skipped and messages go to the console channel), without rate limits,
and with 6-hour access tokens (staff sign in once for the whole run). The bench database is dropped at
the end unless ``--keep``. The client, the server and the database share this machine's CPUs: the
figures describe this machine and this run only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import (
    GMID,
    HOST,
    Workspace,
    free_port,
    gmid,
    gmid_env,
    require_gmid,
    run,
    run_async,
    run_plain,
    server_env,
)
from _reports_day import DayFigures, notification_counts, plan_day, run_day, run_sla
from _reports_feed import FEED_P99_TARGET_MS, Anatomy, FeedFigure, anatomy, plan_summary, run_feed
from _reports_people import prepare, sign_in
from _reports_seed import PER_DAY, Seeded, seed
from _seeding import asyncpg_dsn, bench_database
from buildings_import_bench import TARGET_SECONDS as IMPORT_TARGET_SECONDS

from identity import hierarchy
from miniapp_api.reports import feed as feed_service
from miniapp_api.reports.models import Report
from miniapp_api.reports.states import State
from server import db
from server.cli import init_keys
from server.settings import Settings

# Reporting ---------------------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value:8.1f}" if value >= 100 else f"{value:8.2f}"


def print_feed(title: str, rows: Sequence[FeedFigure], scopes: dict[str, tuple[str, int]]) -> None:
    print(title)
    print(f"  {'level':<10} {'figure':<32} {'items':>5} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}  target")
    for row in rows:
        f = row.figures
        target = ""
        if row.level == "district":
            target = f"p99 < {FEED_P99_TARGET_MS:g} ms: {'met' if f.p(0.99) < FEED_P99_TARGET_MS else 'NOT met'}"
        print(
            f"  {row.level:<10} {row.variant:<32} {row.items:>5} {f.rps:>7,.0f} {ms(f.p(0.5))} {ms(f.p(0.99))} "
            f"{f.errors:>6}  {target}".rstrip()
        )
    for level, (path, count) in scopes.items():
        print(f"  {level}: {path}, {count:,} reports in the default feed")


def print_anatomy(title: str, a: Anatomy, limit: int) -> None:
    print(title)
    for n, (sql, params, plan) in enumerate(a.plans, 1):
        print(f"  statement {n} of feed_service.feed: {plan_summary(plan)}")
        print(f"  SQL: {sql}")
        print(f"  parameters: {params}")
        for line in plan:
            print(f"    {line}")
    kinds = ", ".join(f"{n} x {k}" for k, n in a.statement_kinds.most_common())
    print(f"  one page of {limit} as the route makes it runs {a.statements} SQL statements: {kinds}")
    print(
        f"  one call at a time, in this process: feed_feed_service.feed {a.query_ms:.2f} ms; with answers.report_outs "
        f"{a.page_ms:.2f} ms ({a.page_ms - a.query_ms:.2f} ms building the page)"
    )


def print_day(title: str, day: DayFigures, lives: int) -> None:
    print(title)
    print(
        f"  {day.submitted:,} reports submitted in {lives:,} lives; {day.requests:,} requests in {day.seconds:.1f} s "
        f"({day.requests / day.seconds if day.seconds else 0:,.0f} requests/s, "
        f"{day.submitted / day.seconds if day.seconds else 0:,.1f} reports/s); "
        f"closed {day.outcomes['closed']:,}, merged {day.outcomes['merged']:,}, left open "
        f"{day.outcomes['left dispatched'] + day.outcomes['left resolved']:,}; failed lives {day.failed_lives:,}"
    )
    print(f"  {'route':<48} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for label in sorted(day.routes, key=lambda k: (-len(day.routes[k].latencies_ns), k)):
        f = day.routes[label]
        print(f"  {label:<48} {len(f.latencies_ns):>8,} {ms(f.p(0.5))} {ms(f.p(0.99))} {f.errors:>6}")
    for why, count in day.failures.most_common(5):
        print(f"  failed: {count:,} x {why}")


# Main --------------------------------------------------------------------------------------------------


async def feed_scopes(settings: Settings, feed_staff: Sequence[tuple[str, str, str]]) -> dict[str, tuple[str, int]]:
    await db.open_db(settings)
    try:
        shown = list(feed_service.FEED_STATES)
        return {
            level: (path, await Report.filter(node_path__startswith=path, state__in=shown).count())
            for level, path, _ in feed_staff
        }
    finally:
        await db.close_db()


async def database_facts(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        version = str(await conn.fetchval("SHOW server_version")).split()[0]
        collation = await conn.fetchval("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        settings = [f"{k}={await conn.fetchval(f'SHOW {k}')}" for k in ("shared_buffers", "work_mem")]
        return f"PostgreSQL {version}, collation {collation}, {', '.join(settings)}"
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("GMID_BENCH_DATABASE_URL"),
        help="a PostgreSQL server to make the bench database on (default: GMID_BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--bench-database", default="gmid_reports_bench", help="the database dropped and created for the bench"
    )
    parser.add_argument("--redis-url", help="default: the embedded Redis in the temporary folder")
    parser.add_argument("--buildings", type=int, default=15_016, help="buildings in the demo file (default 15,016)")
    parser.add_argument("--reports", type=int, default=1_000_000, help="reports to seed (default 1,000,000)")
    parser.add_argument("--day", type=int, default=PER_DAY, help="reports of the simulated day (default 4,100)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per feed figure (default 200)")
    parser.add_argument("--warmup", type=int, default=32, help="unmeasured requests before each (default 32)")
    parser.add_argument("--page-size", type=int, default=20, help="the feed's limit (default 20, as the app asks)")
    parser.add_argument("--pages", type=int, default=5, help="follow the cursor up to this page (default 5)")
    parser.add_argument("--workers", type=int, default=1, help="gmid serve worker processes (default 1)")
    parser.add_argument("--client", choices=["httpx", "raw"], default="raw", help="raw keep-alive HTTP/1.1 (default)")
    parser.add_argument("--processes", type=int, default=1, help="report-generating processes (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database and the temporary folder")
    args = parser.parse_args(argv)

    if not args.database_url or not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url (or GMID_BENCH_DATABASE_URL) must be a PostgreSQL URL")
    if args.bench_database == (urlparse(args.database_url).path.lstrip("/") or "postgres"):
        parser.error("--bench-database must not be the URL's own database: it is dropped")
    if not args.bench_database.replace("_", "").isalnum():
        parser.error("--bench-database: letters, digits and underscores only")
    if not 1 <= args.reports <= 20_000_000 or not 1 <= args.day <= 1_000_000 or args.buildings < 0:
        parser.error("--reports from 1 to 20,000,000, --day from 1 to 1,000,000, --buildings not negative")
    if not 1 <= args.concurrency <= 1000 or args.requests < 1 or args.warmup < 0 or not 1 <= args.page_size <= 200:
        parser.error("--concurrency 1 to 1000, --requests at least 1, --warmup not negative, --page-size 1 to 200")
    require_gmid(parser)
    return run("reports_bench", lambda work: bench(args, work), prefix="gmidrp-", keep=args.keep)


def bench(args: argparse.Namespace, work: Workspace) -> int:
    at_start = os.getloadavg()[0]
    url = bench_database(args.database_url, args.bench_database, work, keep=args.keep)
    if args.keep:
        work.callback(lambda: print(f"kept the database {args.bench_database}", file=sys.stderr))
    settings = Settings(var_dir=str(work.var_dir), database_url=url, redis_url=args.redis_url, log_level="WARNING")
    facts = asyncio.run(database_facts(url))
    print(
        f"{facts}; database {args.bench_database}; {os.cpu_count()} CPU cores shared by client, server and "
        f"database; 1-minute load average {at_start:.2f} at the start",
        flush=True,
    )
    init_keys(settings)
    run_plain(lambda: db.migrate(settings))
    env = gmid_env(settings)

    # 1. The building import, as buildings_import_bench times it.
    residents = max(50, args.day // 2)
    party_members = max(10, args.day // 40)
    gmid(env, "load-hierarchy", str(hierarchy.demo_file()), cwd=work.path)  # with grids, as the demo buildings need
    demo = work.path / "buildings-demo.csv"
    made, _ = gmid(env, "buildings", "demo-file", str(demo), "--count", str(args.buildings), cwd=work.path)
    import_seconds, out = gmid(env, "import", "buildings", str(demo), "--quiet", cwd=work.path)
    summary = next((line for line in out.splitlines() if line.startswith("buildings:")), out.strip())
    verdict = "met" if import_seconds < IMPORT_TARGET_SECONDS else "NOT met"
    print(
        f"building import: {args.buildings:,} demo buildings ({demo.stat().st_size / 1e6:.1f} MB, made in "
        f"{made:.1f} s): `gmid import buildings` {import_seconds:.2f} s wall, process start included; "
        f"target under {IMPORT_TARGET_SECONDS:.0f} s: {verdict}\n    gmid: {summary}",
        flush=True,
    )

    # 2. The seeded history.
    people = run_plain(lambda: prepare(settings, residents, party_members))
    seeded = run_plain(
        lambda: seed(settings, args.reports, [g.path for g in people.grids], people.buildings, args.processes)
    )
    print_seeded(seeded)
    scopes = run_plain(lambda: feed_scopes(settings, people.feed_staff))

    # 3. The feed, over HTTP.
    port = free_port()
    # Every staff account signs in from this one address: more than identity.auth.login allows an address a minute.
    server_environment = server_env(settings, port, args.workers, lifted_routes=("identity.auth.login",))
    server_environment["GMID_NOTIFY_WORKER"] = "true"  # as in production: the dispatcher and SLA timers
    # Staff sign in once for the whole run (the app would refresh its 15-minute tokens instead).
    server_environment["GMID_ACCESS_TOKEN_TTL"] = str(6 * 3600)
    ours = work.start_server(
        "gmid serve",
        [str(GMID), "serve", "--workers", str(args.workers), "--port", str(port)],
        env=server_environment,
        port=port,
    )
    ours.wait_ready()
    base_url = f"http://{HOST}:{port}"
    usernames = [u for _, _, u in people.feed_staff]
    usernames += [u for u in people.grid_usernames.values() if u not in usernames]
    usernames += list(people.officer_usernames.values())
    signed, login = run_async(sign_in(base_url, usernames, args.concurrency))
    print(
        f"signed in {len(signed):,} staff over HTTP in {login.seconds:.1f} s "
        f"(POST /api/v1/auth/login p50 {login.p(0.5):.0f} ms, p99 {login.p(0.99):.0f} ms: scrypt)",
        flush=True,
    )
    feed_tokens = [(level, signed[username]) for level, _, username in people.feed_staff]
    print("feed:", file=sys.stderr, flush=True)
    before = os.getloadavg()[0]
    feed = run_async(run_feed(args, base_url, feed_tokens))
    print_feed(
        f"feed: GET /api/v1/grid/feed?limit={args.page_size}, {args.concurrency} concurrent {args.client} "
        f"clients, {args.requests:,} requests per figure after {args.warmup:,} warm-up, 1 server worker"
        f"{'s' if args.workers > 1 else ''} x {args.workers}; load average {before:.2f} before",
        feed,
        scopes,
    )
    paths = {level: path for level, path, _ in people.feed_staff}
    for level in ("district", "grid"):
        shape = asyncio.run(anatomy(settings, paths[level], args.page_size))
        print_anatomy(f"the {level}'s first page ({paths[level]}), in this process:", shape, args.page_size)
    sys.stdout.flush()

    # 4. The day, on the same database.
    staff = {path: signed[u] for path, u in people.grid_usernames.items()}
    staff.update({path: signed[u] for _, path, u in people.feed_staff})  # the district's, for colleagues
    officers = {path: signed[u] for path, u in people.officer_usernames.items()}
    lives = plan_day(people, args.day, random.Random(args.day))
    day_started = dt.datetime.now(dt.UTC)
    day = run_async(run_day(args, base_url, lives, staff, officers, "the day"))
    print_day(
        f"a day of {args.day:,} reports at {args.concurrency} concurrent clients, as fast as they go:",
        day,
        len(lives),
    )
    sla = run_plain(lambda: run_sla(settings, day_started))
    print(
        f"  SLA scheduler, clock one day on: {sla.fired:,} timers fired (each an escalation one level up) in "
        f"{sla.seconds:.1f} s; {sla.escalations:,} escalate events; {sla.open_timers:,} timers still pending"
    )
    time.sleep(3)  # the dispatcher's last batch
    sent = run_plain(lambda: notification_counts(settings))
    print(
        "  report.updated notifications: " + ", ".join(f"{n:,} {status}" for status, n in sent.most_common()),
        flush=True,
    )
    after = os.getloadavg()[0]
    print(f"load average {after:.2f} at the end")
    failed = sum(f.figures.errors for f in feed) + day.failed_lives
    return 1 if failed else 0


def print_seeded(seeded: Seeded) -> None:
    in_feed = {s: n for s, n in seeded.states.items() if State(s) in feed_service.FEED_STATES}
    print(
        f"seeded {seeded.reports:,} reports ({seeded.days:.0f} days at {PER_DAY:,} a day) of {seeded.reporters:,} "
        f"residents in {seeded.seconds:.1f} s: {seeded.reports / seeded.seconds:,.0f} reports/s (COPY; ANALYZE "
        f"{seeded.analyze_seconds:.1f} s of it)"
    )
    print(
        "  by state: "
        + ", ".join(f"{state} {n:,}" for state, n in seeded.states.most_common())
        + f"; {sum(in_feed.values()):,} in the default feed ({', '.join(sorted(feed_service.FEED_STATES))}), "
        f"{seeded.overdue:,} overdue, {seeded.without_deadline:,} of them without a deadline",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
