"""Every valid rate setting works, however the period divides by the count; an invalid one stops
start-up with one line naming its variable.

A rate's interval (period/count) is rarely a whole number of milliseconds or microseconds: 7/second
is 142,857.14... µs, 1000000/hour 3.6 ms. The limiter keeps it exactly (tests/server/test_ratelimit.py
has the algorithm's own tests); here the settings go through the real app over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import redis.asyncio as aioredis

from identity.roles import Role
from server.app import create_app
from server.ratelimit import Rate, RateLimiter
from server.settings import Settings, SettingsError
from tests.factories import auth, make_account, token_for
from tests.support.app_server import RunningApp
from tests.support.cli import GMID, gmid_env

EXTREME_RATES = ("1/day", "7/second", "1000000/hour", "1000000/second", "1000000000/day")
INVALID_RATES = ("0/minute", "-1/hour", "1/fortnight", "1000000001/second", "lots", "5", "1.5/second", "")
RATE_VARIABLES = {
    "GMID_RATE_LIMIT_IP": "{}",
    "GMID_RATE_LIMIT_ACCOUNT": "{}",
    "GMID_RATE_LIMITS": "identity.hierarchy.list=ip:{}",
    "GMID_POLICE_LOOKUP_RATE": "{}",
    "GMID_NOTIFY_RECIPIENT_LIMITS": "sms=5/hour,email={}",
}


def from_env(settings: Settings, env: dict[str, str]) -> Settings:
    """The settings a process started with ``env`` would have (through the real parsing)."""
    parsed = Settings.from_env(env, env_file=None)
    changed = {name: getattr(parsed, name) for name in ("rate_limit_ip", "rate_limit_account", "rate_limits")}
    return settings.replace(**changed)


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[RunningApp, httpx.AsyncClient]]:
    app = create_app(settings)
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield server, client


async def burst(client: httpx.AsyncClient, path: str, n: int, headers: dict[str, str]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client.get(path, headers=headers) for _ in range(n))))


def check(rate_text: str, answers: list[httpx.Response], elapsed: float, scope: str) -> None:
    rate = Rate.parse(rate_text)
    allowed = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code != 200]
    assert all(r.status_code == 429 for r in refused), [r.text for r in refused]
    # The burst is the count; while the burst went out, at most one more cell per interval came back.
    assert len(allowed) >= min(rate.count, len(answers))
    assert len(allowed) <= rate.count + int(elapsed * rate.count / rate.period) + 1
    for r in refused:
        body = r.json()["error"]
        assert body["code"] == "rate_limited" and body["details"] == {
            "limit": rate_text,
            "scope": scope,
            "retry_after": int(r.headers["retry-after"]),
        }
        # Retry-After is when the next cell frees: period/count, rounded up to a whole second.
        assert 0 < int(r.headers["retry-after"]) <= max(1, -(-rate.period // rate.count))
    if rate.count == 1:
        assert [r.status_code for r in answers[1:]] == [429] * (len(answers) - 1)
        assert int(refused[0].headers["retry-after"]) > rate.period - 60


@pytest.mark.parametrize("rate", EXTREME_RATES)
async def test_an_extreme_rate_per_address_works(settings: Settings, rate: str) -> None:
    async with serve(from_env(settings, {"GMID_RATE_LIMIT_IP": rate})) as (_, client):
        started = time.monotonic()
        answers = [await client.get("/api/v1/hierarchy/nodes")]  # one first: 1/day then refuses the rest
        answers += await burst(client, "/api/v1/hierarchy/nodes", 9, {})
        check(rate, answers, time.monotonic() - started, "address")


@pytest.mark.parametrize("rate", EXTREME_RATES)
async def test_an_extreme_rate_per_account_works(settings: Settings, rate: str) -> None:
    async with serve(from_env(settings, {"GMID_RATE_LIMIT_ACCOUNT": rate})) as (server, client):
        headers = auth(await token_for(server.app, await make_account(Role.RESIDENT)))
        started = time.monotonic()
        answers = [await client.get("/api/v1/me", headers=headers)]
        answers += await burst(client, "/api/v1/me", 9, headers)
        check(rate, answers, time.monotonic() - started, "account")


@pytest.mark.parametrize("rate", EXTREME_RATES)
async def test_an_extreme_rate_per_route_works(settings: Settings, rate: str) -> None:
    env = {"GMID_RATE_LIMITS": f"identity.hierarchy.list=ip:{rate}|account:{rate}"}
    async with serve(from_env(settings, env)) as (_, client):
        started = time.monotonic()
        answers = [await client.get("/api/v1/hierarchy/nodes")]
        answers += await burst(client, "/api/v1/hierarchy/nodes", 9, {})
        check(rate, answers, time.monotonic() - started, "address")
        # Another route keeps the default budget.
        assert (await client.get("/api/v1/hierarchy/nodes/GM")).status_code in (200, 404)


@pytest.mark.parametrize("variable", sorted(RATE_VARIABLES))
def test_every_rate_setting_takes_the_extreme_valid_rates(variable: str) -> None:
    for rate in EXTREME_RATES:
        Settings.from_env({variable: RATE_VARIABLES[variable].format(rate)}, env_file=None)


@pytest.mark.parametrize("variable", sorted(RATE_VARIABLES))
def test_every_rate_setting_refuses_an_invalid_rate_in_one_line_naming_it(variable: str) -> None:
    for rate in INVALID_RATES:
        value = RATE_VARIABLES[variable].format(rate)
        if not value.strip():
            continue  # an empty variable is the default
        with pytest.raises(SettingsError) as caught:
            Settings.from_env({variable: value}, env_file=None)
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith(f"invalid setting {variable}: "), message


async def test_the_command_line_stops_at_an_invalid_rate_with_one_line(settings: Settings) -> None:
    for variable, value in (("GMID_NOTIFY_RECIPIENT_LIMITS", "sms=0/hour"), ("GMID_RATE_LIMIT_IP", "1/fortnight")):
        proc = await asyncio.create_subprocess_exec(
            str(GMID),
            "settings",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**gmid_env(settings), variable: value},
            cwd=settings.var_dir.rsplit("/", 1)[0],
        )
        raw_out, raw_err = await asyncio.wait_for(proc.communicate(), timeout=60)
        out, err = raw_out.decode(), raw_err.decode()
        assert proc.returncode == 2, out + err
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"gmid: invalid setting {variable}: "), err


# The limiter itself at the edges -------------------------------------------------------------------


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[RateLimiter]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield RateLimiter(client, prefix="rl-edge:")
    finally:
        await client.aclose()


@pytest.mark.parametrize("text", [*EXTREME_RATES, "10000000/second", "86399/day", "3/day"])
async def test_an_allowed_hit_always_spends_one(limiter: RateLimiter, text: str) -> None:
    rate = Rate.parse(text)
    first = await limiter.hit(f"spend-{text}", rate)
    assert first.allowed
    # Right after one hit, at most count - 1 are left, even when the interval is a fraction of a
    # microsecond (a limit whose hits were not counted would say count).
    assert rate.count - 2 <= first.remaining <= rate.count - 1


@pytest.mark.parametrize("text", ["3/day", "7/second", "1/day"])
async def test_a_fractional_interval_refuses_after_the_burst_until_exactly_one_interval(
    limiter: RateLimiter, text: str
) -> None:
    rate = Rate.parse(text)
    started = time.monotonic()
    decisions = [await limiter.hit(f"frac-{text}", rate) for _ in range(rate.count + 1)]
    elapsed = time.monotonic() - started
    if elapsed < rate.period / rate.count / 2:
        assert [d.allowed for d in decisions] == [True] * rate.count + [False]
        interval = rate.period / rate.count
        assert interval - elapsed - 0.01 <= decisions[-1].retry_after <= interval


def test_a_route_name_that_names_no_route_stops_start_up(settings: Settings) -> None:
    """A misspelt route in GMID_RATE_LIMITS would leave that route at the default rates, unseen: the
    app refuses to start, in one line naming the setting and the name; names as in /docs, with or
    without the app's prefix, are taken."""
    create_app(settings.replace(rate_limits="qr.scan=ip:10/minute;gmid.ebikes.register=ip:5/minute"), name="gmid")
    with pytest.raises(SettingsError) as refused:
        create_app(settings.replace(rate_limits="qr.scan=ip:10/minute;qr.scna=ip:10/minute"))
    message = str(refused.value)
    assert message.startswith("invalid setting GMID_RATE_LIMITS: ") and "'qr.scna'" in message
    assert "\n" not in message and "'qr.scan'," not in message


async def test_gmid_serve_stops_at_a_misspelt_route_with_one_line(settings: Settings) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        "serve",
        "--port",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**gmid_env(settings), "GMID_RATE_LIMITS": "ebikes.regster=ip:5/minute"},
        cwd=settings.var_dir.rsplit("/", 1)[0],
    )
    _, raw_err = await asyncio.wait_for(proc.communicate(), timeout=60)
    err = raw_err.decode()
    assert proc.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gmid: invalid setting GMID_RATE_LIMITS: "), err
    assert "'ebikes.regster'" in lines[0]
