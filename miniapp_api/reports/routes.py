"""HTTP routes of 明心桥 reports: submit, follow, move through the state machine; the grid feed."""

from __future__ import annotations

import base64
import json as jsonlib
import re

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from identity import service as identity_service
from identity.models import Account
from identity.roles import STAFF_ROLES, Role
from miniapp_api.reports import catalogue, events, service, states
from miniapp_api.reports.models import Category, Department, Report
from miniapp_api.reports.schemas import (
    BulkIn,
    BulkItem,
    BulkOut,
    CategoryList,
    CategoryOut,
    EventOut,
    FeedQuery,
    FollowOut,
    MoveIn,
    ReportDetail,
    ReportList,
    ReportOut,
    SimilarList,
    SimilarOut,
    SimilarQuery,
    SubmitIn,
)
from server.auth import public, require_principal, requires, token_ignored
from server.errors import NotFound, ValidationFailed
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("reports", url_prefix="/api/v1")

_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
REPORTERS = (Role.RESIDENT, Role.PARTY_MEMBER, Role.GRID_STAFF)
_CHANNEL = {Role.PARTY_MEMBER: "party_member", Role.GRID_STAFF: "grid_staff"}


async def _names() -> tuple[dict[int, Category], dict[int, Department]]:
    categories = {c.id: c for c in await Category.all()}
    departments = {d.id: d for d in await Department.all()}
    return categories, departments


async def report_outs(reports: list[Report], *, viewer_is_reporter: bool, show_reporter: bool) -> list[ReportOut]:
    """A page of reports in a fixed number of queries, however long the page."""
    categories, departments = await _names()
    merged_ids = {r.merged_into_id for r in reports if r.merged_into_id}
    merged = dict(await Report.filter(id__in=merged_ids).values_list("id", "public_id")) if merged_ids else {}
    shown = {
        r.reporter_id
        for r in reports
        if r.reporter_id is not None and (viewer_is_reporter or (show_reporter and not r.anonymous))
    }
    accounts = dict(await Account.filter(id__in=shown).values_list("id", "public_id")) if shown else {}
    return [
        ReportOut(
            id=report.public_id,
            report_no=report.report_no,
            category=categories[report.category_id].key,
            category_name=categories[report.category_id].name,
            text=report.text,
            channel=report.channel,
            anonymous=report.anonymous,
            building=report.building_code,
            lat=report.lat,
            lng=report.lng,
            node=report.node_path,
            state=report.state,
            state_name=service.STATE_NAMES[report.state],
            department=departments[report.department_id].name if report.department_id in departments else None,
            due_at=report.due_at,
            overdue=report.overdue,
            escalation_level=report.escalation_level,
            merged_into=merged.get(report.merged_into_id) if report.merged_into_id else None,
            satisfaction=report.satisfaction,
            created_at=report.created_at,
            updated_at=report.updated_at,
            allowed_actions=states.allowed_actions(report.state),
            reporter=accounts.get(report.reporter_id) if report.reporter_id in shown else None,
        )
        for report in reports
    ]


async def report_out(report: Report, *, viewer_is_reporter: bool, show_reporter: bool) -> ReportOut:
    [out] = await report_outs([report], viewer_is_reporter=viewer_is_reporter, show_reporter=show_reporter)
    return out


def _cursor(cursor: service.FeedCursor | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(cursor.encode().encode()).decode().rstrip("=")


def _feed_cursor(text: str | None) -> service.FeedCursor | None:
    if not text:
        return None
    try:
        return service.FeedCursor.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode())
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise ValidationFailed("The cursor is not one this API gave out.", code="bad_cursor") from None


def _stream_id_ok(text: str) -> bool:
    """A Redis stream id as this stream sends them: two unsigned 64-bit numbers (Redis refuses more)."""
    if not _STREAM_ID.fullmatch(text):
        return False
    ms, seq = text.split("-")
    return int(ms) < 2**64 and int(seq) < 2**64


@bp.get("/report-categories", name="reports.categories")
@public
@token_ignored
@responds(200, CategoryList, "The categories a report can have, with their time limits")
async def categories(request: Request) -> HTTPResponse:
    await catalogue.ensure_defaults()
    cats, departments = await _names()
    items = [
        CategoryOut(
            key=c.key,
            name=c.name,
            department=departments[c.department_id].name if c.department_id in departments else None,
            dispatch_minutes=c.dispatch_minutes,
            feedback_minutes=c.feedback_minutes,
        )
        for c in sorted(cats.values(), key=lambda c: c.id)
        if c.active
    ]
    return json(CategoryList(items=items).model_dump(mode="json"), headers={"Cache-Control": "public, max-age=300"})


