"""The operations drill: the whole system on loopback, killed piece by piece under load, then checked.

Starts, in a temporary folder: a real PostgreSQL (``initdb``/``pg_ctl``, fsync off; as the ``postgres``
OS user when run as root), a Redis server (``appendonly yes``: a restart keeps the streams and the
``Idempotency-Key`` records), nginx with ``deploy/nginx/gmid.conf`` adapted (the upstream = the two
instances' ports, a plain HTTP listener, no TLS), two ``gmid serve`` instances (1 worker each,
``GMID_NOTIFY_WORKER=false``, ``GMID_PROXIES_COUNT=1``) and one ``gmid worker`` pointed at the loopback
WeChat and SMS fakes (``tests/support``). Then for ``--seconds`` it drives a mixed load through nginx:
anonymous scans of the seeded bikes' codes, one-key alarms (and their cancellation), reports filed and
moved (accept, dispatch) by the grid, police lookups (reason and case number), a gateway sending its
40 gas detectors' readings every second, signed (the detectors cross into a critical alarm one after
another; each household hears by WeChat and SMS), two checkpoints reading wristbands (1 % a fever), and
SSE clients following the grid feed at three levels (reconnecting with ``Last-Event-ID``). Every POST
carries an ``Idempotency-Key`` and is retried up to twice with it, as a client would: on a connection
error, a 502/503/504, or 409 ``idempotency_in_progress``, after ``Retry-After``.

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
- e-bike alarms, sensor alarms, check-ins: each answered one is one row; a row nobody heard of was a
  request whose answer was lost; every detector that crossed has exactly one alarm;
- ``gmid audit verify``;
- the restore drill (``_drill_restore.py``): ``gmid backup`` of the live system, a revocation after it,
  ``gmid restore`` into a new database (every counted table equal, the audit chain verifies), an instance
  started on it, a revocation there; the verifier that synced the live feed gets ``reset`` and the new
  revocation, where following its position alone would have skipped it.

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
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import redis
import redis.asyncio
from _drill_checks import RATE_PER_MINUTE, RATE_ROUTE, final_checks, print_table, settle_sse
from _drill_load import Records, World, alarmer, gate, gateway, police, reporter, scanner, sse_client
from _drill_pieces import Postgres, kill_group, nginx_conf, redis_argv, wait_redis, wait_worker, which
from _drill_restore import restore_drill
from _drill_setup import MP_TOKEN, SMS_TOKEN, make_settings, register_bikes, register_sensors, seed, seed_checkpoints
from _harness import GMID, HOST, LIFTED_RATE, Process, Server, Workspace, free_port, gmid, gmid_env, run

from miniapp_api.reports import events as report_events
from server.cli import init_keys
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake

SENSORS = 40  # gas detectors behind one gateway, crossing one after another
GATES = 2  # checkpoints reading wristbands
PHASE_FRACTIONS = {"kill app 1": 0.2, "restart app 1": 0.3, "kill worker": 0.45, "restart worker": 0.55}
REDIS_RESTART_AT = 0.7


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
        wechat.set_push(f"{base}/api/v1/notify/wechat/miniprogram/events", MP_TOKEN, delay=1.0)
        sms.set_push(f"{base}/api/v1/notify/sms/status?token={SMS_TOKEN}", delay=1.0)
        env = gmid_env(settings)
        init_keys(settings)
        gmid(env, "migrate", cwd=work.path)
        gmid(env, "seed-demo", cwd=work.path)
        people, staff, scopes, other_grid = asyncio.run(seed(settings, 32))
        checkpoints, gate_tokens, bands = asyncio.run(seed_checkpoints(settings, 300))
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
        residents = [token for token, _ in people]
        gateway_serial, gateway_secret, sensors = asyncio.run(
            register_sensors(base, staff["grid.worker"], residents, SENSORS)
        )
        world = World(
            base=base, app_ports=app_ports, bikes=bikes[:-2], spare=bikes[-2], limited=bikes[-1][2],
            staff=staff, scopes=scopes, other_grid=other_grid, gateway=(gateway_serial, gateway_secret),
            sensors=sensors, checkpoints=checkpoints[:GATES], gate_tokens=gate_tokens[:GATES], bands=bands,
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
                    # The next sends answer slowly, so that the kill lands while some are in flight: the
                    # fakes deliver them, the dead worker never records it (rows in doubt).
                    wechat.delay_next("/cgi-bin/message/subscribe/send", 1.5, times=8)
                    sms.delay_next(1.5, times=4)
                    await asyncio.sleep(0.7)
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
            newest: Any = await client.xrevrange(report_events.STREAM, count=1)
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
                    gateway(http, rec, world),
                    *(gate(http, rec, world, k) for k in range(GATES)),
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
        victims = [(bike, owner) for bike, _, owner, _ in world.bikes[:2]]
        checks += asyncio.run(
            restore_drill(
                work, env, serve_env, database_url=database_url, redis_url=redis_url, base=base, victims=victims
            )
        )
        print()
        for name, ok, detail in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
        failed = sum(1 for _, ok, _ in checks if not ok)
        print(f"\n{len(checks) - failed} of {len(checks)} checks passed; {time.monotonic() - started:.0f} s in all")
        work.stop_processes()
        return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
