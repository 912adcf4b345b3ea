"""The ledgers and analytics page (台账统计): charts and tables of the clinic's ledger API
(``GET /api/v1/clinic/ledger``) and its hot topics (``GET /api/v1/clinic/hot``), read by the page's script
through those very routes, so the figures, the scope and who may see them are the API's own."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from miniapp_api.clinic import routes as clinic_routes
from miniapp_api.console import pages
from miniapp_api.console.render import page
from miniapp_api.jobs import ledger_routes as jobs_routes
from server.auth import principal_of, requires
from server.validation import errors, responds

bp = Blueprint("console_ledger", url_prefix="/console")

ROLES = pages.roles_of(clinic_routes.ledger, clinic_routes.hot_topics)
JOBS_ROLES = pages.roles_of(jobs_routes.ledger)
pages.add_nav("台账统计", "/console/ledger", ROLES, order=60)
pages.add_nav("就业台账", "/console/ledger/jobs", JOBS_ROLES, order=61)
TABS = (("诉求台账", "/console/ledger", ROLES), ("就业台账", "/console/ledger/jobs", JOBS_ROLES))


def _tabs(request: Request) -> list[tuple[str, str]]:
    """The ledgers this account may open, as tabs (shown when there are two)."""
    principal = principal_of(request)
    mine = [(title, path) for title, path, roles in TABS if principal is not None and principal.role in roles]
    return mine if len(mine) > 1 else []


@bp.get("/ledger", name="console.ledger")
@requires(*ROLES)
@responds(200, None, "The ledgers and analytics page: charts and tables of the ledger API", media="text/html")
@errors(401, 403)
async def ledger(request: Request) -> HTTPResponse:
    """Reports by category, node and week, completion and on-time rates, satisfaction and hot topics under
    the caller's node, with the ledger's CSV and XLSX downloads (HTML)."""
    return page(request, "ledger.html", title="台账统计", tabs=_tabs(request))


@bp.get("/ledger/jobs", name="console.ledger_jobs")
@requires(*JOBS_ROLES)
@responds(200, None, "The employment ledger page: charts and tables of the jobs ledger API", media="text/html")
@errors(401, 403)
async def jobs_ledger(request: Request) -> HTTPResponse:
    """Postings, openings, applications, invitations and hires by month, occupation and node under the
    caller's node (``GET /api/v1/jobs/ledger``), with its CSV and XLSX downloads (HTML)."""
    return page(request, "ledger_jobs.html", title="就业台账", tabs=_tabs(request))
