"""Checkpoints (gates, halls, park entrances) of a node, and the staff who work them: grid staff and
administrators keep those of their area; a checkpoint's staff are staff accounts whose node covers
the checkpoint's node or lies under it."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from identity import hierarchy
from identity.models import Account, Node
from identity.roles import CHECKPOINT_STAFF_ROLES, NodeLevel, Role
from miniapp_api.wristbands.gate_schemas import CheckpointIn, CheckpointPatch
from miniapp_api.wristbands.models import Checkpoint, CheckpointStaff
from server import public_ids
from server.auth import Principal
from server.errors import NotFound, ValidationFailed

log = logging.getLogger("gmid.wristbands")

MANAGERS = (Role.GRID_STAFF, Role.ADMIN)
PLACED_AT = (NodeLevel.COMMUNITY, NodeLevel.GRID)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_public_id() -> str:
    return public_ids.new("cp_")


@dataclass(frozen=True)
class StaffMember:
    account: Account
    node_path: str | None
    assignment: CheckpointStaff


async def create(*, viewer: Principal, data: CheckpointIn) -> Checkpoint:
    where = await hierarchy.get_by_code(data.node.upper())
    if where is None or not viewer.covers(where.path):
        raise ValidationFailed.field("node", "no hierarchy node with this code in your area", "unknown_node")
    if where.level not in PLACED_AT:
        raise ValidationFailed.field("node", "a checkpoint belongs to a community or a grid", "node_level")
    row = await Checkpoint.create(
        public_id=new_public_id(),
        name=data.name,
        kind=data.kind.value,
        node_path=where.path,
        created_at=utcnow(),
        created_by=viewer.account_id,
    )
    log.info("checkpoint created id=%s", row.public_id)
    return row


async def in_area(*, viewer: Principal, public_id: str) -> Checkpoint:
    """A checkpoint in the viewer's area (404 otherwise, the same as one that does not exist)."""
    row = await Checkpoint.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if row is None or not viewer.covers(row.node_path):
        raise NotFound("No checkpoint with this id in your area.", code="checkpoint_not_found")
    return row


async def list_in_area(
    *, viewer: Principal, node: str | None, cursor: str | None, limit: int
) -> tuple[list[Checkpoint], str | None]:
    if viewer.node_path is None:
        return [], None
    under = viewer.node_path
    if node:
        where = await hierarchy.get_by_code(node.upper())
        if where is None or not viewer.covers(where.path):
            raise NotFound("No hierarchy node with this code in your area.", code="node_not_found")
        under = where.path
    query = Checkpoint.filter(node_path__startswith=under)
    if cursor:
        after = await Checkpoint.get_or_none(public_id=cursor)
        if after is None or not viewer.covers(after.node_path):
            raise ValidationFailed.field("cursor", "not a cursor of this list", "bad_cursor")
        query = query.filter(id__gt=after.id)
    rows = list(await query.order_by("id").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more and rows else None


async def update(*, checkpoint: Checkpoint, patch: CheckpointPatch) -> Checkpoint:
    fields = patch.model_fields_set
    changes: dict[str, object] = {}
    if "name" in fields and patch.name is not None:
        changes["name"] = patch.name
    if "kind" in fields and patch.kind is not None:
        changes["kind"] = patch.kind.value
    if "active" in fields and patch.active is not None:
        changes["active"] = patch.active
    if changes:
        await Checkpoint.filter(id=checkpoint.id).update(**changes)
        checkpoint = await Checkpoint.get(id=checkpoint.id)
    return checkpoint


async def staff_of(checkpoints: list[Checkpoint]) -> dict[int, list[StaffMember]]:
    """Each checkpoint's staff, in the order they were assigned."""
    rows = list(await CheckpointStaff.filter(checkpoint_id__in=[c.id for c in checkpoints]).order_by("id"))
    accounts = {a.id: a for a in await Account.filter(id__in=[r.account_id for r in rows])}
    node_ids = {a.node_id for a in accounts.values() if a.node_id is not None}  # type: ignore[attr-defined]
    nodes = {n.id: n.path for n in await Node.filter(id__in=node_ids)}
    out: dict[int, list[StaffMember]] = {c.id: [] for c in checkpoints}
    for row in rows:
        account = accounts.get(row.account_id)
        if account is not None:
            path = nodes.get(account.node_id) if account.node_id is not None else None  # type: ignore[attr-defined]
            out[row.checkpoint_id].append(StaffMember(account, path, row))
    return out


async def _assignable(checkpoint: Checkpoint, account_id: str) -> Account:
    """A staff account whose node covers the checkpoint's node or lies under it (404 otherwise, the same
    as an account that does not exist)."""
    account = (
        await Account.get_or_none(public_id=account_id).prefetch_related("node") if len(account_id) <= 32 else None
    )
    node = account.node if account is not None and isinstance(account.node, Node) else None
    if (
        account is None
        or not account.is_active
        or account.role not in CHECKPOINT_STAFF_ROLES
        or node is None
        or not (checkpoint.node_path.startswith(node.path) or node.path.startswith(checkpoint.node_path))
    ):
        raise NotFound("No staff account with this id works in this checkpoint's area.", code="account_not_found")
    return account


async def assign(*, viewer: Principal, checkpoint: Checkpoint, account_id: str) -> None:
    account = await _assignable(checkpoint, account_id)
    try:
        await CheckpointStaff.create(
            checkpoint_id=checkpoint.id, account_id=account.id, assigned_at=utcnow(), assigned_by=viewer.account_id
        )
    except IntegrityError:
        return  # already assigned: the same answer
    log.info("checkpoint staff assigned checkpoint=%s account=%s", checkpoint.public_id, account.public_id)


async def unassign(*, checkpoint: Checkpoint, account_id: str) -> None:
    account = await Account.get_or_none(public_id=account_id) if len(account_id) <= 32 else None
    removed = 0
    if account is not None:
        removed = await CheckpointStaff.filter(checkpoint_id=checkpoint.id, account_id=account.id).delete()
    if not removed:
        raise NotFound("This account does not work this checkpoint.", code="staff_not_found")
