"""明心桥 report services: submit, and move through the state machine (one report, or many at once).
Beside it: ``access`` (who reads a report, and how much), ``following``, ``feed`` (the grid feed),
``similar`` (similar open reports).

Every change is one transaction: the report, its history entry, its SLA timers and the notifications
to the reporter (and to the reporters of reports merged into it) commit together.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity import hierarchy
from identity.models import Account
from identity.roles import STAFF_ROLES
from identity.scope import is_district_level
from identity.wechat import WeChatGateway
from miniapp_api.reports import catalogue, events, states
from miniapp_api.reports.access import View, get_readable, in_scope, may_read, viewer_of_account
from miniapp_api.reports.models import Category, Department, Report, ReportEvent, ReportFollower, SlaTimer
from miniapp_api.reports.states import State
from notify import outbox
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from server.wire import wire_time

log = logging.getLogger("gmid.reports")

STATE_NAMES = {
    State.SUBMITTED: "已提交",
    State.ACCEPTED: "已受理",
    State.DISPATCHED: "已派单",
    State.IN_PROGRESS: "处理中",
    State.RESOLVED: "已办结",
    State.CONFIRMED: "已评价",
    State.CLOSED: "已关闭",
    State.REJECTED: "已退单",
    State.RETURNED: "已退回",
    State.REOPENED: "已重启",
    State.MERGED: "已合并",
}

# Which deadline each state has (kind, category attribute).
_DEADLINES: dict[State, tuple[str, str]] = {
    State.SUBMITTED: ("dispatch", "dispatch_minutes"),
    State.ACCEPTED: ("dispatch", "dispatch_minutes"),
    State.REJECTED: ("dispatch", "dispatch_minutes"),
    State.REOPENED: ("dispatch", "dispatch_minutes"),
    State.DISPATCHED: ("start", "start_minutes"),
    State.IN_PROGRESS: ("resolve", "resolve_minutes"),
    State.RESOLVED: ("feedback", "feedback_minutes"),
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Actor:
    """Who acts: an account (with its role and scope) or the system (SLA timers)."""

    principal: Principal | None

    @property
    def name(self) -> str:
        return self.principal.account_id if self.principal else "system"

    @property
    def role(self) -> str:
        return self.principal.role.value if self.principal else "system"


# Submitting -------------------------------------------------------------------------------------------


async def check_text(*, gateway: WeChatGateway, account: Account, text: str) -> None:
    """WeChat's content security check, when WeChat is configured and the author has an openid.
    Risky text is refused; if WeChat cannot answer, the report goes on (it must not be lost)."""
    if not gateway.configured or not account.wechat_openid:
        return
    try:
        verdict = await gateway.content_check(openid=account.wechat_openid, content=text)
    except ServiceUnavailable:
        log.warning("content check skipped: WeChat unavailable")
        return
    if verdict == "risky":
        raise ValidationFailed(
            "内容未通过微信内容安全检测，请修改后再提交。(The text did not pass WeChat's content check.)",
            code="content_refused",
        )


def report_no(now: dt.datetime, report_id: int) -> str:
    """MXQ + the Beijing date + the report's own sequence number: unique without a counter row."""
    return "MXQ" + now.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d") + f"{report_id:07d}"


