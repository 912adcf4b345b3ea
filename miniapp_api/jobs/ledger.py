"""The employment service's ledger (台账): postings published, applications, invitations and hires, by node (one
level below the caller's), occupation (the 2022 classification's middle group) and month (Beijing time), for
the postings whose work place lies in the caller's area. As JSON, CSV or XLSX through the clinic ledgers'
writers (a text cell that a spreadsheet could take for a formula is written inert)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from identity.models import Node
from miniapp_api.jobs import occupations
from miniapp_api.jobs.models import ApplicationEvent, ApplicationState, Posting
from server.auth import Principal
from server.errors import Forbidden, ValidationFailed

BEIJING = dt.timezone(dt.timedelta(hours=8))
MAX_DAYS = 400  # one ledger covers at most about a year
COUNTED = {
    ApplicationState.APPLIED.value: "applications",
    ApplicationState.INVITED.value: "invitations",
    ApplicationState.HIRED.value: "hires",
}


@dataclass
class LedgerRow:
    month: str
    node: str
    node_name: str
    occupation: str
    occupation_name: str
    postings: int = 0
    openings: int = 0
    applications: int = 0
    invitations: int = 0
    hires: int = 0

    def public(self) -> dict[str, object]:
        return asdict(self)


COLUMNS: tuple[tuple[str, str], ...] = (
    ("month", "月份"),
    ("node", "节点编码"),
    ("node_name", "节点"),
    ("occupation", "职业中类编码"),
    ("occupation_name", "职业中类"),
    ("postings", "发布岗位数"),
    ("openings", "招聘人数"),
    ("applications", "求职投递"),
    ("invitations", "企业邀约"),
    ("hires", "录用人数"),
)


def middle(code: str) -> str:
    return "-".join(code.split("-")[:2])


async def ledger(*, viewer: Principal, since: dt.date, until: dt.date) -> list[LedgerRow]:
    """Rows for ``since`` to ``until`` (Beijing dates, inclusive) under the caller's node."""
    if viewer.node_path is None:
        raise Forbidden("Only staff with a place in the hierarchy read the ledger.", code="no_scope")
    if until < since or (until - since).days > MAX_DAYS:
        raise ValidationFailed.field("to", f"a range of 0 to {MAX_DAYS} days after from", "bad_range")
    scope = viewer.node_path
    depth = scope.strip("/").count("/") + 2  # path segments naming the nodes one level below the caller's
    start = dt.datetime.combine(since, dt.time(), BEIJING).astimezone(dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), BEIJING).astimezone(dt.UTC)
    names = {n.path: (n.code, n.name) for n in await Node.filter(path__startswith=scope)}
    rows: dict[tuple[str, str, str], LedgerRow] = {}

    def row_for(at: dt.datetime, path: str, code: str) -> LedgerRow:
        segments = path.strip("/").split("/")
        node_path = "/" + "/".join(segments[:depth]) + "/"
        node_code, node_name = names.get(node_path, (segments[min(depth, len(segments)) - 1], ""))
        group = middle(code)
        key = (at.astimezone(BEIJING).strftime("%Y-%m"), node_code, group)
        found = rows.get(key)
        if found is None:
            found = rows[key] = LedgerRow(key[0], node_code, node_name, group, occupations.name(group) or "")
        return found

    published: list[dict[str, Any]] = await Posting.filter(
        node__path__startswith=scope, published_at__gte=start, published_at__lt=end
    ).values("published_at", "node__path", "occupation_code", "openings")
    for p in published:
        row = row_for(p["published_at"], p["node__path"], p["occupation_code"])
        row.postings += 1
        row.openings += p["openings"]
    events: list[dict[str, Any]] = await ApplicationEvent.filter(
        application__posting__node__path__startswith=scope,
        to_state__in=list(COUNTED),
        at__gte=start,
        at__lt=end,
    ).values("at", "to_state", "application__posting__node__path", "application__posting__occupation_code")
    for e in events:
        row = row_for(e["at"], e["application__posting__node__path"], e["application__posting__occupation_code"])
        setattr(row, COUNTED[e["to_state"]], getattr(row, COUNTED[e["to_state"]]) + 1)
    return sorted(rows.values(), key=lambda r: (r.month, r.node, r.occupation))
