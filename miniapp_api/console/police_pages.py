"""The police owner lookup page: a form with the lookup keys, the reason and the case number that
``POST /api/v1/police/ebikes/lookup`` asks for, and the owner as that API shows police. The page only calls the
API: its limits, its refusals and its audit entry are the API's own."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from miniapp_api.console import pages
from miniapp_api.console.render import page
from miniapp_api.ebikes import routes as ebike_routes
from server.auth import requires
from server.validation import errors, responds

bp = Blueprint("console_police", url_prefix="/console")


ROLES = pages.roles_of(ebike_routes.police_lookup_post)
pages.add_nav("车主查询", "/console/police", ROLES, order=60)


@bp.get("/police", name="console.police")
@requires(*ROLES)
@responds(200, None, "The police owner lookup page", media="text/html")
@errors(401, 403)
async def police(request: Request) -> HTTPResponse:
    """Police look up an e-bike's owner by frame number, plate, scanned code or ID number, with the
    reason and case number (HTML; the lookup itself is POST /api/v1/police/ebikes/lookup, audited)."""
    return page(request, "police.html", title="车主查询")