async def place_of(
    *, principal: Principal | None, node_code: str | None, building_code: str | None
) -> tuple[str, str | None]:
    """Where a report belongs: (its node path, its building code). A building decides: its own grid is
    the report's node, whatever node was named (a node given with it must be that grid or above it,
    else 422), so the building's grid always sees what is filed about it. Staff (grid staff, party
    members, any role but resident) file only in their part of the hierarchy (403); residents anywhere."""
    from miniapp_api.buildings.service import get_by_code  # reports work without the buildings package

    node = None
    if node_code:
        node = await hierarchy.get_by_code(node_code)
        if node is None:
            raise ValidationFailed.field("node", "no hierarchy node has this code", "unknown_node")
    if building_code:
        building = await get_by_code(code=building_code)
        if building is None:
            raise ValidationFailed.field("building", "no building has this code", "unknown_building")
        if node is not None and not building.node_path.startswith(node.path):
            raise ValidationFailed.field(
                "building",
                "this building lies in another grid than the node given: give its own grid, or no node",
                "building_not_in_node",
            )
        node_path, building_code = building.node_path, building.code
    elif node is not None:
        node_path = node.path
    else:
        raise ValidationFailed.field("node", "give the node (grid) or the building of the place", "node_required")
    staff = principal is not None and principal.role in STAFF_ROLES
    if staff and principal is not None and not (is_district_level(principal) or principal.covers(node_path)):
        raise Forbidden("Staff file reports only in their own part of the hierarchy.", code="outside_scope")
    return node_path, building_code


async def submit(
    *,
    reporter: Account | None,
    principal: Principal | None,
    category_key: str,
    text: str,
    node_code: str | None,
    channel: str,
    anonymous: bool = False,
    building_code: str | None = None,
    lat: float | None = None,
    lng: float | None = None,
    board_code: str | None = None,
    source: str = "system",
) -> Report:
    """File a report. ``reporter`` is None for reports from outside systems (Open311), which then
    name themselves in the history as ``source``. With a building, the building's grid is the node
    (see ``place_of``)."""
    await catalogue.ensure_defaults()
    category = await Category.get_or_none(key=category_key, active=True)
    if category is None:
        raise ValidationFailed.field(
            "category", "no such category (see GET /api/v1/report-categories)", "unknown_category"
        )
    node_path, building_code = await place_of(principal=principal, node_code=node_code, building_code=building_code)
    now = utcnow()
    async with in_transaction() as conn:
        report = await Report.create(
            public_id=public_ids.new("rp_"),
            report_no="pending-" + secrets.token_hex(8),
            category_id=category.id,
            text=text,
            channel=channel,
            anonymous=anonymous,
            reporter_id=reporter.id if reporter else None,
            building_code=building_code,
            board_code=board_code,
            lat=lat,
            lng=lng,
            node_path=node_path,
            state=State.SUBMITTED,
            state_since=now,
            created_at=now,
            updated_at=now,
            using_db=conn,
        )
        report.report_no = report_no(now, report.id)
        await report.save(using_db=conn, update_fields=["report_no"])
        await ReportEvent.create(
            report_id=report.id,
            at=now,
            actor=principal.account_id if principal else source[:64],
            role=principal.role.value if principal else "system",
            action="submit",
            to_state=State.SUBMITTED,
            using_db=conn,
        )
        await _set_deadline(report, category, now, conn)
        await _tell_reporters(report, now, conn, note="我们已收到您的诉求")
    await events.publish(report, "submit")
    log.info("report submitted id=%s category=%s", report.public_id, category.key)
    return report


# Moving -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    action: str
    note: str = ""
    department: str | None = None
    merge_into: str | None = None
    satisfaction: int | None = None
    comment: str = ""


async def transition(*, principal: Principal, public_id: str, move: Move) -> Report:
    report, viewer, _ = await get_readable(principal=principal, public_id=public_id)
    view = viewer.view(report)
    if view is View.PUBLIC:
        raise Forbidden("Following a report lets you read it, not move it.", code="follower_cannot_act")
    return await apply(report_id=report.id, actor=Actor(principal), is_reporter=view is View.REPORTER, move=move)


