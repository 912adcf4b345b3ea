"""The reports bench's grid feed: pages, cursors and filters measured under load, and one page's SQL
under EXPLAIN (ANALYZE, BUFFERS)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from _load import Figures, Request, error_code, expect, measure
from tortoise import connections

from identity.roles import Role
from miniapp_api.reports import access, answers
from miniapp_api.reports import feed as feed_service
from miniapp_api.reports.models import Report
from server import db
from server.auth import Principal
from server.settings import Settings

FEED_P99_TARGET_MS = 50.0


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
