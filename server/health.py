"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import ipaddress

from pydantic import BaseModel
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from server import db, metrics
from server.auth import public, token_ignored
from server.errors import NotFound
from server.ratelimit import rate_limit
from server.validation import errors, responds

bp = Blueprint("health")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@bp.get("/healthz", name="healthz")
@public
@token_ignored
@rate_limit(exempt=True)
@responds(200, Health, "The process is up")
async def healthz(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


@bp.get("/readyz", name="readyz")
@public
@token_ignored
@rate_limit(exempt=True)
@responds(200, Readiness, "Database and Redis answer")
@responds(503, Readiness, "Something the service needs does not answer")
async def readyz(request: Request) -> HTTPResponse:
    checks: dict[str, str] = {}

    async def check(name: str, probe: object) -> None:
        try:
            await asyncio.wait_for(probe, timeout=2)  # type: ignore[arg-type]
            checks[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the kind is enough detail
            checks[name] = f"failed: {exc.__class__.__name__}"

    await check("database", db.ping_db())
    await check("redis", request.app.ctx.redis.ping())
    ready = all(v == "ok" for v in checks.values())
    return json({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


@bp.get("/metrics", name="metrics")
@public
@token_ignored
@rate_limit(exempt=True)
@responds(200, None, "Prometheus text format", media="text/plain")
@errors(404)
async def metrics_route(request: Request) -> HTTPResponse:
    """Prometheus metrics, for scrapers on the networks in GMID_METRICS_ALLOW (others get 404)."""
    allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = request.app.ctx.metrics_allow
    try:
        address = ipaddress.ip_address(str(request.remote_addr or request.ip))
    except ValueError:
        address = None
    if address is None or not any(address in network for network in allowed):
        raise NotFound()
    return metrics.render()
