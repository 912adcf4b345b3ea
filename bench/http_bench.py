"""Throughput of ``GET /healthz`` on gmid beside a bare Sanic hello-world, measured in the same run.

Both servers run as subprocesses on 127.0.0.1 with one worker each: gmid through ``gmid serve`` (after
``gmid keys init`` and ``gmid migrate`` in a temporary ``GMID_VAR_DIR``: SQLite and the embedded Redis),
the hello-world as a bare Sanic app answering ``/healthz`` with the same JSON (``bench/_harness.py``).
Each is loaded in turn by the same generator: ``wrk`` when installed, otherwise the harness's raw
asyncio client (HTTP/1.1 keep-alive, N connections, fixed duration). The gap between the two is what our middleware
(request id, auth, rate-limit lookup, idempotency, metrics) costs per request.

    .venv/bin/python bench/http_bench.py --duration 10 --concurrency 50

The figures describe this machine and this run only; the client shares the CPUs with the server.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import GMID, HOST, Server, Workspace, free_port, gmid, gmid_env, has_uvloop, require_gmid, run, run_async
from _load import Figures, Request, drive, expect, senders

from server.settings import Settings

MAX_DURATION = 300
MAX_CONCURRENCY = 1000


@dataclass
class Row:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# Load generators -----------------------------------------------------------------------------------


async def _python_load(server: Server, duration: float, concurrency: int, warmup: float) -> Row:
    def healthz(j: int) -> Request:
        return "GET", "/healthz", {}

    ok = expect(200)
    figures = Figures(server.name)
    async with senders(f"http://{HOST}:{server.port}", "raw", concurrency) as send:
        if warmup > 0:
            until = time.perf_counter() + warmup
            await drive(send, Figures("warm-up"), itertools.count(), healthz, ok, until=until)
        await drive(send, figures, itertools.count(), healthz, ok, until=time.perf_counter() + duration)
    wrong = sum(n for why, n in figures.failures.items() if not why.startswith("exception "))
    return Row(
        server.name,
        len(figures.latencies_ns) - wrong,
        figures.seconds,
        figures.p(0.50),
        figures.p(0.99),
        figures.errors,
    )


def python_load(server: Server, duration: float, concurrency: int, warmup: float) -> Row:
    return run_async(_python_load(server, duration, concurrency, warmup))


_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _WRK_UNITS[match.group(2)] if match else float("nan")


def wrk_load(wrk: str, server: Server, duration: float, concurrency: int, warmup: float) -> Row:
    threads = str(max(1, min(concurrency, os.cpu_count() or 1)))
    base = [wrk, "-t", threads, "-c", str(concurrency), "--latency"]
    if warmup > 0:
        subprocess.run([*base, "-d", f"{max(1, round(warmup))}s", server.url], capture_output=True, check=True)
    out = subprocess.run([*base, "-d", f"{max(1, round(duration))}s", server.url], capture_output=True, check=True)
    text = out.stdout.decode()
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if total is None:
        raise RuntimeError(f"cannot read wrk's output:\n{text}")
    seconds = float(total.group(2)) * _WRK_UNITS[total.group(3)] / 1e3
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    requests = int(total.group(1)) - (int(non2xx.group(1)) if non2xx else 0)
    return Row(server.name, requests, seconds, _wrk_ms(text, "50%"), _wrk_ms(text, "99%"), errors)


# Main ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per server (default 10)")
    parser.add_argument("--concurrency", type=int, default=50, help="open keep-alive connections (default 50)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first (default 2)")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk when installed (auto), or the built-in asyncio client",
    )
    args = parser.parse_args(argv)

    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION}]")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be in [1, {MAX_CONCURRENCY}]")
    if not 0 <= args.warmup <= MAX_DURATION:
        parser.error(f"--warmup must be in [0, {MAX_DURATION}]")

    wrk = shutil.which("wrk") if args.generator in {"auto", "wrk"} else None
    if args.generator == "wrk" and wrk is None:
        parser.error("wrk is not installed")
    require_gmid(parser)
    return run("http_bench", lambda work: bench(args, wrk, work), prefix="gmidbench-")


def bench(args: argparse.Namespace, wrk: str | None, work: Workspace) -> int:
    settings = Settings(var_dir=str(work.var_dir), log_level="WARNING")
    env = gmid_env(settings, GMID_HOST=HOST, GMID_WORKERS="1", GMID_ACCESS_LOG="false")
    for step in (["keys", "init"], ["migrate"]):
        gmid(env, *step, cwd=work.path)

    hello = work.start_hello()
    port = free_port()
    ours = work.start_server(
        "gmid /healthz", [str(GMID), "serve", "--workers", "1", "--port", str(port)], env=env, port=port
    )
    hello.wait_ready()
    ours.wait_ready()

    generator = f"wrk ({wrk})" if wrk else "built-in asyncio client" + (" (uvloop)" if has_uvloop() else "")
    print(
        f"GET /healthz, 1 worker each, {args.concurrency} keep-alive connections, "
        f"{args.duration:g} s each after {args.warmup:g} s warm-up; generator: {generator}; "
        f"{os.cpu_count()} CPUs shared by client and server",
        flush=True,
    )
    results: list[Row] = []
    for server in (hello, ours):
        if wrk:
            results.append(wrk_load(wrk, server, args.duration, args.concurrency, args.warmup))
        else:
            results.append(python_load(server, args.duration, args.concurrency, args.warmup))

    print(f"{'server':<18} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}")
    for f in results:
        print(f"{f.name:<18} {f.rps:>11.0f} {f.p50_ms:>8.2f} {f.p99_ms:>8.2f} {f.requests:>9} {f.errors:>7}")
    base, ours_figures = results
    ratio = ours_figures.rps / base.rps if base.rps else float("nan")
    print(f"gmid / bare Sanic throughput: {ratio:.2f} ({(1 - ratio) * 100:.0f}% less)")
    if any(f.errors for f in results):
        print("warning: some requests failed or answered other than 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
