"""The API documentation: Swagger UI at ``/docs`` and the OpenAPI document at ``/docs/openapi.json``."""

from __future__ import annotations

import base64
import hashlib

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, html, json

from server import product
from server.auth import public, token_ignored
from server.openapi import build_document
from server.ratelimit import rate_limit
from server.validation import responds

API_DESCRIPTION = (
    product.NAME
    + """: the backend of the district's WeChat mini-program.

Every error answers `{"error": {"code", "message", "details"}}`. Send
`Authorization: Bearer <access token>` for signed-in routes, `Idempotency-Key` on POST to make
retries safe, and read `X-Request-ID` from every answer.
"""
)

_CDN = "https://unpkg.com"
_BOOT = 'if (window.SwaggerUIBundle) { SwaggerUIBundle({url: "/docs/openapi.json", dom_id: "#ui"}); }'
_UI = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{product.NAME} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{_CDN}/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"><p style="font-family:sans-serif;margin:2em">The API document is at
<a href="/docs/openapi.json">/docs/openapi.json</a>; this page shows it with Swagger UI when the browser
can load it.</p></div>
<script src="{_CDN}/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>{_BOOT}</script>
</body></html>
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Swagger UI still works: its script and stylesheet from the CDN, the one inline script by its hash,
# inline styles (it sets them), its data: icons, and fetches to this origin ("Try it out"). Nothing
# else loads, and no other site may frame the page.
UI_HEADERS = {
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'none'",
            f"script-src {_CDN} {_sha256(_BOOT)}",
            f"style-src {_CDN} 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

bp = Blueprint("docs", url_prefix="/docs")


@bp.get("/", name="ui", strict_slashes=False)
@public
@token_ignored
@rate_limit(exempt=True)
@responds(200, None, "The documentation page (Swagger UI)", media="text/html")
async def ui(request: Request) -> HTTPResponse:
    """The API documentation page."""
    return html(_UI, headers=UI_HEADERS)


@bp.get("/openapi.json", name="document")
@public
@token_ignored
@rate_limit(exempt=True)
@responds(200, None, "This OpenAPI 3.1 document")
async def document(request: Request) -> HTTPResponse:
    """The OpenAPI document of every route."""
    app = request.app
    cached = getattr(app.ctx, "openapi_document", None)
    if cached is None:
        cached = build_document(app, title=f"{product.NAME} API", version="1.0.0", description=API_DESCRIPTION)
        app.ctx.openapi_document = cached
    return json(cached)
