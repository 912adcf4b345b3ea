"""HTTP routes of the dated gate rules (district administrators add; health staff read)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity.roles import Role
from miniapp_api.wristbands import rulesets
from miniapp_api.wristbands.gate_schemas import RuleSetIn, RuleSetList, RuleSetOut
from miniapp_api.wristbands.models import CheckinRuleSet
from server.auth import require_principal, requires
from server.validation import errors, json_body, responds

bp = Blueprint("wristband_rules", url_prefix="/api/v1")
NO_STORE = {"Cache-Control": "no-store"}


def rules_out(row: CheckinRuleSet | None) -> RuleSetOut:
    if row is None:
        d = rulesets.DEFAULTS
        return RuleSetOut(
            effective_from=d.effective_from,
            fever_celsius=d.fever_celsius,
            trip_window_days=d.trip_window_days,
            stop_statuses=sorted(d.stop_statuses),
            quarantine_stops=d.quarantine_stops,
            source="default",
            created_at=None,
            created_by=None,
        )
    return RuleSetOut(
        effective_from=row.effective_from,
        fever_celsius=row.fever_celsius,
        trip_window_days=row.trip_window_days,
        stop_statuses=sorted(row.stop_statuses),
        quarantine_stops=row.quarantine_stops,
        source=row.source,
        created_at=row.created_at,
        created_by=row.created_by,
    )


@bp.get("/checkins/rules", name="rules")
@requires(Role.ADMIN, Role.HEALTH_STAFF)
@responds(200, RuleSetList, "The set in force now and every set added")
async def get_rules(request: Request) -> HTTPResponse:
    """The gate rules: the set in force now (the defaults, 37.3 °C and 14 days, before any) and every
    set added, including those that take effect later."""
    rows = await rulesets.listed()
    out = RuleSetList(
        in_force=rules_out(rulesets.in_force(rows, rulesets.utcnow())), items=[rules_out(r) for r in rows]
    )
    return json(out.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/checkins/rules", name="rules_add")
@requires(Role.ADMIN)
@json_body(RuleSetIn)
@responds(201, RuleSetOut, "The set added (audited)")
@errors(403, 409, 422)
async def add_rules(request: Request, body: RuleSetIn) -> HTTPResponse:
    """A rule set taking effect from `effective_from` (now or later): fever at or above `fever_celsius`
    (36.0-40.0), key-area trips stop for `trip_window_days` (1-28) after, `stop_statuses` (of yellow,
    red), `quarantine_stops`, and the `source` document. District administrators only."""
    row = await rulesets.add(
        viewer=require_principal(request),
        data=body,
        client_addr=str(request.remote_addr or request.ip),
        request_id=request.ctx.request_id,
    )
    return json(rules_out(row).model_dump(mode="json"), status=201, headers=NO_STORE)
