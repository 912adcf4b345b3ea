"""Ledgers (台账): reports by period × hierarchy node × category, with the figures the district
follows up offline: count, still open, breached a time limit, completion and rejection (退单) rates,
handling time (average and p90) and satisfaction. As JSON, CSV (Excel reads its BOM) or XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from identity.models import Node
from identity.roles import CIVIC_STAFF_ROLES
from miniapp_api.reports import access, states
from miniapp_api.reports.models import Category, Report, ReportEvent
from miniapp_api.reports.states import State
from server.auth import Principal
from server.errors import Forbidden, ValidationFailed

Period = Literal["week", "month"]
BEIJING = dt.timezone(dt.timedelta(hours=8))
MAX_DAYS = 400  # one ledger covers at most about a year
COMPLETED = frozenset({State.RESOLVED, State.CONFIRMED, State.CLOSED})


@dataclass
class LedgerRow:
    period: str  # 2026-W48 or 2026-11, in Beijing time
    node: str
    node_name: str
    category: str
    category_name: str
    count: int = 0
    open: int = 0
    overdue: int = 0  # breached a time limit at least once
    completed: int = 0
    completion_rate: float | None = None
    rejected: int = 0  # 退单 at least once
    rejection_rate: float | None = None
    avg_handling_hours: float | None = None  # submission to the first resolution
    p90_handling_hours: float | None = None
    avg_satisfaction: float | None = None
    rated: int = 0
    kept: int = 0  # not merged into another report: the base of the rates
    satisfaction_points: int = 0  # the ratings added up: rows add up to an exact average
    _hours: list[float] = field(default_factory=list, repr=False)
    _scores: list[int] = field(default_factory=list, repr=False)

    def finish(self) -> None:
        base = self.kept
        self.completion_rate = round(self.completed / base, 4) if base else None
        self.rejection_rate = round(self.rejected / base, 4) if base else None
        if self._hours:
            hours = sorted(self._hours)
            self.avg_handling_hours = round(sum(hours) / len(hours), 2)
            self.p90_handling_hours = round(hours[max(0, math.ceil(0.9 * len(hours)) - 1)], 2)
        if self._scores:
            self.avg_satisfaction = round(sum(self._scores) / len(self._scores), 2)
            self.rated = len(self._scores)
            self.satisfaction_points = sum(self._scores)

    def public(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def period_of(moment: dt.datetime, period: Period) -> str:
    local = moment.astimezone(BEIJING)
    if period == "month":
        return local.strftime("%Y-%m")
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


async def ledger(
    *,
    principal: Principal,
    period: Period,
    since: dt.date,
    until: dt.date,
    level: str | None = None,
    category: str | None = None,
    node: str | None = None,
) -> list[LedgerRow]:
    """Rows for reports filed from ``since`` to ``until`` (Beijing dates, inclusive) under the caller's
    node (or ``node``, a node at or under it), by the nodes one level below it (or at ``level``), by
    category and period."""
    if principal.role not in CIVIC_STAFF_ROLES or principal.node_path is None:
        raise Forbidden("Only staff with a place in the hierarchy read ledgers.", code="no_scope")
    if until < since or (until - since).days > MAX_DAYS:
        raise ValidationFailed.field("until", f"a range of 0 to {MAX_DAYS} days after since", "bad_range")
    scope = await _scope(principal.node_path, node)
    depth = await _depth(scope, level)
    # In UTC: SQLite compares the stored UTC text with the parameter's text, offset and all.
    start = dt.datetime.combine(since, dt.time(), BEIJING).astimezone(dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), BEIJING).astimezone(dt.UTC)
    query = Report.filter(node_path__startswith=scope, created_at__gte=start, created_at__lt=end)
    if closed := access.closed_categories(principal):
        query = query.exclude(category__key__in=list(closed))
    categories = {c.id: c for c in await Category.all()}
    if category:
        wanted = next((c for c in categories.values() if c.key == category), None)
        if wanted is None:
            raise ValidationFailed.field("category", "no such category", "unknown_category")
        query = query.filter(category_id=wanted.id)
    reports = await query.values("id", "category_id", "node_path", "state", "created_at", "satisfaction")
    events: dict[int, dict[str, dt.datetime]] = defaultdict(dict)
    event_rows = (
        await ReportEvent.filter(
            report__node_path__startswith=scope,
            report__created_at__gte=start,
            report__created_at__lt=end,
            action__in=["resolve", "reject", "escalate"],
        )
        .order_by("id")
        .values("report_id", "action", "at")
    )
    for event in event_rows:
        events[event["report_id"]].setdefault(event["action"], event["at"])
    names = {n.path: (n.code, n.name) for n in await Node.filter(path__startswith=scope)}
    rows: dict[tuple[str, str, str], LedgerRow] = {}
    for report in reports:
        segments = report["node_path"].strip("/").split("/")
        node_path = "/" + "/".join(segments[:depth]) + "/"
        code, name = names.get(node_path, (segments[min(depth, len(segments)) - 1], ""))
        cat = categories[report["category_id"]]
        key = (period_of(report["created_at"], period), code, cat.key)
        row = rows.get(key) or rows.setdefault(key, LedgerRow(key[0], code, name, cat.key, cat.name))
        state = State(report["state"])
        seen = events.get(report["id"], {})
        row.count += 1
        if state == State.MERGED:
            continue  # a duplicate: counted as filed, not as work of its own
        row.kept += 1
        row.open += state in states.OPEN_STATES
        row.overdue += "escalate" in seen
        row.rejected += "reject" in seen
        if "resolve" in seen or state in COMPLETED:
            row.completed += 1
        if "resolve" in seen:
            row._hours.append((seen["resolve"] - report["created_at"]).total_seconds() / 3600)
        if report["satisfaction"] is not None:
            row._scores.append(int(report["satisfaction"]))
    for row in rows.values():
        row.finish()
    return sorted(rows.values(), key=lambda r: (r.period, r.node, r.category))


async def _scope(own_path: str, code: str | None) -> str:
    """The path the ledger covers: the caller's node, or a node at or under it."""
    if code is None:
        return own_path
    found = await Node.get_or_none(code=code)
    if found is None:
        raise ValidationFailed.field("node", "no such node", "unknown_node")
    if not found.path.startswith(own_path):
        raise Forbidden("That node is outside your part of the hierarchy.", code="node_out_of_scope")
    return str(found.path)


