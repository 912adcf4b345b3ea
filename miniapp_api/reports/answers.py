"""What a report looks like in an answer, for each reader: its reporter and the staff in scope read it
all (staff see the reporter unless the report is anonymous), anyone else its public view; and its
history as that reader may see it."""

from __future__ import annotations

from identity.models import Account
from identity.roles import Role
from miniapp_api.reports import access, service, states
from miniapp_api.reports.models import Category, Department, Report, ReportEvent
from miniapp_api.reports.schemas import (
    EventOut,
    ReportOut,
)

# The actions only a report's reporter takes (states.REPORTER): their actor is the reporter.
REPORTER_ACTIONS = frozenset({"submit", *(t.action for t in states.TRANSITIONS if states.REPORTER in t.roles)})


async def names() -> tuple[dict[int, Category], dict[int, Department]]:
    """Every category and department by id: few rows, read once for a page of answers."""
    categories = {c.id: c for c in await Category.all()}
    departments = {d.id: d for d in await Department.all()}
    return categories, departments


async def report_outs(reports: list[Report], *, viewer: access.Viewer) -> list[ReportOut]:
    """A page of reports in a fixed number of queries, however long the page. What each shows is
    decided per report (``access.View``): its reporter and the staff in scope read it all (staff see
    the reporter unless that report is anonymous), anyone else its public view."""
    categories, departments = await names()
    views = [viewer.view(r) for r in reports]
    hides_reporter = viewer.principal.role is Role.PARTY_MEMBER  # a volunteer never reads whose a report is
    merged_ids = {r.merged_into_id for r in reports if r.merged_into_id}
    merged = dict(await Report.filter(id__in=merged_ids).values_list("id", "public_id")) if merged_ids else {}
    named = {
        r.reporter_id
        for r, view in zip(reports, views, strict=True)
        if r.reporter_id is not None and view is access.View.STAFF and not r.anonymous and not hides_reporter
    }
    accounts = dict(await Account.filter(id__in=named).values_list("id", "public_id")) if named else {}
    places = await access.community_places({r.node_path for r in reports}) if reports else {}
    items = []
    for report, view in zip(reports, views, strict=True):
        if view is access.View.REPORTER:
            reporter: str | None = viewer.principal.account_id
        elif (
            view is access.View.STAFF and not report.anonymous and not hides_reporter and report.reporter_id is not None
        ):
            reporter = accounts.get(report.reporter_id)
        else:
            reporter = None
        out = ReportOut(
            id=report.public_id,
            report_no=report.report_no,
            category=categories[report.category_id].key,
            category_name=categories[report.category_id].name,
            text=report.text,
            channel=report.channel,
            anonymous=report.anonymous,
            building=report.building_code,
            board=report.board_code,
            lat=report.lat,
            lng=report.lng,
            node=report.node_path,
            place=places.get(report.node_path),
            state=report.state,
            state_name=service.STATE_NAMES[report.state],
            department=departments[report.department_id].name if report.department_id in departments else None,
            due_at=report.due_at,
            overdue=report.overdue,
            escalation_level=report.escalation_level,
            merged_into=merged.get(report.merged_into_id) if report.merged_into_id else None,
            satisfaction=report.satisfaction,
            comment=report.comment or None,
            created_at=report.created_at,
            updated_at=report.updated_at,
            allowed_actions=states.allowed_actions(report.state),
            reporter=reporter,
        )
        if view is access.View.PUBLIC:
            out = out.model_copy(
                update={
                    "text": "",
                    "channel": "",
                    "anonymous": None,
                    "building": None,
                    "board": None,
                    "lat": None,
                    "lng": None,
                    "node": access.community_path(report.node_path),
                    "satisfaction": None,
                    "comment": None,
                    "allowed_actions": [],
                    "reporter": None,
                    "redacted": True,
                }
            )
        items.append(out)
    return items


async def report_out(report: Report, *, viewer: access.Viewer) -> ReportOut:
    [out] = await report_outs([report], viewer=viewer)
    return out


def timeline_of(
    events: list[ReportEvent], report: Report, view: access.View, reporter: str | None, *, hide_reporter: bool = False
) -> list[EventOut]:
    """The history as this reader may see it. The public view: states and times only. The reporter:
    their own id, the roles of the others. Staff: everyone, but an anonymous report's reporter (by
    account, and in the reporter's own actions) is only "reporter", and so is every reporter for
    ``hide_reporter`` (a party member)."""
    out = []
    for e in events:
        if view is access.View.PUBLIC:
            out.append(
                EventOut(
                    at=e.at, actor="", role="", action=e.action, from_state=e.from_state, to_state=e.to_state, note=""
                )
            )
            continue
        actor, role = e.actor, e.role
        by_reporter = (reporter is not None and e.actor == reporter) or (
            e.action in REPORTER_ACTIONS and e.role != "system"
        )
        if view is access.View.REPORTER:
            if not by_reporter and e.role != "system":
                actor = e.role
        elif (report.anonymous or hide_reporter) and by_reporter:
            actor = role = "reporter"
        out.append(
            EventOut(
                at=e.at,
                actor=actor,
                role=role,
                action=e.action,
                from_state=e.from_state,
                to_state=e.to_state,
                note=e.note,
            )
        )
    return out
