"""Alarms: raised, changed and cleared by readings; acknowledged and cleared by people.

One open alarm per device and alarm type, whatever instance raises it: the partial unique index
``uidx_device_alarm_open`` refuses a second open row, the insert does nothing on that conflict, and the
loser of a race continues on the winner's alarm. Every transition is appended to the alarm's history
with the readings that caused it, and the household hears of it in the same transaction (the outbox).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.devices import escalation, events, notices, readings_store, silences, valve
from miniapp_api.devices.labels import ALARM_ZH, SEVERITY_ZH, TYPE_ZH
from miniapp_api.devices.models import AlarmEvent, AlarmState, Device, DeviceAlarm, DeviceMember
from miniapp_api.devices.rules import Severity
from miniapp_api.devices.schemas import DeviceAlarmChange
from notify import outbox
from server import public_ids
from server.errors import Conflict, NotFound, ValidationFailed
from server.wire import wire_time

log = logging.getLogger("gmid.devices.alarms")

SEVERITY_RANK = {Severity.WARNING: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}
# Always by SMS as well as WeChat: a leak or a fire must reach a phone that is not looking at WeChat.
SMS_ALWAYS = frozenset({("gas", Severity.CRITICAL), ("smoke", Severity.CRITICAL), ("valve_failed", Severity.CRITICAL)})
OPEN_STATES = (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    return public_ids.new("da_")


@dataclass(frozen=True)
class Pending:
    """A change a reading asks for, applied after the batch is read."""

    device: Device
    alarm_type: str
    kind: str  # raise, severity, clear
    severity: Severity | None
    metric: str
    value: float | None
    at: dt.datetime
    readings: list[dict[str, Any]]
    actor: str = "device"  # who the history names: the device's readings, or "system" (offline, a failed valve)


def device_label(device: Device) -> str:
    name = TYPE_ZH.get(device.type, "设备")
    return f"{name}·{device.place}" if device.place else name


async def apply_all(pending: list[Pending], *, redis: aioredis.Redis | None = None) -> list[DeviceAlarmChange]:
    changes = []
    for item in pending:
        change = await apply(item, redis=redis)
        if change is not None:
            changes.append(change)
    return changes


async def apply(item: Pending, *, redis: aioredis.Redis | None = None) -> DeviceAlarmChange | None:
    """One change in one transaction: the alarm row, its history and the household's notifications
    (with ``redis``, a raise also copies the device's last 30 minutes of readings as its evidence);
    then, committed, it goes on the staff's live alarm board."""
    change = await _apply(item, redis)
    if change is not None:
        await events.publish(
            alarm_id=change.id,
            node_path=item.device.node_path,
            device=change.device,
            alarm_type=change.type,
            severity=change.severity.value,
            state=change.state,
            change=change.change,
        )
    return change


async def _apply(item: Pending, redis: aioredis.Redis | None) -> DeviceAlarmChange | None:
    now = utcnow()
    device = item.device
    async with in_transaction() as conn:
        current = await _open_alarm(device.id, item.alarm_type, conn)
        if item.kind == "clear":
            if current is None:
                return None
            state = AlarmState.CLEARED_ACK if current.state == AlarmState.ACTIVE_ACK else AlarmState.CLEARED_UNACK
            event = await _transition(
                current,
                "clear",
                state,
                Severity(current.severity),
                item.actor,
                "",
                conn,
                now,
                readings=item.readings,
                value=item.value,
                cleared_by=item.actor,
            )
            await escalation.cancel(current, conn)
            await _tell_household(current, device, event, conn, cleared=True)
            return _change(current, device, "clear")
        assert item.severity is not None
        if current is None:
            current, created = await _insert(item, now, conn)
            if created:
                event = await _record(
                    current,
                    "raise",
                    "",
                    AlarmState.ACTIVE_UNACK,
                    item.severity,
                    item.actor,
                    "",
                    conn,
                    now,
                    item.readings,
                )
                await escalation.schedule(current, conn, now)
                await _tell_household(current, device, event, conn)
                await valve.on_gas_alarm(current, device, conn, now)
                await readings_store.alarm_raised(current, conn, redis)
                return _change(current, device, "raise")
        if current.severity == item.severity.value:
            return None
        if item.kind == "raise" and SEVERITY_RANK[item.severity] < SEVERITY_RANK[Severity(current.severity)]:
            return None  # an event never lowers what a threshold raised
        rose = SEVERITY_RANK[item.severity] > SEVERITY_RANK[Severity(current.severity)]
        current.severity = item.severity.value
        event = await _transition(
            current,
            "severity",
            AlarmState(current.state),
            item.severity,
            item.actor,
            "",
            conn,
            now,
            readings=item.readings,
            value=item.value,
        )
        if rose:
            if current.state == AlarmState.ACTIVE_UNACK:
                await escalation.schedule(current, conn, now)
            await _tell_household(current, device, event, conn)
            await valve.on_gas_alarm(current, device, conn, now)
        return _change(current, device, "severity")


async def _open_alarm(device_id: int, alarm_type: str, conn: BaseDBAsyncClient) -> DeviceAlarm | None:
    return (
        await DeviceAlarm.filter(device_id=device_id, alarm_type=alarm_type, cleared_at=None)
        .using_db(conn)
        .select_for_update()
        .first()
    )


async def _insert(item: Pending, now: dt.datetime, conn: BaseDBAsyncClient) -> tuple[DeviceAlarm, bool]:
    """The new open alarm, or the one another instance opened a moment before (False)."""
    assert item.severity is not None
    row = DeviceAlarm(
        public_id=new_public_id(),
        device_id=item.device.id,
        alarm_type=item.alarm_type,
        severity=item.severity.value,
        state=AlarmState.ACTIVE_UNACK.value,
        metric=item.metric,
        value=item.value,
        node_path=item.device.node_path,
        building_id=item.device.building_id,
        started_at=now,
        updated_at=now,
    )
    # ON CONFLICT DO NOTHING against the partial unique index: a race ends on one row, and the
    # transaction is not aborted (PostgreSQL would abort it after a unique violation).
    await DeviceAlarm.bulk_create([row], ignore_conflicts=True, using_db=conn)
    stored = await _open_alarm(item.device.id, item.alarm_type, conn)
    assert stored is not None
    return stored, stored.public_id == row.public_id


async def _record(
    alarm: DeviceAlarm,
    action: str,
    from_state: str,
    to_state: AlarmState,
    severity: Severity,
    actor: str,
    actor_role: str,
    conn: BaseDBAsyncClient,
    now: dt.datetime,
    readings: list[dict[str, Any]] | None = None,
    note: str = "",
) -> AlarmEvent:
    return await AlarmEvent.create(
        alarm_id=alarm.id,
        at=now,
        action=action,
        from_state=from_state,
        to_state=to_state.value,
        severity=severity.value,
        actor=actor,
        actor_role=actor_role,
        note=note,
        readings=readings or [],
        using_db=conn,
    )


async def _transition(
    alarm: DeviceAlarm,
    action: str,
    to_state: AlarmState,
    severity: Severity,
    actor: str,
    actor_role: str,
    conn: BaseDBAsyncClient,
    now: dt.datetime,
    *,
    readings: list[dict[str, Any]] | None = None,
    value: float | None = None,
    note: str = "",
    cleared_by: str | None = None,
    acked_by: str | None = None,
) -> AlarmEvent:
    from_state = alarm.state
    alarm.state = to_state.value
    alarm.severity = severity.value
    alarm.updated_at = now
    fields = ["state", "severity", "updated_at"]
    if value is not None:
        alarm.value = value
        fields.append("value")
    if cleared_by is not None:
        alarm.cleared_at, alarm.cleared_by = now, cleared_by
        fields += ["cleared_at", "cleared_by"]
    if acked_by is not None:
        alarm.acked_at, alarm.acked_by = now, acked_by
        fields += ["acked_at", "acked_by"]
    await alarm.save(using_db=conn, update_fields=fields)
    return await _record(alarm, action, from_state, to_state, severity, actor, actor_role, conn, now, readings, note)


def _change(alarm: DeviceAlarm, device: Device, kind: str) -> DeviceAlarmChange:
    return DeviceAlarmChange(
        id=alarm.public_id,
        device=device.serial,
        type=alarm.alarm_type,
        severity=Severity(alarm.severity),
        state=alarm.state,
        change=kind,  # type: ignore[arg-type]
    )


async def _tell_household(
    alarm: DeviceAlarm, device: Device, event: AlarmEvent, conn: BaseDBAsyncClient, *, cleared: bool = False
) -> int:
    """Each member of the household, at once: WeChat (a subscribe message), and for a critical gas or
    smoke alarm SMS as well; other alarms fall back to SMS when WeChat cannot carry them."""
    silence = await silences.covering(device, event.at, conn)
    if silence is not None:
        # Recorded and shown, not told: the history says why nobody heard of it.
        await AlarmEvent.filter(id=event.id).using_db(conn).update(note=f"silenced by {silence.public_id}")
        return 0
    member_ids = await DeviceMember.filter(device_id=device.id).using_db(conn).values_list("account_id", flat=True)
    members = await Account.filter(id__in=list(member_ids), is_active=True).using_db(conn).order_by("id")
    severity = Severity(alarm.severity)
    template = "device.alarm_cleared" if cleared else "device.alarm"
    data = {
        "device": device_label(device),
        "what": ALARM_ZH.get(alarm.alarm_type, "设备报警"),
        "level": SEVERITY_ZH[severity],
        "at": wire_time(event.at),
        "alarm_id": alarm.public_id,
    }
    both = not cleared and (alarm.alarm_type, severity) in SMS_ALWAYS
    sent = 0
    for account in members:
        if not outbox.reachable(account, template):
            continue
        if not cleared and not await notices.send_now(account, alarm, event.at, conn, urgent=both):
            continue  # inside an open window: told in the window's summary (notices.py)
        channel_sets: list[list[str] | None] = [["wechat"], ["sms"]] if both else [None]
        for channels in channel_sets:
            if channels == ["wechat"] and not account.wechat_openid:
                continue
            if channels == ["sms"] and not account.phone_enc:
                continue
            suffix = channels[0] if channels else "any"
            await outbox.enqueue(
                template=template,
                data=data,
                idempotency_key=f"dalarm:{alarm.public_id}:{event.id}:{account.public_id}:{suffix}",
                account=account,
                channels=channels,
                using_db=conn,
            )
            sent += 1
    return sent


# People ----------------------------------------------------------------------------------------


async def acknowledge(*, alarm: DeviceAlarm, actor: str, actor_role: str, note: str = "") -> DeviceAlarm:
    now = utcnow()
    async with in_transaction() as conn:
        locked = await DeviceAlarm.filter(id=alarm.id).using_db(conn).select_for_update().first()
        assert locked is not None
        if locked.state in (AlarmState.ACTIVE_ACK, AlarmState.CLEARED_ACK):
            raise Conflict("This alarm is already acknowledged.", code="already_acknowledged")
        to_state = AlarmState.ACTIVE_ACK if locked.state == AlarmState.ACTIVE_UNACK else AlarmState.CLEARED_ACK
        await _transition(
            locked, "ack", to_state, Severity(locked.severity), actor, actor_role, conn, now, note=note, acked_by=actor
        )
        await escalation.cancel(locked, conn)
    await _published(locked, "ack")
    return locked


async def clear(*, alarm: DeviceAlarm, actor: str, actor_role: str, note: str) -> DeviceAlarm:
    now = utcnow()
    async with in_transaction() as conn:
        locked = await DeviceAlarm.filter(id=alarm.id).using_db(conn).select_for_update().first()
        assert locked is not None
        if locked.cleared_at is not None:
            raise Conflict("This alarm is already cleared.", code="already_cleared")
        to_state = AlarmState.CLEARED_ACK if locked.state == AlarmState.ACTIVE_ACK else AlarmState.CLEARED_UNACK
        await _transition(
            locked,
            "clear",
            to_state,
            Severity(locked.severity),
            actor,
            actor_role,
            conn,
            now,
            note=note,
            cleared_by=actor,
        )
        await escalation.cancel(locked, conn)
        device = await Device.get(id=locked.device_id, using_db=conn)
        event = await AlarmEvent.filter(alarm_id=locked.id).using_db(conn).order_by("-id").first()
        assert event is not None
        await _tell_household(locked, device, event, conn, cleared=True)
    await _published(locked, "clear")
    return locked


async def _published(alarm: DeviceAlarm, change: str) -> None:
    serial = await Device.filter(id=alarm.device_id).values_list("serial", flat=True)
    await events.publish(
        alarm_id=alarm.public_id,
        node_path=alarm.node_path,
        device=str(serial[0]) if serial else "",
        alarm_type=alarm.alarm_type,
        severity=alarm.severity,
        state=alarm.state,
        change=change,
    )


# Reading -----------------------------------------------------------------------------------------


async def staff_alarm(*, viewer_node: str | None, public_id: str) -> DeviceAlarm:
    alarm = await DeviceAlarm.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if alarm is None or viewer_node is None or not alarm.node_path.startswith(viewer_node):
        raise NotFound("No alarm with this id in your area.", code="alarm_not_found")
    return alarm


def household_may_see(alarm: DeviceAlarm, device: Device) -> bool:
    """A household sees its home's open alarms, and the ones that began since the device last came back
    into service: never a former tenant's history."""
    return alarm.cleared_at is None or device.retired_at is None or alarm.started_at >= device.retired_at


async def member_alarm(*, account: Account, public_id: str) -> DeviceAlarm:
    alarm = await DeviceAlarm.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if alarm is None or not await DeviceMember.exists(device_id=alarm.device_id, account_id=account.id):
        raise NotFound("No alarm with this id on your devices.", code="alarm_not_found")
    if not household_may_see(alarm, await Device.get(id=alarm.device_id)):
        raise NotFound("No alarm with this id on your devices.", code="alarm_not_found")
    return alarm


STATE_FILTERS: dict[str, tuple[AlarmState, ...]] = {
    "open": (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK),
    "unacknowledged": (AlarmState.ACTIVE_UNACK, AlarmState.CLEARED_UNACK),
    "cleared": (AlarmState.CLEARED_UNACK, AlarmState.CLEARED_ACK),
    "all": tuple(AlarmState),
}


async def list_alarms(
    *,
    under: str,
    device_ids: list[int] | None = None,
    building_id: int | None = None,
    state: str = "open",
    severity: Severity | None = None,
    alarm_type: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    retired: dict[int, dt.datetime] | None = None,
) -> tuple[list[DeviceAlarm], str | None]:
    """Newest first; ``under`` a node path (staff) or ``device_ids`` (a household, with ``retired``: when
    each device last left service, what ``household_may_see``)."""
    query = DeviceAlarm.filter(state__in=[s.value for s in STATE_FILTERS[state]])
    if device_ids is not None and retired:
        seen = [
            Q(device_id=d) & (Q(cleared_at=None) | Q(started_at__gte=retired[d])) if d in retired else Q(device_id=d)
            for d in device_ids
        ]
        query = query.filter(Q(*seen, join_type="OR"))
    query = (
        query.filter(device_id__in=device_ids) if device_ids is not None else query.filter(node_path__startswith=under)
    )
    if building_id is not None:
        query = query.filter(building_id=building_id)
    if severity is not None:
        query = query.filter(severity=severity.value)
    if alarm_type:
        query = query.filter(alarm_type=alarm_type)
    if cursor:
        after = await DeviceAlarm.get_or_none(public_id=cursor)
        if after is None:
            raise ValidationFailed.field("cursor", "not a cursor of this list", "bad_cursor")
        query = query.filter(id__lt=after.id)
    rows = list(await query.order_by("-id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more and rows else None


async def history(alarm: DeviceAlarm) -> list[AlarmEvent]:
    return list(await AlarmEvent.filter(alarm_id=alarm.id).order_by("id"))
