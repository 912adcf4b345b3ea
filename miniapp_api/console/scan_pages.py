"""The scan page: a code read by the camera or from a photo, answered by ``POST /api/v1/scan`` (the
caller's role view), and, with the network down, checked in the browser against the signed verifier
bundle (its service worker, ``/console/sw.js``, keeps the page and its scripts)."""

from __future__ import annotations

import json

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, raw

from miniapp_api.console import pages
from miniapp_api.console.render import STATIC_DIR, page, security_headers, static_url
from qr import kinds
from qr import routes as qr_routes
from server.auth import public, requires, token_ignored
from server.validation import errors, responds

bp = Blueprint("console_scan", url_prefix="/console")

# json_body's typing hides that the route is still its handler function.
ROLES = pages.roles_of(qr_routes.scan)
pages.add_nav("扫码核验", "/console/scan", ROLES, order=30)

# What the scan page loads: the service worker keeps exactly these (their versioned addresses), so the
# page opens with no network at a gate.
SCAN_ASSETS = (
    "css/console.css",
    "css/scan.css",
    "js/console.js",
    "js/scan.js",
    "js/verify.js",
    "vendor/jsqr/jsQR.js",
)
_SW_FILE = STATIC_DIR / "js" / "sw.js"
_SW_ASSETS_LINE = "const ASSETS = [];"


@bp.get("/scan", name="console.scan")
@requires(*ROLES)
@responds(200, None, "The scan page: camera or photo, the role view, offline verification", media="text/html")
@errors(401, 403)
async def scan_page(request: Request) -> HTTPResponse:
    """Scan a code with the camera or from a photo (HTML); works offline once opened online."""
    titles = {spec.name: spec.title for spec in kinds.all_kinds()}
    return page(request, "scan.html", title="扫码核验", kind_titles=json.dumps(titles, ensure_ascii=False))


def service_worker_source() -> str:
    """sw.js with the page's versioned asset addresses filled in: a changed asset changes the worker,
    so browsers install the new one and drop the old cache."""
    source = _SW_FILE.read_text(encoding="utf-8")
    assets = ["/console/scan", *(static_url(name) for name in SCAN_ASSETS)]
    return source.replace(_SW_ASSETS_LINE, f"const ASSETS = {json.dumps(assets)};", 1)


@bp.get("/sw.js", name="console.service_worker")
@public
@token_ignored
@responds(200, None, "The scan page's service worker (scope /console/)", media="text/javascript")
async def service_worker(request: Request) -> HTTPResponse:
    """The service worker that keeps the scan page and its scripts for use without a network."""
    return raw(
        service_worker_source().encode("utf-8"),
        content_type="text/javascript; charset=utf-8",
        headers=security_headers(cache="no-cache"),
    )