async def apply(*, report_id: int, actor: Actor, is_reporter: bool, move: Move) -> Report:
    """Apply one action under a lock on the report; 409 (with the allowed actions) when the state
    does not allow it, 403 when the role does not."""
    now = utcnow()
    async with in_transaction() as conn:
        report = await Report.filter(id=report_id).using_db(conn).select_for_update().first()
        if report is None:
            raise NotFound("No report with this id.", code="report_not_found")
        if states.BY_ACTION.get(move.action) is None:
            raise ValidationFailed.field(
                "action", f"unknown action; one of {', '.join(states.BY_ACTION)}", "unknown_action"
            )
        step = states.find(move.action, report.state)
        if step is None:
            raise Conflict(
                f"A report that is {report.state.value} cannot be {move.action}ed.",
                code="transition_not_allowed",
                details={"state": report.state.value, "allowed": states.allowed_actions(report.state)},
            )
        if actor.principal is not None and not states.may(step, actor.principal.role, is_reporter=is_reporter):
            raise Forbidden(f"Your role may not {move.action} a report.", code="action_not_allowed")
        if actor.principal is not None and is_reporter and not states.filer_may(move.action, actor.principal.role):
            # Separation of duties: the filer never handles their own report, and staff never rate one.
            raise Forbidden(f"You filed this report: someone else may {move.action} it.", code="own_report")
        if step.needs_note and not move.note.strip():
            raise ValidationFailed.field("note", f"{move.action} needs a reason", "note_required")
        category = await Category.get(id=report.category_id, using_db=conn)
        changes: list[str] = ["state", "state_since", "updated_at", "due_at", "overdue", "escalation_level"]
        if move.action == "dispatch":
            department = await _department_for(report, category, move.department, conn)
            report.department_id = department.id
            changes.append("department_id")
        if move.action == "merge":
            main = await _merge_target(report, move.merge_into, conn)
            if actor.principal is not None and not in_scope(actor.principal, main):
                # Another grid's report is not yours to tie this one to (nor to learn exists).
                raise ValidationFailed.field("merge_into", "no other report with this id", "unknown_report")
            report.merged_into_id = main.id
            changes.append("merged_into_id")
        if move.action == "confirm":
            if move.satisfaction is None or not 1 <= move.satisfaction <= 5:
                raise ValidationFailed.field("satisfaction", "rate the handling from 1 to 5", "satisfaction_required")
            report.satisfaction = move.satisfaction
            report.comment = move.comment[:500]
            changes += ["satisfaction", "comment"]
        previous = report.state
        report.state = step.target
        report.state_since = now
        report.updated_at = now
        report.overdue = False
        report.escalation_level = 0
        await SlaTimer.filter(report_id=report.id, fired_at=None, cancelled=False).using_db(conn).update(cancelled=True)
        report.due_at = None
        await report.save(using_db=conn, update_fields=changes)
        await _set_deadline(report, category, now, conn)
        await ReportEvent.create(
            report_id=report.id,
            at=now,
            actor=actor.name,
            role=actor.role,
            action=move.action,
            from_state=previous,
            to_state=step.target,
            note=move.note[:500],
            using_db=conn,
        )
        if not is_reporter:
            await _tell_reporters(report, now, conn, note=move.note)
    await events.publish(report, move.action)
    log.info("report moved id=%s action=%s to=%s", report.public_id, move.action, report.state.value)
    return report


async def _department_for(report: Report, category: Category, code: str | None, conn: BaseDBAsyncClient) -> Department:
    if code:
        department = await Department.get_or_none(code=code, using_db=conn)
        # A local department (a street office) serves its own part of the hierarchy only.
        if department is None or (department.node_path and not report.node_path.startswith(department.node_path)):
            raise ValidationFailed.field("department", "no department has this code", "unknown_department")
        return department
    suggested = await catalogue.suggest_department(category, report.node_path)
    if suggested is None:
        raise ValidationFailed.field(
            "department", "no routing rule for this category: name the department", "department_required"
        )
    return suggested


