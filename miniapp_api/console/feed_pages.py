"""Console pages of the grid feed and of one report. Both read and act through the JSON API from their
scripts (static/js/feed.js, report.js); the routes here only serve the pages, for the roles of the API
routes they use, and refuse a report outside the caller's scope before anything of it is sent."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from miniapp_api.clinic import routes as clinic_routes
from miniapp_api.console import pages
from miniapp_api.console.render import page
from miniapp_api.reports import access, states
from miniapp_api.reports import routes as report_routes
from server.auth import require_principal, requires
from server.validation import errors, responds

bp = Blueprint("console_feed", url_prefix="/console")


FEED_ROLES = pages.roles_of(report_routes.feed, report_routes.feed_stream)
REPORT_ROLES = pages.roles_of(report_routes.get_report, clinic_routes.insight)
CATEGORY_EDITORS = pages.roles_of(clinic_routes.set_category)
GROUP_MERGERS = pages.roles_of(clinic_routes.merge_group)
pages.add_nav("网格工单", "/console/feed", FEED_ROLES, order=10)


@bp.get("/feed", name="console.feed")
@requires(*FEED_ROLES)
@responds(200, None, "The grid feed page: the reports of your scope, most urgent first, live", media="text/html")
@errors(401, 403)
async def feed(request: Request) -> HTTPResponse:
    """The grid feed (HTML): GET /api/v1/grid/feed with its filters, updated by its SSE stream."""
    return page(request, "feed.html", title="网格工单")


@bp.get("/reports/<public_id:str>", name="console.report")
@requires(*REPORT_ROLES)
@responds(200, None, "One report: text, photos, place, history, insight, duplicates, actions", media="text/html")
@errors(401, 403, 404)
async def report(request: Request, public_id: str) -> HTTPResponse:
    """A report of your scope (HTML); any other is 404, exactly as GET /api/v1/reports/{id} would be
    for someone who neither handles nor filed it."""
    principal = require_principal(request)
    found, is_reporter = await access.get_visible(principal=principal, public_id=public_id)
    # The actions this role may take on this report, by the state table's own rules; the page shows
    # those of them the report's current state allows (the API's allowed_actions).
    role_may = [
        t.action
        for t in states.TRANSITIONS
        if states.may(t, principal.role, is_reporter=is_reporter)
        and (not is_reporter or states.filer_may(t.action, principal.role))
    ]
    return page(
        request,
        "report.html",
        title=f"诉求 {found.report_no}",
        report_id=found.public_id,
        report_no=found.report_no,
        role_may=" ".join(role_may),
        may_set_category=principal.role in CATEGORY_EDITORS and not is_reporter,
        may_merge_group=principal.role in GROUP_MERGERS,
        # Staff who follow the grid feed's stream see the report change as it changes.
        live=principal.role in FEED_ROLES and not is_reporter,
    )
