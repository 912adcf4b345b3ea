"""A dispatcher process killed with SIGKILL in the middle of a batch: after another one starts, every
notification is delivered, and nobody gets the same message twice (the fakes record what arrived).

The fakes answer slowly, so at the kill some sends are in flight: they reached the provider, which
delivers them, but the dead dispatcher never recorded it. Template messages are sent again with the
same ``client_msg_id`` (WeChat drops the repeat); SMS waits for the delivery receipt that Tencent
posts (matched on the session context) before sending again.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import time
from pathlib import Path

import httpx

from notify import outbox
from notify.models import Attempt, Notification, Status
from server.settings import SPECS, Settings
from tests.support.cli import GMID, gmid_env
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake

COUNT = 160


def worker_env(settings: Settings) -> dict[str, str]:
    env = gmid_env(settings)
    for spec in SPECS:
        value = getattr(settings, spec.attr)
        if value is None or value == spec.default or spec.env in env:
            continue
        env[spec.env] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    env["GMID_LOG_LEVEL"] = "WARNING"
    return env


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(GMID), "notify-worker"],
        env=worker_env(settings),
        cwd=str(Path(settings.var_dir).parent),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def sent_count() -> int:
    return await Notification.filter(status=Status.SENT).count()


async def test_a_killed_dispatcher_loses_nothing_and_duplicates_nothing(
    notify_settings: Settings, running: object, wechat: WeChatFake, sms: SmsFake, tmp_path: Path
) -> None:
    settings = notify_settings.replace(
        notify_lease_seconds=6, notify_concurrency=8, notify_batch_size=64, notify_poll_seconds=1
    )
    for n in range(COUNT // 2):
        await outbox.enqueue(
            template="sensor.alarm",
            data={"device": "燃气报警器", "place": f"{n}栋", "level": "高", "at": "2026-11-25T02:30:00Z"},
            idempotency_key=f"sensor:{n}",
            oa_openid=f"oa_{n}",
        )
        await outbox.enqueue(
            template="ebike.stolen",
            data={"bike": "雅迪", "lost_at": "2026-11-25T02:30:00Z", "location": "光明", "alarm_id": f"a{n}"},
            idempotency_key=f"stolen:{n}",
            phone=f"1380000{n:04d}",
            channels=["sms"],
        )
    # Slow providers: every send takes 0.15 s, so a batch of 64 with 8 in flight lasts over a second; the
    # kill comes after 30 sends, in the middle of the first batch.
    wechat.delay_next("/cgi-bin/message/template/send", 0.15, times=10 * COUNT)
    sms.delay_next(0.15, times=10 * COUNT)

    log = tmp_path / "worker.log"
    first = start_worker(settings, log)
    try:
        deadline = time.monotonic() + 60
        while len(wechat.sent_messages()) + len(sms.sent) < 30:
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the first dispatcher sent nothing: " + log.read_text()
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = await sent_count()
    assert 0 < at_kill < COUNT, "the kill must land in the middle of the work"
    await asyncio.sleep(0.5)  # requests already at the providers finish there, as for real

    # Tencent reports what it delivered; some of these sends were never recorded by the dead dispatcher.
    base_url = running.base_url  # type: ignore[attr-defined]
    with sms.lock:
        reports = [sms.status_report(s) for s in sms.sent]
    async with httpx.AsyncClient(base_url=base_url) as http:
        answer = await http.post(
            "/api/v1/notify/sms/status", params={"token": settings.sms_callback_token}, json=reports
        )
        assert answer.json() == {"result": 0, "errmsg": "OK"}

    second = start_worker(settings, log)
    try:
        deadline = time.monotonic() + 90
        while await sent_count() < COUNT:
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"{await sent_count()} of {COUNT} sent: " + log.read_text()
            await asyncio.sleep(0.2)
        second.send_signal(signal.SIGTERM)  # a clean stop
        assert second.wait(20) == 0, log.read_text()
    finally:
        if second.poll() is None:
            second.kill()

    template_per_user = collections.Counter(m["touser"] for m in wechat.sent_messages("template"))
    sms_per_phone = collections.Counter(s.phone for s in sms.sent)
    assert template_per_user == {f"oa_{n}": 1 for n in range(COUNT // 2)}
    assert sms_per_phone == {f"+861380000{n:04d}": 1 for n in range(COUNT // 2)}
    assert await Notification.filter(status=Status.SENT).count() == COUNT
    # The kill left rows taken again; those whose send had started were in doubt, and all were settled
    # without a second message.
    assert await Attempt.filter(outcome="in_doubt").count() >= 1
    assert await Attempt.filter(outcome__in=["in_doubt", "retaken"]).count() >= 5
    assert "Traceback" not in log.read_text()
