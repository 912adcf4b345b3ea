"""HTTP routes of 明心桥 reports: submit, follow, move through the state machine; the grid feed. What
a report looks like in an answer, for each reader: ``answers``."""

from __future__ import annotations

import base64
import logging
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from identity import service as identity_service
from identity.models import Account
from identity.roles import Role
from miniapp_api.reports import access, catalogue, events, service
from miniapp_api.reports import feed as feed_service
from miniapp_api.reports import following as following_service
from miniapp_api.reports import similar as similar_service
from miniapp_api.reports.answers import names, report_out, report_outs, timeline_of
from miniapp_api.reports.models import Category, Report
from miniapp_api.reports.schemas import (
    BulkIn,
    BulkItem,
    BulkOut,
    CategoryList,
    CategoryOut,
    DepartmentList,
    DepartmentOut,
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
from server import live_stream
from server.auth import (
    public,
    require_principal,
    requires,
    token_ignored,
)
from server.errors import NotFound, ValidationFailed
from server.validation import errors, json_body, query_args, responds

log = logging.getLogger("gmid.reports")

bp = Blueprint("reports", url_prefix="/api/v1")

REPORTERS = (Role.RESIDENT, Role.PARTY_MEMBER, Role.GRID_STAFF)
_CHANNEL = {Role.PARTY_MEMBER: "party_member", Role.GRID_STAFF: "grid_staff"}


def _cursor(cursor: feed_service.FeedCursor | None) -> str | None:
    if cursor is None:
        return None
    return base64.urlsafe_b64encode(cursor.encode().encode()).decode().rstrip("=")


def _feed_cursor(text: str | None) -> feed_service.FeedCursor | None:
    if not text:
        return None
    try:
        return feed_service.FeedCursor.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode())
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise ValidationFailed("The cursor is not one this API gave out.", code="bad_cursor") from None


@bp.get("/report-categories", name="reports.categories")
@public
@token_ignored
@responds(200, CategoryList, "The categories a report can have, with their time limits")
async def categories(request: Request) -> HTTPResponse:
    await catalogue.ensure_defaults()
    cats, departments = await names()
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
@errors(403, 422)
async def submit(request: Request, body: SubmitIn) -> HTTPResponse:
    """File a report (明心桥): a category, what is wrong and where (the grid, a building, a point).

    With a building, the report belongs to the building's own grid. Residents file anywhere; staff
    (grid staff, party members) only in their part of the hierarchy (403 `outside_scope`)."""
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
    out = await report_out(report, viewer=access.Viewer(principal, account.id))
    return json(out.model_dump(mode="json"), status=201)


@bp.get("/report-departments", name="reports.departments")
@public
@token_ignored
@responds(200, DepartmentList, "The departments a report can be dispatched to (their codes and names)")
async def departments(request: Request) -> HTTPResponse:
    """The district's departments, in the order of the catalogue: what a dispatch's `department` names."""
    await catalogue.ensure_defaults()
    _, found = await names()
    items = [
        DepartmentOut(code=d.code, name=d.name, node=d.node_path) for d in sorted(found.values(), key=lambda d: d.id)
    ]
    return json(DepartmentList(items=items).model_dump(mode="json"), headers={"Cache-Control": "public, max-age=300"})


@bp.get("/reports/mine", name="reports.mine")
@requires()
@responds(200, ReportList, "The reports you filed, newest first")
async def mine(request: Request) -> HTTPResponse:
    principal = require_principal(request)
    account = await identity_service.get_account(public_id=principal.account_id)
    rows = list(await Report.filter(reporter_id=account.id).order_by("-id").limit(200)) if account else []
    items = await report_outs(rows, viewer=access.Viewer(principal, account.id if account else None))
    return json(ReportList(items=items, next_cursor=None).model_dump(mode="json"))


