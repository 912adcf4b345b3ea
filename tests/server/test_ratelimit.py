"""Rate limits: per client address and per account, configurable per route, shared through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
import redis.asyncio as aioredis

from identity.roles import Role
from server.app import create_app
from server.ratelimit import Rate, RateLimiter
from server.redis_pipe import RedisPipe
from server.settings import Settings, SettingsError
from tests.factories import auth, make_account, token_for
from tests.support.app_server import RunningApp

Serve = Callable[..., AbstractAsyncContextManager[tuple[RunningApp, httpx.AsyncClient]]]


@pytest.fixture
def serve(settings: Settings) -> Serve:
    """Run the real app with some settings changed, and a client for it."""

    @asynccontextmanager
    async def run(
        app_name: str | None = None, **changes: object
    ) -> AsyncIterator[tuple[RunningApp, httpx.AsyncClient]]:
        app = create_app(settings.replace(**changes), name=app_name)
        async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            yield server, client

    return run


def assert_rate_limited(r: httpx.Response, *, limit: str, scope: str, period: int) -> int:
    assert r.status_code == 429, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"]
    retry_after = int(r.headers["retry-after"])
    assert 0 < retry_after <= period
    details = body["error"]["details"]
    assert details["limit"] == limit
    assert details["scope"] == scope
    assert details["retry_after"] == retry_after
    assert r.headers.get("x-request-id")
    return retry_after


async def test_route_override_limits_by_address(serve: Serve) -> None:
    async with serve(rate_limits="identity.hierarchy.list=ip:3/minute") as (_, client):
        for _ in range(3):
            r = await client.get("/api/v1/hierarchy/nodes")
            assert r.status_code == 200, r.text
        r = await client.get("/api/v1/hierarchy/nodes")
        retry_after = assert_rate_limited(r, limit="3/minute", scope="address", period=60)
        # GCRA: one request every 60/3 s after the burst.
        assert 15 <= retry_after <= 20
        # Other routes keep their own (default) budget.
        r = await client.get("/api/v1/hierarchy/nodes/GM")
        assert r.status_code in (200, 404)
        assert r.status_code != 429


async def test_head_counts_against_its_get_routes_budget(serve: Serve) -> None:
    # HEAD runs the GET handler (all its work: a landing page's scan record, a bundle's rebuild), so it
    # spends the same budget: a caller cannot double a route's limit, or escape it, by asking with HEAD.
    async with serve(rate_limits="identity.hierarchy.list=ip:3/minute") as (_, client):
        assert (await client.get("/api/v1/hierarchy/nodes")).status_code == 200
        assert (await client.head("/api/v1/hierarchy/nodes")).status_code == 200
        assert (await client.get("/api/v1/hierarchy/nodes")).status_code == 200
        r = await client.head("/api/v1/hierarchy/nodes")
        assert r.status_code == 429 and r.content == b""
        assert_rate_limited(await client.get("/api/v1/hierarchy/nodes"), limit="3/minute", scope="address", period=60)


async def test_head_keeps_a_routes_declared_limit_and_its_token_rule(serve: Serve) -> None:
    # The landing page a phone camera opens: 120 a minute per address, declared on its handler (HEAD had
    # the default 600 a minute), and a stale Authorization header is ignored there, for HEAD as for GET.
    garbage = {"Authorization": "Bearer not-a-token"}
    async with serve() as (_, client):
        get = await client.get("/q/not-a-code", headers=garbage)
        head = await client.head("/q/not-a-code", headers=garbage)
        assert get.status_code != 401 and head.status_code == get.status_code
        # HEAD until refused, in batches (the budget refills one every 0.5 s while they run).
        passed, refused = 2, None
        while refused is None and passed < 600:
            for r in await asyncio.gather(*(client.head("/q/not-a-code") for _ in range(40))):
                if r.status_code == 429:
                    refused = refused or r
                else:
                    assert r.status_code == get.status_code
                    passed += 1
        assert refused is not None and 120 <= passed < 600, passed
        assert refused.content == b"" and 0 < int(refused.headers["retry-after"]) <= 60
        # GET spends the same budget: refused at once, or after the one or two cells that refilled
        # while the last batch ran (a budget of its own would let 120 through).
        for _ in range(10):
            r = await client.get("/q/not-a-code")
            if r.status_code == 429:
                break
        assert_rate_limited(r, limit="120/minute", scope="address", period=60)


async def test_health_routes_are_never_limited(serve: Serve) -> None:
    async with serve(rate_limit_ip="1/minute") as (_, client):
        assert (await client.get("/api/v1/hierarchy/nodes")).status_code == 200
        assert (await client.get("/api/v1/hierarchy/nodes")).status_code == 429
        for _ in range(5):
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200


async def test_limits_can_be_switched_off(serve: Serve) -> None:
    async with serve(rate_limit_ip="1/minute", rate_limit_enabled=False) as (_, client):
        for _ in range(4):
            assert (await client.get("/api/v1/hierarchy/nodes")).status_code == 200


async def test_per_account_limit_refuses_one_account_not_another(serve: Serve) -> None:
    async with serve(rate_limit_account="2/minute") as (server, client):
        first = await make_account(Role.RESIDENT)
        second = await make_account(Role.RESIDENT)
        a = auth(await token_for(server.app, first))
        b = auth(await token_for(server.app, second))
        assert (await client.get("/api/v1/me", headers=a)).status_code == 200
        assert (await client.get("/api/v1/me", headers=a)).status_code == 200
        r = await client.get("/api/v1/me", headers=a)
        assert_rate_limited(r, limit="2/minute", scope="account", period=60)
        # Same address, another account: still has its budget.
        r = await client.get("/api/v1/me", headers=b)
        assert r.status_code == 200, r.text
        assert r.json()["account"]["id"] == second.public_id
        # Anonymous callers are not counted against any account.
        assert (await client.get("/api/v1/hierarchy/nodes")).status_code == 200


async def test_budget_is_shared_by_app_instances_through_redis(serve: Serve) -> None:
    # Two instances of the same service (same app name, as in production) count in one budget.
    limits = "identity.hierarchy.list=ip:2/minute"
    async with (
        serve(app_name="gmid", rate_limits=limits) as (_, one),
        serve(app_name="gmid", rate_limits=limits) as (_, two),
    ):
        assert (await one.get("/api/v1/hierarchy/nodes")).status_code == 200
        assert (await two.get("/api/v1/hierarchy/nodes")).status_code == 200
        assert_rate_limited(await one.get("/api/v1/hierarchy/nodes"), limit="2/minute", scope="address", period=60)
        assert_rate_limited(await two.get("/api/v1/hierarchy/nodes"), limit="2/minute", scope="address", period=60)


def test_invalid_rate_settings_stop_start_up_with_one_line() -> None:
    for env in (
        {"GMID_RATE_LIMIT_IP": "lots"},
        {"GMID_RATE_LIMIT_ACCOUNT": "0/minute"},
        {"GMID_RATE_LIMITS": "identity.hierarchy.list=ip:3/fortnight"},
        {"GMID_RATE_LIMITS": "identity.hierarchy.list=user:3/minute"},
    ):
        with pytest.raises(SettingsError) as caught:
            Settings.from_env(env, env_file=None)
        message = str(caught.value)
        assert "\n" not in message
        assert next(iter(env)) in message


# The GCRA limiter itself, against the test Redis --------------------------------------------------


@pytest.fixture(params=["pipelined", "pool"])
async def limiter(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    # Both ways to Redis: the app's (one pipelined connection) and redis-py's pool (RateLimiter's own
    # default, as the notification dispatcher uses it).
    client = aioredis.Redis.from_url(redis_url)
    pipe = RedisPipe.from_url(redis_url) if request.param == "pipelined" else None
    try:
        yield RateLimiter(client, prefix="rl-test:", pipe=pipe)
    finally:
        if pipe is not None:
            await pipe.close()
        await client.aclose()


async def test_gcra_allows_a_burst_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    rate = Rate.parse("5/minute")
    decisions = [await limiter.hit("subject-a", rate) for _ in range(5)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    refused = await limiter.hit("subject-a", rate)
    assert not refused.allowed
    assert refused.remaining == 0
    # The next cell frees up period/N = 12 s after the burst began.
    assert 11.0 <= refused.retry_after <= 12.0
    # Refusals do not push the time further out.
    again = await limiter.hit("subject-a", rate)
    assert not again.allowed and again.retry_after <= refused.retry_after
    # Another subject has its own budget; a reset gives the budget back.
    assert (await limiter.hit("subject-b", rate)).allowed
    await limiter.reset("subject-a", rate)
    assert (await limiter.hit("subject-a", rate)).allowed


async def test_gcra_lets_one_more_through_after_retry_after(limiter: RateLimiter) -> None:
    rate = Rate.parse("4/second")
    for _ in range(4):
        assert (await limiter.hit("fast", rate)).allowed
    refused = await limiter.hit("fast", rate)
    assert not refused.allowed
    assert 0.15 <= refused.retry_after <= 0.25  # period/N = 0.25 s
    await asyncio.sleep(refused.retry_after + 0.05)
    assert (await limiter.hit("fast", rate)).allowed
    assert not (await limiter.hit("fast", rate)).allowed


async def test_gcra_concurrent_hits_never_exceed_the_burst(limiter: RateLimiter) -> None:
    rate = Rate.parse("10/minute")
    decisions = await asyncio.gather(*(limiter.hit("crowd", rate) for _ in range(30)))
    assert sum(d.allowed for d in decisions) == 10


@pytest.mark.parametrize("text", ["7/minute", "3/second", "1000000/hour", "86399/day"])
async def test_gcra_works_when_the_interval_is_not_whole_milliseconds(limiter: RateLimiter, text: str) -> None:
    rate = Rate.parse(text)
    burst = min(rate.count, 20)
    decisions = [await limiter.hit(f"odd-{text}", rate) for _ in range(burst)]
    assert all(d.allowed for d in decisions)
    if rate.count <= 20:
        assert not (await limiter.hit(f"odd-{text}", rate)).allowed


# The sliding window (the police lookup budget), both ways to Redis -----------------------------------


async def test_window_allows_n_in_any_period_then_refuses_until_the_oldest_leaves(limiter: RateLimiter) -> None:
    rate = Rate.parse("3/minute")
    decisions = [await limiter.hit_window("officer-a", rate) for _ in range(3)]
    assert [(d.allowed, d.remaining) for d in decisions] == [(True, 2), (True, 1), (True, 0)]
    refused = await limiter.hit_window("officer-a", rate)
    assert not refused.allowed and 0 < refused.retry_after <= 60
    assert (await limiter.hit_window("officer-b", rate)).allowed  # another officer's own budget
    # Once the oldest hit has left the window, one more is allowed (a short period, so the test waits
    # little; it spends until refused, so a slow machine only makes it spend again).
    fast = Rate.parse("2/second")
    for _ in range(20):
        refused = await limiter.hit_window("officer-c", fast)
        if not refused.allowed:
            break
    assert not refused.allowed and 0 < refused.retry_after <= 1.0
    await asyncio.sleep(refused.retry_after + 0.05)
    assert (await limiter.hit_window("officer-c", fast)).allowed


async def test_window_concurrent_hits_never_exceed_the_count(limiter: RateLimiter) -> None:
    decisions = await asyncio.gather(*(limiter.hit_window("crowd", Rate.parse("10/minute")) for _ in range(30)))
    assert sum(d.allowed for d in decisions) == 10


async def test_window_counts_on_after_redis_forgot_its_script(limiter: RateLimiter, redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        rate = Rate.parse("2/minute")
        assert (await limiter.hit_window("forgot", rate)).allowed
        await client.script_flush()
        assert (await limiter.hit_window("forgot", rate)).allowed
        await client.script_flush()
        assert not (await limiter.hit_window("forgot", rate)).allowed
    finally:
        await client.aclose()


def test_rate_parsing() -> None:
    assert Rate.parse("60/minute") == Rate(60, 60)
    assert Rate.parse(" 3 / second ") == Rate(3, 1)
    assert str(Rate.parse("100/day")) == "100/day"
    for bad in ("0/minute", "5/week", "five/minute", "5", ""):
        with pytest.raises(ValueError):
            Rate.parse(bad)
