"""Binding requests: a resident who scanned a device's sticker asks to join its household; grid staff of
its area approve (the resident becomes a member) or refuse, with a note. The resident hears the decision
either way (template ``device.binding``, through the outbox, in the decision's transaction)."""

from __future__ import annotations

import datetime as dt
import logging

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.devices.alarms import device_label
from miniapp_api.devices.models import BindingRequest, BindingState, Device, DeviceMember
from notify import outbox
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed
from server.wire import wire_time

log = logging.getLogger("gmid.devices.binding")

RESULT_ZH = {BindingState.APPROVED: "已通过", BindingState.REFUSED: "未通过"}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    return public_ids.new("br_")


def _not_found() -> NotFound:
    return NotFound("No binding request with this id in your area.", code="binding_request_not_found")


async def ask(*, account: Account, device_public_id: str) -> tuple[BindingRequest, Device]:
    """One pending request per resident and device (409 ``binding_request_pending``); 409
    ``already_member`` when the resident is in the household already."""
    missing = NotFound("No device with this id.", code="device_not_found")
    if len(device_public_id) > 16:
        raise missing
    async with in_transaction() as conn:
        # The device's row lock serialises two requests of one resident (and a decision beside them).
        device = await Device.filter(public_id=device_public_id).using_db(conn).select_for_update().first()
        if device is None or not device.active:
            raise missing
        if await DeviceMember.exists(device_id=device.id, account_id=account.id, using_db=conn):
            raise Conflict("You are already in this device's household.", code="already_member")
        pending = (
            await BindingRequest.filter(device_id=device.id, account_id=account.id, state=BindingState.PENDING.value)
            .using_db(conn)
            .first()
        )
        if pending is not None:
            raise Conflict(
                "You have already asked to bind this device; grid staff will decide.",
                code="binding_request_pending",
                details={"id": pending.public_id},
            )
        request = await BindingRequest.create(
            public_id=new_public_id(),
            device_id=device.id,
            account_id=account.id,
            node_path=device.node_path,
            state=BindingState.PENDING.value,
            created_at=utcnow(),
            using_db=conn,
        )
    log.info("device binding requested id=%s device=%s", request.public_id, device.public_id)
    return request, device


async def staff_request(*, viewer: Principal, public_id: str) -> BindingRequest:
    """A request in the viewer's area (404 otherwise, the same as one that does not exist)."""
    found = await BindingRequest.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if found is None or not viewer.covers(found.node_path):
        raise _not_found()
    return found


async def list_in_area(
    *, under: str, state: str, cursor: str | None, limit: int
) -> tuple[list[BindingRequest], str | None]:
    query = BindingRequest.filter(node_path__startswith=under)
    return await _page(query, state, cursor, limit)


async def list_own(
    *, account: Account, state: str, cursor: str | None, limit: int
) -> tuple[list[BindingRequest], str | None]:
    return await _page(BindingRequest.filter(account_id=account.id), state, cursor, limit)


async def _page(
    query: QuerySet[BindingRequest], state: str, cursor: str | None, limit: int
) -> tuple[list[BindingRequest], str | None]:
    if state != "all":
        query = query.filter(state=state)
    if cursor:
        after = await BindingRequest.get_or_none(public_id=cursor)
        if after is None:
            raise ValidationFailed.field("cursor", "not a cursor of this list", "bad_cursor")
        query = query.filter(id__lt=after.id)
    rows = list(await query.order_by("-id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more and rows else None


async def decide(*, viewer: Principal, request: BindingRequest, approve: bool, note: str) -> BindingRequest:
    """Approve (the resident joins the household) or refuse; once (409 ``binding_request_decided``).
    The resident is told in the same transaction."""
    state = BindingState.APPROVED if approve else BindingState.REFUSED
    now = utcnow()
    async with in_transaction() as conn:
        locked = await BindingRequest.filter(id=request.id).using_db(conn).select_for_update().first()
        if locked is None or not viewer.covers(locked.node_path):
            raise _not_found()
        if locked.state != BindingState.PENDING.value:
            raise Conflict(f"This request is already {locked.state}.", code="binding_request_decided")
        device = await Device.get(id=locked.device_id, using_db=conn)
        if approve and not device.active:
            raise Conflict("This device is retired: it cannot be bound.", code="device_inactive")
        locked.state = state.value
        locked.decided_at = now
        locked.decided_by = viewer.account_id
        locked.note = note
        await locked.save(using_db=conn, update_fields=["state", "decided_at", "decided_by", "note"])
        if approve:
            await DeviceMember.bulk_create(
                [
                    DeviceMember(
                        device_id=device.id, account_id=locked.account_id, added_at=now, added_by=viewer.account_id
                    )
                ],
                ignore_conflicts=True,
                using_db=conn,
            )
        account = await Account.get_or_none(id=locked.account_id, is_active=True, using_db=conn)
        if account is not None and outbox.reachable(account, "device.binding"):
            await outbox.enqueue(
                template="device.binding",
                data={
                    "device": device_label(device),
                    "result": RESULT_ZH[state],
                    "at": wire_time(now),
                    "request_id": locked.public_id,
                },
                idempotency_key=f"dbind:{locked.public_id}",
                account=account,
                using_db=conn,
            )
    log.info("device binding %s id=%s", state.value, locked.public_id)
    return locked


async def cancel(*, account: Account, public_id: str) -> BindingRequest:
    """The resident who asked takes the request back while it is pending (404 for anyone else's; 409
    ``binding_request_decided`` once decided)."""
    async with in_transaction() as conn:
        locked = (
            await BindingRequest.filter(public_id=public_id).using_db(conn).select_for_update().first()
            if len(public_id) <= 16
            else None
        )
        if locked is None or locked.account_id != account.id:
            raise _not_found()
        if locked.state != BindingState.PENDING.value:
            raise Conflict(f"This request is already {locked.state}.", code="binding_request_decided")
        locked.state, locked.decided_at = BindingState.CANCELLED.value, utcnow()
        await locked.save(using_db=conn, update_fields=["state", "decided_at"])
    log.info("device binding cancelled id=%s", locked.public_id)
    return locked
