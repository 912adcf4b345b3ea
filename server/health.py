"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from pydantic import BaseModel, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from notify import reach
from notify import service as notify_service
from server import db, metrics
from server.auth import public, token_ignored
from server.errors import NotFound
from server.ratelimit import rate_limit
from server.validation import errors, responds

log = logging.getLogger("gmid.health")
bp = Blueprint("health")


class Health(BaseModel):
    status: str


class NotifyUnreachable(BaseModel):
    template: str
    recipients: str = Field(description="Recipients who have only this kind of address: `wechat` or `phone`.")
    reason: str = Field(description="e.g. `sms_not_configured`, `wechat_no_template_id`.")


class NotifyReadiness(BaseModel):
    mode: str = Field(description="`channels`, or `console` when no channel is configured (development).")
    channels: list[str]
    unreachable: list[NotifyUnreachable] = Field(
        description="Templates the configured channels cannot deliver to some recipients (their messages go dead)."
    )


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    notify: NotifyReadiness = Field(description="Details only: readiness does not depend on them.")


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
    body = {
        "status": "ok" if ready else "unavailable",
        "checks": checks,
        "notify": reach.readiness(request.app.ctx.settings),
    }
    return json(body, status=200 if ready else 503)


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
    try:
        dead = await notify_service.unreachable_dead()
    except Exception as exc:  # the database is down: the process's own figures still answer
        log.warning("metrics without notify figures error=%s", exc.__class__.__name__)
        return metrics.render()
    extra = metrics.gauge_text(
        "gmid_notify_unreachable",
        "Notifications dead because no configured channel could carry them, by template and reason.",
        [({"template": template, "reason": reason}, n) for template, reason, n in dead],
    )
    return metrics.render(extra)
