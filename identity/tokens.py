"""Access JWTs (short-lived, HS256) and rotating refresh tokens (opaque, stored hashed).

A refresh token is spent when used: the answer carries a new one of the same family. A spent token
presented again means two parties hold it, so the whole family is revoked and both must sign in
again (OAuth 2.0 Security BCP, refresh token rotation with reuse detection).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from identity.models import Account, RefreshToken
from identity.roles import Role
from server.errors import AppError
from server.validation import check_json_bounds

ISSUER = "gmid"
# A spent token presented again within this many seconds is a client racing itself (two tabs, a
# retried request), not a thief: refused, but the family is left alone.
REUSE_GRACE_SECONDS = 10
ALGORITHM = "HS256"


class TokenError(Exception):
    """An access or refresh token is not acceptable; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AccessClaims:
    account_id: str
    role: Role
    node_path: str | None
    token_id: str
    expires_at: int


def issue_access_token(
    *, secret: bytes, account_id: str, role: Role, node_path: str | None, ttl: int, now: float | None = None
) -> tuple[str, int]:
    issued = int(now if now is not None else time.time())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "sub": account_id,
        "role": role.value,
        "node": node_path,
        "typ": "access",
        "iat": issued,
        "exp": issued + ttl,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM), issued + ttl


# Ours are about 250 characters; anything much longer is not one of ours and is not worth decoding.
MAX_ACCESS_TOKEN_CHARS = 1024
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
# The header every access token of ours carries; any other member (crit, kid, jku, x5u, ...) means
# someone else made it.
_HEADER_MEMBERS = frozenset({"alg", "typ"})


def _malformed() -> TokenError:
    return TokenError("token_invalid", "The access token is malformed.")


def _check_header(token: str) -> None:
    """Refuse, before any JOSE library reads it, a header this service never writes: not base64url,
    not UTF-8, not a small JSON object, another algorithm, or any member beyond ``alg`` and ``typ``."""
    if len(token) > MAX_ACCESS_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
        raise _malformed()
    segment = token.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        check_json_bounds(raw)
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, AppError):  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _malformed() from None
    if not isinstance(header, dict) or not set(header) <= _HEADER_MEMBERS or header.get("typ", "JWT") != "JWT":
        raise _malformed()
    if header.get("alg") != ALGORITHM:
        # Refuse before verifying: "none" and public-key algorithms never sign our access tokens.
        raise TokenError("token_invalid", "The access token uses an algorithm that is not accepted.")


def decode_access_token(token: str, *, secret: bytes) -> AccessClaims:
    """The claims of an access token this service issued; TokenError (``token_invalid`` or
    ``token_expired``) for anything else, whatever its bytes."""
    _check_header(token)
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "jti"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired", "The access token has expired; refresh it.") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise TokenError("token_invalid", "The access token is not valid.") from None
    try:
        if not isinstance(payload, dict) or payload.get("typ") != "access":
            raise ValueError("typ")
        role = Role(payload["role"])
        node = payload.get("node")
        if node is not None and not isinstance(node, str):
            raise ValueError("node")
        sub, jti, exp = payload["sub"], payload["jti"], payload["exp"]
        if not isinstance(sub, str) or not isinstance(jti, str) or not isinstance(exp, int):
            raise ValueError("claims")
        return AccessClaims(sub, role, node, jti, exp)
    except (KeyError, ValueError, TypeError):
        raise TokenError("token_invalid", "The access token is not valid.") from None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _new_refresh_value() -> str:
    return "rt_" + secrets.token_urlsafe(32)


# What _new_refresh_value makes; anything else is not one of ours and is not looked up.
_REFRESH_SHAPE = re.compile(r"^rt_[A-Za-z0-9_-]{43}$")


DEFAULT_SESSION_MAX_AGE = 90 * 86400


async def issue_refresh_token(*, account: Account, ttl: int, max_age: int = DEFAULT_SESSION_MAX_AGE) -> str:
    """The first refresh token of a new login (a new family that ends ``max_age`` seconds from now)."""
    value = _new_refresh_value()
    now = datetime.now(UTC)
    family_end = now + timedelta(seconds=max_age)
    await RefreshToken.create(
        token_hash=_hash(value),
        family_id=secrets.token_hex(16),
        account=account,
        expires_at=min(now + timedelta(seconds=ttl), family_end),
        family_expires_at=family_end,
    )
    return value


async def rotate_refresh_token(value: str, *, ttl: int) -> tuple[Account, str]:
    """Spend ``value`` and return its account with the next token of the family."""
    if not _REFRESH_SHAPE.fullmatch(value):
        raise TokenError("refresh_invalid", "The refresh token is not known.")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        # Mark it spent first, conditionally: of two concurrent uses only one can win.
        spent = (
            await RefreshToken.filter(
                Q(family_expires_at__isnull=True) | Q(family_expires_at__gt=now),  # the login's hard end
                token_hash=_hash(value),
                used_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
            )
            .using_db(conn)
            .update(used_at=now)
        )
        row = await RefreshToken.get_or_none(token_hash=_hash(value), using_db=conn).prefetch_related("account")
        if row is None:
            raise TokenError("refresh_invalid", "The refresh token is not known.")
        if spent:
            if not row.account.is_active:
                raise TokenError("account_disabled", "This account is disabled.")
            new_value = _new_refresh_value()
            expires_at = now + timedelta(seconds=ttl)
            if row.family_expires_at is not None:
                expires_at = min(expires_at, row.family_expires_at)
            await RefreshToken.create(
                token_hash=_hash(new_value),
                family_id=row.family_id,
                account=row.account,
                expires_at=expires_at,
                family_expires_at=row.family_expires_at,
                using_db=conn,
            )
            return row.account, new_value
        if (
            row.revoked_at is None
            and row.used_at is not None
            and (now - row.used_at).total_seconds() < REUSE_GRACE_SECONDS
        ):
            error = TokenError(
                "refresh_superseded", "This refresh token was just spent by another request; use the newest one."
            )
        elif row.revoked_at is None and row.used_at is not None:
            # Reuse of a spent token: revoke the family, commit that, then refuse.
            await (
                RefreshToken.filter(family_id=row.family_id, revoked_at__isnull=True)
                .using_db(conn)
                .update(revoked_at=now)
            )
            error = TokenError(
                "refresh_reused", "This refresh token was already used; every session of it is now closed."
            )
        elif row.revoked_at is not None:
            error = TokenError("refresh_revoked", "The refresh token was revoked; sign in again.")
        else:
            error = TokenError("refresh_expired", "The refresh token has expired; sign in again.")
    raise error


async def revoke_family(value: str) -> bool:
    if not _REFRESH_SHAPE.fullmatch(value):
        return False
    row = await RefreshToken.get_or_none(token_hash=_hash(value))
    if row is None:
        return False
    await RefreshToken.filter(family_id=row.family_id, revoked_at__isnull=True).update(revoked_at=datetime.now(UTC))
    return True
