"""Sign-in: staff with a password (throttled after failures, per username and per address), residents
with WeChat; the access and refresh tokens a sign-in gives, their refresh and the sign-out."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis
from tortoise.exceptions import IntegrityError

from identity import tokens
from identity.models import Account, Node
from identity.passwords import verify_password_async
from identity.roles import PASSWORD_ROLES, Role
from identity.service import new_public_id
from identity.wechat import WeChatGateway
from server.errors import (
    RateLimited,
    Unauthorized,
)
from server.settings import Settings

log = logging.getLogger("gmid.identity")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_at: int
    refresh_token: str
    account: Account


async def issue_tokens(*, account: Account, settings: Settings, secret: bytes) -> TokenPair:
    access, expires_at = await _access_token(account, settings, secret)
    refresh = await tokens.issue_refresh_token(
        account=account, ttl=settings.refresh_token_ttl, max_age=settings.session_max_age
    )
    return TokenPair(access, expires_at, refresh, account)


async def _node_path(account: Account) -> str | None:
    if account.node_id is None:  # type: ignore[attr-defined]
        return None
    node = await Node.get(id=account.node_id)  # type: ignore[attr-defined]
    return node.path


async def _access_token(account: Account, settings: Settings, secret: bytes) -> tuple[str, int]:
    return tokens.issue_access_token(
        secret=secret,
        account_id=account.public_id,
        role=account.role,
        node_path=await _node_path(account),
        ttl=settings.access_token_ttl,
    )


def _throttle_keys(username: str, client_addr: str) -> list[str]:
    user_digest = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
    return [f"login-attempt:user:{user_digest}", f"login-attempt:addr:{client_addr}"]


# Count the attempt before checking the password, atomically: guesses sent all at once are
# counted one by one, so no more than the limit ever reach the password check.
_COUNT_ATTEMPT = """
local u = redis.call('INCR', KEYS[1])
if u == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local a = redis.call('INCR', KEYS[2])
if a == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
if u > tonumber(ARGV[2]) then return {1, redis.call('TTL', KEYS[1])} end
if a > tonumber(ARGV[3]) then return {2, redis.call('TTL', KEYS[2])} end
return {0, 0}
"""


async def staff_login(
    *, username: str, password: str, client_addr: str, redis: aioredis.Redis, settings: Settings
) -> Account:
    """Check a staff password. After too many failed attempts for a username (or from an address)
    further attempts are refused for a while, whether or not the password would be right."""
    keys = _throttle_keys(username, client_addr)
    locked, ttl = await redis.eval(
        _COUNT_ATTEMPT,
        2,
        *keys,
        settings.login_lockout_seconds,
        settings.login_max_failures,
        settings.login_max_failures_per_address,
    )
    if locked:
        log.warning("staff login refused: locked scope=%s user=%s", "user" if locked == 1 else "address", keys[0][-12:])
        raise RateLimited(
            "Too many failed sign-ins; wait before trying again.", code="login_locked", retry_after=max(1, int(ttl))
        )
    account = await Account.get_or_none(username=username.lower())
    ok = await verify_password_async(password, account.password_hash if account else None)
    if not ok or account is None or not account.is_active or account.role not in PASSWORD_ROLES:
        # The attempt stays counted. The log names a digest of the username, never the name.
        log.warning("staff login failed user=%s", keys[0][-12:])
        raise Unauthorized("The username or password is wrong.", code="invalid_credentials")
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys[0])
        pipe.decr(keys[1])  # a success does not count against the address (offices share one)
        await pipe.execute()
    account.last_login_at = datetime.now(UTC)
    await account.save(update_fields=["last_login_at"])
    return account


async def wechat_login(*, code: str, gateway: WeChatGateway) -> Account:
    session = await gateway.code_to_session(code)
    account = await Account.get_or_none(wechat_openid=session.openid)
    if account is None:
        try:
            account = await Account.create(
                public_id=new_public_id(),
                role=Role.RESIDENT,
                wechat_openid=session.openid,
                wechat_unionid=session.unionid,
            )
        except IntegrityError:  # two first logins at once: the other one created it
            account = await Account.get(wechat_openid=session.openid)
    if not account.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    account.last_login_at = datetime.now(UTC)
    await account.save(update_fields=["last_login_at"])
    return account


async def refresh(*, refresh_token: str, settings: Settings, secret: bytes) -> TokenPair:
    try:
        account, new_refresh = await tokens.rotate_refresh_token(refresh_token, ttl=settings.refresh_token_ttl)
    except tokens.TokenError as exc:
        raise Unauthorized(exc.message, code=exc.code) from None
    access, expires_at = await _access_token(account, settings, secret)
    return TokenPair(access, expires_at, new_refresh, account)


async def logout(*, refresh_token: str) -> None:
    await tokens.revoke_family(refresh_token)
