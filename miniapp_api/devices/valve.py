"""The gas valve: shut at once on a critical gas alarm, confirmed by the valve, never reopened by itself.

A command is a row (id, TTL, attempts). It reaches the valve in the answer to the valve's (or its
gateway's) next signed ingest request, again after ``RETRY_SECONDS`` while unconfirmed, at most
``max_attempts`` times; the valve confirms with the command's id. Unconfirmed at its TTL, the command
fails and raises its own critical alarm, ``valve_failed``, on the detector: its household hears by
WeChat and SMS, and the grid's staff at once. Only a person reopens a valve, after the gas alarm is
cleared, with an explicit confirmation; it is audited.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity import audit
from identity.models import Account
from identity.roles import Role
from miniapp_api.devices import alarms, silences  # alarms: a cycle, each uses the other only when called
from miniapp_api.devices.labels import ALARM_ZH, SEVERITY_ZH
from miniapp_api.devices.models import AlarmEvent, CommandState, Device, DeviceAlarm, DeviceCommand, DeviceMember
from miniapp_api.devices.rules import DeviceType, Severity
from notify import outbox
from server import public_ids
from server.errors import Conflict
from server.wire import wire_time

log = logging.getLogger("gmid.devices.valve")

TTL = dt.timedelta(minutes=2)
RETRY_SECONDS = 30
MAX_ATTEMPTS = 3
CLOSE, OPEN = "close", "open"
OPEN_STATES = (CommandState.PENDING.value, CommandState.SENT.value)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    return public_ids.new("dc_")


async def on_gas_alarm(alarm: DeviceAlarm, detector: Device, conn: BaseDBAsyncClient, now: dt.datetime) -> bool:
    """A gas alarm just became critical: close the paired valve when the household allows it (one close
    command at a time per valve). True when a command was made."""
    if detector.type != DeviceType.GAS.value or not detector.valve_id or not detector.auto_shutoff:
        return False
    if alarm.alarm_type != "gas" or alarm.severity != Severity.CRITICAL.value:
        return False
    valve = await Device.get_or_none(id=detector.valve_id, using_db=conn)
    if valve is None or not valve.active:
        return False
    busy = DeviceCommand.filter(device_id=valve.id, action=CLOSE, state__in=list(OPEN_STATES))
    if await busy.using_db(conn).exists():
        return False
    command = await _create(valve, CLOSE, alarm.id, "system", "", conn, now)
    await AlarmEvent.create(
        alarm_id=alarm.id,
        at=now,
        action="command",
        from_state=alarm.state,
        to_state=alarm.state,
        severity=alarm.severity,
        actor="system",
        note=f"valve {valve.serial} close commanded ({command.public_id})",
        using_db=conn,
    )
    log.info("valve close commanded valve=%s command=%s", valve.public_id, command.public_id)
    return True


async def _create(
    valve: Device, action: str, alarm_id: int | None, actor: str, role: str, conn: BaseDBAsyncClient, now: dt.datetime
) -> DeviceCommand:
    return await DeviceCommand.create(
        public_id=new_public_id(),
        device_id=valve.id,
        alarm_id=alarm_id,
        action=action,
        state=CommandState.PENDING.value,
        max_attempts=MAX_ATTEMPTS,
        created_at=now,
        next_attempt_at=now,
        expires_at=now + TTL,
        requested_by=actor,
        requested_role=role,
        using_db=conn,
    )


@dataclass(frozen=True)
class Outgoing:
    id: str
    device: str
    action: str
    expires_at: dt.datetime


async def due_for(signer: Device, now: dt.datetime | None = None) -> list[Outgoing]:
    """The commands to hand to this signer now (its own, and a gateway's valves'), each counted as one
    delivery attempt; a command already delivered comes again only after RETRY_SECONDS."""
    moment = now or utcnow()
    if signer.type == DeviceType.GATEWAY.value:
        ids = list(await Device.filter(gateway_id=signer.id, type=DeviceType.VALVE.value).values_list("id", flat=True))
    elif signer.type == DeviceType.VALVE.value:
        ids = [signer.id]
    else:
        return []
    due_now = DeviceCommand.filter(
        device_id__in=ids, state__in=list(OPEN_STATES), next_attempt_at__lte=moment, expires_at__gt=moment
    )
    # Every ingest request of a valve or a gateway asks: almost always nothing is due, and then no
    # transaction is opened (the claim below re-reads under the row lock).
    if not ids or not await due_now.exists():
        return []
    out: list[Outgoing] = []
    async with in_transaction() as conn:
        due = await due_now.using_db(conn).select_for_update().order_by("id")
        serials = dict(
            await Device.filter(id__in=[c.device_id for c in due]).using_db(conn).values_list("id", "serial")
        )
        for command in due:
            if command.attempts >= command.max_attempts:
                continue
            command.attempts += 1
            command.state = CommandState.SENT.value
            command.sent_at = moment
            command.next_attempt_at = moment + dt.timedelta(seconds=RETRY_SECONDS)
            await command.save(using_db=conn, update_fields=["attempts", "state", "sent_at", "next_attempt_at"])
            out.append(Outgoing(command.public_id, serials[command.device_id], command.action, command.expires_at))
    return out


async def confirm(*, device: Device, command_id: str, done: bool, at: dt.datetime) -> str | None:
    """The valve's answer to a command: None when taken, else why it is refused (a refusal code)."""
    async with in_transaction() as conn:
        command = (
            await DeviceCommand.filter(public_id=command_id, device_id=device.id)
            .using_db(conn)
            .select_for_update()
            .first()
        )
        if command is None:
            return "unknown_command"
        if command.state == CommandState.CONFIRMED.value:
            return None  # said again: already taken
        if command.state == CommandState.FAILED.value:
            return "command_closed"
        now = utcnow()
        if done:
            command.state, command.confirmed_at = CommandState.CONFIRMED.value, now
            await command.save(using_db=conn, update_fields=["state", "confirmed_at"])
            await _note(command, f"valve {device.serial} confirmed {command.action} ({command.public_id})", conn, now)
            log.info("valve command confirmed command=%s", command.public_id)
            return None
    await fail(command, reason="the valve reported it could not", now=utcnow())
    return None


