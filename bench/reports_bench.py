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
import contextlib
import datetime as dt
import logging
import os
import random
import re
import secrets
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _harness import (
    GMID,
    HOST,
    Figures,
    Progress,
    RawError,
    Request,
    Sender,
    Workspace,
    asyncpg_dsn,
    bench_database,
    error_code,
    expect,
    free_port,
    generate_in_processes,
    gmid,
    gmid_env,
    measure,
    require_gmid,
    run,
    run_async,
    run_plain,
    senders,
    server_env,
)
from buildings_import_bench import TARGET_SECONDS as IMPORT_TARGET_SECONDS
from tortoise import connections

from identity import hierarchy, tokens
from identity import service as identity_service
from identity.models import Account, Node
from identity.passwords import hash_password_async
from identity.roles import NodeLevel, Role
from miniapp_api.reports import access, answers, catalogue, service
from miniapp_api.reports import feed as feed_service
from miniapp_api.reports.models import Report, ReportEvent, SlaTimer
from miniapp_api.reports.sla import SlaScheduler
from miniapp_api.reports.states import State
from notify.models import Notification
from server import db
from server.app import load_access_token_secret
from server.auth import Principal
from server.cli import init_keys
from server.settings import Settings

FEED_P99_TARGET_MS = 50.0
PER_DAY = 4_100  # the district's reports a day: the seeded history's pace
CHUNK = 20_000
STAFF_PASSWORD = "bench-Reports-2026!"  # noqa: S105 - the bench's own throwaway staff accounts
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
BEIJING = dt.timezone(dt.timedelta(hours=8))

# What reports are about, and who files them ----------------------------------------------------------

CATEGORY_WEIGHTS: dict[str, float] = {
    "urban_construction": 24,
    "environment": 14,
    "rental_housing": 12,
    "public_order": 10,
    "transport": 10,
    "fire_safety": 8,
    "labour_social_security": 5,
    "health_family_planning": 4,
    "education_culture_sports": 3,
    "commerce_tourism": 3,
    "other": 7,
}
TEXTS: dict[str, tuple[str, ...]] = {
    "urban_construction": ("楼道灯坏了一个星期，晚上很黑", "小区门口路面塌陷，有积水", "井盖松动，走上去会响"),
    "environment": ("小区垃圾桶满了没人清理", "餐馆油烟直排，味道很大", "夜间施工噪音扰民"),
    "rental_housing": ("出租屋群租，人员进出频繁", "房东不退押金", "出租屋楼道堆放杂物"),
    "public_order": ("路口经常有人聚集喝酒吵闹", "电动车被盗", "有人在小区内发放传单"),
    "transport": ("公交站牌被撞歪了", "路边违章停车堵住消防通道", "红绿灯时间太短"),
    "fire_safety": ("楼道里有电动车充电", "消防栓被杂物挡住", "灭火器过期未更换"),
    "labour_social_security": ("工厂拖欠工资两个月", "社保缴纳有问题", "没有签劳动合同"),
    "health_family_planning": ("社康中心排队太久", "疫苗接种预约不上", "诊所无证行医"),
    "education_culture_sports": ("学校门口交通拥堵", "篮球场灯坏了", "图书馆开放时间太短"),
    "commerce_tourism": ("超市商品过期", "商铺占道经营", "菜市场缺斤少两"),
    "other": ("小区绿化带被毁", "流浪狗伤人", "建议增加便民服务点"),
}
SATISFACTION = ((5, 60), (4, 25), (3, 8), (2, 4), (1, 3))
CENTRE = (22.7489, 113.9354)  # Guangming