async def _depth(node_path: str, level: str | None) -> int:
    """How many path segments name the ledger's nodes: one below the caller's, or the given level."""
    own = node_path.strip("/").count("/") + 1
    if level is None:
        return own + 1
    order = ["district", "street", "community", "grid"]
    if level not in order:
        raise ValidationFailed.field("level", "district, street, community or grid", "bad_level")
    depth = order.index(level) + 1
    if depth < own:
        raise ValidationFailed.field("level", "a level at or below your own", "bad_level")
    return depth


COLUMNS: tuple[tuple[str, str], ...] = (
    ("period", "周期"),
    ("node", "节点编码"),
    ("node_name", "节点"),
    ("category", "类别编码"),
    ("category_name", "类别"),
    ("count", "诉求数"),
    ("open", "未办结"),
    ("overdue", "超时"),
    ("completed", "已办结"),
    ("completion_rate", "办结率"),
    ("rejected", "退单"),
    ("rejection_rate", "退单率"),
    ("avg_handling_hours", "平均办理时长(小时)"),
    ("p90_handling_hours", "P90办理时长(小时)"),
    ("avg_satisfaction", "平均满意度"),
    ("rated", "评价数"),
)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(value: object) -> object:
    """A text cell a spreadsheet could take for a formula (node and category names come from import
    files) is written with a leading apostrophe, which Excel and WPS show as plain text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class Tabular(Protocol):
    def public(self) -> dict[str, object]: ...


def to_csv(rows: Sequence[Tabular], columns: tuple[tuple[str, str], ...] = COLUMNS) -> bytes:
    """Rows as CSV under ``columns`` ((key, heading) pairs): other ledgers (jobs) write theirs with it."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in columns])
    for row in rows:
        values = row.public()
        writer.writerow(["" if values[key] is None else inert(values[key]) for key, _ in columns])
    return ("\ufeff" + out.getvalue()).encode()  # the BOM makes Excel read UTF-8


def to_xlsx(rows: Sequence[Tabular], columns: tuple[tuple[str, str], ...] = COLUMNS) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("台账")
    sheet.append([label for _, label in columns])
    for row in rows:
        values = row.public()
        cells: list[object] = []
        for key, _ in columns:
            value = values[key]
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, value=inert(value))
                cell.data_type = "s"  # text, never a formula
                value = cell
            cells.append(value)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