async def _note(command: DeviceCommand, note: str, conn: BaseDBAsyncClient, now: dt.datetime) -> None:
    if command.alarm_id is None:
        return
    alarm = await DeviceAlarm.get_or_none(id=command.alarm_id, using_db=conn)
    if alarm is None:
        return
    await AlarmEvent.create(
        alarm_id=alarm.id,
        at=now,
        action="command",
        from_state=alarm.state,
        to_state=alarm.state,
        severity=alarm.severity,
        actor="device",
        note=note,
        using_db=conn,
    )


async def expire_due(now: dt.datetime | None = None) -> int:
    """Fail every command whose TTL passed unconfirmed (the commands job); the number failed."""
    moment = now or utcnow()
    failed = 0
    for command in await DeviceCommand.filter(state__in=list(OPEN_STATES), expires_at__lte=moment).order_by("id"):
        if await fail(command, reason="not confirmed in time", now=moment):
            failed += 1
    return failed


async def fail(command: DeviceCommand, *, reason: str, now: dt.datetime) -> bool:
    """The command failed: a close raises ``valve_failed`` (critical) on the detector it protects."""
    async with in_transaction() as conn:
        locked = await DeviceCommand.filter(id=command.id).using_db(conn).select_for_update().first()
        if locked is None or locked.state not in OPEN_STATES:
            return False
        locked.state, locked.failed_at = CommandState.FAILED.value, now
        await locked.save(using_db=conn, update_fields=["state", "failed_at"])
        await _note(locked, f"valve {locked.action} failed: {reason} ({locked.public_id})", conn, now)
    log.warning("valve command failed command=%s action=%s", locked.public_id, locked.action)
    if locked.action != CLOSE:
        return True
    detector = await Device.filter(valve_id=locked.device_id).first()
    if detector is None:
        return True
    evidence = [{"command": locked.public_id, "action": locked.action, "at": now.isoformat()}]
    change = await alarms.apply(
        alarms.Pending(detector, "valve_failed", "raise", Severity.CRITICAL, "", None, now, evidence, "system")
    )
    if change is not None:
        await _tell_grid_staff(detector, change.id)
    return True


