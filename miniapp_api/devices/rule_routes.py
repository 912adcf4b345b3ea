"""HTTP routes of a building's device rule overrides (staff of the building's area)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from miniapp_api.devices import building_rules, registry
from miniapp_api.devices.models import BuildingDeviceRules
from server.auth import require_principal, requires
from server.validation import StrictModel, errors, json_body, responds
from server.wire import WireTime

bp = Blueprint("device_rules", url_prefix="/api/v1")
NO_STORE = {"Cache-Control": "no-store"}


class BuildingRulesIn(StrictModel):
    rules: list[dict[str, Any]] = Field(
        max_length=building_rules.MAX_OVERRIDES,
        description='Overrides for the building\'s devices of a type: {"device_type": "noise", "alarm_type": '
        '"noise", "levels": [...], "samples": 5, ...} or {"device_type": ..., "alarm_type": ..., "disabled": true}.',
    )


class BuildingRulesOut(BaseModel):
    building: str
    rules: list[dict[str, Any]]
    updated_at: WireTime | None
    updated_by: str | None


def rules_out(code: str, row: BuildingDeviceRules | None) -> BuildingRulesOut:
    if row is None:
        return BuildingRulesOut(building=code, rules=[], updated_at=None, updated_by=None)
    return BuildingRulesOut(building=code, rules=row.rules, updated_at=row.updated_at, updated_by=row.updated_by)


@bp.get("/buildings/<code:str>/device-rules", name="devices.building_rules")
@requires(*registry.READERS)
@responds(200, BuildingRulesOut, "The building's overrides of its devices' rules (empty: the defaults)")
@errors(404)
async def get_building_rules(request: Request, code: str) -> HTTPResponse:
    """The rule overrides every device of a type in this building starts from (a building of your area)."""
    building = await building_rules.building_in_area(viewer=require_principal(request), code=code)
    out = rules_out(building.code, await building_rules.get(building))
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.put("/buildings/<code:str>/device-rules", name="devices.building_rules_put")
@requires(*registry.MANAGERS)
@json_body(BuildingRulesIn)
@responds(200, BuildingRulesOut, "The overrides now in force (they replace the previous list; audited)")
@errors(404, 422)
async def put_building_rules(request: Request, code: str, body: BuildingRulesIn) -> HTTPResponse:
    """Replace the building's overrides (e.g. a noisier night limit for a building by a main road). Each is
    checked as a device's own (422 `invalid_rule` naming the field); a device's own overrides still win."""
    viewer = require_principal(request)
    building = await building_rules.building_in_area(viewer=viewer, code=code)
    row = await building_rules.put(
        viewer=viewer,
        building=building,
        overrides=body.rules,
        client_addr=str(request.remote_addr or request.ip),
        request_id=request.ctx.request_id,
    )
    return json(rules_out(building.code, row).model_dump(mode="json"), headers=NO_STORE)
