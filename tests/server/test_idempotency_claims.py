"""``Idempotency-Key`` claims across instances: a claim whose instance died is free again within
seconds, a request that runs long keeps its claim, a request that lost its claim never overwrites the
record of the one that took it, and Redis going away after the handler never hides the handler's answer.

The claim's lifetime and the renewer's period are shortened here (``server.idempotency`` module
constants) so that these tests take seconds, not minutes; everything else runs as in production.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.response import json as json_response

from identity.models import Account
from identity.roles import Role
from server import idempotency
from server.redis import EmbeddedRedis
from server.settings import Settings
from tests.factories import auth, make_account, token_for
from tests.support.app_server import RunningApp

TTL = 1.0  # seconds a pending claim lives without renewal, in these tests
EVERY = 0.2  # the renewer's period, in these tests


async def slow(request: Request) -> HTTPResponse:
    """A handler that takes ``seconds`` and answers ``status`` (a slow import, a long upload)."""
    request.app.ctx.slow_runs += 1
    run = request.app.ctx.slow_runs
    await asyncio.sleep(float(request.args.get("seconds", "0")))
    return json_response({"run": run}, status=int(request.args.get("status", "201")))


def with_slow_route(app: Sanic) -> Sanic:
    app.ctx.slow_runs = 0
    app.add_route(slow, "/test/slow", methods=["POST"], name="test_slow")
    return app


@pytest.fixture(autouse=True)
def short_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "PENDING_TTL_SECONDS", TTL)
    monkeypatch.setattr(idempotency, "RENEW_EVERY_SECONDS", EVERY)


@pytest.fixture
def app(app: Sanic) -> Sanic:
    return with_slow_route(app)


def anonymous_key(key: str) -> bytes:
    """The Redis key of a loopback caller's Idempotency-Key (no account: scoped by address)."""
    return b"idem:" + hashlib.sha256(f"ip:127.0.0.1\0{key}".encode()).hexdigest().encode()


async def post_slow(client: httpx.AsyncClient, key: str, *, seconds: float = 0, status: int = 201) -> httpx.Response:
    return await client.post(
        "/test/slow",
        params={"seconds": str(seconds), "status": str(status)},
        json={"n": 1},
        headers={"Idempotency-Key": key},
    )


async def until_claimed(app: Sanic, key: bytes) -> None:
    for _ in range(200):
        if await app.ctx.redis.exists(key):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the request never claimed its key")