@bp.post("/reports", name="reports.submit")
@requires(*REPORTERS)
@json_body(SubmitIn)
@responds(201, ReportOut, "Submitted; you are notified at each step")
@errors(422)
async def submit(request: Request, body: SubmitIn) -> HTTPResponse:
    """File a report (明心桥): a category, what is wrong and where (the grid, a building, a point)."""
    principal = require_principal(request)
    account = await identity_service.get_account(public_id=principal.account_id)
    if account is None:
        raise NotFound("Your account no longer exists.", code="account_not_found")
    channel = _CHANNEL.get(principal.role, "building" if body.building else "miniapp")
    await service.check_text(gateway=request.app.ctx.wechat, account=account, text=body.text)
    report = await service.submit(
        reporter=account,
        principal=principal,
        category_key=body.category,
        text=body.text,
        node_code=body.node,
        channel=channel,
        anonymous=body.anonymous,
        building_code=body.building,
        lat=body.lat,
        lng=body.lng,
    )
    out = await report_out(report, viewer_is_reporter=True, show_reporter=False)
    return json(out.model_dump(mode="json"), status=201)


@bp.get("/reports/mine", name="reports.mine")
@requires()
@responds(200, ReportList, "The reports you filed, newest first")
async def mine(request: Request) -> HTTPResponse:
    principal = require_principal(request)
    account = await identity_service.get_account(public_id=principal.account_id)
    rows = list(await Report.filter(reporter_id=account.id).order_by("-id").limit(200)) if account else []
    items = await report_outs(rows, viewer_is_reporter=True, show_reporter=False)
    return json(ReportList(items=items, next_cursor=None).model_dump(mode="json"))


@bp.get("/reports/following", name="reports.following")
@requires()
@responds(200, ReportList, "The reports you follow, the latest changed first")
async def following(request: Request) -> HTTPResponse:
    rows = await service.followed(principal=require_principal(request))
    items = await report_outs(rows, viewer_is_reporter=False, show_reporter=False)
    for item in items:
        item.allowed_actions = []
    body = ReportList(items=items, next_cursor=None)
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.put("/reports/<public_id:str>/follow", name="reports.follow")
@requires()
@responds(200, FollowOut, "You follow the report (or its main report, if it was merged)")
@errors(404, 409)
async def follow(request: Request, public_id: str) -> HTTPResponse:
    """Follow an open report instead of filing the same thing again: you can read it and are told of
    each step, like its reporter. Following twice is the same as once."""
    report, count = await service.follow(principal=require_principal(request), public_id=public_id)
    out = FollowOut(id=report.public_id, report_no=report.report_no, following=True, followers=count)
    return json(out.model_dump())


@bp.delete("/reports/<public_id:str>/follow", name="reports.unfollow")
@requires()
@responds(204, None, "You no longer follow the report")
async def unfollow(request: Request, public_id: str) -> HTTPResponse:
    await service.unfollow(principal=require_principal(request), public_id=public_id)
    return empty()


