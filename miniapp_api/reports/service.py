"""明心桥 report services: submit, move through the state machine, read, and the grid feed.

Every change is one transaction: the report, its history entry, its SLA timers and the notifications
to the reporter (and to the reporters of reports merged into it) commit together.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from math import asin, cos, radians, sin, sqrt

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from identity import hierarchy
from identity.models import Account, Node
from identity.roles import STAFF_ROLES, NodeLevel, Role
from identity.service import is_district_level
from identity.wechat import WeChatGateway
from miniapp_api.reports import catalogue, events, states
from miniapp_api.reports.models import Category, Department, Report, ReportEvent, ReportFollower, SlaTimer
from miniapp_api.reports.states import State
from notify import outbox
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


# Reading and scope ------------------------------------------------------------------------------------

# Reports about crime and public order go to the police, not to the public: never suggested to a
# resident, never followed by one, never published (Open311).
PRIVATE_CATEGORIES = frozenset({"public_order"})


def in_scope(principal: Principal, report: Report) -> bool:
    """Staff see the reports under their node; the district level sees all."""
    if principal.role not in STAFF_ROLES:
        return False
    if is_district_level(principal):
        return True
    return principal.covers(report.node_path)


class View(StrEnum):
    """How much of a report one reader sees; decided per report, never per page."""

    REPORTER = "reporter"  # who filed it: all of it, their own comment included
    STAFF = "staff"  # staff in whose part of the hierarchy it lies: all of it, the reporter unless anonymous
    PUBLIC = "public"  # a follower, or the reporter of a report merged into it: category, state, place, times


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    account_id: int | None  # the database id of the principal's account, when it still exists

    def view(self, report: Report) -> View:
        if self.account_id is not None and report.reporter_id == self.account_id:
            return View.REPORTER
        if in_scope(self.principal, report):
            return View.STAFF
        return View.PUBLIC


async def viewer_of(principal: Principal) -> Viewer:
    account = await Account.get_or_none(public_id=principal.account_id)
    return Viewer(principal, account.id if account else None)


def _not_found() -> NotFound:
    return NotFound("No report with this id.", code="report_not_found")


async def _by_public_id(public_id: str) -> Report:
    report = await Report.get_or_none(public_id=public_id) if 0 < len(public_id) <= 16 else None
    if report is None:
        raise _not_found()
    return report


async def get_visible(*, principal: Principal, public_id: str) -> tuple[Report, bool]:
    """The report and whether the caller filed it; 404 for anyone else (no hint that it exists)."""
    report = await _by_public_id(public_id)
    viewer = await viewer_of(principal)
    view = viewer.view(report)
    if view is View.PUBLIC:
        raise _not_found()
    return report, view is View.REPORTER


async def get_readable(*, principal: Principal, public_id: str) -> tuple[Report, Viewer, bool]:
    """For reading: the report, who reads it, and whether they follow it. Its reporter and the staff
    in scope read all of it; a follower, and the reporter of a report merged into it, read its public
    view (``View.PUBLIC``) and cannot move it; anyone else gets 404."""
    report = await _by_public_id(public_id)
    viewer = await viewer_of(principal)
    following = viewer.account_id is not None and await ReportFollower.exists(
        report_id=report.id, account_id=viewer.account_id
    )
    if viewer.view(report) is View.PUBLIC:
        told = following or (
            viewer.account_id is not None
            and await Report.exists(merged_into_id=report.id, reporter_id=viewer.account_id)
        )
        category = await Category.get_or_none(id=report.category_id)
        if not told or category is None or category.key in PRIVATE_CATEGORIES:
            raise _not_found()
    return report, viewer, following


async def history(report: Report) -> list[ReportEvent]:
    return list(await ReportEvent.filter(report_id=report.id).order_by("id"))


def community_path(node_path: str) -> str:
    """The community a node lies in (district, street, community: the first three codes), or the node
    itself when it is higher: the place a report is shown at to anyone but its reporter and staff."""
    return "/" + "/".join([code for code in node_path.strip("/").split("/") if code][:3]) + "/"


async def community_places(paths: set[str]) -> dict[str, str | None]:
    """Each node path's place above the grid, by name (光明区光明街道光明社区): where a report is, no
    closer than the community."""
    segments = {path: [code for code in path.strip("/").split("/") if code] for path in paths}
    codes = {code for parts in segments.values() for code in parts}
    names = dict(await Node.filter(code__in=codes).exclude(level=NodeLevel.GRID).values_list("code", "name"))
    return {path: "".join(names[c] for c in parts if c in names) or None for path, parts in segments.items()}


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
            public_id="rp_" + secrets.token_urlsafe(10)[:13],
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
    step (each account once). Only the report's own reporter is told the note (a staff note, a
    reason): the others read its public view, which has none."""
    targets = [report, *await Report.filter(merged_into_id=report.id).using_db(conn)]
    ids = [t.id for t in targets]
    followers = await ReportFollower.filter(report_id__in=ids).using_db(conn).values_list("account_id", flat=True)
    recipients = list(dict.fromkeys([*(t.reporter_id for t in targets if t.reporter_id is not None), *followers]))
    for account_id in recipients:
        account = await Account.get_or_none(id=account_id, using_db=conn)
        if account is None or not outbox.reachable(account, "report.updated"):
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
            using_db=conn,
        )


