"""The console's own routes: sign-in and sign-out, the start page and the static files.

Feature pages live in their own modules (``*_pages.py``) and join ``group`` below.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, raw, redirect

from identity import signin, web_sessions
from identity.roles import STAFF_ROLES
from identity.routes import client_addr
from identity.schemas import StaffLoginIn
from miniapp_api.console import render
from miniapp_api.console.render import STATIC_DIR, page, security_headers
from server.auth import principal_of, public, requires, token_ignored, web_session_of
from server.errors import NotFound, RateLimited, Unauthorized, reshape_errors_under
from server.ratelimit import rate_limit
from server.validation import errors, responds

bp = Blueprint("console", url_prefix="/console")

# The sign-in form's CSRF token before there is a session: the same random value in a cookie only
# /console/login sees and in the form (a cross-site page can read neither).
PRE_COOKIE = "gmid_console_pre"
_NEXT_RE = re.compile(r"^/console/[A-Za-z0-9/_\-.~%?=&]{0,300}$")
_STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
_LICENCE_NAMES = {"LICENSE", "NOTICE"}
# Signing in or out drops what the browser keeps of the console for the account before: the scan page
# its service worker kept (with that session's menu and CSRF token), the worker itself and the
# offline verifier's copy (public, fetched again). Cookies stay: the answer sets or deletes ours.
CLEAR_SITE_DATA = '"cache", "storage"'

LOGIN_MESSAGES = {
    "invalid_credentials": "用户名或密码错误。",
    "not_staff": "此账号不能登录工作台（企业账号请使用小程序）。",
    "form": "请填写用户名和密码。",
    "csrf_failed": "页面已过期，请重新提交。",
}


def _secure(request: Request) -> bool:
    return request.scheme == "https"


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: a console address of ours, never another site."""
    if value and _NEXT_RE.fullmatch(value) and "//" not in value and "/../" not in value:
        return value
    return "/console/"


@bp.get("/", name="console.home", strict_slashes=False)
@requires(*STAFF_ROLES)
@responds(200, None, "The console's start page: the pages this account's role may open", media="text/html")
@errors(401, 403)
async def home(request: Request) -> HTTPResponse:
    """The start page of the staff console (HTML); signs the browser in first when needed."""
    return page(request, "home.html", title="工作台")


@bp.get("/login", name="console.login_form")
@public
@token_ignored
@responds(200, None, "The sign-in form", media="text/html")
async def login_form(request: Request) -> HTTPResponse:
    """The console's sign-in form (HTML)."""
    if principal_of(request) is not None:
        return redirect(safe_next(request.args.get("next")), status=303, headers=security_headers())
    return _login_page(request, next_path=safe_next(request.args.get("next")))


def _login_page(request: Request, *, next_path: str, message: str = "", status: int = 200) -> HTTPResponse:
    pre = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        title="登录",
        status=status,
        pre_csrf=pre,
        next_path=next_path,
        message=message,
        expired=request.args.get("expired") == "1",
    )
    response.add_cookie(
        PRE_COOKIE, pre, path="/console/login", secure=_secure(request), httponly=True, samesite="Strict", max_age=3600
    )
    return response