def weighted(rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def point(rng: random.Random) -> tuple[float, float]:
    return round(CENTRE[0] + rng.uniform(-0.05, 0.05), 6), round(CENTRE[1] + rng.uniform(-0.06, 0.06), 6)


def grid_weights(paths: Sequence[str]) -> list[float]:
    # Some grids are busier than others (an industrial park, an urban village): the same every run.
    rng = random.Random(20261201)
    return [rng.uniform(0.3, 2.0) for _ in paths]


# Seeding: every report's life, simulated from submission to now -----------------------------------------

REPORT_COLUMNS = (
    "id",
    "public_id",
    "report_no",
    "category_id",
    "text",
    "channel",
    "anonymous",
    "reporter_id",
    "building_code",
    "board_code",
    "lat",
    "lng",
    "node_path",
    "state",
    "state_since",
    "department_id",
    "merged_into_id",
    "due_at",
    "overdue",
    "escalation_level",
    "satisfaction",
    "comment",
    "created_at",
    "updated_at",
)
STATE, DUE_AT, OVERDUE = (REPORT_COLUMNS.index(c) for c in ("state", "due_at", "overdue"))
ACCOUNT_COLUMNS = ("id", "public_id", "role", "wechat_openid", "is_active", "created_at", "updated_at")
Row = tuple[Any, ...]


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    key: str
    department_id: int | None
    minutes: dict[str, int]  # the deadline of each state's kind, by the category attribute's name


@dataclass(frozen=True)
class SeedPlan:
    reports: int
    now: float
    step: float  # seconds between submissions
    grids: tuple[str, ...]
    grid_weights: tuple[float, ...]
    buildings: dict[str, tuple[str, ...]]  # grid path -> its building codes
    categories: tuple[CategoryInfo, ...]
    first_reporter: int
    reporters: int


def _exp(rng: random.Random, mean: float) -> float:
    return rng.expovariate(1.0 / mean)


def simulate(rng: random.Random, created: float) -> list[tuple[State, float]]:
    """The states a report goes through and when it enters each, from ``created`` on (any length)."""
    t = created
    steps: list[tuple[State, float]] = [(State.SUBMITTED, t)]

    def go(state: State, mean: float) -> None:
        nonlocal t
        t += _exp(rng, mean)
        steps.append((state, t))

    fate = rng.random()
    if fate < 0.015:  # a duplicate, merged into an earlier report
        go(State.MERGED, 20 * MINUTE)
        return steps
    if fate < 0.045:  # returned for more detail
        go(State.RETURNED, 25 * MINUTE)
        if rng.random() < 0.1:
            return steps  # never resubmitted: it stays returned (no deadline)
        go(State.SUBMITTED, 6 * HOUR)
    go(State.ACCEPTED, 15 * MINUTE)
    go(State.DISPATCHED, 10 * MINUTE)
    reopened = False
    while True:
        if rng.random() < 0.04:  # 退单: the department sends it back, the grid dispatches again
            go(State.REJECTED, HOUR)
            go(State.DISPATCHED, HOUR)
        go(State.IN_PROGRESS, 2 * HOUR)
        go(State.RESOLVED, 2.5 * DAY)
        if not reopened and rng.random() < 0.03:
            reopened = True
            go(State.REOPENED, 6 * HOUR)
            go(State.DISPATCHED, HOUR)
            continue
        break
    if rng.random() < 0.8:
        go(State.CONFIRMED, 8 * HOUR)
        go(State.CLOSED, 4 * HOUR)
    else:
        go(State.CLOSED, DAY)  # the reporter never rated it: the grid closes it
    return steps


class _Worker:
    plan: SeedPlan


_worker = _Worker()


def _init_worker(plan: SeedPlan) -> None:
    _worker.plan = plan


def generate_chunk(start: int, end: int) -> list[Row]:
    plan = _worker.plan
    rng = random.Random(start * 7919 + plan.reports)
    utc = dt.UTC
    category_weights = [CATEGORY_WEIGHTS.get(c.key, 1.0) for c in plan.categories]
    rows: list[Row] = []
    grids = rng.choices(plan.grids, weights=plan.grid_weights, k=end - start)
    categories = rng.choices(plan.categories, weights=category_weights, k=end - start)
    for n, i in enumerate(range(start, end)):
        created = plan.now - (plan.reports - i) * plan.step + rng.uniform(0, plan.step)
        steps = simulate(rng, created)
        state, since = next((s, at) for s, at in reversed(steps) if at <= plan.now)
        category = categories[n]
        grid = grids[n]
        # Only the states with a deadline get one (as _set_deadline does): the feed's first run reads
        # every row with a due_at, without a state filter, so any other state must have none.
        due_at = None
        overdue, level = False, 0
        deadline = service._DEADLINES.get(state)
        if deadline is not None:
            minutes = category.minutes[deadline[1]]
            due = since + minutes * 60
            due_at = dt.datetime.fromtimestamp(due, utc)
            if due < plan.now:
                # The SLA scheduler fires once per period past the deadline, up to the district.
                overdue, level = True, min(3, 1 + int((plan.now - due) // (minutes * 60)))
        dispatched = any(s is State.DISPATCHED and at <= plan.now for s, at in steps)
        rated = any(s is State.CONFIRMED and at <= plan.now for s, at in steps)
        channel = weighted(rng, (("miniapp", 55), ("building", 15), ("party_member", 15), ("grid_staff", 10)))
        buildings = plan.buildings.get(grid, ())
        building = rng.choice(buildings) if buildings and (channel == "building" or rng.random() < 0.3) else None
        lat, lng = point(rng) if rng.random() < 0.5 else (None, None)
        created_at = dt.datetime.fromtimestamp(created, utc)
        report_id = i + 1
        rows.append(
            (
                report_id,
                "rp_" + secrets.token_urlsafe(10)[:13],
                service.report_no(created_at, report_id),
                category.id,
                rng.choice(TEXTS.get(category.key, TEXTS["other"])),
                channel,
                rng.random() < 0.05,
                plan.first_reporter + rng.randrange(plan.reporters),
                building,
                None,
                lat,
                lng,
                grid,
                state.value,
                dt.datetime.fromtimestamp(since, utc),
                category.department_id if dispatched else None,
                max(1, report_id - rng.randint(1, 500)) if state is State.MERGED and report_id > 1 else None,
                due_at,
                overdue,
                level,
                weighted(rng, SATISFACTION) if rated else None,
                "",
                created_at,
                dt.datetime.fromtimestamp(since, utc),
            )
        )
    return rows


@dataclass
class Seeded:
    reports: int
    reporters: int
    seconds: float
    analyze_seconds: float
    states: Counter[str]
    overdue: int
    without_deadline: int
    days: float


async def seed(
    settings: Settings, reports: int, grids: Sequence[str], buildings: dict[str, tuple[str, ...]], processes: int
) -> Seeded:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(settings.effective_database_url))
    try:
        rows = await conn.fetch(
            "SELECT id, key, department_id, dispatch_minutes, start_minutes, resolve_minutes, feedback_minutes "
            "FROM report_category ORDER BY id"
        )
        categories = tuple(
            CategoryInfo(
                int(r["id"]),
                str(r["key"]),
                r["department_id"],
                {k: int(r[k]) for k in ("dispatch_minutes", "start_minutes", "resolve_minutes", "feedback_minutes")},
            )
            for r in rows
        )
        started = time.perf_counter()
        # The reporters: residents with a WeChat openid (about five reports each over the history).
        reporters = min(200_000, max(1_000, reports // 5))
        first = int(await conn.fetchval("SELECT COALESCE(MAX(id), 0) FROM account")) + 1
        joined = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        await conn.copy_records_to_table(
            "account",
            records=(
                (
                    first + k,
                    identity_service.new_public_id(),
                    Role.RESIDENT.value,
                    f"oGMRPT{k:022d}",
                    True,
                    joined,
                    joined,
                )
                for k in range(reporters)
            ),
            columns=ACCOUNT_COLUMNS,
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('account', 'id'), (SELECT MAX(id) FROM account))")
        plan = SeedPlan(
            reports,
            time.time(),
            DAY / PER_DAY,
            tuple(grids),
            tuple(grid_weights(grids)),
            buildings,
            categories,
            first,
            reporters,
        )
        states: Counter[str] = Counter()
        overdue = without_deadline = 0

        async def write(chunk: list[Row]) -> None:
            nonlocal overdue, without_deadline
            await conn.copy_records_to_table("report", records=chunk, columns=REPORT_COLUMNS)
            for row in chunk:
                states[row[STATE]] += 1
                overdue += row[OVERDUE]
                without_deadline += row[DUE_AT] is None and State(row[STATE]) in feed_service.FEED_STATES

        await generate_in_processes(
            reports,
            CHUNK,
            processes=processes,
            initializer=_init_worker,
            initargs=(plan,),
            generate=generate_chunk,
            consume=write,
            label="seeding reports",
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('report', 'id'), (SELECT MAX(id) FROM report))")
        loaded = time.perf_counter()
        # The invariant the feed relies on, checked in the database rather than trusted.
        broken = await conn.fetchval(
            "SELECT count(*) FROM report WHERE (due_at IS NOT NULL AND NOT state = ANY($1::text[])) "
            "OR (due_at IS NULL AND overdue)",
            [s.value for s in service._DEADLINES],
        )
        if broken:
            raise RuntimeError(f"{broken:,} seeded reports break the deadline invariant the feed relies on")
        print("ANALYZE ...", file=sys.stderr, flush=True)
        await conn.execute("ANALYZE account, report")
        analyzed = time.perf_counter()
        return Seeded(
            reports,
            reporters,
            analyzed - started,
            analyzed - loaded,
            states,
            overdue,
            without_deadline,
            reports * plan.step / DAY,
        )
    finally:
        await conn.close()


# The people: staff who sign in, residents and party members who report ---------------------------------


@dataclass
class Place:
    code: str
    path: str
    street: str  # the street's path, for its officer


@dataclass
class People:
    grids: list[Place]
    feed_staff: list[tuple[str, str, str]]  # (level, node path, username)
    grid_usernames: dict[str, str]  # grid path -> username
    officer_usernames: dict[str, str]  # street path -> username
    resident_tokens: list[str]
    party_tokens: list[tuple[str, str]]  # (token, grid path)
    buildings: dict[str, tuple[str, ...]]


async def prepare(settings: Settings, residents: int, party_members: int) -> People:
    """The hierarchy, the categories, the staff (with a password), the day's residents and party members."""
    await db.open_db(settings)
    try:
        if await Report.exists():
            raise RuntimeError("the bench database already holds reports")
        if not await Node.exists(code="GM"):
            await hierarchy.load_file(hierarchy.demo_file())
        await catalogue.ensure_defaults()
        nodes = {n.path: n for n in await Node.all()}
        grids = sorted(
            (
                Place(n.code, n.path, "/".join(n.path.split("/")[:3]) + "/")
                for n in nodes.values()
                if n.level is NodeLevel.GRID
            ),
            key=lambda p: p.code,
        )
        if not grids:
            raise RuntimeError("the hierarchy has no grid nodes")
        # The feed's staff: the busiest grid's worker and the community, street and district above it.
        busiest = max(zip(grid_weights([g.path for g in grids]), grids, strict=True), key=lambda pair: pair[0])[1]
        parts = [p for p in busiest.path.split("/") if p]
        password_hash = await hash_password_async(STAFF_PASSWORD)  # once: every bench staff member shares it
        staff: list[Account] = []
        grid_usernames = {g.path: f"bench.grid.{g.code.lower()}" for g in grids}
        for grid in grids:
            staff.append(_staff(grid_usernames[grid.path], Role.GRID_STAFF, nodes[grid.path], password_hash))
        officer_usernames: dict[str, str] = {}
        for path, node in nodes.items():
            if node.level is NodeLevel.STREET:
                officer_usernames[path] = f"bench.officer.{node.code.lower()}"
                staff.append(_staff(officer_usernames[path], Role.OFFICER, node, password_hash))
        feed_staff = [("grid", busiest.path, grid_usernames[busiest.path])]
        for level, depth in (("community", 3), ("street", 2), ("district", 1)):
            path = "/" + "/".join(parts[:depth]) + "/"
            username = f"bench.{level}.{parts[depth - 1].lower()}"
            feed_staff.append((level, path, username))
            staff.append(_staff(username, Role.GRID_STAFF, nodes[path], password_hash))
        await Account.bulk_create(staff, batch_size=500)
        await Account.bulk_create(
            [
                Account(public_id=identity_service.new_public_id(), role=Role.RESIDENT, wechat_openid=f"oGMDAY{r:020d}")
                for r in range(residents)
            ],
            batch_size=1000,
        )
        rng = random.Random(7)
        party_grids = [rng.choice(grids) for _ in range(party_members)]
        await Account.bulk_create(
            [
                Account(
                    public_id=identity_service.new_public_id(),
                    role=Role.PARTY_MEMBER,
                    node_id=nodes[g.path].id,
                    wechat_openid=f"oGMPARTY{p:018d}",
                )
                for p, g in enumerate(party_grids)
            ],
            batch_size=1000,
        )
        resident_ids = (
            await Account.filter(wechat_openid__startswith="oGMDAY").order_by("id").values_list("public_id", flat=True)
        )
        party_ids = (
            await Account.filter(wechat_openid__startswith="oGMPARTY")
            .order_by("id")
            .values_list("public_id", flat=True)
        )
        buildings: dict[str, list[str]] = {}
        for path, code in await _building_codes():
            buildings.setdefault(path, []).append(code)
    finally:
        await db.close_db()
    secret = load_access_token_secret(settings)

    def token(public_id: str, role: Role, node_path: str | None) -> str:
        # Residents and party members sign in with WeChat, which benches do not have: tokens made here.
        value, _ = tokens.issue_access_token(
            secret=secret, account_id=public_id, role=role, node_path=node_path, ttl=6 * 3600
        )
        return value

    return People(
        grids=grids,
        feed_staff=feed_staff,
        grid_usernames=grid_usernames,
        officer_usernames=officer_usernames,
        resident_tokens=[token(str(pid), Role.RESIDENT, None) for pid in resident_ids],
        party_tokens=[
            (token(str(pid), Role.PARTY_MEMBER, g.path), g.path) for pid, g in zip(party_ids, party_grids, strict=True)
        ],
        buildings={path: tuple(codes) for path, codes in buildings.items()},
    )


def _staff(username: str, role: Role, node: Node, password_hash: str) -> Account:
    return Account(
        public_id=identity_service.new_public_id(),
        role=role,
        node_id=node.id,
        username=username,
        password_hash=password_hash,
    )


async def _building_codes() -> list[tuple[str, str]]:
    from miniapp_api.buildings.models import Building

    rows = await Building.all().order_by("code").values_list("node_path", "code")
    return [(str(path), str(code)) for path, code in rows]


async def sign_in(base_url: str, usernames: Sequence[str], concurrency: int) -> tuple[dict[str, str], Figures]:
    """Staff sign in over HTTP, as the grid app does: username -> access token."""
    figures = Figures("POST /auth/login")
    signed: dict[str, str] = {}
    todo = iter(usernames)

    async def task(client: httpx.AsyncClient) -> None:
        for username in todo:
            started = time.perf_counter_ns()
            answer = await client.post("/api/v1/auth/login", json={"username": username, "password": STAFF_PASSWORD})
            figures.latencies_ns.append(time.perf_counter_ns() - started)
            if answer.status_code != 200:
                figures.failures[error_code(answer)] += 1
                continue
            signed[username] = str(answer.json()["access_token"])

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, trust_env=False) as client:
        await asyncio.gather(*(task(client) for _ in range(min(concurrency, 8))))
    figures.seconds = time.perf_counter() - started
    missing = [u for u in usernames if u not in signed]
    if missing:
        raise RuntimeError(f"{len(missing)} staff could not sign in: {figures.failures.most_common(3)}")
    return signed, figures


# The feed ----------------------------------------------------------------------------------------------


@dataclass
class FeedFigure:
    level: str
    variant: str
    figures: Figures
    items: int  # on the first answer


def feed_url(limit: int, **filters: str) -> str:
    return "/api/v1/grid/feed?" + urlencode({"limit": str(limit), **filters})


async def walk_cursors(base_url: str, token: str, limit: int, pages: int) -> list[str]:
    """The cursors of pages 2..pages, each as the API hands it out (opaque)."""
    cursors: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0, trust_env=False) as client:
        cursor: str | None = None
        for _ in range(pages - 1):
            url = feed_url(limit, **({"cursor": cursor} if cursor else {}))
            answer = await client.get(url, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"feed walk answered {error_code(answer)}")
            cursor = answer.json().get("next_cursor")
            if not cursor:
                break
            cursors.append(cursor)
    return cursors


async def run_feed(args: argparse.Namespace, base_url: str, feed_tokens: Sequence[tuple[str, str]]) -> list[FeedFigure]:
    out: list[FeedFigure] = []
    limit = args.page_size
    for level, token in feed_tokens:
        headers = {"Authorization": f"Bearer {token}"}
        cursors = await walk_cursors(base_url, token, limit, args.pages)
        first = [feed_url(limit)]
        variants: list[tuple[str, list[str], int]] = [("first page", first, args.concurrency)]
        if level == "district" and args.concurrency > 1:
            # At N clients a request waits for the N - 1 ahead of it: p50 is about N / throughput.
            variants.append(("first page, 1 client at a time", first, 1))
        if cursors:
            following = [feed_url(limit, cursor=c) for c in cursors]
            variants.append((f"pages 2-{len(cursors) + 1} (cursor)", following, args.concurrency))
        variants += [
            ("state=in_progress", [feed_url(limit, state="in_progress")], args.concurrency),
            ("category=fire_safety", [feed_url(limit, category="fire_safety")], args.concurrency),
            ("overdue=true", [feed_url(limit, overdue="true")], args.concurrency),
        ]
        for variant, urls, clients in variants:
            seen: list[int] = []

            def make(j: int, urls: list[str] = urls, headers: dict[str, str] = headers) -> Request:
                return "GET", urls[j % len(urls)], {"headers": headers}

            def listed(body: dict[str, Any], seen: list[int] = seen) -> str | None:
                if not seen:
                    seen.append(len(body.get("items", [])))
                return None if "items" in body else "200 without items"

            how = argparse.Namespace(**{**vars(args), "concurrency": clients})
            figures = await measure(f"feed {level}: {variant}", base_url, how, make, expect(200, listed))
            out.append(FeedFigure(level, variant, figures, seen[0] if seen else 0))
    return out


# The feed's SQL, and where a page's time goes (in this process, on the same database) ---------------------


class SqlCapture(logging.Handler):
    """Tortoise logs every statement it sends (and its parameters) at DEBUG on ``tortoise.db_client``."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str):
            values: Any = args[1]
            self.statements.append((args[0], list(values or [])))


@contextlib.contextmanager
def captured() -> Iterator[SqlCapture]:
    logger = logging.getLogger("tortoise.db_client")
    handler = SqlCapture()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


Plan = tuple[str, list[Any], list[str]]  # SQL, its parameters, EXPLAIN (ANALYZE, BUFFERS)


@dataclass
class Anatomy:
    plans: list[Plan]  # each SELECT feed_feed_service.feed sends for the first page, as sent
    statements: int  # per page as the route makes it: feed_service.feed, then answers.report_outs
    statement_kinds: Counter[str]
    query_ms: float  # feed_feed_service.feed alone, one call at a time
    page_ms: float  # feed_feed_service.feed and answers.report_outs, one call at a time


async def explained(run: Callable[[], Awaitable[object]]) -> list[Plan]:
    """Run once, capturing the SELECTs Tortoise sends; EXPLAIN (ANALYZE, BUFFERS) each, parameters and all."""
    with captured() as capture:
        await run()
    conn = connections.get("default")
    plans: list[Plan] = []
    for sql, params in capture.statements:
        if sql.lstrip().upper().startswith("SELECT"):
            _, rows = await conn.execute_query("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plans.append((sql, params, [str(r["QUERY PLAN"]) for r in rows]))
    return plans


async def timed(run: Callable[[], Awaitable[object]], repeat: int) -> float:
    """Milliseconds per call, one call at a time."""
    started = time.perf_counter()
    for _ in range(repeat):
        await run()
    return (time.perf_counter() - started) * 1000 / repeat


async def anatomy(settings: Settings, node_path: str, limit: int, repeat: int = 30) -> Anatomy:
    """A first page as the route makes it: feed_service.feed, then answers.report_outs over its rows."""
    await db.open_db(settings)
    try:
        principal = Principal("bench-explain", Role.GRID_STAFF, node_path)
        filters = feed_service.FeedFilter()

        async def page() -> list[Report]:
            rows, _ = await feed_service.feed(principal=principal, filters=filters, limit=limit)
            return rows

        async def page_out() -> None:
            await answers.report_outs(await page(), viewer=access.Viewer(principal, None))

        plans = await explained(page)
        with captured() as capture:
            await page_out()
        kinds: Counter[str] = Counter(_statement_kind(s) for s, _ in capture.statements)
        return Anatomy(plans, len(capture.statements), kinds, await timed(page, repeat), await timed(page_out, repeat))
    finally:
        await db.close_db()


def _statement_kind(sql: str) -> str:
    words = sql.replace('"', "").split()
    table = words[words.index("FROM") + 1] if "FROM" in words else "?"
    where = " WHERE " + " ".join(words[words.index("WHERE") + 1 : words.index("WHERE") + 2]) if "WHERE" in words else ""
    return f"{words[0]} {table}{where}"


_SCANS = re.compile(r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)?(?: using| on) (\S+)")


def plan_summary(plan: Sequence[str]) -> str:
    """The scans a plan makes (which index, or a sequential scan) and its execution time."""
    scans = [f"{m.group(1)} {m.group(2)}" for line in plan for m in [_SCANS.search(line)] if m]
    took = next((line.split(":", 1)[1].strip() for line in plan if line.startswith("Execution Time:")), "?")
    sort = " + Sort" if any(line.lstrip(" ->").startswith("Sort ") for line in plan) else ""
    return f"{', '.join(scans) or 'no scan'}{sort}; execution {took}"


# The day -----------------------------------------------------------------------------------------------


class LifeFailed(Exception):
    pass


@dataclass
class Life:
    """One report (or a report and its duplicate) from submission to its last step of the day."""

    grid: Place
    reporter: str  # token
    reporter_kind: str  # resident, party_member, grid_staff
    category: str
    building: str | None
    lat: float | None
    lng: float | None
    anonymous: bool
    path: str  # normal, no_confirm, returned, rejected, reopened, merged, open_dispatched, open_resolved
    satisfaction: int
    duplicate_reporter: str | None = None
    look_similar: bool = False
    look_detail: bool = False
    look_feed: bool = False
    look_mine: bool = False

    @property
    def reports(self) -> int:
        return 2 if self.path == "merged" else 1


PATHS = (
    ("normal", 78.0),
    ("no_confirm", 6.0),
    ("returned", 3.0),
    ("rejected", 4.0),
    ("reopened", 3.0),
    ("merged", 2.0),  # the life files two reports: the main one and a duplicate merged into it
    ("open_dispatched", 2.0),  # still waiting for the handler at the end of the day
    ("open_resolved", 2.0),  # resolved, not yet rated nor closed
)


def plan_day(people: People, reports: int, rng: random.Random) -> list[Life]:
    weights = grid_weights([g.path for g in people.grids])
    lives: list[Life] = []
    planned = 0
    while planned < reports:
        grid = rng.choices(people.grids, weights=weights)[0]
        kind = weighted(rng, (("resident", 75), ("party_member", 15), ("grid_staff", 10)))
        here = [t for t, path in people.party_tokens if path == grid.path]
        if kind == "party_member" and not here:
            kind = "resident"  # party members file only in their own grid
        if kind == "party_member":
            reporter = rng.choice(here)
        elif kind == "grid_staff":
            reporter = ""  # the grid's own worker, once signed in
        else:
            reporter = rng.choice(people.resident_tokens)
        path = weighted(rng, PATHS if reports - planned > 1 else [p for p in PATHS if p[0] != "merged"])
        buildings = people.buildings.get(grid.path, ())
        lat, lng = point(rng) if rng.random() < 0.4 else (None, None)
        life = Life(
            grid=grid,
            reporter=reporter,
            reporter_kind=kind,
            category=weighted(rng, list(CATEGORY_WEIGHTS.items())),
            building=rng.choice(buildings) if buildings and rng.random() < 0.5 else None,
            lat=lat,
            lng=lng,
            anonymous=kind == "resident" and rng.random() < 0.05,
            path=path,
            satisfaction=weighted(rng, SATISFACTION),
            duplicate_reporter=rng.choice(people.resident_tokens) if path == "merged" else None,
            look_similar=kind == "resident" and rng.random() < 0.3,
            look_detail=rng.random() < 0.5,
            look_feed=rng.random() < 0.3,
            look_mine=kind == "resident" and rng.random() < 0.1,
        )
        lives.append(life)
        planned += life.reports
    return lives


@dataclass
class DayFigures:
    routes: dict[str, Figures] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    submitted: int = 0
    failed_lives: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def figure(self, label: str) -> Figures:
        return self.routes.setdefault(label, Figures(label))

    @property
    def requests(self) -> int:
        return sum(len(f.latencies_ns) for f in self.routes.values())


class Actor:
    """One client of the day: one connection (or the shared httpx client), recording per route."""

    def __init__(self, send: Sender, sink: DayFigures) -> None:
        self.send, self.sink = send, sink

    async def call(
        self, label: str, method: str, url: str, token: str, status: int, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}}
        if body is not None:
            kwargs["json"] = body
        started = time.perf_counter_ns()
        try:
            answer = await self.send(method, url, **kwargs)
        except (httpx.HTTPError, RawError) as exc:
            self.sink.figure(label).failures[f"exception {type(exc).__name__}"] += 1
            raise LifeFailed(label) from exc
        self.sink.figure(label).latencies_ns.append(time.perf_counter_ns() - started)
        if answer.status_code != status:
            self.sink.figure(label).failures[error_code(answer)] += 1
            raise LifeFailed(f"{label}: {error_code(answer)}")
        result: dict[str, Any] = answer.json()
        return result

    async def move(self, report_id: str, token: str, action: str, **body: Any) -> dict[str, Any]:
        url = f"/api/v1/reports/{report_id}/transitions"
        return await self.call(
            f"POST /reports/{{id}}/transitions {action}", "POST", url, token, 200, {"action": action, **body}
        )


async def live(actor: Actor, life: Life, staff: dict[str, str], officers: dict[str, str]) -> None:
    grid = staff[life.grid.path]
    officer = officers[life.grid.street]
    reporter = life.reporter or grid
    if life.reporter_kind == "grid_staff":
        # Separation of duties: the grid's worker filed it, so a colleague (the district's) handles it.
        grid = staff["/" + life.grid.path.strip("/").split("/")[0] + "/"]
    body: dict[str, Any] = {"category": life.category, "text": TEXTS[life.category][0], "node": life.grid.code}
    if life.building:
        body["building"] = life.building
    if life.lat is not None:
        body.update(lat=life.lat, lng=life.lng)
    if life.anonymous:
        body["anonymous"] = True
    if life.look_similar:
        similar = {"category": life.category, **({"building": life.building} if life.building else {})}
        if life.lat is not None:
            similar.update(lat=str(life.lat), lng=str(life.lng))
        await actor.call("GET /reports/similar", "GET", "/api/v1/reports/similar?" + urlencode(similar), reporter, 200)
    report = await actor.call("POST /reports", "POST", "/api/v1/reports", reporter, 201, body)
    actor.sink.submitted += 1
    rid = str(report["id"])
    if life.look_detail:
        await actor.call("GET /reports/{id} (reporter)", "GET", f"/api/v1/reports/{rid}", reporter, 200)
    if life.path == "merged":
        assert life.duplicate_reporter is not None
        duplicate = await actor.call(
            "POST /reports",
            "POST",
            "/api/v1/reports",
            life.duplicate_reporter,
            201,
            {**body, "text": "同上，" + body["text"]},
        )
        actor.sink.submitted += 1
        await actor.move(str(duplicate["id"]), grid, "merge", merge_into=rid)
        actor.sink.outcomes["merged"] += 1
    if life.look_feed:
        await actor.call("GET /grid/feed (grid, first page)", "GET", feed_url(20), grid, 200)
    if life.path == "returned":
        await actor.move(rid, grid, "return", note="请补充具体位置")
        await actor.move(rid, reporter, "resubmit")
    await actor.move(rid, grid, "accept")
    if life.look_detail:
        await actor.call("GET /reports/{id} (grid)", "GET", f"/api/v1/reports/{rid}", grid, 200)
    await actor.move(rid, grid, "dispatch")
    if life.path == "open_dispatched":
        actor.sink.outcomes["left dispatched"] += 1
        return
    if life.path == "rejected":
        await actor.move(rid, officer, "reject", note="不属于本部门职责")
        await actor.move(rid, grid, "dispatch", department="jd")
    await actor.move(rid, officer, "start")
    await actor.move(rid, officer, "resolve", note="已处理完毕")
    if life.path == "reopened":
        await actor.move(rid, reporter, "reopen", note="问题没有解决")
        await actor.move(rid, grid, "dispatch")
        await actor.move(rid, officer, "start")
        await actor.move(rid, officer, "resolve", note="已再次处理")
    if life.path == "open_resolved":
        actor.sink.outcomes["left resolved"] += 1
        return
    if life.path != "no_confirm" and life.reporter_kind == "resident":  # only residents rate their reports
        await actor.move(rid, reporter, "confirm", satisfaction=life.satisfaction, comment="谢谢")
    await actor.move(rid, grid, "close")
    if life.look_mine:
        await actor.call("GET /reports/mine", "GET", "/api/v1/reports/mine", reporter, 200)
    actor.sink.outcomes["closed"] += 1


async def run_day(
    args: argparse.Namespace,
    base_url: str,
    lives: Sequence[Life],
    staff: dict[str, str],
    officers: dict[str, str],
    label: str,
) -> DayFigures:
    sink = DayFigures()
    todo = iter(lives)
    progress = Progress(len(lives), label)

    async def client(send: Sender) -> None:
        actor = Actor(send, sink)
        for life in todo:  # one iterator shared by the clients: each life is lived once
            try:
                await live(actor, life, staff, officers)
            except LifeFailed as exc:
                sink.failed_lives += 1
                sink.failures[str(exc)] += 1
            progress.update(1)

    async with senders(base_url, args.client, args.concurrency) as sending:
        started = time.perf_counter()
        try:
            await asyncio.gather(*(client(send) for send in sending))
        finally:
            progress.close()
        sink.seconds = time.perf_counter() - started
    return sink


@dataclass
class SlaFigures:
    fired: int
    seconds: float
    escalations: int
    open_timers: int


async def run_sla(settings: Settings, since: dt.datetime) -> SlaFigures:
    """The scheduler with a clock one day on: the deadlines of the day's open reports have passed."""
    await db.open_db(settings)
    try:
        scheduler = SlaScheduler(worker="reports-bench")
        clock = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        started = time.perf_counter()
        fired = 0
        while True:  # each run claims a batch; stop when a run fires nothing
            done = await scheduler.run_once(now=clock)
            fired += done
            if not done:
                break
        seconds = time.perf_counter() - started
        escalations = await ReportEvent.filter(action="escalate", at__gte=since).count()
        open_timers = await SlaTimer.filter(fired_at=None, cancelled=False).count()
        return SlaFigures(fired, seconds, escalations, open_timers)
    finally:
        await db.close_db()


async def notification_counts(settings: Settings) -> Counter[str]:
    await db.open_db(settings)
    try:
        rows = await Notification.filter(template="report.updated").values_list("status", flat=True)
        return Counter(str(getattr(s, "value", s)) for s in rows)
    finally:
        await db.close_db()


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
