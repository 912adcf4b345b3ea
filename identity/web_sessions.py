"""Staff console sessions: a random token in an HttpOnly cookie, the session itself in Redis.

The browser holds only the token; Redis holds who it is, its CSRF token and when it ends (under a
digest of the token, so a dump of Redis gives no usable cookie). A session ends after
``console_idle_seconds`` without a request and ``console_max_seconds`` after sign-in, at sign-out, and
when its account is disabled. Role and node are read from the account on every request, so an
administrator's change takes effect at once rather than at the session's end.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from identity.models import Account, Node
from identity.roles import Role

COOKIE = "gmid_console"
# The header a console page sends its CSRF token in on every state change (forms send a `csrf` field).
CSRF_HEADER = "x-csrf-token"
_PREFIX = "websess:"
_TOKEN_BYTES = 32


@dataclass(frozen=True)
class WebSession:
    account_id: str
    csrf: str
    created_at: int
    expires_at: int  # the absolute end, Unix seconds
    key: str = ""  # where Redis keeps it (a digest of the token)

    def csrf_matches(self, supplied: str | None) -> bool:
        return bool(supplied) and hmac.compare_digest(self.csrf.encode(), (supplied or "").encode())


@dataclass(frozen=True)
class SessionAccount:
    """What a live session acts as, read from the account now."""

    session: WebSession
    account_id: str
    role: Role
    node_path: str | None


def _key(token: str) -> str:
    return _PREFIX + hashlib.sha256(token.encode()).hexdigest()


def plausible_token(token: str | None) -> bool:
    return bool(token) and 20 <= len(token or "") <= 64 and all(c.isalnum() or c in "-_" for c in token or "")


async def create(
    *, redis: aioredis.Redis, account: Account, idle_seconds: int, max_seconds: int
) -> tuple[str, WebSession]:
    """A new session (a new token every sign-in: no session fixation)."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    now = int(time.time())
    session = WebSession(
        account_id=account.public_id, csrf=secrets.token_urlsafe(24), created_at=now, expires_at=now + max_seconds
    )
    await redis.set(_key(token), _encode(session), ex=min(idle_seconds, max_seconds))
    return token, session


async def load(*, redis: aioredis.Redis, token: str | None, idle_seconds: int) -> WebSession | None:
    """The live session of a cookie, its idle clock restarted; None when there is none."""
    if not plausible_token(token):
        return None
    key = _key(token or "")
    raw = await redis.get(key)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        session = WebSession(
            account_id=str(data["a"]),
            csrf=str(data["c"]),
            created_at=int(data["t"]),
            expires_at=int(data["e"]),
            key=key,
        )
    except (ValueError, KeyError, TypeError):
        await redis.delete(key)
        return None
    left = session.expires_at - int(time.time())
    if left <= 0:
        await redis.delete(key)
        return None
    await redis.expire(key, min(idle_seconds, left))
    return session


async def account_of(session: WebSession) -> SessionAccount | None:
    """The session's account as it is now; None when it is gone, disabled or no longer staff."""
    from identity.roles import STAFF_ROLES

    rows = await Account.filter(public_id=session.account_id).values("role", "is_active", "node_id")
    if not rows or not rows[0]["is_active"]:
        return None
    role = Role(rows[0]["role"])
    if role not in STAFF_ROLES:
        return None
    node_path = None
    if rows[0]["node_id"] is not None:
        paths = await Node.filter(id=rows[0]["node_id"]).values_list("path", flat=True)
        node_path = str(paths[0]) if paths else None
    return SessionAccount(session=session, account_id=session.account_id, role=role, node_path=node_path)


async def alive(*, redis: aioredis.Redis, session: WebSession) -> bool:
    """Whether the session still exists (not signed out, not idle too long), without restarting its idle
    clock: an open live feed is no sign that anybody is at the desk."""
    return bool(session.key) and bool(await redis.exists(session.key))


async def destroy(*, redis: aioredis.Redis, token: str | None) -> None:
    if plausible_token(token):
        await redis.delete(_key(token or ""))


def _encode(session: WebSession) -> str:
    return json.dumps({"a": session.account_id, "c": session.csrf, "t": session.created_at, "e": session.expires_at})
