"""The operations drill: the whole system on loopback, killed piece by piece under load, then checked.

Starts, in a temporary folder: a real PostgreSQL (``initdb``/``pg_ctl``, fsync off; as the ``postgres``
OS user when run as root), a Redis server (``appendonly yes``: a restart keeps the streams and the
``Idempotency-Key`` records), nginx with ``deploy/nginx/gmid.conf`` adapted (the upstream = the two
instances' ports, a plain HTTP listener, no TLS), two ``gmid serve`` instances (1 worker each,
``GMID_NOTIFY_WORKER=false``, ``GMID_PROXIES_COUNT=1``) and one ``gmid worker`` pointed at the loopback
WeChat and SMS fakes (``tests/support``). Then for ``--seconds`` it drives a mixed load through nginx:
anonymous scans of the seeded bikes' codes, one-key alarms (and their cancellation), reports filed and
moved (accept, dispatch) by the grid, police lookups (reason and case number), and SSE clients following
the grid feed at three levels (reconnecting with ``Last-Event-ID``). Every POST carries an
``Idempotency-Key`` and is retried once, with the same key, on a connection error or a 502/503/504.

Meanwhile, at fixed points of the run: app instance 1 is SIGKILLed (its process group) and restarted,
then the worker, then the Redis server is restarted (SIGTERM: it writes its append-only file, and
starts again on the same port and folder).

At the end it checks, and prints PASS or FAIL for each:

- notifications: every outbox row was sent, and each was delivered exactly once (the SMS fake by the
  row's ``SessionContext``, the WeChat fake by message id: a delivery no row recorded is a second send);
- reports: every 201 the clients got is a row, no request (one per key) made two rows, and a row the
  client never heard of was a request that failed while an instance died;
- SSE: every client saw every event of its scope that the stream holds, in order, nothing twice;
- a QR code revoked through instance 1 is refused by instance 2 within a second (their own ports);
- a per-account rate limit (``me.get``, 10 a minute) counts once across instances: alternating the two,
  the 11th request is refused;
- ``gmid audit verify``.

and a table: per operation, requests per second and p50/p99 in each phase (before, during and after
each fault), and the errors the clients saw (by status and code, or exception). Exit 0 only when every
check passes.

    make drill                                   # 120 s
    .venv/bin/python bench/drill.py --quick      # 30 s
    .venv/bin/python bench/drill.py --seconds 300 --keep

Everything shares this machine's CPUs (2 cores here): the figures show what a fault costs the clients,
not what two instances serve (on 2 cores two instances cannot be faster than one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import redis
import redis.asyncio
from _harness import GMID, HOST, LIFTED_RATE, Process, Server, Workspace, free_port, gmid, gmid_env, percentile, run

from identity import tokens
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from identity.validators import make_id_number
from miniapp_api.reports import events as report_events
from miniapp_api.reports.models import Report
from notify import outbox
from notify.models import Attempt, Notification, Status
from notify.templates import TEMPLATES
from server import db
from server.app import load_access_token_secret
from server.cli import init_keys
from server.settings import Settings
from tests.support.postgres import pg_admin
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake

CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "gmid.conf"
RATE_ROUTE, RATE_PER_MINUTE = "identity.me.get", 10
GRID = "GM010101"
RETRY_STATUSES = {502, 503, 504}
PHASE_FRACTIONS = {"kill app 1": 0.2, "restart app 1": 0.3, "kill worker": 0.45, "restart worker": 0.55}
REDIS_RESTART_AT = 0.7


def which(name: str) -> str:
    found = shutil.which(name) or next(
        (
            str(p)
            for p in (Path("/usr/sbin") / name, *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")))
            if p.exists()
        ),
        None,
    )
    if found is None:
        raise RuntimeError(f"{name} is not installed (.ci/run installs nginx, redis-server and PostgreSQL)")
    return found


# The pieces ------------------------------------------------------------------------------------------------


class Postgres:
    """A throw-away PostgreSQL in its own folder (as the postgres OS user when we are root)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gmiddrpg-", dir="/tmp"))
        self.port = free_port()
        self.pg_ctl = which("pg_ctl")
        self.user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *argv: str) -> None:
        cmd = ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)
        done = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def start(self) -> str:
        if self.user:
            shutil.chown(self.root, self.user)
        self.root.chmod(0o700)
        data = self.root / "data"
        self._run(which("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '{HOST}'\nport = {self.port}\nunix_socket_directories = '{self.root}'\n"
                "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        self._run(self.pg_ctl, "-D", str(data), "-l", str(self.root / "postgres.log"), "-w", "-t", "60", "start")
        admin = f"postgres://postgres@{HOST}:{self.port}/postgres"
        asyncio.run(pg_admin(admin, 'CREATE DATABASE "gmid"'))
        return f"postgres://postgres@{HOST}:{self.port}/gmid"

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def redis_argv(port: int, folder: Path) -> list[str]:
    folder.mkdir(exist_ok=True)
    return [
        which("redis-server"), "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "yes",
        "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--dir", str(folder),
    ]  # fmt: skip


def wait_redis(url: str, timeout: float = 20) -> None:
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, OSError):
                if client.ping():
                    return
            time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError("Redis did not answer")


def nginx_conf(folder: Path, port: int, app_ports: list[int]) -> Path:
    """deploy/nginx/gmid.conf with what this machine changes: the upstream, plain HTTP, no TLS."""
    text = CONF.read_text()
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", text, flags=re.M)
    text = text.replace(
        servers[0], "\n".join(f"    server {HOST}:{p} max_fails=3 fail_timeout=10s;" for p in app_ports)
    )
    for line in servers[1:]:
        text = text.replace(line + "\n", "")
    text = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", text, flags=re.S)  # the redirect to HTTPS
    text = re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.M)
    text = re.sub(r"^\s*(ssl_\w+|add_header Strict-Transport-Security) .*\n", "", text, flags=re.M)
    text = text.replace("listen 443 ssl http2;", f"listen {HOST}:{port};")
    (folder / "gmid.conf").write_text(text)
    main = folder / "nginx.conf"
    main.write_text(
        f"daemon off;\nmaster_process off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n"
        + "".join(
            f"    {kind}_temp_path {folder}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    include {folder}/gmid.conf;\n}}\n"
    )
    return main


def kill_group(process: Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.process.pid, signal.SIGKILL)
    process.process.wait()


# The clients' records --------------------------------------------------------------------------------------


@dataclass
class Records:
    t0: float = 0.0
    marks: list[tuple[float, str]] = field(default_factory=list)  # (time, phase that starts)
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    retried: Counter[str] = field(default_factory=Counter)
    error_times: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))

    def error(self, op: str, why: str) -> None:
        self.errors[op][why] += 1
        self.error_times[op, why].append(time.perf_counter())

    def phase(self, at: float) -> str:
        return max(((t, name) for t, name in self.marks if t <= at), default=(0.0, "set-up"))[1]

    def mark(self, phase: str) -> None:
        self.marks.append((time.perf_counter(), phase))
        print(f"  t={time.perf_counter() - self.t0:6.1f} s  {phase}", file=sys.stderr, flush=True)


