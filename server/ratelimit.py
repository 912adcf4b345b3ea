"""Rate limits on Redis, per client address and per account, configurable per route.

The algorithm is GCRA (the generic cell rate algorithm): one Redis key per subject holding a
"theoretical arrival time", updated atomically in a Lua script using the Redis server's clock, so
every app instance shares one budget and one clock. ``N/minute`` allows a burst of N, then one
request each 60/N seconds; the refusal says exactly when to come back (``Retry-After``).

Time is counted in whole microseconds, and the interval period/N, which is rarely a whole number of
them (7/second, 1000000/hour), is kept exactly as whole microseconds plus a remainder in N-ths of
one: any count from 1 to 1,000,000,000 per second, minute, hour or day is exact. (Redis's Lua has
only doubles, and Redis 6 writes them with 14 digits: a time in fractional milliseconds lost what
a high rate adds per request, and such a limit never counted.)
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError, ResponseError
from sanic import Request

from server.errors import RateLimited
from server.redis_pipe import RedisPipe
from server.settings_parsers import RATE_PERIODS, parse_rate

log = logging.getLogger("gmid.ratelimit")

T = TypeVar("T", bound=Callable[..., Any])


@dataclass(frozen=True)
class Rate:
    count: int
    period: int  # seconds

    @classmethod
    def parse(cls, text: str) -> Rate:
        count, period = parse_rate(text)  # the settings' own check: the same rates everywhere
        return cls(count, period)

    def __str__(self) -> str:
        name = {v: k for k, v in RATE_PERIODS.items()}[self.period]
        return f"{self.count}/{name}"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float
    remaining: int


_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Every key is checked first and written only if all allow: one round trip for an address and an
-- account, and a request refused by one limit spends nothing of the other.
-- KEYS: the limits' keys, then keys to read once the request is allowed (the caller's next read, in
-- the same round trip); ARGV[1]: how many of KEYS are limits, then period and count for each.
local limits = tonumber(ARGV[1])
local writes = {}
local least = nil
for i = 1, limits do
  local period = tonumber(ARGV[2 * i])
  local count = tonumber(ARGV[2 * i + 1])
  -- The interval period/count, exactly: q whole microseconds and r count-ths of one.
  local q = math.floor(period / count)
  local r = period - q * count
  if r < 0 then q = q - 1; r = r + count elseif r >= count then q = q + 1; r = r - count end
  local tat, frac = now, 0
  local stored = redis.call('GET', KEYS[i])
  if stored then
    local sep = string.find(stored, ':', 1, true)
    if sep then
      tat = tonumber(string.sub(stored, 1, sep - 1))
      frac = tonumber(string.sub(stored, sep + 1))
    end
  end
  if tat < now then tat = now; frac = 0 end
  local new_tat = tat + q
  local new_frac = frac + r
  if new_frac >= count then new_tat = new_tat + 1; new_frac = new_frac - count end
  -- new_tat is ahead of now by ahead + new_frac/count microseconds; more than one period is refused.
  local ahead = new_tat - now
  if ahead > period or (ahead == period and new_frac > 0) then
    local wait = ahead - period
    if new_frac > 0 then wait = wait + 1 end
    return {0, wait, 0, i}
  end
  -- Numbers go to Redis as text written here: Redis itself would write big ones with 14 digits.
  writes[i] = {string.format('%d:%d', new_tat, new_frac), string.format('%d', math.floor(ahead / 1000) + 1001)}
  -- Hits left now: (period - ahead - new_frac/count) / interval, in doubles (it only informs).
  local left = math.floor(((period - ahead) * count - new_frac) / period)
  if left > count - 1 then left = count - 1 elseif left < 0 then left = 0 end
  if least == nil or left < least then least = left end
end
for i = 1, limits do
  redis.call('SET', KEYS[i], writes[i][1], 'PX', writes[i][2])
end
local answer = {1, 0, least or 0, 0}
for i = limits + 1, #KEYS do
  answer[#answer + 1] = redis.call('GET', KEYS[i])
end
return answer
"""


