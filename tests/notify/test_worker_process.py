"""The dispatcher as a process: beside the web workers under `gmid serve` (Sanic's manager runs it),
delivering what the app queues, and gone when the server stops."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from pathlib import Path

import httpx

from notify import outbox
from notify.models import Notification, Status
from server.settings import Settings
from tests.support.cli import GMID, gmid_env


async def test_gmid_serve_runs_the_dispatcher_and_stops_it(settings: Settings, running: object) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        "serve",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=gmid_env(settings),  # no channel credentials: the console channel sends
        cwd=str(Path(settings.var_dir).parent),
    )
    try:
        row = await outbox.enqueue(
            template="notify.test", data={"at": "2026-11-25T00:00:00Z"}, idempotency_key="t1", phone="13800000001"
        )
        for _ in range(300):
            row = await Notification.get(id=row.id)
            if row.status is Status.SENT:
                break
            await asyncio.sleep(0.1)
        assert (row.status, row.channel) == (Status.SENT, "console")
        async with httpx.AsyncClient() as http:  # the web worker is up too, before the stop
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err, err.decode()[-4000:]


async def test_notify_worker_once_sends_what_is_due_and_exits(settings: Settings, running: object) -> None:
    from tests.support.cli import gmid

    await outbox.enqueue(
        template="notify.test", data={"at": "2026-11-25T00:00:00Z"}, idempotency_key="t1", phone="13800000001"
    )
    code, out, err = await gmid(settings, "notify-worker", "--once")
    assert code == 0, err
    assert out.strip() == "gmid: sent 1 notification(s)"
    assert (await Notification.get(idempotency_key="t1")).status is Status.SENT
    code, _, err = await gmid(settings, "notify-worker", "--concurrency", "0")
    assert code == 2 and err.strip() == "gmid: --concurrency must be from 1 to 256"
    code, _, err = await gmid(settings, "notify-worker", "--concurrency", "257")
    assert code == 2 and err.strip() == "gmid: --concurrency must be from 1 to 256"