@dataclass
class World:
    base: str  # nginx
    app_ports: list[int]
    bikes: list[tuple[str, str, str, str]]  # (bike id, scan URL, owner token, frame number)
    spare: tuple[str, str, str, str]  # a bike kept out of the load: revoked at the end
    limited: str  # a resident's token for the rate-limit check
    staff: dict[str, str]  # username -> token
    scopes: dict[str, str]  # username -> node path
    other_grid: str
    filed: dict[str, str] = field(default_factory=dict)  # text -> report id (201 seen)
    failed_texts: set[str] = field(default_factory=set)  # a POST /reports that never got an answer it could use
    sse_seen: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sse_connects: Counter[str] = field(default_factory=Counter)
    until: float = 0.0  # the load's end: after the last fault's recovery, at least --seconds
    sse_final: dict[str, list[str]] = field(default_factory=dict)  # what each follower should have seen


async def call(
    http: httpx.AsyncClient, rec: Records, op: str, method: str, url: str, token: str | None, body: Any = None
) -> httpx.Response | None:
    """One request, recorded; a POST with an Idempotency-Key, retried once with it on a connection error or
    a 502/503/504. None when no answer came."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "POST":
        headers["Idempotency-Key"] = f"drill-{random.getrandbits(64):016x}"
    for attempt in (1, 2):
        started = time.perf_counter()
        try:
            answer = await http.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            rec.error(op, f"exception {type(exc).__name__}")
            if method == "POST" and attempt == 1:
                rec.retried[op] += 1
                continue
            return None
        rec.samples[op].append((started, (time.perf_counter() - started) * 1000))
        if answer.status_code >= 400:
            try:
                code = answer.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "?"
            rec.error(op, f"{answer.status_code} {code}")
            if answer.status_code in RETRY_STATUSES and method == "POST" and attempt == 1:
                rec.retried[op] += 1
                continue
        return answer
    return None


# The load ---------------------------------------------------------------------------------------------------


async def scanner(http: httpx.AsyncClient, rec: Records, w: World) -> None:
    while time.perf_counter() < w.until:
        _, url, _, _ = random.choice(w.bikes)
        await call(http, rec, "POST /scan", "POST", "/api/v1/scan", None, {"payload": url})


async def alarmer(http: httpx.AsyncClient, rec: Records, w: World) -> None:
    while time.perf_counter() < w.until:
        bike, _, owner, _ = random.choice(w.bikes)
        body = {"lost_at": dt.datetime.now(dt.UTC).isoformat(), "location": "光明大街与华夏路口"}
        await call(http, rec, "POST /ebikes/{id}/alarm", "POST", f"/api/v1/ebikes/{bike}/alarm", owner, body)
        await asyncio.sleep(0.2)
        await call(http, rec, "DELETE /ebikes/{id}/alarm", "DELETE", f"/api/v1/ebikes/{bike}/alarm", owner)
        await asyncio.sleep(0.3)


async def reporter(http: httpx.AsyncClient, rec: Records, w: World, who: int) -> None:
    n = 0
    grid = w.staff["grid.worker"]
    while time.perf_counter() < w.until:
        n += 1
        text = f"楼道灯坏了，晚上很黑，请尽快处理 编号{who}x{n}"
        node = GRID if n % 3 else w.other_grid
        _, _, resident, _ = w.bikes[(who * 7 + n) % len(w.bikes)]
        body = {"category": "urban_construction", "text": text, "node": node}
        answer = await call(http, rec, "POST /reports", "POST", "/api/v1/reports", resident, body)
        if answer is None or answer.status_code != 201:
            w.failed_texts.add(text)
            continue
        rid = str(answer.json()["id"])
        w.filed[text] = rid
        if node == GRID:
            for action in ("accept", "dispatch"):
                url = f"/api/v1/reports/{rid}/transitions"
                await call(http, rec, "POST /reports/{id}/transitions", "POST", url, grid, {"action": action})


async def police(http: httpx.AsyncClient, rec: Records, w: World) -> None:
    token = w.staff["police"]
    while time.perf_counter() < w.until:
        _, _, _, frame = random.choice(w.bikes)
        body = {"frame_no": frame, "reason": "盗窃案件侦查", "case_no": "GM2026-001"}
        await call(http, rec, "POST /police/ebikes/lookup", "POST", "/api/v1/police/ebikes/lookup", token, body)
        await asyncio.sleep(0.1)


async def sse_client(rec: Records, w: World, username: str, start_id: str, stop: asyncio.Event) -> None:
    """Follow /grid/feed/stream through nginx; on any end or error, reconnect with Last-Event-ID."""
    seen = w.sse_seen[username]
    headers = {"Authorization": f"Bearer {w.staff[username]}"}
    async with httpx.AsyncClient(base_url=w.base, timeout=httpx.Timeout(5, read=30), trust_env=False) as http:
        while not stop.is_set():
            w.sse_connects[username] += 1
            try:
                last = seen[-1] if seen else start_id
                async with http.stream(
                    "GET", "/api/v1/grid/feed/stream", headers={**headers, "Last-Event-ID": last}
                ) as answer:
                    if answer.status_code != 200:
                        rec.error("GET /grid/feed/stream", f"{answer.status_code}")
                        await asyncio.sleep(0.5)
                        continue
                    async for line in answer.aiter_lines():
                        if line.startswith("id: "):
                            seen.append(line[4:].strip())
                        if stop.is_set():
                            return
                rec.error("GET /grid/feed/stream", "stream ended (reconnect)")
            except httpx.HTTPError as exc:
                rec.error("GET /grid/feed/stream", f"exception {type(exc).__name__}")
                await asyncio.sleep(0.5)


# Setting up -------------------------------------------------------------------------------------------------


def make_settings(
    work: Workspace, database_url: str, redis_url: str, public: str, wechat: WeChatFake, sms: SmsFake
) -> Settings:
    keys = sorted(TEMPLATES)
    return Settings(
        var_dir=str(work.var_dir),
        database_url=database_url + "?maxsize=10",
        redis_url=redis_url,
        public_base_url=public,
        log_level="WARNING",
        wechat_appid=wechat.appid,
        wechat_secret=wechat.secret,
        wechat_api_base_url=wechat.base_url,
        wechat_timeout=2,
        sms_secret_id=sms.secret_id,
        sms_secret_key=sms.secret_key,
        sms_sdk_app_id=sms.sdk_app_id,
        sms_sign_name=sms.sign_name,
        sms_endpoint=sms.base_url.rstrip("/"),
        sms_timeout=2,
        smtp_timeout=2,
        notify_lease_seconds=15,
        # Per-recipient limits are not under test: the drill's few residents get many messages.
        notify_recipient_limits="sms=100000/hour,email=100000/hour,wechat=100000/hour",
        notify_backoff_cap=5,  # a row that failed while Redis restarted is retried within the run
        notify_wechat_templates=",".join(f"{k}=TPL_{k.replace('.', '_').upper()}" for k in keys),
        notify_sms_templates=",".join(f"{k}={1001 + i}" for i, k in enumerate(keys)),
        police_lookup_rate="1000000/hour",
    )


async def seed(settings: Settings, residents: int) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, str], str]:
    """Residents with a WeChat openid (tokens made here: no WeChat sign-in), and tokens for the demo staff."""
    secret = load_access_token_secret(settings)

    def token(public_id: str, role: Role, node_path: str | None) -> str:
        return tokens.issue_access_token(
            secret=secret, account_id=public_id, role=role, node_path=node_path, ttl=6 * 3600
        )[0]

    from identity import service as identity_service

    await db.open_db(settings)
    try:
        people = []
        for i in range(residents):
            account = await Account.create(
                public_id=identity_service.new_public_id(), role=Role.RESIDENT, wechat_openid=f"odrill{i:06d}"
            )
            people.append(
                (
                    token(account.public_id, Role.RESIDENT, None),
                    make_id_number("440311", dt.date(1980, 1, 1) + dt.timedelta(days=i), f"{i % 1000:03d}"),
                )
            )
        staff, scopes = {}, {}
        for account in await Account.filter(
            username__in=["grid.worker", "police", "admin", "street.admin"]
        ).prefetch_related("node"):
            path = account.node.path if account.node else None
            staff[str(account.username)] = token(account.public_id, account.role, path)
            scopes[str(account.username)] = str(path)
        other = await Node.filter(level=NodeLevel.GRID).exclude(code=GRID).order_by("code").first()
        if other is None:
            raise RuntimeError("the hierarchy has one grid only")
        return people, staff, scopes, str(other.code)
    finally:
        await db.close_db()


async def register_bikes(base: str, people: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    bikes = []
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as http:
        for i, (token, id_number) in enumerate(people):
            frame = f"DRL2026{i:06d}"
            body = {
                "owner": {"name": "演练居民", "id_number": id_number, "phone": f"139{i:08d}"},
                "brand": "雅迪", "model": "DE2", "colour": "白色", "frame_no": frame,
                "motor_no": f"M{i:08d}", "node": GRID,
            }  # fmt: skip
            answer = await http.post("/api/v1/ebikes", json=body, headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 201:
                raise RuntimeError(f"registering a bike: {answer.status_code} {answer.text[:300]}")
            got = answer.json()
            bikes.append((str(got["id"]), str(got["credential"]["url"]), token, frame))
    return bikes


# The run ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120, help="the load's length (default 120)")
    parser.add_argument("--quick", action="store_true", help="30 seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 30.0
    if args.seconds < 10:
        parser.error("--seconds must be at least 10")
    if not GMID.exists():
        parser.error(f"{GMID} is missing: run `make install` and use .venv/bin/python")
    return run("drill", lambda work: drill(args, work), prefix="gmiddr-", keep=args.keep)


def drill(args: argparse.Namespace, work: Workspace) -> int:
    started = time.monotonic()
    pg = Postgres()
    work.callback(pg.stop)
    database_url = pg.start()
    redis_port = free_port()
    redis_url = f"redis://{HOST}:{redis_port}/0"
    redis_dir = work.path / "redis"
    work.start("redis-server", redis_argv(redis_port, redis_dir), env=dict(os.environ))
    wait_redis(redis_url)
    with WeChatFake() as wechat, SmsFake() as sms:
        nginx_port = free_port()
        base = f"http://{HOST}:{nginx_port}"
        settings = make_settings(work, database_url, redis_url, base, wechat, sms)
        env = gmid_env(settings)
        init_keys(settings)
        gmid(env, "migrate", cwd=work.path)
        gmid(env, "seed-demo", cwd=work.path)
        people, staff, scopes, other_grid = asyncio.run(seed(settings, 32))
        app_ports = [free_port(), free_port()]
        serve_env = {
            **env,
            "GMID_HOST": HOST,
            "GMID_WORKERS": "1",
            "GMID_NOTIFY_WORKER": "false",
            "GMID_PROXIES_COUNT": "1",
            "GMID_ACCESS_LOG": "false",
            "GMID_RATE_LIMIT_IP": LIFTED_RATE,
            "GMID_RATE_LIMIT_ACCOUNT": LIFTED_RATE,
            # Every client comes from 127.0.0.1: the scan's own per-address limit is lifted too.
            "GMID_RATE_LIMITS": f"{RATE_ROUTE}=ip:{LIFTED_RATE}|account:{RATE_PER_MINUTE}/minute;"
            f"qr.scan=ip:{LIFTED_RATE}|account:{LIFTED_RATE}",
        }

        def start_app(i: int) -> Server:
            port = app_ports[i]
            server = work.start_server(
                f"app {i + 1}", [str(GMID), "serve"], env={**serve_env, "GMID_PORT": str(port)}, port=port
            )
            server.wait_ready()
            return server

        apps = [start_app(0), start_app(1)]
        nginx_dir = work.path / "nginx"
        nginx_dir.mkdir()
        work.start_server(
            "nginx",
            [which("nginx"), "-p", str(nginx_dir), "-c", str(nginx_conf(nginx_dir, nginx_port, app_ports))],
            env=dict(os.environ),
            port=nginx_port,
        ).wait_ready()

        def start_worker() -> Process:
            worker = work.start("worker", [str(GMID), "worker"], env=env)
            wait_worker(worker, redis_url)
            return worker

        worker = start_worker()
        bikes = asyncio.run(register_bikes(base, people))
        world = World(
            base=base, app_ports=app_ports, bikes=bikes[:-2], spare=bikes[-2], limited=bikes[-1][2],
            staff=staff, scopes=scopes, other_grid=other_grid,
        )  # fmt: skip
        print(
            f"set up in {time.monotonic() - started:.0f} s; load for {args.seconds:.0f} s through nginx",
            file=sys.stderr,
        )

        rec = Records()
        state = {"app1": apps[0], "worker": worker}

        def restart_redis() -> None:
            redis_proc = next(p for p in work.processes if p.name == "redis-server" and not p.exited())
            redis_proc.terminate()
            redis_proc.wait_stopped()
            work.start("redis-server", redis_argv(redis_port, redis_dir), env=dict(os.environ))
            wait_redis(redis_url)

        async def faults() -> None:
            length = world.until - rec.t0
            steps: list[tuple[float, str]] = [(rec.t0 + f * length, name) for name, f in PHASE_FRACTIONS.items()]
            steps.append((rec.t0 + REDIS_RESTART_AT * length, "restart redis"))
            for at, name in steps:
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                if name == "kill app 1":
                    rec.mark("app 1 killed")
                    kill_group(state["app1"])
                elif name == "restart app 1":
                    state["app1"] = await asyncio.to_thread(start_app, 0)
                    rec.mark("app 1 back")
                elif name == "kill worker":
                    rec.mark("worker killed")
                    kill_group(state["worker"])
                elif name == "restart worker":
                    state["worker"] = await asyncio.to_thread(start_worker)
                    rec.mark("worker back")
                else:
                    rec.mark("redis restarting")
                    await asyncio.to_thread(restart_redis)
                    rec.mark("redis back")
            # Recovery may take longer than planned on a busy machine: the phase after it lasts as long.
            world.until = max(world.until, time.perf_counter() + (1 - REDIS_RESTART_AT) * length)

        async def load() -> None:
            client = redis.asyncio.Redis.from_url(redis_url)
            newest = await client.xrevrange(report_events.STREAM, count=1)
            await client.aclose()
            start_id = newest[0][0].decode() if newest else "0-0"
            stop = asyncio.Event()
            followers = ["grid.worker", "street.admin", "admin"]
            sse = [asyncio.create_task(sse_client(rec, world, u, start_id, stop)) for u in followers]
            limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, trust_env=False) as http:
                rec.t0 = time.perf_counter()
                rec.marks.append((rec.t0, "before"))
                world.until = rec.t0 + args.seconds
                await asyncio.gather(
                    faults(),
                    scanner(http, rec, world),
                    scanner(http, rec, world),
                    alarmer(http, rec, world),
                    reporter(http, rec, world, 1),
                    reporter(http, rec, world, 2),
                    police(http, rec, world),
                )
            rec.marks.append((time.perf_counter(), "end"))
            world.sse_final = await settle_sse(world, redis_url, start_id, followers)
            stop.set()
            for task in sse:
                task.cancel()
            await asyncio.gather(*sse, return_exceptions=True)

        asyncio.run(load())
        print_table(rec, args.seconds)
        checks = asyncio.run(final_checks(settings, world, wechat, sms, redis_url))
        _, audit = 0.0, ""
        try:
            _, audit = gmid(env, "audit", "verify", cwd=work.path)
            checks.append(
                (
                    "audit chain verifies (gmid audit verify)",
                    True,
                    audit.strip().splitlines()[-1] if audit.strip() else "ok",
                )
            )
        except RuntimeError as exc:
            checks.append(("audit chain verifies (gmid audit verify)", False, str(exc)[:300]))
        print()
        for name, ok, detail in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
        failed = sum(1 for _, ok, _ in checks if not ok)
        print(f"\n{len(checks) - failed} of {len(checks)} checks passed; {time.monotonic() - started:.0f} s in all")
        work.stop_processes()
        return 0 if failed == 0 else 1


def wait_worker(worker: Process, redis_url: str) -> None:
    """Until the dispatcher listens for wake-ups (a running dispatcher subscribes)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.exited():
                raise RuntimeError(f"the worker exited with {worker.process.returncode}:\n{worker.log_tail()}")
            with contextlib.suppress(redis.RedisError):
                [(_, listening)] = client.pubsub_numsub(outbox.WAKE_CHANNEL)
                if listening >= 1:
                    return
            time.sleep(0.1)
        raise RuntimeError("the worker did not start within 60 s")
    finally:
        client.close()