@bp.get("/reports/<public_id:str>", name="reports.get")
@requires()
@responds(200, ReportDetail, "The report, its timeline, department and deadline")
@errors(404)
async def get_report(request: Request, public_id: str) -> HTTPResponse:
    principal = require_principal(request)
    report, is_reporter, is_follower = await service.get_readable(principal=principal, public_id=public_id)
    staff = principal.role in STAFF_ROLES and not is_reporter and not is_follower
    out = await report_out(report, viewer_is_reporter=is_reporter, show_reporter=staff)
    timeline = [
        EventOut(
            at=e.at,
            actor=e.actor if (staff or e.actor == principal.account_id or e.role in ("system",)) else e.role,
            role=e.role,
            action=e.action,
            from_state=e.from_state,
            to_state=e.to_state,
            note=e.note,
        )
        for e in await service.history(report)
    ]
    if report.anonymous and staff:
        for event in timeline:
            if event.action in ("submit", "confirm", "reopen", "resubmit"):
                event.actor = "reporter"
    suggested = None
    if staff:
        category = await Category.get(id=report.category_id)
        department = await catalogue.suggest_department(category, report.node_path)
        suggested = department.code if department else None
    if is_follower:
        out.allowed_actions = []
    detail = ReportDetail(
        **out.model_dump(),
        timeline=timeline,
        suggested_department=suggested,
        followers=await service.followers(report),
        following=is_follower,
    )
    return json(detail.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.post("/reports/<public_id:str>/transitions", name="reports.transition")
@requires()
@json_body(MoveIn)
@responds(200, ReportOut, "The report in its new state")
@errors(403, 404, 409, 422)
async def move(request: Request, public_id: str, body: MoveIn) -> HTTPResponse:
    """Move the report: a transition the state does not allow is 409 with `details.allowed`."""
    principal = require_principal(request)
    report = await service.transition(
        principal=principal,
        public_id=public_id,
        move=service.Move(
            action=body.action,
            note=body.note,
            department=body.department,
            merge_into=body.merge_into,
            satisfaction=body.satisfaction,
            comment=body.comment,
        ),
    )
    staff = principal.role in STAFF_ROLES
    out = await report_out(report, viewer_is_reporter=not staff, show_reporter=staff)
    return json(out.model_dump(mode="json"))


@bp.get("/grid/feed", name="grid.feed")
@requires(Role.GRID_STAFF, Role.OFFICER, Role.ADMIN, Role.PARTY_MEMBER)
@query_args(FeedQuery)
@responds(200, ReportList, "Reports under your node, most urgent first (overdue, then nearest deadline)")
@errors(422)
async def feed(request: Request, query: FeedQuery) -> HTTPResponse:
    principal = require_principal(request)
    rows, after = await service.feed(
        principal=principal,
        filters=service.FeedFilter(
            states=query.state,
            category=query.category,
            building=query.building,
            overdue=query.overdue,
            since=query.since,
            until=query.until,
        ),
        limit=query.limit,
        cursor=_feed_cursor(query.cursor),
    )
    items = await report_outs(rows, viewer_is_reporter=False, show_reporter=True)
    body = ReportList(items=items, next_cursor=_cursor(after))
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.get("/grid/feed/stream", name="grid.feed.stream")
@requires(Role.GRID_STAFF, Role.OFFICER, Role.ADMIN, Role.PARTY_MEMBER)
@responds(
    200,
    None,
    "Server-Sent Events: `event: report`, `data: {id, state, action}`, `id:` to resume",
    media="text/event-stream",
)
async def feed_stream(request: Request) -> HTTPResponse | None:
    """New and changed reports under your node as they happen, from any app instance. Reconnect with
    `Last-Event-ID` to receive what you missed; a comment line every 15 s keeps proxies from closing
    the connection. Fetch the report itself with GET /api/v1/reports/{id}."""
    principal = require_principal(request)
    if principal.node_path is None:
        raise ValidationFailed("Only staff with a place in the hierarchy have a feed.", code="no_feed")
    last_id = request.headers.get("last-event-id", "").strip()
    if last_id and not _stream_id_ok(last_id):
        raise ValidationFailed("Last-Event-ID is not an id this stream sent.", code="bad_last_event_id")
    redis = request.app.ctx.redis
    cursor = last_id or "$"
    if cursor == "$":  # start from now, but with a concrete id so nothing between reads is lost
        newest = await redis.xrevrange(events.STREAM, count=1)
        cursor = newest[0][0].decode() if newest else "0-0"
    response = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    await response.send(": connected\n\n")
    prefix = principal.node_path
    while True:
        batch = await redis.xread({events.STREAM: cursor}, count=100, block=15_000)
        if not batch:
            await response.send(": keep-alive\n\n")
            continue
        for entry_id, fields in batch[0][1]:
            cursor = entry_id.decode()
            data = {k.decode(): v.decode() for k, v in fields.items()}
            if not data.get("node", "").startswith(prefix):
                continue
            payload = jsonlib.dumps({"id": data["id"], "state": data["state"], "action": data["action"]})
            await response.send(f"id: {cursor}\nevent: report\ndata: {payload}\n\n")


@bp.get("/reports/similar", name="reports.similar")
@requires()
@query_args(SimilarQuery)
@responds(200, SimilarList, "Open reports of the category at the same building or within 100 m, last 7 days")
@errors(422)
async def similar(request: Request, query: SimilarQuery) -> HTTPResponse:
    """Before submitting: reports that may be the same thing, so you can follow one instead."""
    found = await service.similar(
        category_key=query.category, node_code=query.node, building_code=query.building, lat=query.lat, lng=query.lng
    )
    items = [
        SimilarOut(
            id=r.public_id,
            report_no=r.report_no,
            excerpt=r.text[:60],
            state=r.state,
            state_name=service.STATE_NAMES[r.state],
            created_at=r.created_at,
            distance_m=metres,
        )
        for r, metres in found
    ]
    return json(SimilarList(items=items).model_dump(mode="json"))


@bp.post("/grid/reports/bulk", name="grid.bulk")
@requires(Role.GRID_STAFF, Role.ADMIN)
@json_body(BulkIn)
@responds(200, BulkOut, "One result per id, in order; each report moved in its own transaction")
@errors(422)
async def bulk(request: Request, body: BulkIn) -> HTTPResponse:
    """Accept, dispatch or merge many reports at once (each report checked as if moved alone)."""
    results = await service.bulk(
        principal=require_principal(request),
        ids=body.ids,
        move=service.Move(action=body.action, note=body.note, department=body.department, merge_into=body.merge_into),
    )
    out = BulkOut(
        results=[
            BulkItem(id=i, ok=r is not None, state=r.state if r else None, error=error or None)
            for i, r, error in results
        ]
    )
    return json(out.model_dump(mode="json"))