@bp.post("/login", name="console.login")
@public
@token_ignored
@rate_limit(ip="20/minute")
@responds(303, None, "Signed in: a session cookie, and on to the page asked for", media="text/html")
@errors(400, 401, 429)
async def login(request: Request) -> HTTPResponse:
    """Sign in to the console with a staff username and password (an HTML form post). The same
    throttling as the API's sign-in: too many failures lock the username and the address for a while."""
    form: Any = request.form or {}
    next_path = safe_next(form.get("next"))
    supplied, expected = form.get("csrf") or "", request.cookies.get(PRE_COOKIE) or ""
    if not expected or not secrets.compare_digest(supplied.encode(), expected.encode()):
        return _login_page(request, next_path=next_path, message=LOGIN_MESSAGES["csrf_failed"], status=400)
    try:
        body = StaffLoginIn.model_validate(
            {"username": form.get("username") or "", "password": form.get("password") or ""}
        )
    except ValidationError:
        return _login_page(request, next_path=next_path, message=LOGIN_MESSAGES["form"], status=400)
    settings = request.app.ctx.settings
    try:
        account = await signin.staff_login(
            username=body.username,
            password=body.password,
            client_addr=client_addr(request),
            redis=request.app.ctx.redis,
            settings=settings,
        )
    except RateLimited as exc:
        minutes = max(1, (int((exc.headers or {}).get("Retry-After", "60")) + 59) // 60)
        response = _login_page(
            request, next_path=next_path, message=f"登录失败次数过多，请 {minutes} 分钟后再试。", status=429
        )
        response.headers["Retry-After"] = (exc.headers or {}).get("Retry-After", "60")
        return response
    except Unauthorized:
        return _login_page(request, next_path=next_path, message=LOGIN_MESSAGES["invalid_credentials"], status=401)
    if account.role not in STAFF_ROLES:
        return _login_page(request, next_path=next_path, message=LOGIN_MESSAGES["not_staff"], status=403)
    # A sign-in replaces the browser's session: the one its cookie named ends (no copy of it lives on).
    await web_sessions.destroy(redis=request.app.ctx.redis, token=request.cookies.get(web_sessions.COOKIE))
    token, _ = await web_sessions.create(
        redis=request.app.ctx.redis,
        account=account,
        idle_seconds=settings.console_idle_seconds,
        max_seconds=settings.console_max_seconds,
    )
    response = redirect(next_path, status=303, headers=security_headers() | {"Clear-Site-Data": CLEAR_SITE_DATA})
    response.add_cookie(web_sessions.COOKIE, token, path="/", secure=_secure(request), httponly=True, samesite="Strict")
    response.delete_cookie(PRE_COOKIE, path="/console/login")
    return response


@bp.post("/logout", name="console.logout")
@requires(*STAFF_ROLES)
@responds(303, None, "Signed out: the session is gone, back to the sign-in form", media="text/html")
@errors(401, 403)
async def logout(request: Request) -> HTTPResponse:
    """End this console session (an HTML form post with the page's CSRF token)."""
    if web_session_of(request) is not None:
        await web_sessions.destroy(redis=request.app.ctx.redis, token=request.cookies.get(web_sessions.COOKIE))
    response = redirect("/console/login", status=303, headers=security_headers() | {"Clear-Site-Data": CLEAR_SITE_DATA})
    response.delete_cookie(web_sessions.COOKIE, path="/")
    return response


@bp.get("/static/<path:path>", name="console.static")
@public
@token_ignored
@responds(200, None, "A script, style sheet, image or vendored library of the console", media="text/javascript")
@errors(404)
async def static_file(request: Request, path: str) -> HTTPResponse:
    """The console's static files. Addresses carrying ``?v=`` (the file's digest) may be kept a year."""
    file = resolve_static(path)
    content = file.read_bytes()
    cache = "public, max-age=31536000, immutable" if request.args.get("v") else "no-cache"
    headers = security_headers(cache=cache)
    headers["ETag"] = f'"{render.asset_version(file.relative_to(STATIC_DIR).as_posix())}"'
    if request.headers.get("if-none-match") == headers["ETag"]:
        return empty(status=304, headers=headers)
    content_type = _STATIC_TYPES.get(file.suffix) or (
        "text/plain; charset=utf-8" if file.name in _LICENCE_NAMES else mimetypes.guess_type(file.name)[0]
    )
    if content_type is None:
        raise NotFound("No such file.", code="not_found")
    return raw(content, content_type=content_type, headers=headers)


def resolve_static(path: str) -> Path:
    """A file under static/, never outside it (no '..', no links out, no hidden files)."""
    if not path or len(path) > 200 or "\\" in path or any(part.startswith(".") for part in path.split("/")):
        raise NotFound("No such file.", code="not_found")
    root = STATIC_DIR.resolve()
    file = (root / path).resolve()
    if root not in file.parents or not file.is_file():
        raise NotFound("No such file.", code="not_found")
    if file.suffix not in _STATIC_TYPES and file.name not in _LICENCE_NAMES:
        raise NotFound("No such file.", code="not_found")
    return file


# Errors on console pages ---------------------------------------------------------------------------

ERROR_PAGES = {
    400: "请求有误，请返回重试。",
    403: "您的账号无权打开此页面。",
    404: "页面不存在，或您无权查看。",
    405: "不支持此操作。",
    409: "操作与当前状态冲突，请刷新后重试。",
    413: "提交的内容过大。",
    422: "填写的内容有误，请检查后重试。",
    429: "操作过于频繁，请稍后再试。",
    500: "系统出错了，请稍后再试；如仍有问题，请告知管理员下方的请求编号。",
    503: "服务暂时不可用，请稍后再试。",
}


def _wants_page(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.path.startswith("/console/static/")


def error_page(request: Request, response: HTTPResponse) -> HTTPResponse:
    """A browser opening a console page gets a page in Chinese, not the API's JSON: a missing or
    expired session goes to the sign-in form (and back afterwards)."""
    if not _wants_page(request):
        return response
    status = response.status
    if status == 401:
        next_path = safe_next(request.path + (f"?{request.query_string}" if request.query_string else ""))
        expired = "&expired=1" if request.cookies.get(web_sessions.COOKIE) else ""
        target = f"/console/login?next={quote(next_path, safe='/')}{expired}"
        return redirect(target, status=303, headers=security_headers())
    message = ERROR_PAGES.get(status, ERROR_PAGES[500] if status >= 500 else ERROR_PAGES[400])
    body = render.render_text(
        "error.html",
        title="出错了",
        principal=None,
        role_name="",
        nav=[],
        current=request.path,
        csrf="",
        status=status,
        message=message,
        request_id=getattr(request.ctx, "request_id", ""),
    )
    headers = security_headers()
    for name in ("Retry-After", "X-Request-ID", "Allow"):
        if name in response.headers:
            headers[name] = response.headers[name]
    return HTTPResponse(body, status=status, headers=headers, content_type="text/html; charset=utf-8")


reshape_errors_under("/console", error_page)


def _group() -> list[Blueprint]:
    # Feature pages register here, each a blueprint of its own under /console (imported here: they
    # import this module's helpers).
    from miniapp_api.console import (
        admin_pages,
        alarm_pages,
        audit_pages,
        feed_pages,
        ledger_pages,
        police_pages,
        scan_pages,
    )

    return [
        bp,
        feed_pages.bp,
        scan_pages.bp,
        police_pages.bp,
        alarm_pages.bp,
        ledger_pages.bp,
        audit_pages.bp,
        admin_pages.bp,
    ]


group = Blueprint.group(*_group())
