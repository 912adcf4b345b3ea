"""The application factory.

``create_app(settings)`` builds a Sanic app with every blueprint, the middleware chain and the
listeners that open and close the database and Redis. Nothing connects at import time: Sanic spawns
worker processes that re-import this module.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import re
from typing import Any
from urllib.parse import unquote

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from identity import pii
from identity.pii import PiiKeyRing, Vault
from identity.wechat import WeChatGateway
from miniapp_api.devices import events as device_events
from miniapp_api.devices import jobs as device_jobs
from miniapp_api.devices import scan as device_scan
from miniapp_api.reports import events as report_events
from notify import outbox
from qr import scancache, scanning
from qr import service as qr_service
from qr.keys import KeyringCache
from qr.scanlog import ScanLog
from server import auth, automethods, db, errors, idempotency, live_stream, metrics, ratelimit
from server import redis as gmid_redis
from server.keyfiles import read_b64_secret
from server.logs import configure_logging, request_id_var
from server.settings import Settings, SettingsError

log = logging.getLogger("gmid.app")

# A client's X-Request-ID is kept (it joins their logs to ours, and goes into the audit log) only when
# it is a plain token: letters, digits and hyphens, 8 to 64 of them (a UUID fits). No dots, slashes
# or colons that could read as a path, a host or log syntax; anything else gets a fresh id.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9-]{8,64}$")


class _RandomIds:
    """Request ids, 16 random bytes each, cut from one ``os.urandom`` read per 256 of them: the system
    call costs a request more than the rest of its id (the scan, the busiest route, made one each). A
    forked child starts on bytes of its own."""

    _SIZE = 16 * 256

    def __init__(self) -> None:
        self._bytes = b""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._bytes, self._at = b"", 0

    def next(self) -> str:
        if self._at >= len(self._bytes):
            self._bytes, self._at = os.urandom(self._SIZE), 0
        at = self._at
        self._at = at + 16
        return self._bytes[at : at + 16].hex()


_request_ids = _RandomIds()
_counter = itertools.count(1)


def blueprints() -> list[Any]:
    from identity.routes import bp as identity_bp
    from miniapp_api.boards.routes import bp as boards_bp
    from miniapp_api.buildings.routes import bp as buildings_bp
    from miniapp_api.clinic.routes import bp as clinic_bp
    from miniapp_api.console.routes import group as console_group
    from miniapp_api.devices.binding_routes import bp as device_binding_bp
    from miniapp_api.devices.reading_routes import bp as device_readings_bp
    from miniapp_api.devices.routes import bp as devices_bp
    from miniapp_api.devices.rule_routes import bp as device_rules_bp
    from miniapp_api.devices.silence_routes import bp as device_silences_bp
    from miniapp_api.ebikes.routes import bp as ebikes_bp
    from miniapp_api.jobs.application_routes import bp as jobs_applications_bp
    from miniapp_api.jobs.enterprise_routes import bp as jobs_enterprises_bp
    from miniapp_api.jobs.ledger_routes import bp as jobs_ledger_bp
    from miniapp_api.jobs.match_routes import bp as jobs_matches_bp
    from miniapp_api.jobs.posting_routes import bp as jobs_postings_bp
    from miniapp_api.jobs.seeker_routes import bp as jobs_seekers_bp
    from miniapp_api.jobs.skill_routes import bp as jobs_skills_bp
    from miniapp_api.open311.routes import group as open311_group
    from miniapp_api.reports.photo_routes import bp as report_photos_bp
    from miniapp_api.reports.routes import bp as reports_bp
    from miniapp_api.welfare.routes import bp as welfare_bp
    from miniapp_api.wristbands.band_routes import bp as wristbands_bp
    from miniapp_api.wristbands.bundle_routes import bp as checkin_bundle_bp
    from miniapp_api.wristbands.checkin_routes import bp as wristband_checkins_bp
    from miniapp_api.wristbands.checkpoint_routes import bp as wristband_checkpoints_bp
    from miniapp_api.wristbands.health_routes import bp as wristband_health_bp
    from miniapp_api.wristbands.key_area_routes import bp as key_areas_bp
    from miniapp_api.wristbands.rule_routes import bp as wristband_rules_bp
    from miniapp_api.wristbands.trace_routes import bp as wristband_tracing_bp
    from notify.routes import bp as notify_bp
    from qr.admin_routes import bp as qr_admin_bp
    from qr.routes import bp as qr_bp
    from server.docs import bp as docs_bp
    from server.health import bp as health_bp

    return [
        health_bp,
        docs_bp,
        identity_bp,
        qr_bp,
        qr_admin_bp,
        notify_bp,
        ebikes_bp,
        reports_bp,
        buildings_bp,
        report_photos_bp,
        boards_bp,
        open311_group,
        clinic_bp,
        devices_bp,
        device_rules_bp,
        device_readings_bp,
        device_binding_bp,
        device_silences_bp,
        wristbands_bp,
        wristband_health_bp,
        key_areas_bp,
        wristband_tracing_bp,
        checkin_bundle_bp,
        wristband_checkpoints_bp,
        wristband_rules_bp,
        wristband_checkins_bp,
        welfare_bp,
        jobs_enterprises_bp,
        jobs_postings_bp,
        jobs_applications_bp,
        jobs_ledger_bp,
        jobs_skills_bp,
        jobs_seekers_bp,
        jobs_matches_bp,
        console_group,
    ]


def create_app(settings: Settings | None = None, *, name: str | None = None) -> Sanic:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app_name = name or "gmid"
    if Sanic.test_mode and name is None:
        app_name = f"gmid_{next(_counter)}"
    app = Sanic(app_name)
    app.ctx.settings = settings
    _configure(app, settings)
    errors.install(app)
    for bp in blueprints():
        app.blueprint(bp)
    automethods.add_head(app)
    _check_rate_limit_routes(app, settings)
    _install_middleware(app)
    _install_listeners(app, settings)
    return app


def _check_rate_limit_routes(app: Sanic, settings: Settings) -> None:
    unknown = ratelimit.unknown_routes(
        ratelimit.parse_overrides(settings.rate_limits), {route.name for route in app.router.routes}
    )
    if unknown:
        raise SettingsError(
            f"invalid setting GMID_RATE_LIMITS: no route named {', '.join(map(repr, unknown))} "
            "(route names as in /docs, e.g. qr.scan)"
        )


def _configure(app: Sanic, settings: Settings) -> None:
    cfg = app.config
    cfg.REQUEST_MAX_SIZE = settings.max_body_bytes
    cfg.PROXIES_COUNT = settings.proxies_count or None
    cfg.REAL_IP_HEADER = None
    cfg.ACCESS_LOG = settings.access_log
    cfg.FALLBACK_ERROR_FORMAT = "json"
    cfg.KEEP_ALIVE_TIMEOUT = 15
    cfg.MOTD = False
    # No sanic-ext even where it is installed: the OpenAPI document is built by server/openapi.py from
    # the routes' own schemas, HEAD and OPTIONS come from server/automethods.py (sanic-ext's way
    # re-renders the routers once per route at start-up), and nothing is injected; its injection
    # signal alone cost every request 8% of a scan's CPU.
    cfg.AUTO_EXTEND = False


def _install_middleware(app: Sanic) -> None:
    @app.on_request
    async def before(request: Request) -> HTTPResponse | None:
        supplied = request.headers.get("x-request-id", "")
        request.ctx.request_id = supplied if _REQUEST_ID_RE.fullmatch(supplied) else _request_ids.next()
        request_id_var.set(request.ctx.request_id)
        metrics.start(request)
        if "\x00" in unquote(request.path):
            raise errors.BadRequest("The address contains a NUL character.", code="nul_character")
        await auth.authenticate(request)
        await ratelimit.middleware(request)
        return await idempotency.begin(request, idempotency.keeper_of(request.app))

    @app.on_response
    async def after(request: Request, response: HTTPResponse) -> None:
        request_id = getattr(request.ctx, "request_id", None)
        if request_id:
            response.headers["X-Request-ID"] = request_id
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if (response.content_type or "").startswith("text/html"):
            # A page that sets no policy of its own may still never be framed (clickjacking).
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
        await idempotency.finish(request, response, idempotency.keeper_of(request.app))
        metrics.observe(request, response)


def _install_listeners(app: Sanic, settings: Settings) -> None:
    @app.main_process_start
    async def start_embedded_redis(app: Sanic) -> None:
        # Before the workers: they all share this one embedded Redis.
        if settings.uses_embedded_redis:
            embedded = gmid_redis.embedded_for(settings)
            if embedded.start():
                app.ctx.embedded_redis = embedded

    @app.main_process_ready
    async def start_background_worker(app: Sanic) -> None:
        # Every feature's background jobs (the notification dispatcher, SLA timers, the clinic's sweep)
        # beside the web workers, restarted by Sanic's manager if it dies (GMID_NOTIFY_WORKER=false
        # when they run apart, as `gmid worker`).
        if settings.notify_worker:
            from server.worker import serve_process

            app.manager.manage("BackgroundWorker", serve_process, {"settings": settings}, restartable=True)

    @app.main_process_stop
    async def stop_embedded_redis(app: Sanic) -> None:
        embedded = getattr(app.ctx, "embedded_redis", None)
        if embedded is not None:
            embedded.stop()

    @app.before_server_start
    async def open_resources(app: Sanic) -> None:
        app.ctx.access_token_secret = load_access_token_secret(settings)
        pii.set_vault(Vault(PiiKeyRing.from_settings(settings)))
        qr_service.set_keyring(KeyringCache(settings.keys_path))
        app.ctx.own_redis = None
        if settings.uses_embedded_redis:
            embedded = gmid_redis.embedded_for(settings)
            if embedded.start():
                app.ctx.own_redis = embedded
        app.ctx.redis = gmid_redis.make_client(gmid_redis.redis_url_for(settings))
        await idempotency.start(app)  # this process's Idempotency-Key claims, renewed by one ticker
        outbox.set_wake_client(app.ctx.redis)
        report_events.set_client(app.ctx.redis)
        device_events.set_client(app.ctx.redis)
        device_scan.set_client(app.ctx.redis)
        app.ctx.wechat = WeChatGateway(settings, gmid_redis.redis_url_for(settings))
        app.ctx.redis_pipe = gmid_redis.make_pipe(gmid_redis.redis_url_for(settings))
        app.ctx.rate_limiter = ratelimit.RateLimiter(app.ctx.redis, pipe=app.ctx.redis_pipe)
        app.ctx.metrics_allow = [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in settings.metrics_allow.split(",")
            if part.strip()
        ]
        app.ctx.limits = ratelimit.Limits(
            default_ip=ratelimit.Rate.parse(settings.rate_limit_ip),
            default_account=ratelimit.Rate.parse(settings.rate_limit_account),
            overrides=ratelimit.parse_overrides(settings.rate_limits),
            enabled=settings.rate_limit_enabled,
        )
        await db.open_db(settings)
        device_jobs.configure(settings)  # escalation minutes and the alarm message window
        # Scans: public answers cached in Redis, scan records written in batches (qr/scancache.py, scanlog.py).
        scancache.set_client(app.ctx.redis)
        app.ctx.scan_log = ScanLog()
        app.ctx.scan_log.start()
        scanning.set_scan_log(app.ctx.scan_log)
        # The clinic analyses each new report in the background (imported here: it loads the model).
        from miniapp_api.clinic import analysis

        analysis.set_cache(analysis.cache_for(settings))
        report_events.set_submit_listener(analysis.analyse_now)

    @app.after_server_stop
    async def close_resources(app: Sanic) -> None:
        report_events.set_submit_listener(None)
        device_events.set_client(None)
        await report_events.drain()
        scan_log = getattr(app.ctx, "scan_log", None)
        if scan_log is not None:
            await scan_log.close()  # the waiting scan records, before the database closes
        scanning.set_scan_log(None)
        scancache.set_client(None)
        from qr import sheet_jobs

        await sheet_jobs.stop_all()  # print jobs of this worker: marked interrupted while Redis is open
        await db.close_db()
        await live_stream.close_blocking_redis(app)
        wechat = getattr(app.ctx, "wechat", None)
        if wechat is not None:
            wechat.close()
        await idempotency.stop(app)
        pipe = getattr(app.ctx, "redis_pipe", None)
        if pipe is not None:
            await pipe.close()
        client = getattr(app.ctx, "redis", None)
        outbox.set_wake_client(None)
        report_events.set_client(None)
        device_scan.set_client(None)
        if client is not None:
            await client.aclose()
        own = getattr(app.ctx, "own_redis", None)
        if own is not None:
            own.stop()
        pii.set_vault(None)
        qr_service.set_keyring(None)


def load_access_token_secret(settings: Settings) -> bytes:
    if settings.access_token_secret:
        return settings.access_token_secret.encode("utf-8")
    return read_b64_secret(settings.keys_path / "access-token.key")
