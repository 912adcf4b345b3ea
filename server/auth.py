"""Authentication middleware and route guards.

The middleware turns ``Authorization: Bearer <access JWT>`` into ``request.ctx.principal``; a header
that is present but bad is refused at once (401), even on public routes, so a client learns its
token is broken. Every route declares who may call it, with ``@public`` or ``@requires(...)``; the
role-matrix test walks the router and fails on a route that declares neither.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sanic import Request

from identity import web_sessions
from identity.models import Account
from identity.roles import ALL_ROLES, STAFF_ROLES, Role
from identity.tokens import TokenError, decode_access_token
from server.errors import Forbidden, Unauthorized
from server.openapi import doc_of

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


@dataclass(frozen=True)
class Principal:
    account_id: str
    role: Role
    node_path: str | None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    def covers(self, node_path: str | None) -> bool:
        """True when ``node_path`` lies in this staff member's part of the hierarchy."""
        if self.node_path is None or node_path is None:
            return False
        return node_path.startswith(self.node_path)


def principal_of(request: Request) -> Principal | None:
    return getattr(request.ctx, "principal", None)


def require_principal(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized()
    return principal


async def authenticate(request: Request) -> None:
    """Request middleware: read the bearer token, if any."""
    request.ctx.principal = None
    request.ctx.token_expires_at = None
    request.ctx.web_session = None
    header = request.headers.get("authorization")
    if not header:
        if "cookie" in request.headers:  # no cookie, no console session: the API's usual request
            await _from_console_session(request)
        return
    if request.route is not None and ignores_token(request.route.handler):
        return
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use the Authorization header as: Bearer <access token>.", code="token_invalid")
    try:
        claims = decode_access_token(token.strip(), secret=request.app.ctx.access_token_secret)
    except TokenError as exc:
        raise Unauthorized(exc.message, code=exc.code) from None
    if not await account_is_active(request.app.ctx.redis, claims.account_id):
        raise Unauthorized("This account is disabled.", code="account_disabled")
    request.ctx.principal = Principal(claims.account_id, claims.role, claims.node_path)
    request.ctx.token_expires_at = claims.expires_at


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _from_console_session(request: Request) -> None:
    """The staff console's cookie, when there is no bearer token: the same principal, so every route,
    guard and scope applies to console pages and the API they call alike. A state change must carry
    the session's CSRF token (header, or a form's `csrf` field on console pages) and come from our own
    origin; a cross-site request is never signed in by the cookie, a same-site one only as a page
    navigation (``_from_own_pages``)."""
    token = request.cookies.get(web_sessions.COOKIE)
    if not token or not _from_own_pages(request):
        return
    if request.route is not None and ignores_token(request.route.handler):
        return
    settings = request.app.ctx.settings
    session = await web_sessions.load(
        redis=request.app.ctx.redis, token=token, idle_seconds=settings.console_idle_seconds
    )
    if session is None:
        return  # a stale cookie: anonymous (console pages send the browser to sign in again)
    who = await web_sessions.account_of(session)
    if who is None:
        await web_sessions.destroy(redis=request.app.ctx.redis, token=token)
        return
    if request.method.upper() not in SAFE_METHODS:
        origin = request.headers.get("origin")
        if origin and origin != f"{request.scheme}://{request.host}":
            raise Forbidden("This request did not come from the console's own pages.", code="csrf_failed")
        if not session.csrf_matches(_csrf_supplied(request)):
            raise Forbidden("The page's security token is missing or stale: reload the page.", code="csrf_failed")
    request.ctx.principal = Principal(who.account_id, who.role, who.node_path)
    request.ctx.token_expires_at = session.expires_at
    request.ctx.web_session = session


def _from_own_pages(request: Request) -> bool:
    """Whether the cookie may sign this request in, by what the browser says of where it comes from
    (``Sec-Fetch-*``; a client that sends none is judged by its Origin and CSRF token alone). A
    cross-site request never; one from another host of the same site (SameSite=Strict still sends the
    cookie there: a sibling subdomain, or its XSS) only as a top-level navigation to a console page,
    so that a link opens the page, while an image, form or fetch made there calls no API route as us."""
    site = request.headers.get("sec-fetch-site", "")
    if site == "cross-site":
        return False
    if site == "same-site":
        return (
            request.headers.get("sec-fetch-mode", "") == "navigate"
            and request.method.upper() in SAFE_METHODS
            and request.path.startswith("/console/")
        )
    return True


def _csrf_supplied(request: Request) -> str | None:
    supplied = request.headers.get(web_sessions.CSRF_HEADER)
    if supplied:
        return supplied
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if request.path.startswith("/console/") and content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        try:
            form = request.form
            value = form.get("csrf") if form is not None else None
        except Exception:  # a malformed form is simply no token
            return None
        return str(value) if value else None
    return None


def web_session_of(request: Request) -> web_sessions.WebSession | None:
    session: web_sessions.WebSession | None = getattr(request.ctx, "web_session", None)
    return session


def token_expires_at(request: Request) -> int | None:
    """When the caller's access token expires (Unix seconds), for a response that outlives the request's
    own check (a stream); None when no token was read."""
    expires: int | None = getattr(request.ctx, "token_expires_at", None)
    return expires


ACTIVE_CACHE_SECONDS = 30


def active_state_key(account_id: str) -> str:
    return f"acct-active:{account_id}"


async def account_is_active(redis: aioredis.Redis, account_id: str) -> bool:
    """Whether the token's account may still act. The database decides; Redis keeps the answer for
    a few seconds, and disabling an account overwrites it at once."""
    key = active_state_key(account_id)
    try:
        cached = await redis.get(key)
    except RedisError:
        cached = None
    if cached is not None:
        return bool(cached == b"1")
    rows = await Account.filter(public_id=account_id).values_list("is_active", flat=True)
    active = bool(rows and rows[0])
    with contextlib.suppress(RedisError):
        await redis.set(key, b"1" if active else b"0", ex=ACTIVE_CACHE_SECONDS)
    return active


# Route access declarations ----------------------------------------------------------------------

ACCESS_ATTR = "__gmid_access__"


def public(handler: Handler) -> Handler:
    """Anyone may call this route, signed in or not."""
    setattr(handler, ACCESS_ATTR, None)
    doc = doc_of(handler)
    doc.roles, doc.access_declared = None, True
    return handler


IGNORE_TOKEN_ATTR = "__gmid_ignores_token__"  # noqa: S105 - an attribute name


def token_ignored(handler: Handler) -> Handler:
    """A public route that never looks at the caller: a stale or broken token sent along (as clients
    do by habit) is ignored rather than refused. Sign-in and refresh must work with an expired one."""
    setattr(handler, IGNORE_TOKEN_ATTR, True)
    doc_of(handler).ignores_token = True
    return handler


def ignores_token(handler: Callable[..., Any]) -> bool:
    current: Any = handler
    while current is not None:
        if getattr(current, IGNORE_TOKEN_ATTR, False):
            return True
        current = getattr(current, "__wrapped__", None)
    return False


def requires(
    *roles: Role, refused: Callable[[Request, Principal], Awaitable[None]] | None = None
) -> Callable[[Handler], Handler]:
    """Only a signed-in account with one of ``roles`` may call this route (no roles: any account).
    ``refused`` runs before a signed-in account of another role is turned away (e.g. to audit it)."""
    allowed = frozenset(roles) if roles else ALL_ROLES

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> Any:
            principal = require_principal(request)
            if principal.role not in allowed:
                if refused is not None:
                    await refused(request, principal)
                raise Forbidden(details={"required_roles": sorted(r.value for r in allowed)})
            return await handler(request, *args, **kwargs)

        setattr(guarded, ACCESS_ATTR, allowed)
        doc = doc_of(guarded)
        doc.roles, doc.access_declared = sorted(r.value for r in allowed), True
        return guarded  # type: ignore[return-value]

    return decorate


def declared_access(handler: Callable[..., Any]) -> frozenset[Role] | str | None:
    """What a route handler declared: a set of roles, None for public, "undeclared" when missing."""
    current: Any = handler
    while current is not None:
        if hasattr(current, ACCESS_ATTR):
            value: frozenset[Role] | None = getattr(current, ACCESS_ATTR)
            return value
        current = getattr(current, "__wrapped__", None)
    return "undeclared"
