"""The reports bench's seeded history: a district's reports over months, each report's life simulated
from submission to now, generated in processes and written with COPY."""

from __future__ import annotations

import datetime as dt
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from _seeding import asyncpg_dsn, generate_in_processes

from identity import service as identity_service
from identity.roles import Role
from miniapp_api.reports import feed as feed_service
from miniapp_api.reports import service
from miniapp_api.reports.states import State
from server.settings import Settings

PER_DAY = 4_100  # the district's reports a day: the seeded history's pace


CHUNK = 20_000


MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


BEIJING = dt.timezone(dt.timedelta(hours=8))


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
