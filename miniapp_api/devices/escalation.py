"""Who hears of an alarm nobody acknowledges: after N minutes the grid's staff, after M more the
community's duty staff. Each step is a durable timer row (like the report SLA timers), scheduled in the
transaction that raised the alarm and cancelled by an acknowledgement or a clear, so each fires at most
once whatever restarts or how many instances run (the job that fires them claims rows with a lease)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from miniapp_api.devices import notices, silences
from miniapp_api.devices.models import AlarmEvent, AlarmState, AlarmTimer, Device, DeviceAlarm
from miniapp_api.devices.rules import Severity
from notify import outbox
from server import timers
from server.settings_parsers import escalation_minutes
from server.wire import wire_time

log = logging.getLogger("gmid.devices.escalation")

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


def configure_from(text: str) -> None:
    """``GMID_DEVICE_ESCALATION`` (checked when the settings were read)."""
    configure({Severity(name): pair for name, pair in escalation_minutes(text).items()})


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


# Firing ----------------------------------------------------------------------------------------

TEMPLATE = "device.alarm_escalated"
STEP_ROLES: dict[int, tuple[Role, ...]] = {1: (Role.GRID_STAFF,), 2: (Role.GRID_STAFF, Role.OFFICER)}


def _paths(node_path: str) -> list[str]:
    """The node itself and the paths above it."""
    parts = [p for p in node_path.split("/") if p]
    return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)]


async def step_nodes(alarm: DeviceAlarm, step: int, conn: BaseDBAsyncClient) -> list[Node]:
    """Step 1: the alarm's node and the grid at or above it; step 2: the community at or above it."""
    nodes = list(await Node.filter(path__in=_paths(alarm.node_path)).using_db(conn).order_by("id"))
    if step == 1:
        return [n for n in nodes if n.path == alarm.node_path or n.level == NodeLevel.GRID]
    return [n for n in nodes if n.level == NodeLevel.COMMUNITY]


class EscalationScheduler:
    """Fires due escalation steps (job ``devices.escalation``): claimed with a row lease in one UPDATE
    and fired in a transaction that re-checks the timer and the alarm, so a step fires once however many
    instances run; a step whose alarm was acknowledged or cleared meanwhile is cancelled instead."""

    def __init__(self, *, worker: str | None = None, lease_seconds: int = 60, batch: int = 100) -> None:
        self.worker = worker or f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(3)}:esc"
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.batch = batch
        self.fired = 0

    async def claim(self, now: dt.datetime) -> list[int]:
        return await timers.claim_due(
            table="device_alarm_timer", worker=self.worker, lease=self.lease, now=now, batch=self.batch
        )

    async def run_once(self, *, now: dt.datetime | None = None) -> int:
        """Fire every step due at ``now`` (a test passes a later clock); the number fired."""
        moment = now or dt.datetime.now(dt.UTC)
        fired = 0
        for timer_id in await self.claim(moment):
            try:
                fired += await self.fire(timer_id, moment)
            except Exception as exc:  # the lease runs out and another run takes it again
                log.error("escalation step failed id=%s error=%s", timer_id, exc.__class__.__name__)
        self.fired += fired
        return fired

    async def fire(self, timer_id: int, now: dt.datetime) -> int:
        async with in_transaction() as conn:
            timer = await AlarmTimer.filter(id=timer_id).using_db(conn).select_for_update().first()
            if timer is None or timer.fired_at is not None or timer.cancelled or timer.lease_owner != self.worker:
                return 0
            alarm = await DeviceAlarm.filter(id=timer.alarm_id).using_db(conn).select_for_update().first()
            if alarm is None or alarm.state != AlarmState.ACTIVE_UNACK:
                await AlarmTimer.filter(id=timer.id).using_db(conn).update(cancelled=True)
                return 0
            await AlarmTimer.filter(id=timer.id).using_db(conn).update(fired_at=now)
            device = await Device.get(id=alarm.device_id, using_db=conn)
            silence = await silences.covering(device, now, conn)
            # A silenced alarm's messages are not sent, to staff no more than to the household.
            nodes = [] if silence is not None else await step_nodes(alarm, timer.step, conn)
            codes = ",".join(n.code for n in nodes) or "-"
            who = "grid staff" if timer.step == 1 else "community duty staff"
            note = f"step {timer.step}: {who} of {codes}"
            if silence is not None:
                note = f"step {timer.step}: silenced by {silence.public_id}"
            await AlarmEvent.create(
                alarm_id=alarm.id,
                at=now,
                action="escalate",
                from_state=alarm.state,
                to_state=alarm.state,
                severity=alarm.severity,
                actor="system",
                note=note,
                using_db=conn,
            )
            told = await self._tell(alarm, device, timer, nodes, now, conn) if nodes else 0
        log.info("device alarm escalated id=%s step=%s told=%s", alarm.public_id, timer.step, told)
        return 1

    async def _tell(
        self,
        alarm: DeviceAlarm,
        device: Device,
        timer: AlarmTimer,
        nodes: list[Node],
        now: dt.datetime,
        conn: BaseDBAsyncClient,
    ) -> int:
        from miniapp_api.devices.alarms import device_label
        from miniapp_api.devices.labels import ALARM_ZH, SEVERITY_ZH

        staff = (
            await Account.filter(
                node_id__in=[n.id for n in nodes], role__in=list(STEP_ROLES[timer.step]), is_active=True
            )
            .using_db(conn)
            .order_by("id")
        )
        names = {n.id: n.name for n in nodes}
        told = 0
        for account in staff:
            if not outbox.reachable(account, TEMPLATE):
                continue
            if not await notices.send_now(account, alarm, now, conn):
                continue  # inside an open window: told in the window's summary
            await outbox.enqueue(
                template=TEMPLATE,
                data={
                    "device": device_label(device),
                    "what": ALARM_ZH.get(alarm.alarm_type, "设备报警"),
                    "level": SEVERITY_ZH[Severity(alarm.severity)],
                    "at": wire_time(alarm.started_at),
                    "node": names.get(account.node_id or 0, ""),  # type: ignore[attr-defined]
                    "alarm_id": alarm.public_id,
                },
                idempotency_key=f"desc:{timer.id}:{account.public_id}",
                account=account,
                using_db=conn,
            )
            told += 1
        return told