# A sliding log: at most N hits in any window of the period (GCRA would allow a burst of N and then
# one each period/N, nearly 2N in the first period): for budgets people are held to, such as lookups.
# In whole milliseconds (scores of 13 digits, exact however Redis writes numbers).
_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - period))
local used = redis.call('ZCARD', KEYS[1])
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + period - now, 0}
end
local stamp = string.format('%d', now)
redis.call('ZADD', KEYS[1], stamp, stamp .. ':' .. ARGV[3])
redis.call('PEXPIRE', KEYS[1], string.format('%d', period))
return {1, 0, limit - used - 1}
"""


class RateLimiter:
    def __init__(self, client: aioredis.Redis, *, prefix: str = "rl:", pipe: RedisPipe | None = None) -> None:
        self._client = client
        self._pipe = pipe  # the checks' one round trip, pipelined (server/redis_pipe.py), when given
        self._prefix = prefix
        self._script = client.register_script(_GCRA)
        self._window = client.register_script(_WINDOW)

    async def hit_window(self, subject: str, rate: Rate) -> Decision:
        """At most ``rate.count`` hits in any ``rate.period`` (a sliding window, not a burst plus a rate)."""
        key = f"{self._prefix}w:{subject}:{rate.count}/{rate.period}"
        args: list[str | int] = [rate.period * 1000, rate.count, secrets.token_hex(6)]
        try:
            allowed, retry_ms, remaining = await self._evalsha(self._window.sha, 1, key, *args)
        except NoScriptError:  # a Redis that restarted (or another server): load the script, once
            allowed, retry_ms, remaining = await self._window(keys=[key], args=args)
        return Decision(bool(allowed), max(0, int(retry_ms)) / 1000, int(remaining))

    async def hit(self, subject: str, rate: Rate) -> Decision:
        return (await self.hit_all([(subject, rate)]))[1]

    async def hit_all(self, checks: list[tuple[str, Rate]]) -> tuple[int, Decision]:
        """Count one request against every (subject, rate) at once, in one round trip: allowed only
        if every limit allows it (and then counted against each). Returns the index of the refusing
        check (-1 when allowed) and the decision."""
        refusing, decision, _ = await self.hit_all_then_get(checks, [])
        return refusing, decision

    async def hit_all_then_get(
        self, checks: list[tuple[str, Rate]], fetch: list[str]
    ) -> tuple[int, Decision, list[bytes | None]]:
        """``hit_all``, and when the request is allowed, the values of the ``fetch`` keys read in the
        same round trip (a hot route's next read: the scan's cache entry)."""
        keys = [f"{self._prefix}{subject}:{rate.count}/{rate.period}" for subject, rate in checks]
        args: list[int] = [len(checks)]
        for _, rate in checks:
            args += [rate.period * 1_000_000, rate.count]
        every_key = [*keys, *fetch]
        try:
            reply = await self._evalsha(self._script.sha, len(every_key), *every_key, *args)
        except NoScriptError:  # a Redis that restarted (or another server): load the script, once
            reply = await self._script(keys=every_key, args=args)
        allowed, retry_us, remaining, refusing, *values = reply
        fetched = [value if isinstance(value, bytes) else None for value in values]
        if len(fetched) < len(fetch):
            fetched = [None] * len(fetch)
        decision = Decision(bool(allowed), int(retry_us) / 1_000_000, int(remaining))
        return int(refusing) - 1, decision, fetched

    async def _evalsha(self, sha: str, *args: str | int) -> Any:
        """EVALSHA of one of our scripts, without redis-py's command machinery (timing hooks, the script
        object's checks, its retry loop), which costs a hot route more than the round trip itself: on
        the pipelined connection when there is one (server/redis_pipe.py), else on a connection of the
        client's pool. The pool hands out a connection that Redis closed (a restart, an idle timeout)
        only after connecting it again. An error reply (NOSCRIPT) leaves the connection as it was;
        anything else (a connection lost mid-command, a timeout, a cancelled request) closes it, so the
        next call connects afresh, and the caller fails open meanwhile."""
        if self._pipe is not None:
            return await self._pipe.call("EVALSHA", sha, *args)
        pool = self._client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_command("EVALSHA", sha, *args)
            return await connection.read_response()
        except ResponseError:
            raise
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            await pool.release(connection)

    async def reset(self, subject: str, rate: Rate) -> None:
        await self._client.delete(f"{self._prefix}{subject}:{rate.count}/{rate.period}")


# Per-route policy ------------------------------------------------------------------------------

POLICY_ATTR = "__gmid_rate_limit__"


@dataclass(frozen=True)
class RoutePolicy:
    ip: Rate | None = None
    account: Rate | None = None
    exempt: bool = False
    in_handler: bool = False  # the handler calls enforce(request, fetch=...) itself, to read in the same trip


def rate_limit(
    *, ip: str | None = None, account: str | None = None, exempt: bool = False, in_handler: bool = False
) -> Callable[[T], T]:
    """Give a route its own rates (defaults come from settings; GMID_RATE_LIMITS overrides both).
    ``in_handler``: the middleware leaves the check to the handler, which must call
    ``enforce(request, fetch=[...])`` before any other work (it reads those keys in the same round trip)."""
    policy = RoutePolicy(Rate.parse(ip) if ip else None, Rate.parse(account) if account else None, exempt, in_handler)

    def decorate(handler: T) -> T:
        setattr(handler, POLICY_ATTR, policy)
        return handler

    return decorate


@functools.lru_cache(maxsize=4096)
def policy_of(handler: Any) -> RoutePolicy | None:
    # Cached: asked on every request, and a handler's policy is fixed when it is decorated.
    current = handler
    while current is not None:
        policy = getattr(current, POLICY_ATTR, None)
        if policy is not None:
            return policy if isinstance(policy, RoutePolicy) else None
        current = getattr(current, "__wrapped__", None)
    return None


def parse_overrides(text: str) -> dict[str, RoutePolicy]:
    result: dict[str, RoutePolicy] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, spec = item.partition("=")
        rates: dict[str, Rate] = {}
        for part in spec.split("|"):
            scope, _, rate = part.partition(":")
            rates[scope.strip()] = Rate.parse(rate)
        result[name.strip()] = RoutePolicy(rates.get("ip"), rates.get("account"))
    return result


def unknown_routes(overrides: dict[str, RoutePolicy], route_names: set[str]) -> list[str]:
    """The names in GMID_RATE_LIMITS that name no route (a route is named as in /docs, with or without
    the app's prefix): a misspelt name would otherwise leave that route at the default rates, unseen."""
    known = route_names | {name.split(".", 1)[1] for name in route_names if "." in name}
    return sorted(name for name in overrides if name not in known)


@dataclass(frozen=True)
class Limits:
    default_ip: Rate
    default_account: Rate
    overrides: dict[str, RoutePolicy]
    enabled: bool = True
    _by_route: dict[tuple[str, Any], tuple[Rate | None, Rate | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def for_route(self, route_name: str, handler: Any) -> tuple[Rate | None, Rate | None]:
        found = self._by_route.get((route_name, handler))
        if found is None:
            found = self._by_route[(route_name, handler)] = self._rates_of(route_name, handler)
        return found

    def _rates_of(self, route_name: str, handler: Any) -> tuple[Rate | None, Rate | None]:
        declared = policy_of(handler) or RoutePolicy()
        if declared.exempt:
            return None, None
        short = route_name.split(".", 1)[1] if "." in route_name else route_name
        override = self.overrides.get(short) or self.overrides.get(route_name)
        ip = (override.ip if override else None) or declared.ip or self.default_ip
        account = (override.account if override else None) or declared.account or self.default_account
        return ip, account


async def middleware(request: Request) -> None:
    """Request middleware: the limits of every route but those whose handler checks them itself."""
    route = request.route
    if route is not None and (policy_of(route.handler) or _NO_POLICY).in_handler:
        return
    await enforce(request)


_NO_POLICY = RoutePolicy()


async def enforce(request: Request, *, fetch: list[str] | None = None) -> list[bytes | None]:
    """Count this request against the address and the account (429 beyond); then, in the same round
    trip, read the ``fetch`` keys (None for each when they could not be read)."""
    wanted = fetch or []
    nothing: list[bytes | None] = [None] * len(wanted)
    limits: Limits | None = getattr(request.app.ctx, "limits", None)
    route = request.route
    if limits is None or not limits.enabled or route is None:
        return await _read(request, wanted)
    ip_rate, account_rate = limits.for_route(route.name, route.handler)
    limiter: RateLimiter = request.app.ctx.rate_limiter
    checks: list[tuple[str, Rate]] = []
    if ip_rate is not None:
        checks.append((f"ip:{request.remote_addr or request.ip}:{route.name}", ip_rate))
    principal = getattr(request.ctx, "principal", None)
    if account_rate is not None and principal is not None:
        checks.append((f"acct:{principal.account_id}:{route.name}", account_rate))
    if not checks:
        return await _read(request, wanted)
    try:
        refusing, decision, values = await limiter.hit_all_then_get(checks, wanted)
    except RedisError:
        # Fail open: losing Redis must not take the whole API down with it.
        log.warning("rate limit check skipped: redis unavailable route=%s", route.name)
        return nothing
    if not decision.allowed:
        subject, rate = checks[refusing]
        scope = "account" if subject.startswith("acct:") else "address"
        raise RateLimited(
            f"Too many requests from this {scope}; try again in {max(1, round(decision.retry_after))} s.",
            retry_after=int(decision.retry_after + 0.999),
            details={"limit": str(rate), "scope": scope},
        )
    return values


async def _read(request: Request, keys: list[str]) -> list[bytes | None]:
    if not keys:
        return []
    try:
        values = await request.app.ctx.redis.mget(*keys)
    except RedisError:
        return [None] * len(keys)
    return [value if isinstance(value, bytes) else None for value in values]
