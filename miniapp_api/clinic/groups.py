"""Duplicate groups for grid staff: reports that say the same thing about the same place, seen
together and merged into one with one action; the category a person confirms or corrects."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from tortoise.transactions import in_transaction

from identity.roles import CIVIC_STAFF_ROLES
from miniapp_api.clinic.models import CategoryFeedback, ReportInsight
from miniapp_api.reports import access, states
from miniapp_api.reports import service as reports
from miniapp_api.reports.models import Category, Report, ReportEvent
from server.auth import Principal
from server.errors import Conflict, Forbidden, NotFound, ValidationFailed

GROUP_DAYS = 30  # how far back the groups list looks
MERGEABLE = frozenset(t for t in states.BY_ACTION["merge"].sources)


@dataclass
class Group:
    id: int  # the first report's id
    members: list[tuple[Report, float | None]]  # oldest first, with the similarity that grouped it

    @property
    def lead(self) -> Report:
        return self.members[0][0]

    @property
    def open(self) -> bool:
        return any(r.state in states.OPEN_STATES for r, _ in self.members)

    def main(self) -> Report | None:
        """Where the others are merged: the oldest open report that is not itself merged."""
        for report, _ in self.members:
            if report.state in states.OPEN_STATES and report.merged_into_id is None:
                return report
        return None


def _require_staff(principal: Principal) -> str:
    if principal.role not in CIVIC_STAFF_ROLES or principal.node_path is None:
        raise Forbidden("Only staff with a place in the hierarchy see duplicate groups.", code="no_scope")
    return principal.node_path


async def _build(group_ids: list[int], node_path: str, closed: frozenset[str] = frozenset()) -> list[Group]:
    """``closed``: category keys whose reports the reader does not see (a party member's)."""
    insights = await ReportInsight.filter(group_id__in=group_ids, node_path__startswith=node_path)
    members = Report.filter(id__in=[i.report_id for i in insights])
    if closed:
        members = members.exclude(category__key__in=list(closed))
    reports_by_id = {r.id: r for r in await members}
    groups: dict[int, Group] = {}
    for insight in sorted(insights, key=lambda i: i.report_id):
        report = reports_by_id.get(insight.report_id)
        if report is not None and insight.group_id is not None:
            groups.setdefault(insight.group_id, Group(insight.group_id, [])).members.append(
                (report, insight.similarity)
            )
    return [g for g in groups.values() if len(g.members) > 1]


async def visible_group(group_id: int, node_path: str) -> Group | None:
    """One group's members under ``node_path``, or None when fewer than two are."""
    found = await _build([group_id], node_path)
    return found[0] if found else None


async def list_groups(*, principal: Principal, include_closed: bool = False, limit: int = 100) -> list[Group]:
    """Groups under the caller's node with two or more reports, the largest first."""
    node_path = _require_staff(principal)
    since = reports.utcnow() - dt.timedelta(days=GROUP_DAYS)
    ids = await (
        ReportInsight.filter(node_path__startswith=node_path, group_id__not_isnull=True, analysed_at__gte=since)
        .distinct()
        .values_list("group_id", flat=True)
    )
    groups = await _build([int(i) for i in cast(list[int], ids)], node_path, access.closed_categories(principal))
    if not include_closed:
        groups = [g for g in groups if g.open]
    groups.sort(key=lambda g: (-len(g.members), -g.members[-1][0].id))
    return groups[:limit]


async def get_group(*, principal: Principal, public_id: str) -> Group:
    """The group of one report (any member's id); 404 when it has none or is out of scope."""
    node_path = _require_staff(principal)
    report = await Report.get_or_none(public_id=public_id) if 0 < len(public_id) <= 16 else None
    insight = await ReportInsight.get_or_none(report_id=report.id) if report else None
    if report is None or insight is None or insight.group_id is None or not access.in_scope(principal, report):
        raise NotFound("This report is in no duplicate group.", code="group_not_found")
    found = await _build([insight.group_id], node_path, access.closed_categories(principal))
    if not found or report.id not in {r.id for r, _ in found[0].members}:
        raise NotFound("This report is in no duplicate group.", code="group_not_found")
    return found[0]


async def merge_group(
    *, principal: Principal, public_id: str, into: str | None
) -> tuple[Report, list[tuple[str, Report | None, str]]]:
    """Merge every mergeable report of the group into one (the oldest open one unless named): each
    through the state machine, so each is checked and recorded as if merged alone, and the merged
    reports' reporters then hear of every step of the main report."""
    group = await get_group(principal=principal, public_id=public_id)
    main = next((r for r, _ in group.members if r.public_id == into), None) if into else group.main()
    if main is None:
        raise Conflict("The group has no open report to merge into.", code="merge_target_closed")
    if main.state not in states.OPEN_STATES or main.merged_into_id is not None:
        raise Conflict("A report can only be merged into an open report.", code="merge_target_closed")
    results: list[tuple[str, Report | None, str]] = []
    for report, _ in group.members:
        if report.id == main.id or report.state not in MERGEABLE:
            continue
        move = reports.Move(action="merge", merge_into=main.public_id, note="重复诉求，合并处理")
        try:
            results.append(
                (
                    report.public_id,
                    await reports.transition(principal=principal, public_id=report.public_id, move=move),
                    "",
                )
            )
        except (Conflict, Forbidden, NotFound, ValidationFailed) as exc:
            results.append((report.public_id, None, exc.code))
    return main, results


async def set_category(*, principal: Principal, public_id: str, category_key: str, note: str = "") -> Report:
    """A person confirms the category (the same one) or corrects it; either is kept as training data
    for the classifier, with what it had suggested."""
    report, is_reporter = await access.get_visible(principal=principal, public_id=public_id)
    if is_reporter:  # separation of duties: whoever filed it does not decide where it goes
        raise Forbidden("You filed this report: someone else sets its category.", code="own_report")
    if principal.role not in states.GRID:
        raise Forbidden("Only grid staff in charge of the report set its category.", code="action_not_allowed")
    category = await Category.get_or_none(key=category_key, active=True)
    if category is None:
        raise ValidationFailed.field("category", "no such category", "unknown_category")
    if report.state in states.FINAL_STATES:
        raise Conflict("A closed report keeps its category.", code="report_closed")
    insight = await ReportInsight.get_or_none(report_id=report.id)
    suggested = (
        await Category.get_or_none(id=insight.suggested_category_id)
        if insight and insight.suggested_category_id
        else None
    )
    old = await Category.get(id=report.category_id)
    now = reports.utcnow()
    async with in_transaction() as conn:
        if old.id != category.id:
            report.category_id = category.id
            report.updated_at = now
            await report.save(using_db=conn, update_fields=["category_id", "updated_at"])
        await ReportEvent.create(
            report_id=report.id,
            at=now,
            actor=principal.account_id,
            role=principal.role.value,
            action="recategorise" if old.id != category.id else "confirm_category",
            from_state=report.state,
            to_state=report.state,
            note=(f"{old.name} → {category.name}" + (f": {note}" if note else ""))[:500],
            using_db=conn,
        )
        await CategoryFeedback.filter(report_id=report.id).using_db(conn).delete()
        await CategoryFeedback.create(
            report_id=report.id,
            text=report.text,
            category_key=category.key,
            suggested_key=suggested.key if suggested else None,
            corrected=suggested is not None and suggested.id != category.id,
            actor=principal.account_id,
            at=now,
            using_db=conn,
        )
    return report