async def test_a_claim_whose_instance_died_is_free_after_the_short_ttl(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await make_account(Role.ADMIN)
    headers = {**auth(await token_for(app, admin)), "Idempotency-Key": "dead-1", "Content-Type": "application/json"}
    body = json.dumps({"username": "olga", "role": "grid_staff", "node": "GM010101", "password": "Idem-pass-2024!"})
    # Another instance claimed this very request, then was SIGKILLed: its pending record is in Redis,
    # written the way that instance wrote it, and nothing renews it any more.
    digest = hashlib.sha256(b"POST\0/api/v1/accounts\0\0application/json\0" + body.encode()).hexdigest()
    redis_key = b"idem:" + hashlib.sha256(f"acct:{admin.public_id}\0dead-1".encode()).hexdigest().encode()
    dead = {"state": "pending", "fingerprint": "v2:" + digest, "owner": "the-instance-that-died"}
    await app.ctx.redis.set(redis_key, json.dumps(dead), px=int(TTL * 1000))

    first = await client.post("/api/v1/accounts", content=body, headers=headers)
    assert first.status_code == 409, first.text
    assert first.json()["error"]["code"] == "idempotency_in_progress"
    assert not await Account.exists(username="olga")

    await asyncio.sleep(TTL + 0.3)
    retry = await client.post("/api/v1/accounts", content=body, headers=headers)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await Account.filter(username="olga").count() == 1


async def test_a_request_slower_than_the_ttl_keeps_its_claim_and_its_answer(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    first = asyncio.create_task(post_slow(client, "long-1", seconds=TTL * 2.5))
    await until_claimed(app, anonymous_key("long-1"))
    # A short claim: were this instance killed now, the key would be free within the TTL.
    assert 0 < await app.ctx.redis.pttl(anonymous_key("long-1")) <= TTL * 1000
    await asyncio.sleep(TTL * 1.5)  # past the TTL: only renewal keeps the claim
    during = await post_slow(client, "long-1", seconds=TTL * 2.5)
    assert during.status_code == 409, during.text
    assert during.json()["error"]["code"] == "idempotency_in_progress"

    answer = await first
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"run": 1}
    await asyncio.sleep(EVERY * 3)  # renewals after the answer must not touch the kept record
    again = await post_slow(client, "long-1", seconds=TTL * 2.5)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.content == answer.content
    assert app.ctx.slow_runs == 1
    assert await app.ctx.redis.ttl(anonymous_key("long-1")) > 3600  # kept for its day, not as a claim


async def test_a_late_finish_does_not_overwrite_the_claim_that_took_over(app: Sanic, client: httpx.AsyncClient) -> None:
    key = anonymous_key("late-1")
    first = asyncio.create_task(post_slow(client, "late-1", seconds=TTL * 2))
    await until_claimed(app, key)
    # The first request's claim is taken over (its instance stalled past the TTL, say, and a retry on
    # another instance claimed the key): from now on the record belongs to that other request.
    mine = json.loads(await app.ctx.redis.get(key))
    theirs = json.dumps({**mine, "owner": "another-instance"})
    await app.ctx.redis.set(key, theirs, ex=30)

    answer = await first
    assert answer.status_code == 201, answer.text  # the client still gets what its request did
    assert answer.json() == {"run": 1}
    await asyncio.sleep(EVERY * 3)
    # Neither overwritten by the late answer nor renewed (shortened) as if it were the first one's.
    assert await app.ctx.redis.get(key) == theirs.encode()
    assert await app.ctx.redis.ttl(key) > 20
    retry = await post_slow(client, "late-1", seconds=TTL * 2)
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "idempotency_in_progress"


async def test_a_late_server_error_does_not_release_the_claim_that_took_over(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    key = anonymous_key("late-2")
    first = asyncio.create_task(post_slow(client, "late-2", seconds=TTL, status=503))
    await until_claimed(app, key)
    theirs = json.dumps({**json.loads(await app.ctx.redis.get(key)), "owner": "another-instance"})
    await app.ctx.redis.set(key, theirs, ex=30)
    assert (await first).status_code == 503
    assert await app.ctx.redis.get(key) == theirs.encode()


@pytest.fixture
async def away_app(settings: Settings, own_redis: EmbeddedRedis) -> AsyncIterator[tuple[Sanic, httpx.AsyncClient]]:
    from server.app import create_app

    app = with_slow_route(create_app(settings.replace(redis_url=own_redis.url)))
    async with RunningApp(app) as running, httpx.AsyncClient(base_url=running.base_url, timeout=30) as client:
        yield app, client
    Sanic.unregister_app(app)


@pytest.mark.parametrize("status", [201, 200, 409, 503])
async def test_redis_away_after_the_handler_keeps_the_handlers_answer(
    away_app: tuple[Sanic, httpx.AsyncClient],
    own_redis: EmbeddedRedis,
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, client = away_app
    caplog.set_level(logging.WARNING, logger="gmid.idempotency")
    first = asyncio.create_task(post_slow(client, f"away-{status}", seconds=0.5, status=status))
    await until_claimed(app, anonymous_key(f"away-{status}"))
    own_redis.stop()  # the drill restarts Redis while the handler runs
    answer = await first
    assert answer.status_code == status, answer.text
    assert answer.json() == {"run": 1}  # the handler's own answer, not a 503 of ours
    assert app.ctx.slow_runs == 1
    said = [r.getMessage() for r in caplog.records if r.name == "gmid.idempotency"]
    assert any("expires on its own" in line for line in said), said
    assert not any(f"away-{status}" in line or "idem:" in line for line in said)  # not the key


async def test_the_renewer_outlives_a_redis_restart(
    away_app: tuple[Sanic, httpx.AsyncClient], own_redis: EmbeddedRedis
) -> None:
    app, client = away_app
    stuck = asyncio.create_task(post_slow(client, "restart-0", seconds=EVERY * 4))
    await until_claimed(app, anonymous_key("restart-0"))
    own_redis.stop()
    await asyncio.sleep(EVERY * 3)  # a few renewals fail meanwhile
    assert (await stuck).status_code == 201
    own_redis.start()

    first = asyncio.create_task(post_slow(client, "restart-1", seconds=TTL * 2.5))
    await until_claimed(app, anonymous_key("restart-1"))
    await asyncio.sleep(TTL * 1.5)
    during = await post_slow(client, "restart-1", seconds=TTL * 2.5)
    assert during.status_code == 409, during.text
    assert (await first).status_code == 201