async def _tell_grid_staff(detector: Device, alarm_public_id: str) -> int:
    """The grid's staff at once (a failed shut-off cannot wait for the escalation steps), unless the
    detector is silenced (nobody is messaged about a silenced alarm; its history says so)."""
    alarm = await DeviceAlarm.get(public_id=alarm_public_id)
    if await silences.covering(detector, alarm.started_at) is not None:
        return 0
    paths = _ancestors_to_grid(detector.node_path)
    staff = await Account.filter(role=Role.GRID_STAFF, is_active=True, node__path__in=paths).order_by("id")
    data = {
        "device": alarms.device_label(detector),
        "what": ALARM_ZH["valve_failed"],
        "level": SEVERITY_ZH[Severity.CRITICAL],
        "at": wire_time(alarm.started_at),
        "alarm_id": alarm.public_id,
    }
    sent = 0
    for account in staff:
        if outbox.reachable(account, "device.alarm"):
            await outbox.enqueue(
                template="device.alarm",
                data=data,
                idempotency_key=f"dalarm:{alarm.public_id}:valve_failed:{account.public_id}",
                account=account,
            )
            sent += 1
    return sent


def _ancestors_to_grid(node_path: str) -> list[str]:
    """The device's node and the nodes above it (staff of a community see its grids' devices)."""
    parts = [p for p in node_path.split("/") if p]
    return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)][:2]


# People ----------------------------------------------------------------------------------------


async def may_operate(account: Account, valve: Device) -> bool:
    """A member of the valve's household, or of the household of the detector paired with it."""
    detector_ids = list(await Device.filter(valve_id=valve.id).values_list("id", flat=True))
    return await DeviceMember.filter(account_id=account.id, device_id__in=[valve.id, *detector_ids]).exists()


async def reopen(*, valve: Device, actor: str, role: str, client_addr: str = "", request_id: str = "") -> DeviceCommand:
    """A person reopens a shut valve: refused while the detector's gas alarm is open; audited."""
    if valve.type != DeviceType.VALVE.value:
        raise Conflict("Only a valve is opened.", code="not_a_valve")
    now = utcnow()
    async with in_transaction() as conn:
        locked = await Device.filter(id=valve.id).using_db(conn).select_for_update().first()
        assert locked is not None
        detector_ids = list(await Device.filter(valve_id=valve.id).using_db(conn).values_list("id", flat=True))
        open_gas = DeviceAlarm.filter(
            device_id__in=detector_ids, alarm_type__in=["gas", "valve_failed"], cleared_at=None
        )
        if detector_ids and await open_gas.using_db(conn).exists():
            raise Conflict(
                "The gas alarm is still open: clear it (after checking the home) before reopening the valve.",
                code="alarm_open",
            )
        if await DeviceCommand.filter(device_id=valve.id, state__in=list(OPEN_STATES)).using_db(conn).exists():
            raise Conflict("The valve has a command waiting for its confirmation.", code="command_pending")
        command = await _create(locked, OPEN, None, actor, role, conn, now)
        await audit.record(
            actor=actor,
            role=role,
            action="device.valve_open",
            target=valve.public_id,
            client_addr=client_addr,
            request_id=request_id,
            details={"command": command.public_id},
            scope=valve.node_path,
            using_db=conn,
        )
    log.info("valve open commanded valve=%s command=%s", valve.public_id, command.public_id)
    return command
