"""Rendering console pages: one Jinja2 environment (autoescaped), asset addresses that change with
their contents, and the headers every console answer carries."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sanic import Request
from sanic.response import HTTPResponse, html

from miniapp_api.console import pages
from server.auth import principal_of, web_session_of

STATIC_DIR = Path(__file__).parent / "static"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# No inline script or style anywhere: every script and sheet is a file of ours under /console/static/.
# connect-src 'self' covers the API calls and the live streams; blob: lets the scan page show a photo.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def security_headers(*, cache: str = "no-store") -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": cache,
        # The scan page uses the camera; nothing of ours uses the microphone or location.
        "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


@lru_cache(maxsize=512)
def asset_version(relative: str) -> str:
    """A short digest of a static file: its address changes when it does, so browsers may keep it."""
    path = STATIC_DIR / relative
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return "missing"


def static_url(relative: str) -> str:
    return f"/console/static/{relative}?v={asset_version(relative)}"


def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as Beijing time for display (the database and the wire keep UTC)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime(fmt)
    return str(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("miniapp_api.console", "templates"),
        autoescape=select_autoescape(("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.filters["local_time"] = local_time
    return env


def render_text(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def page(request: Request, template: str, *, title: str, status: int = 200, **context: Any) -> HTTPResponse:
    """A console page for the signed-in staff member: the menu their role may see, their CSRF token."""
    principal = principal_of(request)
    session = web_session_of(request)
    body = render_text(
        template,
        title=title,
        principal=principal,
        role_name=pages.ROLE_NAMES.get(principal.role, principal.role.value) if principal else "",
        nav=pages.nav_for(principal) if principal else [],
        current=request.path,
        csrf=session.csrf if session else "",
        **context,
    )
    return html(body, status=status, headers=security_headers())
