"""Who hears of an alarm nobody acknowledges: after N minutes the grid's staff, after M more the
community's duty staff. Each step is a durable timer row (like the report SLA timers), scheduled in the
transaction that raised the alarm and cancelled by an acknowledgement or a clear, so each fires at most
once whatever restarts or how many instances run (the job that fires them claims rows with a lease)."""

from __future__ import annotations

import datetime as dt

from tortoise.backends.base.client import BaseDBAsyncClient

from miniapp_api.devices.models import AlarmTimer, DeviceAlarm
from miniapp_api.devices.rules import Severity

# Minutes to the grid's staff, then more minutes to the community's duty staff, by severity.
DEFAULT_MINUTES: dict[Severity, tuple[int, int]] = {
    Severity.CRITICAL: (5, 10),
    Severity.MAJOR: (15, 30),
    Severity.WARNING: (60, 120),
}
_minutes: dict[Severity, tuple[int, int]] = dict(DEFAULT_MINUTES)


def configure(minutes: dict[Severity, tuple[int, int]]) -> None:
    """The process's escalation minutes (from settings), severities not named keep their default."""
    _minutes.clear()
    _minutes.update(DEFAULT_MINUTES)
    _minutes.update(minutes)


def minutes_for(severity: Severity) -> tuple[int, int]:
    return _minutes[severity]


async def schedule(alarm: DeviceAlarm, conn: BaseDBAsyncClient, now: dt.datetime) -> None:
    """The alarm's two steps from ``now`` at its severity; a step already due sooner keeps its time (a
    rise in severity brings the steps forward, a fall never puts them back)."""
    first, second = minutes_for(Severity(alarm.severity))
    dues = {1: now + dt.timedelta(minutes=first), 2: now + dt.timedelta(minutes=first + second)}
    existing = {t.step: t for t in await AlarmTimer.filter(alarm_id=alarm.id).using_db(conn)}
    fresh = [AlarmTimer(alarm_id=alarm.id, step=step, due_at=due) for step, due in dues.items() if step not in existing]
    if fresh:
        await AlarmTimer.bulk_create(fresh, ignore_conflicts=True, using_db=conn)
    for step, timer in existing.items():
        if timer.fired_at is None and not timer.cancelled and dues[step] < timer.due_at:
            await AlarmTimer.filter(id=timer.id).using_db(conn).update(due_at=dues[step])


async def cancel(alarm: DeviceAlarm, conn: BaseDBAsyncClient) -> int:
    """Acknowledged or cleared: the steps not yet fired never fire."""
    return (
        await AlarmTimer.filter(alarm_id=alarm.id, fired_at=None, cancelled=False).using_db(conn).update(cancelled=True)
    )
