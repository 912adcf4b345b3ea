"""The reports bench's day: reports submitted over HTTP and taken through their lives by residents and
staff, then the SLA scheduler a day later."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from _load import Figures, RawError, Sender, error_code, senders
from _reports_feed import (
    feed_url,
)
from _reports_people import People, Place
from _reports_seed import (
    CATEGORY_WEIGHTS,
    SATISFACTION,
    TEXTS,
    grid_weights,
    point,
    weighted,
)
from _seeding import Progress

from miniapp_api.reports.models import ReportEvent, SlaTimer
from miniapp_api.reports.sla import SlaScheduler
from notify.models import Notification
from server import db
from server.settings import Settings


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