# Following ---------------------------------------------------------------------------------------------

MAX_FOLLOWED = 200


async def follow(*, principal: Principal, public_id: str) -> tuple[Report, int]:
    """Follow an open report (one of the similar ones, instead of filing it again); a merged report's
    main report is followed instead. Following twice is the same as once. Answers the followed report
    and its number of followers.

    Staff follow only reports in their part of the hierarchy. A resident follows any open report but
    a police matter, and reads only its public view (category, state, community, times): what anyone
    may already read of it through Open311. Anything else is 404, as if it did not exist."""
    report = await _by_public_id(public_id)
    viewer = await viewer_of(principal)
    if viewer.account_id is None:
        raise _not_found()
    if report.state == State.MERGED and report.merged_into_id is not None:
        report = await Report.get(id=report.merged_into_id)
    view = viewer.view(report)
    if view is View.PUBLIC:
        category = await Category.get(id=report.category_id)
        if principal.role is not Role.RESIDENT or category.key in PRIVATE_CATEGORIES:
            raise _not_found()
    if report.state in states.FINAL_STATES:
        raise Conflict("This report is closed; file a new one if the problem is back.", code="report_closed")
    if view is not View.REPORTER:
        async with in_transaction() as conn:
            followed = await ReportFollower.filter(account_id=viewer.account_id).using_db(conn).count()
            if followed >= MAX_FOLLOWED and not await ReportFollower.exists(
                report_id=report.id, account_id=viewer.account_id
            ):
                raise Conflict(f"You follow {MAX_FOLLOWED} reports already.", code="too_many_followed")
            await ReportFollower.bulk_create(
                [ReportFollower(report_id=report.id, account_id=viewer.account_id, created_at=utcnow())],
                ignore_conflicts=True,
                using_db=conn,
            )
    return report, await followers(report)


async def unfollow(*, principal: Principal, public_id: str) -> None:
    report = await Report.get_or_none(public_id=public_id) if 0 < len(public_id) <= 16 else None
    account = await Account.get_or_none(public_id=principal.account_id)
    if report is not None and account is not None:
        await ReportFollower.filter(report_id=report.id, account_id=account.id).delete()


async def followers(report: Report) -> int:
    return await ReportFollower.filter(report_id=report.id).count()


async def followed(*, principal: Principal, limit: int = MAX_FOLLOWED) -> list[Report]:
    """The reports the caller follows, as ``get_readable`` lets them read each: a police matter out of
    their scope (followed before such follows were refused) is not listed."""
    viewer = await viewer_of(principal)
    if viewer.account_id is None:
        return []
    ids = ReportFollower.filter(account_id=viewer.account_id).values_list("report_id", flat=True)
    rows = await Report.filter(id__in=Subquery(ids)).order_by("-updated_at", "-id").limit(limit)
    private = set(await Category.filter(key__in=list(PRIVATE_CATEGORIES)).values_list("id", flat=True))
    return [r for r in rows if r.category_id not in private or viewer.view(r) is not View.PUBLIC]


# The grid feed ----------------------------------------------------------------------------------------


