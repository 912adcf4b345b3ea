from __future__ import annotations

import re

import httpx
from sanic import Sanic


async def test_metrics_count_requests_by_route_and_status(client: httpx.AsyncClient, app: Sanic) -> None:
    for _ in range(3):
        assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/no/such/page")).status_code == 404

    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    # This app's own series (the registry is the process's: other apps of the test run are in it too).
    route = re.escape(f"{app.name}.health.healthz")
    healthz = re.search(rf'gmid_http_requests_total\{{[^}}]*route="{route}"[^}}]*status="200"[^}}]*\}} (\d+)', text)
    assert healthz is not None and float(healthz.group(1)) == 3
    assert re.search(r'gmid_http_requests_total\{[^}]*route="unmatched"[^}]*status="404"', text)
    # A latency histogram with buckets, per route.
    assert re.search(r'gmid_http_request_duration_seconds_bucket\{[^}]*le="0\.005"[^}]*route="[^"]*healthz"', text)
    # The path itself never becomes a label (ids in paths would explode the series).
    assert "/no/such/page" not in text
