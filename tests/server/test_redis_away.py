"""Redis away for a moment (a restart, a failover): requests that need it get 503 with Retry-After, a
clean answer a client may retry, never 500; and the service answers again once Redis is back."""

from __future__ import annotations

import httpx
from sanic import Sanic

from server.redis import EmbeddedRedis
from server.settings import Settings
from tests.support.app_server import RunningApp


async def test_requests_get_503_while_redis_is_away_and_200_when_it_is_back(
    settings: Settings, own_redis: EmbeddedRedis
) -> None:
    from server.app import create_app

    app: Sanic = create_app(settings.replace(redis_url=own_redis.url))
    async with RunningApp(app) as running, httpx.AsyncClient(base_url=running.base_url, timeout=30) as client:
        scan = {"payload": "not-a-code"}
        assert (await client.post("/api/v1/scan", json=scan)).status_code == 400
        own_redis.stop()
        # An Idempotency-Key is kept in Redis: this request cannot be answered without it.
        away = await client.post("/api/v1/scan", json=scan, headers={"Idempotency-Key": "redis-away-1"})
        assert away.status_code == 503, away.text
        assert away.json()["error"]["code"] == "service_unavailable"
        assert int(away.headers["retry-after"]) >= 1
        assert "redis" not in away.text.lower()  # nothing of our insides
        own_redis.start()
        back = await client.post("/api/v1/scan", json=scan, headers={"Idempotency-Key": "redis-away-2"})
        assert back.status_code == 400, back.text
    Sanic.unregister_app(app)