# What grid staff work on: open reports, resolved ones awaiting feedback, confirmed ones to close.
FEED_STATES = states.OPEN_STATES | {State.RESOLVED, State.CONFIRMED}


@dataclass(frozen=True)
class FeedFilter:
    states: list[State] | None = None
    category: str | None = None
    building: str | None = None
    overdue: bool | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _micros(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _moment(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


_DIGITS = re.compile(r"^[0-9]{1,19}$")
_LAST_MICROS = _micros(dt.datetime(2100, 1, 1, tzinfo=dt.UTC))  # no deadline or filing lies beyond


@dataclass(frozen=True)
class FeedCursor:
    """Where a feed page ended (keyset, not an offset: a report that moves between two pages is not
    skipped or shown twice because of the others). The feed is two runs: reports with a deadline
    (overdue first, then the nearest deadline), then those without one (waiting on the reporter),
    newest first."""

    with_deadline: bool
    overdue: bool
    moment: dt.datetime  # due_at in the first run, created_at in the second
    id: int

    def encode(self) -> str:
        return f"{int(self.with_deadline)}{int(self.overdue)}.{_micros(self.moment)}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> FeedCursor:
        """Raises ValueError for anything this API did not give out, out-of-range numbers included
        (a moment past the calendar overflows datetime; an id past 2**63 - 1 PostgreSQL's bigint)."""
        flags, micros, ident = text.split(".")
        if flags not in ("00", "10", "11") or not _DIGITS.fullmatch(micros) or not _DIGITS.fullmatch(ident):
            raise ValueError(text)
        if not 0 <= int(micros) <= _LAST_MICROS or not 0 < int(ident) < 2**63:
            raise ValueError(text)
        return cls(flags[0] == "1", flags[1] == "1", _moment(int(micros)), int(ident))

    @classmethod
    def after(cls, report: Report) -> FeedCursor:
        if report.due_at is not None:
            return cls(True, report.overdue, report.due_at, report.id)
        return cls(False, False, report.created_at, report.id)


async def feed(
    *, principal: Principal, filters: FeedFilter, limit: int, cursor: FeedCursor | None = None
) -> tuple[list[Report], FeedCursor | None]:
    """Reports under the caller's node, most urgent first: overdue ones, then by nearest deadline,
    then the newest of those without a deadline. Answers a page and the cursor of the next one."""
    if principal.role not in STAFF_ROLES or principal.node_path is None:
        raise Forbidden("Only staff with a place in the hierarchy have a feed.", code="no_feed")
    query = Report.filter(node_path__startswith=principal.node_path)
    if filters.category:
        query = query.filter(category__key=filters.category)
    if filters.building:
        query = query.filter(building_code=filters.building)
    if filters.overdue is not None:
        query = query.filter(overdue=filters.overdue)
    if filters.since:
        query = query.filter(created_at__gte=filters.since)
    if filters.until:
        query = query.filter(created_at__lt=filters.until)
    # Only the states of FEED_STATES have a deadline (moves clear it, _set_deadline sets it), so the
    # first run needs no state filter by default: then it reads the partial feed index in order
    # instead of sorting every open report (0.1 ms instead of 20 ms at a million reports).
    by_state = query.filter(state__in=filters.states or list(FEED_STATES))
    rows: list[Report] = []
    if cursor is None or cursor.with_deadline:
        first = (by_state if filters.states else query).filter(due_at__isnull=False)
        if cursor is not None:
            later = Q(due_at__gt=cursor.moment) | Q(due_at=cursor.moment, id__gt=cursor.id)
            first = first.filter(Q(overdue=False) | later) if cursor.overdue else first.filter(later, overdue=False)
        rows = list(await first.order_by("-overdue", "due_at", "id").limit(limit + 1))
        cursor = None
    if len(rows) <= limit:
        second = by_state.filter(due_at__isnull=True)
        if cursor is not None:
            second = second.filter(Q(created_at__lt=cursor.moment) | Q(created_at=cursor.moment, id__lt=cursor.id))
        rows += list(await second.order_by("-created_at", "-id").limit(limit + 1 - len(rows)))
    page = rows[:limit]
    return page, FeedCursor.after(page[-1]) if len(rows) > limit else None


# Similar open reports -------------------------------------------------------------------------------

SIMILAR_DAYS = 7
SIMILAR_METRES = 100.0


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine), in metres."""
    dlat, dlng = radians(lat2 - lat1), radians(lng2 - lng1)
    a = sin(dlat / 2) ** 2 + cos(radians(lat1)) * cos(radians(lat2)) * sin(dlng / 2) ** 2
    return 2 * 6_371_000 * asin(sqrt(a))


def near_box(lat: float, lng: float, metres: float = SIMILAR_METRES) -> Q:
    """Points within a box of about ``metres`` around (lat, lng): an indexable first cut before distance_m.
    A degree of longitude shrinks with the latitude; 1.2 covers Shenzhen's (1/cos 22.7° = 1.08)."""
    box = metres / 111_000
    lng_box = box * max(1.2, 1 / max(cos(radians(lat)), 0.01))
    return Q(lat__gte=lat - box, lat__lte=lat + box, lng__gte=lng - lng_box, lng__lte=lng + lng_box)


@dataclass(frozen=True)
class Similar:
    """One suggestion: nothing of who filed it or what they wrote, no exact position."""

    report: Report
    distance_m: float | None  # rough: from the report's point rounded to about 100 m, to 10 m
    building: str | None  # the building, only when the caller asked about that building
    place: str | None  # the community's name


# A suggested report's point is known to the caller only as rounded as Open311 publishes it (3
# decimals, about 100 m): the distance, and whether it is "within 100 m" at all, are reckoned from that
# rounded point, so no series of queries from chosen points can find where someone stood.
SIMILAR_DECIMALS = 3


def rough_point(lat: float, lng: float) -> tuple[float, float]:
    return round(lat, SIMILAR_DECIMALS), round(lng, SIMILAR_DECIMALS)


async def similar(
    *,
    principal: Principal,
    category_key: str,
    node_code: str | None,
    building_code: str | None,
    lat: float | None,
    lng: float | None,
    limit: int = 10,
) -> list[Similar]:
    """Open reports of the same category from the last 7 days at the same building or within about
    100 m (nearest first), so one can follow a report instead of filing the same thing again; with
    neither, the newest of the node named. Staff see those under their own node only; a resident, any
    but police matters. Each answer is the public view: no text, no reporter, no exact position."""
    category = await Category.get_or_none(key=category_key)
    if category is None:
        raise ValidationFailed.field("category", "no such category", "unknown_category")
    since = utcnow() - dt.timedelta(days=SIMILAR_DAYS)
    query = Report.filter(category_id=category.id, state__in=list(states.OPEN_STATES), created_at__gte=since)
    if principal.role in STAFF_ROLES:
        if principal.node_path is None:
            return []
        if not is_district_level(principal):
            query = query.filter(node_path__startswith=principal.node_path)
    elif principal.role is Role.RESIDENT:
        if category.key in PRIVATE_CATEGORIES:
            return []
    else:
        return []
    code = building_code.strip().upper() if building_code else None
    found: list[tuple[Report, float | None, bool]] = []
    if code:
        found += [(r, None, True) for r in await query.filter(building_code=code).order_by("-created_at").limit(limit)]
    if lat is not None and lng is not None:
        # The box first (wide enough for a rounded point within 100 m), then the distance.
        near = await query.filter(near_box(lat, lng, SIMILAR_METRES + 100)).limit(200)
        seen = {r.id for r, _, _ in found}
        for report in near:
            if report.id in seen or report.lat is None or report.lng is None:
                continue
            metres = distance_m(lat, lng, *rough_point(report.lat, report.lng))
            if metres <= SIMILAR_METRES:
                found.append((report, float(round(metres, -1)), False))
    if not found and node_code and not code and lat is None:
        node = await hierarchy.get_by_code(node_code)
        if node is not None:
            rows = await query.filter(node_path__startswith=node.path).order_by("-created_at").limit(limit)
            found = [(r, None, False) for r in rows]
    found.sort(key=lambda item: (item[1] is None, item[1] or 0.0))
    found = found[:limit]
    places = await community_places({r.node_path for r, _, _ in found})
    return [
        Similar(r, metres, r.building_code if by_building else None, places.get(r.node_path))
        for r, metres, by_building in found
    ]


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
