"""Grouped alarm messages (Alertmanager's group_interval): per recipient and building (or device, when
it is in no building), the first alarm message goes at once and opens a window; the alarm messages for
that recipient and building inside the window are collected on the window's row and sent as ONE
message when the window ends. An alarm storm (fifty detectors of one building) reaches each person
as at most one message at once and one summary per window.

Exactly once: a message's decision is taken under a lock on the recipient's account row (the window
row is created or extended in the caller's transaction), and a window is flushed by a conditional
UPDATE (``flushed_at IS NULL``) in the transaction that enqueues its summary.
"""

from __future__ import annotations

import datetime as dt
import logging

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.devices.models import AlarmEvent, AlarmNotice, Device, DeviceAlarm
from miniapp_api.devices.rules import Severity
from notify import outbox
from server.wire import wire_time

log = logging.getLogger("gmid.devices.notices")

GROUP_TEMPLATE = "device.alarm_group"
TOLD_ACTIONS = ("raise", "severity", "escalate")
DEFAULT_GROUP_SECONDS = 60
_window = dt.timedelta(seconds=DEFAULT_GROUP_SECONDS)


def configure(seconds: int) -> None:
    """The process's grouping window (GMID_DEVICE_GROUP_SECONDS)."""
    global _window
    _window = dt.timedelta(seconds=seconds)


def window() -> dt.timedelta:
    return _window


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def group_key(alarm: DeviceAlarm) -> str:
    return f"b:{alarm.building_id}" if alarm.building_id else f"d:{alarm.device_id}"


async def send_now(
    account: Account, alarm: DeviceAlarm, now: dt.datetime, conn: BaseDBAsyncClient, *, urgent: bool = False
) -> bool:
    """True: this alarm message to ``account`` is the first of a window (send it now; the window is
    opened), or the first ``urgent`` one of an open window (a critical gas or smoke alarm, a failed
    valve: a leak must not wait for a window opened by a warning). False: a window is open, the alarm
    is collected on it for the summary at its end."""
    # One decision at a time per recipient, whatever instance asks (a no-op on SQLite, whose writers
    # take turns anyway). Callers lock accounts in id order, after the alarm row: no deadlock.
    await Account.filter(id=account.id).using_db(conn).select_for_update().first()
    key = group_key(alarm)
    current = (
        await AlarmNotice.filter(account_id=account.id, group_key=key, flushed_at=None, window_end__gt=now)
        .using_db(conn)
        .select_for_update()
        .order_by("-window_end")
        .first()
    )
    if current is not None:
        others = [i for i in current.alarm_ids if i != alarm.id]
        now_urgently = urgent and not (others and await _any_urgent(others, conn))
        if not (now_urgently and alarm.id in current.alarm_ids):  # the same alarm told now is not summed up again
            await AlarmNotice.filter(id=current.id).using_db(conn).update(alarm_ids=[*current.alarm_ids, alarm.id])
        return bool(now_urgently)
    await AlarmNotice.create(
        account_id=account.id,
        group_key=key,
        window_start=now,
        window_end=now + _window,
        alarm_ids=[alarm.id],
        using_db=conn,
    )
    return True


async def _any_urgent(alarm_ids: list[int], conn: BaseDBAsyncClient) -> bool:
    """Whether one of these alarms is urgent now (then the window's urgent message went already)."""
    from miniapp_api.devices.alarms import SMS_ALWAYS

    rows = await DeviceAlarm.filter(id__in=alarm_ids).using_db(conn).values_list("alarm_type", "severity")
    return any((alarm_type, severity) in {(t, s.value) for t, s in SMS_ALWAYS} for alarm_type, severity in rows)


async def _building_label(key: str, conn: BaseDBAsyncClient) -> str:
    from miniapp_api.buildings.models import Building
    from miniapp_api.devices.alarms import device_label

    kind, _, raw = key.partition(":")
    if kind == "b":
        building = await Building.get_or_none(id=int(raw), using_db=conn)
        return building.code if building is not None else "楼栋"
    device = await Device.get_or_none(id=int(raw), using_db=conn)
    return device_label(device) if device is not None else "设备"


class NoticeFlusher:
    """Sends the summary of each window that has ended (job ``devices.notices``)."""

    def __init__(self, *, batch: int = 200) -> None:
        self.batch = batch
        self.sent = 0

    async def run_once(self, *, now: dt.datetime | None = None) -> int:
        """Flush every window ended at ``now`` (a test passes a later clock); the summaries sent."""
        moment = now or utcnow()
        due = (
            await AlarmNotice.filter(flushed_at=None, window_end__lte=moment)
            .order_by("window_end")
            .limit(self.batch)
            .only("id")
        )
        sent = 0
        for notice in due:
            try:
                sent += await self.flush(notice.id, moment)
            except Exception as exc:  # left unflushed: the next run tries again (class only: no personal data)
                log.error("alarm notice flush failed id=%s error=%s", notice.id, exc.__class__.__name__)
        self.sent += sent
        return sent

    async def flush(self, notice_id: int, now: dt.datetime) -> int:
        from miniapp_api.devices.alarms import SEVERITY_RANK, SMS_ALWAYS
        from miniapp_api.devices.labels import SEVERITY_ZH

        async with in_transaction() as conn:
            # The conditional UPDATE is the claim: of several flushers, one changes the row.
            won = await AlarmNotice.filter(id=notice_id, flushed_at=None).using_db(conn).update(flushed_at=now)
            if not won:
                return 0
            notice = await AlarmNotice.get(id=notice_id, using_db=conn)
            later = list(dict.fromkeys(notice.alarm_ids[1:]))  # the first alarm went at once
            if not later:
                return 0
            account = await Account.get_or_none(id=notice.account_id, is_active=True, using_db=conn)
            if account is None or not outbox.reachable(account, GROUP_TEMPLATE):
                return 0
            # The levels as they were told in the window (an alarm may have fallen or cleared since).
            told = await AlarmEvent.filter(
                alarm_id__in=later, at__gte=notice.window_start, at__lte=notice.window_end, action__in=TOLD_ACTIONS
            ).using_db(conn)
            types = dict(await DeviceAlarm.filter(id__in=later).using_db(conn).values_list("id", "alarm_type"))
            levels = {(e.alarm_id, Severity(e.severity)) for e in told}
            top = max((s for _, s in levels), key=SEVERITY_RANK.__getitem__, default=Severity.WARNING)
            both = any((types.get(alarm_id), severity) in SMS_ALWAYS for alarm_id, severity in levels)
            data = {
                "building": await _building_label(notice.group_key, conn),
                "count": str(len(later)),
                "level": SEVERITY_ZH[top],
                "at": wire_time(now),
            }
            channel_sets: list[list[str] | None] = [["wechat"], ["sms"]] if both else [None]
            sent = 0
            for channels in channel_sets:
                if channels == ["wechat"] and not account.wechat_openid:
                    continue
                if channels == ["sms"] and not account.phone_enc:
                    continue
                suffix = channels[0] if channels else "any"
                await outbox.enqueue(
                    template=GROUP_TEMPLATE,
                    data=data,
                    idempotency_key=f"dgroup:{notice.id}:{suffix}",
                    account=account,
                    channels=channels,
                    using_db=conn,
                )
                sent = 1
            return sent