@bp.get("/reports/following", name="reports.following")
@requires()
@responds(200, ReportList, "The reports you follow, the latest changed first (the public view, unless in your scope)")
async def following(request: Request) -> HTTPResponse:
    principal = require_principal(request)
    rows = await following_service.followed(principal=principal)
    items = await report_outs(rows, viewer=await access.viewer_of(principal))
    for item in items:
        item.allowed_actions = []
    body = ReportList(items=items, next_cursor=None)
    return json(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.put("/reports/<public_id:str>/follow", name="reports.follow")
@requires()
@responds(200, FollowOut, "You follow the report (or its main report, if it was merged)")
@errors(404, 409)
async def follow(request: Request, public_id: str) -> HTTPResponse:
    """Follow an open report instead of filing the same thing again: you are told of each step and read
    its public view (category, state, department, deadline, community and times; never the reporter's
    text, position, photos or the staff's notes). Staff follow only reports in their part of the
    hierarchy; residents any open report but police matters and personal ones (health, labour);
    anything else is 404. Following twice is
    the same as once."""
    report, count = await following_service.follow(principal=require_principal(request), public_id=public_id)
    out = FollowOut(id=report.public_id, report_no=report.report_no, following=True, followers=count)
    return json(out.model_dump())


@bp.delete("/reports/<public_id:str>/follow", name="reports.unfollow")
@requires()
@responds(204, None, "You no longer follow the report")
async def unfollow(request: Request, public_id: str) -> HTTPResponse:
    await following_service.unfollow(principal=require_principal(request), public_id=public_id)
    return empty()


@bp.get("/reports/<public_id:str>", name="reports.get")
@requires()
@responds(200, ReportDetail, "The report, its timeline, department and deadline")
@errors(404)
async def get_report(request: Request, public_id: str) -> HTTPResponse:
    """The report as you may see it: all of it for its reporter and the staff in scope (the reporter's
    id unless it is anonymous); the public view (`redacted`) for a follower."""
    principal = require_principal(request)
    report, viewer, following = await access.get_readable(principal=principal, public_id=public_id)
    view = viewer.view(report)
    out = await report_out(report, viewer=viewer)
    reporter = None
    if report.reporter_id is not None and view is not access.View.PUBLIC:
        account = await Account.get_or_none(id=report.reporter_id)
        reporter = account.public_id if account else None
    hide_reporter = view is access.View.STAFF and principal.role is Role.PARTY_MEMBER
    timeline = timeline_of(await access.history(report), report, view, reporter, hide_reporter=hide_reporter)
    suggested = None
    if view is access.View.STAFF:
        category = await Category.get(id=report.category_id)
        department = await catalogue.suggest_department(category, report.node_path)
        suggested = department.code if department else None
    if following and view is not access.View.STAFF:
        out.allowed_actions = []
    detail = ReportDetail(
        **out.model_dump(),
        timeline=timeline,
        suggested_department=suggested,
        followers=await following_service.followers(report),
        following=following,
    )
    return json(detail.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@bp.post("/reports/<public_id:str>/transitions", name="reports.transition")
@requires()
@json_body(MoveIn)
@responds(200, ReportOut, "The report in its new state")
@errors(403, 404, 409, 422)
async def move(request: Request, public_id: str, body: MoveIn) -> HTTPResponse:
    """Move the report: a transition the state does not allow is 409 with `details.allowed`. Whoever
    filed the report never handles it (accept, dispatch, start, reject, resolve, close, return, merge),
    and only a resident rates (confirms) their own report: 403 `own_report`."""
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
    out = await report_out(report, viewer=await access.viewer_of(principal))
    return json(out.model_dump(mode="json"))


@bp.get("/grid/feed", name="grid.feed")
@requires(Role.GRID_STAFF, Role.OFFICER, Role.ADMIN, Role.PARTY_MEMBER)
@query_args(FeedQuery)
@responds(200, ReportList, "Reports under your node, most urgent first (overdue, then nearest deadline)")
@errors(422)
async def feed(request: Request, query: FeedQuery) -> HTTPResponse:
    principal = require_principal(request)
    rows, after = await feed_service.feed(
        principal=principal,
        filters=feed_service.FeedFilter(
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
    items = await report_outs(rows, viewer=await access.viewer_of(principal))
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
@errors(422, 429, 503)
async def feed_stream(request: Request) -> HTTPResponse | None:
    """New and changed reports under your node as they happen, from any app instance. Reconnect with
    `Last-Event-ID` to receive what you missed; a comment line every 15 s keeps proxies from closing
    the connection, however long it stays open. If Redis is unreachable for a minute the stream ends
    (reconnect later); before it starts, that is 503. The stream ends (with a comment saying why) when
    your access token expires or your account is disabled: refresh it and reconnect. One account holds
    at most 5 streams at once (429 too_many_streams beyond). Fetch the report itself with
    GET /api/v1/reports/{id}."""
    principal = require_principal(request)
    if principal.node_path is None:
        raise ValidationFailed("Only staff with a place in the hierarchy have a feed.", code="no_feed")
    prefix = principal.node_path
    closed = access.closed_categories(principal)  # a party member's stream leaves out what their feed does

    def select(data: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
        # Scope on the report's own node; the event says nothing of who filed it.
        if not data.get("node", "").startswith(prefix) or (closed and data.get("category", "") in {*closed, ""}):
            return None
        return "report", {"id": data["id"], "state": data["state"], "action": data["action"]}

    return await live_stream.serve(
        request,
        principal,
        stream=events.STREAM,
        select=select,
        name="grid feed",
        unavailable="The live feed is unavailable right now; read GET /api/v1/grid/feed and try again later.",
    )


@bp.get("/reports/similar", name="reports.similar")
@requires()
@query_args(SimilarQuery)
@responds(200, SimilarList, "Open reports of the category at the same building or within about 100 m, last 7 days")
@errors(422)
async def similar(request: Request, query: SimilarQuery) -> HTTPResponse:
    """Before submitting: reports that may be the same thing, so you can follow one instead. Staff see
    those under their own node (at the very building they name); residents any but police matters and
    personal ones (health, labour and social security), a building they name counting as its grid. Each
    is its public view: category, state, community (the building only for staff who asked about it),
    about how far and when; never its text, its reporter or its exact position."""
    principal = require_principal(request)
    found = await similar_service.similar(
        principal=principal,
        category_key=query.category,
        node_code=query.node,
        building_code=query.building,
        lat=query.lat,
        lng=query.lng,
    )
    categories, _ = await names()
    items = [
        SimilarOut(
            id=s.report.public_id,
            report_no=s.report.report_no,
            category=categories[s.report.category_id].key,
            category_name=categories[s.report.category_id].name,
            state=s.report.state,
            state_name=service.STATE_NAMES[s.report.state],
            building=s.building,
            place=s.place,
            created_at=s.report.created_at,
            distance_m=s.distance_m,
        )
        for s in found
    ]
    return json(SimilarList(items=items).model_dump(mode="json"), headers={"Cache-Control": "no-store"})


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
