"""Hot topics of the reports under a node: the terms and the groups of reports rising this week over
the week before (Beijing weeks, Monday to Sunday). A report's followers count as its likes: each is a
resident who said "me too" instead of filing again."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from tortoise.functions import Count

from identity.roles import CIVIC_STAFF_ROLES
from miniapp_api.clinic import hot
from miniapp_api.reports import access
from miniapp_api.reports.models import Report, ReportFollower
from server.auth import Principal
from server.errors import Forbidden

BEIJING = dt.timezone(dt.timedelta(hours=8))
MAX_REPORTS = 20_000  # two weeks of a whole district is about 60,000 at most; the newest are kept


@dataclass(frozen=True)
class Topics:
    week: dt.date
    reports: int
    terms: list[hot.TermTrend]
    groups: list[hot.HotGroup]


def voice_of(public_id: str, reporter_id: int | None, *, anonymous: bool) -> str:
    """Whose voice a report is, for counting voices: its reporter's account, or the report itself when
    it is anonymous or has no reporter (so nothing ties an anonymous report to an account)."""
    return f"report:{public_id}" if anonymous or reporter_id is None else f"account:{reporter_id}"


def this_week() -> dt.date:
    return hot.week_of(dt.datetime.now(BEIJING).date())


async def topics(*, principal: Principal, week: dt.date | None, top: int) -> Topics:
    if principal.role not in CIVIC_STAFF_ROLES or principal.node_path is None:
        raise Forbidden("Only staff with a place in the hierarchy see hot topics.", code="no_scope")
    monday = hot.week_of(week or this_week())
    # In UTC: SQLite compares the stored UTC text with the parameter's text, offset and all.
    start = dt.datetime.combine(monday - dt.timedelta(days=7), dt.time(), BEIJING).astimezone(dt.UTC)
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(), BEIJING).astimezone(dt.UTC)
    rows = (
        await Report.filter(node_path__startswith=principal.node_path, created_at__gte=start, created_at__lt=end)
        .exclude(category__key__in=sorted(access.closed_categories(principal) or {"-"}))
        .order_by("-id")
        .limit(MAX_REPORTS)
        .values("id", "public_id", "text", "created_at", "node_path", "reporter_id", "anonymous")
    )
    ids = [r["id"] for r in rows]
    follows = (
        dict(
            await ReportFollower.filter(report_id__in=ids)
            .annotate(n=Count("id"))
            .group_by("report_id")
            .values_list("report_id", "n")
        )
        if ids
        else {}
    )
    messages = [
        hot.Message(
            id=r["public_id"],
            text=r["text"],
            at=r["created_at"].astimezone(BEIJING).replace(tzinfo=None),
            node=r["node_path"],
            likes=int(follows.get(r["id"], 0)),
            author=voice_of(r["public_id"], r["reporter_id"], anonymous=r["anonymous"]),
        )
        for r in rows
    ]
    # CPU-bound (vectors, clustering): off the event loop.
    terms = await asyncio.to_thread(hot.rising_terms, messages, monday, top=top)
    groups = await asyncio.to_thread(hot.hot_groups, messages, monday, top=top)
    this = sum(1 for m in messages if m.at.date() >= monday)
    return Topics(monday, this, terms, groups)