async def settle_sse(w: World, redis_url: str, start_id: str, followers: list[str]) -> dict[str, list[str]]:
    """The ids each follower should have seen (the stream's entries of its scope after start_id), once
    every follower caught up or 15 s passed."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        expected: dict[str, list[str]] = {}
        deadline = time.monotonic() + 15
        while True:
            entries = await client.xrange(report_events.STREAM, min=f"({start_id}", max="+")
            for user in followers:
                prefix = w.scopes[user]
                expected[user] = [i.decode() for i, f in entries if f.get(b"node", b"").decode().startswith(prefix)]
            if all(w.sse_seen[u][-1:] == expected[u][-1:] for u in followers) or time.monotonic() > deadline:
                return expected
            await asyncio.sleep(0.2)
    finally:
        await client.aclose()


async def final_checks(
    settings: Settings, w: World, wechat: WeChatFake, sms: SmsFake, redis_url: str
) -> list[tuple[str, bool, str]]:
    checks: list[tuple[str, bool, str]] = []
    app1, app2 = (f"http://{HOST}:{p}" for p in w.app_ports)
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        # A QR code revoked through instance 1 (deregistering the bike), scanned on instance 2.
        bike, url, owner, _ = w.spare
        before = await http.post(f"{app2}/api/v1/scan", json={"payload": url})
        gone = await http.delete(f"{app1}/api/v1/ebikes/{bike}", headers={"Authorization": f"Bearer {owner}"})
        t = time.perf_counter()
        answer = before
        while time.perf_counter() - t < 5:
            answer = await http.post(f"{app2}/api/v1/scan", json={"payload": url})
            if "revoked" in answer.text:
                break
            await asyncio.sleep(0.02)
        took = time.perf_counter() - t
        refused = "revoked" in answer.text
        checks.append((
            "a QR code revoked through instance 1 is refused by instance 2 within 1 s",
            before.status_code == 200 and gone.status_code in (200, 204) and refused and took <= 1.0,
            f"scan before {before.status_code}, deregister {gone.status_code}, instance 2 answered "
            f"{answer.status_code} {'revoked' if refused else answer.text[:80]} after {took * 1000:.0f} ms",
        ))  # fmt: skip
        # A per-account limit, alternating the instances.
        statuses = []
        for i in range(RATE_PER_MINUTE + 1):
            got = await http.get(f"{(app1, app2)[i % 2]}/api/v1/me", headers={"Authorization": f"Bearer {w.limited}"})
            statuses.append(got.status_code)
        checks.append((
            f"a per-account limit ({RATE_ROUTE}, {RATE_PER_MINUTE}/minute) counts once across instances",
            statuses[:-1] == [200] * RATE_PER_MINUTE and statuses[-1] == 429,
            f"alternating the instances: {dict(Counter(statuses[:-1]))}, then {statuses[-1]} "
            f"for request {RATE_PER_MINUTE + 1}",
        ))  # fmt: skip

    # SSE.
    expected = w.sse_final
    details, ok = [], True
    for user, want in expected.items():
        seen = w.sse_seen[user]
        good = seen == want
        ok = ok and good and bool(want)
        details.append(
            f"{user} {len(seen)}/{len(want)} events, {w.sse_connects[user]} connections{'' if good else ' MISMATCH'}"
        )
    checks.append(
        ("every SSE client saw every event of its scope, in order, after reconnecting", ok, "; ".join(details))
    )

    await db.open_db(settings)
    try:
        # Reports.
        texts = {t: rid for t, rid in w.filed.items()}
        rows = await Report.filter(text__contains="编号").values_list("public_id", "text")
        by_text: Counter[str] = Counter(str(text) for _, text in rows)
        ids = {str(pid) for pid, _ in rows}
        doubled = sum(n - 1 for n in by_text.values() if n > 1)
        lost = [t for t, rid in texts.items() if rid not in ids]
        unheard = [t for t in by_text if t not in texts]
        unexplained = [t for t in unheard if t not in w.failed_texts]
        checks.append((
            "no report lost or duplicated (201 answers vs rows, one row per Idempotency-Key)",
            not doubled and not lost and not unexplained,
            f"{len(texts)} answered 201, {len(rows)} rows, {doubled} duplicates, {len(lost)} lost; "
            f"{len(unheard)} rows whose request failed at the client (in flight on a killed instance)",
        ))  # fmt: skip

        # Notifications: wait until nothing is due or leased any more.
        deadline = time.monotonic() + max(60, settings.notify_lease_seconds * 4)
        while time.monotonic() < deadline:
            open_rows = await Notification.filter(status__in=[Status.PENDING, Status.SENDING, Status.FAILED]).count()
            if not open_rows:
                break
            await asyncio.sleep(0.5)
        notes = await Notification.all().values_list("public_id", "status", "channel", "provider_message_id")
        unsent = Counter(
            str(e)[:60] for e in await Notification.exclude(status=Status.SENT).values_list("last_error", flat=True)
        )
        doubted = await Attempt.filter(outcome="in_doubt").values_list("notification_id", flat=True)
        doubted_openids = set(await Notification.filter(id__in=list(doubted)).values_list("openid", flat=True))
    finally:
        await db.close_db()
    by_status = Counter(str(s) for _, s, _, _ in notes)
    channels = Counter(str(c) for _, s, c, _ in notes if s == Status.SENT)
    sms_count = Counter(s.session_context for s in list(sms.sent))
    wechat_ids = Counter(str(m.msgid) for m in wechat.messages)
    recorded_wechat = {str(pid) for _, s, c, pid in notes if s == Status.SENT and c == "wechat"}
    bad_sms = [pid for pid, s, c, _ in notes if s == Status.SENT and c == "sms" and sms_count.get(str(pid), 0) != 1]
    stray_sms = sum(n for ctx, n in sms_count.items() if ctx not in {str(p) for p, *_ in notes})
    missing_wechat = [m for m in recorded_wechat if wechat_ids.get(m, 0) != 1]
    stray_wechat = [m for m in wechat_ids if m not in recorded_wechat]
    touser = {str(m.msgid): m.body.get("touser") for m in wechat.messages}
    explained = sum(1 for m in stray_wechat if touser.get(m) in doubted_openids)
    other = {c: n for c, n in channels.items() if c not in ("wechat", "sms")}
    checks.append((
        "every notification was delivered exactly once per idempotency key (fakes vs outbox rows)",
        bool(notes) and by_status.get(Status.SENT, 0) == len(notes) and not bad_sms and not stray_sms
        and not missing_wechat and not stray_wechat and not other,
        f"{len(notes)} rows {dict(by_status)}, sent by {dict(channels)}; WeChat fake {sum(wechat_ids.values())} "
        f"deliveries ({len(stray_wechat)} no row recorded, {len(missing_wechat)} rows unmatched); SMS fake "
        f"{sum(sms_count.values())} ({len(bad_sms)} rows not delivered once, {stray_sms} unknown); "
        f"{len(doubted)} rows in doubt (a dispatcher died mid-send; {explained} of the extra WeChat deliveries "
        f"went to their recipients)" + (f"; not sent: {dict(unsent)}" if unsent else ""),
    ))  # fmt: skip
    return checks


# The table --------------------------------------------------------------------------------------------------


def print_table(rec: Records, seconds: float) -> None:
    marks = sorted(rec.marks)
    spans = [(a, b, name) for (a, name), (b, _) in itertools.pairwise(marks) if b - a > 0.05]
    print(f"\nload through nginx for {seconds:.0f} s; phases (start s, length s):")
    print("  " + ", ".join(f"{name} ({a - rec.t0:.1f}, {b - a:.1f})" for a, b, name in spans))
    head = f"{'operation':<32} " + " ".join(f"{name[:19]:>19}" for _, _, name in spans)
    print("\nrequests/s, p50/p99 ms per phase (answers of any status)")
    print(head)
    for op in sorted(rec.samples):
        cells = []
        for a, b, _ in spans:
            lat = sorted(ms for t, ms in rec.samples[op] if a <= t < b)
            rate = len(lat) / (b - a) if b > a else 0.0
            cells.append(
                f"{rate:6.1f} {percentile(lat, 0.5):5.0f}/{percentile(lat, 0.99):<5.0f}" if lat else f"{'-':>19}"
            )
        print(f"{op:<32} " + " ".join(f"{c:>19}" for c in cells))
    print("\nerrors the clients saw (status code, or exception); POSTs retried once with their Idempotency-Key:")
    for op in sorted(rec.errors):
        total = sum(rec.errors[op].values())

        def where(op: str, why: str) -> str:
            return ", ".join(f"{k}: {v}" for k, v in Counter(map(rec.phase, rec.error_times[op, why])).items())

        listed = ", ".join(f"{n} x {why} ({where(op, why)})" for why, n in rec.errors[op].most_common())
        retried = f" (retried {rec.retried[op]})" if rec.retried[op] else ""
        print(f"  {op}: {total}{retried}: {listed}")
    if not rec.errors:
        print("  none")


if __name__ == "__main__":
    sys.exit(main())
