"""HTTP routes of checkpoints and their staff (grid staff and administrators of the area)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, empty, json

from identity import hierarchy
from miniapp_api.wristbands import checkpoints
from miniapp_api.wristbands.checkpoints import MANAGERS, StaffMember
from miniapp_api.wristbands.gate_schemas import (
    CheckpointIn,
    CheckpointList,
    CheckpointListQuery,
    CheckpointOut,
    CheckpointPatch,
    CheckpointStaffOut,
)
from miniapp_api.wristbands.models import Checkpoint, CheckpointKind
from server.auth import require_principal, requires
from server.validation import errors, json_body, query_args, responds

bp = Blueprint("wristband_checkpoints", url_prefix="/api/v1")
NO_STORE = {"Cache-Control": "no-store"}


def checkpoint_out(row: Checkpoint, staff: list[StaffMember]) -> CheckpointOut:
    return CheckpointOut(
        id=row.public_id,
        name=row.name,
        kind=CheckpointKind(row.kind),
        node=hierarchy.code_of(row.node_path),
        active=row.active,
        created_at=row.created_at,
        staff=[
            CheckpointStaffOut(
                account=m.account.public_id,
                role=m.account.role.value,
                node=hierarchy.code_of(m.node_path) if m.node_path else None,
                assigned_at=m.assignment.assigned_at,
                assigned_by=m.assignment.assigned_by,
            )
            for m in staff
        ],
    )


async def answer(row: Checkpoint, status: int = 200) -> HTTPResponse:
    staff = await checkpoints.staff_of([row])
    return json(checkpoint_out(row, staff[row.id]).model_dump(mode="json"), status=status, headers=NO_STORE)


@bp.post("/checkpoints", name="checkpoint_create")
@requires(*MANAGERS)
@json_body(CheckpointIn)
@responds(201, CheckpointOut, "The checkpoint")
@errors(422)
async def create_checkpoint(request: Request, body: CheckpointIn) -> HTTPResponse:
    """A gate, hall or park entrance of a community or grid in your area."""
    row = await checkpoints.create(viewer=require_principal(request), data=body)
    return await answer(row, 201)


@bp.get("/checkpoints", name="checkpoint_list")
@requires(*MANAGERS)
@query_args(CheckpointListQuery)
@responds(200, CheckpointList, "Checkpoints in your area, oldest first; follow `next_cursor` for more")
@errors(404, 422)
async def list_checkpoints(request: Request, query: CheckpointListQuery) -> HTTPResponse:
    """Checkpoints under your node (narrowed to `node`), with their staff."""
    rows, cursor = await checkpoints.list_in_area(
        viewer=require_principal(request), node=query.node, cursor=query.cursor, limit=query.limit
    )
    staff = await checkpoints.staff_of(rows)
    out = CheckpointList(items=[checkpoint_out(r, staff[r.id]) for r in rows], next_cursor=cursor)
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.get("/checkpoints/<checkpoint_id:str>", name="checkpoint_get")
@requires(*MANAGERS)
@responds(200, CheckpointOut, "The checkpoint and its staff")
@errors(404)
async def get_checkpoint(request: Request, checkpoint_id: str) -> HTTPResponse:
    """A checkpoint in your area (404 outside it)."""
    return await answer(await checkpoints.in_area(viewer=require_principal(request), public_id=checkpoint_id))


@bp.patch("/checkpoints/<checkpoint_id:str>", name="checkpoint_update")
@requires(*MANAGERS)
@json_body(CheckpointPatch)
@responds(200, CheckpointOut, "The checkpoint as changed")
@errors(404, 422)
async def update_checkpoint(request: Request, checkpoint_id: str, body: CheckpointPatch) -> HTTPResponse:
    """Rename it, change its kind, or close it (`active: false`: its check-ins are refused)."""
    row = await checkpoints.in_area(viewer=require_principal(request), public_id=checkpoint_id)
    return await answer(await checkpoints.update(checkpoint=row, patch=body))


@bp.put("/checkpoints/<checkpoint_id:str>/staff/<account_id:str>", name="checkpoint_staff_put")
@requires(*MANAGERS)
@responds(200, CheckpointOut, "The checkpoint with its staff (assigning twice changes nothing)")
@errors(404)
async def assign_staff(request: Request, checkpoint_id: str, account_id: str) -> HTTPResponse:
    """Let a staff account work this checkpoint: any staff role whose node covers the checkpoint's node or
    lies under it (404 for any other account, as for one that does not exist)."""
    viewer = require_principal(request)
    row = await checkpoints.in_area(viewer=viewer, public_id=checkpoint_id)
    await checkpoints.assign(viewer=viewer, checkpoint=row, account_id=account_id)
    return await answer(row)


@bp.delete("/checkpoints/<checkpoint_id:str>/staff/<account_id:str>", name="checkpoint_staff_delete")
@requires(*MANAGERS)
@responds(204, None, "No longer works this checkpoint")
@errors(404)
async def unassign_staff(request: Request, checkpoint_id: str, account_id: str) -> HTTPResponse:
    """The account no longer posts this checkpoint's check-ins."""
    row = await checkpoints.in_area(viewer=require_principal(request), public_id=checkpoint_id)
    await checkpoints.unassign(checkpoint=row, account_id=account_id)
    return empty()