async def _merge_target(report: Report, public_id: str | None, conn: BaseDBAsyncClient) -> Report:
    if not public_id:
        raise ValidationFailed.field("merge_into", "name the report this one duplicates", "merge_target_required")
    main = await Report.get_or_none(public_id=public_id, using_db=conn) if len(public_id) <= 16 else None
    if main is None or main.id == report.id:
        raise ValidationFailed.field("merge_into", "no other report with this id", "unknown_report")
    if main.state not in states.OPEN_STATES or main.merged_into_id is not None:
        raise Conflict("A report can only be merged into an open report.", code="merge_target_closed")
    return main


async def _set_deadline(report: Report, category: Category, now: dt.datetime, conn: BaseDBAsyncClient) -> None:
    deadline = _DEADLINES.get(report.state)
    if deadline is None:
        return
    kind, attribute = deadline
    due = now + dt.timedelta(minutes=int(getattr(category, attribute)))
    await SlaTimer.create(report_id=report.id, state=report.state, kind=kind, due_at=due, using_db=conn)
    report.due_at = due
    await Report.filter(id=report.id).using_db(conn).update(due_at=due)


async def _tell_reporters(report: Report, now: dt.datetime, conn: BaseDBAsyncClient, *, note: str = "") -> None:
    """The reporter and the followers, and those of every report merged into this one, hear of each
    step (each account once), as long as they may still read it (``access.may_read``: a follower or
    the reporter of a merged report no longer does once it is a police matter) and their account is
    active. Only the report's own reporter is told the note (a staff note, a reason): the others read
    its public view, which has none."""
    targets = [report, *await Report.filter(merged_into_id=report.id).using_db(conn)]
    ids = [t.id for t in targets]
    follows = await ReportFollower.filter(report_id__in=ids).using_db(conn).values_list("report_id", "account_id")
    reporters = [t.reporter_id for t in targets if t.reporter_id is not None]
    recipients = list(dict.fromkeys([*reporters, *(account_id for _, account_id in follows)]))
    # Who reads its public view (``access.get_readable``): its own followers, the merged reports' reporters.
    told_of_it = {*(t.reporter_id for t in targets[1:]), *(a for r, a in follows if r == report.id)}
    # No staff view of the outbox shows who hears of an anonymous report, nor which row went to the
    # reporter of an anonymous report merged into this one: the rows' times would name them.
    hidden = {t.reporter_id for t in targets if t.anonymous}
    category = await Category.get(id=report.category_id, using_db=conn)
    accounts = {a.id: a for a in await Account.filter(id__in=recipients).using_db(conn).select_related("node")}
    for account_id in recipients:
        account = accounts.get(account_id)
        if account is None or not account.is_active or not outbox.reachable(account, "report.updated"):
            continue
        view = viewer_of_account(account).view(report)
        if not may_read(view, role=account.role, told=account_id in told_of_it, category_key=category.key):
            continue
        told = note if account_id == report.reporter_id else ""
        await outbox.enqueue(
            template="report.updated",
            data={
                "report_no": report.report_no,
                "state": STATE_NAMES[report.state],
                "at": wire_time(now),
                "note": (told or "请在小程序查看详情")[:20],
                "report_id": report.public_id,
            },
            idempotency_key=f"report:{report.public_id}:{report.state.value}:{now.timestamp()}:{account.public_id}",
            event_key=f"report:{report.public_id}:{report.state.value}:{now.timestamp()}",
            account=account,
            hide_recipient=report.anonymous or account_id in hidden,
            using_db=conn,
        )


# Bulk ---------------------------------------------------------------------------------------------------


async def bulk(*, principal: Principal, ids: list[str], move: Move) -> list[tuple[str, Report | None, str]]:
    """The same action on many reports, each in its own transaction: (id, report or None, error code)."""
    results: list[tuple[str, Report | None, str]] = []
    for public_id in ids:
        try:
            results.append((public_id, await transition(principal=principal, public_id=public_id, move=move), ""))
        except (Conflict, Forbidden, NotFound, ValidationFailed) as exc:
            results.append((public_id, None, exc.code))
    return results
