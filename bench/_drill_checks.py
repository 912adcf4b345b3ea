"""The drill's end: the checks, each PASS or FAIL, and the table of what the clients saw."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import redis
import redis.asyncio
from _drill_load import Records, World
from _harness import HOST
from _load import percentile

from miniapp_api.devices.models import Device, DeviceAlarm
from miniapp_api.ebikes.models import Alarm as EBikeAlarm
from miniapp_api.reports import events as report_events
from miniapp_api.reports.models import Report
from miniapp_api.wristbands.models import Checkin
from notify.models import Attempt, Notification, Status
from server import db
from server.settings import Settings
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake

RATE_ROUTE, RATE_PER_MINUTE = "identity.me.get", 10


async def settle_sse(w: World, redis_url: str, start_id: str, followers: list[str]) -> dict[str, list[str]]:
    """The ids each follower should have seen (the stream's entries of its scope after start_id), once
    every follower caught up or 15 s passed."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        expected: dict[str, list[str]] = {}
        deadline = time.monotonic() + 15
        while True:
            entries: Any = await client.xrange(report_events.STREAM, min=f"({start_id}", max="+")
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
        checks.extend(await alarm_and_checkin_checks(w))
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
        # Sends the killed worker made and never recorded, settled by WeChat's pushed send result.
        settled = await Attempt.filter(outcome="receipt", detail__contains="nobody recorded").count()
        in_flight = await Attempt.filter(outcome__in=["retaken", "in_doubt"]).count()
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
        f"{settled} settled by WeChat's pushed send result before their dispatcher wrote it down (the killed "
        f"worker's sends among them), {in_flight} taken again after a lease ran out; {len(doubted)} rows in "
        f"doubt ({explained} of the extra WeChat deliveries "
        f"went to their recipients)" + (f"; not sent: {dict(unsent)}" if unsent else ""),
    ))  # fmt: skip
    return checks


async def alarm_and_checkin_checks(w: World) -> list[tuple[str, bool, str]]:
    """E-bike alarms, sensor alarms and check-ins: each answered one is a row, none is a row twice, and a row
    nobody heard of was a request whose answer was lost (in flight on a killed instance, or Redis away)."""
    checks: list[tuple[str, bool, str]] = []
    rows = await EBikeAlarm.all().values_list("public_id", flat=True)
    stored = {str(r) for r in rows}
    lost = w.alarms_raised - stored
    extra = len(stored - w.alarms_raised)
    checks.append((
        "no e-bike alarm lost or duplicated (201 answers vs rows, one row per Idempotency-Key)",
        not lost and extra <= w.alarms_unheard and len(rows) == len(stored),
        f"{len(w.alarms_raised)} answered 201, {len(rows)} rows, {len(lost)} lost, {extra} rows whose press got no "
        f"usable answer (of {w.alarms_unheard} such presses)",
    ))  # fmt: skip

    devices = dict(await Device.filter(serial__in=w.sensors).values_list("serial", "id"))
    per_device = Counter(
        await DeviceAlarm.filter(device_id__in=list(devices.values())).values_list("device_id", flat=True)
    )
    counts = {serial: per_device.get(devices.get(serial, -1), 0) for serial in w.sensors}
    crossed_wrong = [s for s in w.crossed if counts[s] != 1]
    quiet_wrong = [s for s in w.sensors if s not in w.crossed and counts[s] > 1]
    checks.append((
        "every gas detector that crossed has exactly one alarm (gateway batches retried, instances killed)",
        bool(w.crossed) and not crossed_wrong and not quiet_wrong,
        f"{len(w.crossed)} of {len(w.sensors)} detectors crossed, {sum(counts.values())} alarms; "
        f"{len(crossed_wrong)} crossed without exactly one, {len(quiet_wrong)} others with more than one",
    ))  # fmt: skip

    client_ids: list[str] = await Checkin.filter(  # type: ignore[assignment]  # flat: values, not tuples
        client_id__in=[*w.checked_in, *w.checkins_unheard]
    ).values_list("client_id", flat=True)
    ids = Counter(client_ids)
    missing = [i for i in w.checked_in if ids.get(i, 0) != 1]
    twice = sum(1 for n in ids.values() if n > 1)
    checks.append((
        "every check-in answered is one row (the same id sent again answers the first answer)",
        bool(w.checked_in) and not missing and not twice,
        f"{len(w.checked_in)} answered 200, {len(missing)} not stored once, {twice} stored twice; "
        f"{len(w.checkins_unheard)} without a usable answer ({sum(1 for i in w.checkins_unheard if i in ids)} stored)",
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
    print("\nerrors the clients saw (status code, or exception); POSTs retried (twice at most), same Idempotency-Key:")
    for op in sorted(rec.errors):
        total = sum(rec.errors[op].values())

        def where(op: str, why: str) -> str:
            return ", ".join(f"{k}: {v}" for k, v in Counter(map(rec.phase, rec.error_times[op, why])).items())

        listed = ", ".join(f"{n} x {why} ({where(op, why)})" for why, n in rec.errors[op].most_common())
        retried = f" (retried {rec.retried[op]})" if rec.retried[op] else ""
        print(f"  {op}: {total}{retried}: {listed}")
    if not rec.errors:
        print("  none")
