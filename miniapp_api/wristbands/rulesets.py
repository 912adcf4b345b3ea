"""The dated gate rules: district administrators add a set that takes effect from a time (never in the
past: a check-in already decided keeps its decision, and an offline upload is decided by what was in
force then); before any, engine.DEFAULT_RULES. Each addition is audited."""

from __future__ import annotations

import datetime as dt
import logging

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity import audit
from miniapp_api.wristbands import engine
from miniapp_api.wristbands.gate_schemas import RuleSetIn
from miniapp_api.wristbands.models import CheckinRuleSet
from server.auth import Principal
from server.errors import Conflict, Forbidden, ValidationFailed

log = logging.getLogger("gmid.wristbands")

PAST_SLACK = dt.timedelta(minutes=1)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def district_wide(viewer: Principal) -> None:
    """The rules hold for every gate of the district: only its administrators set them."""
    if viewer.node_path is None or viewer.node_path.count("/") != 2:
        raise Forbidden("Only the district's administrators set the gate rules.", code="district_admin_only")


async def listed() -> list[CheckinRuleSet]:
    return list(await CheckinRuleSet.all().order_by("effective_from"))


def in_force(rows: list[CheckinRuleSet], now: dt.datetime) -> CheckinRuleSet | None:
    current = None
    for row in rows:
        if row.effective_from <= now:
            current = row
    return current


async def add(*, viewer: Principal, data: RuleSetIn, client_addr: str, request_id: str) -> CheckinRuleSet:
    district_wide(viewer)
    now = utcnow()
    starts = data.effective_from.astimezone(dt.UTC)
    if starts < now - PAST_SLACK:
        raise ValidationFailed.field("effective_from", "now or later: decided check-ins keep their rules", "in_past")
    statuses = sorted(set(data.stop_statuses))
    try:
        async with in_transaction() as conn:
            row = await CheckinRuleSet.create(
                effective_from=starts,
                fever_celsius=round(data.fever_celsius, 1),
                trip_window_days=data.trip_window_days,
                stop_statuses=statuses,
                quarantine_stops=data.quarantine_stops,
                source=data.source,
                created_at=now,
                created_by=viewer.account_id,
                using_db=conn,
            )
            await audit.record(
                actor=viewer.account_id,
                role=viewer.role.value,
                action="checkin.rules_added",
                target=starts.isoformat(),
                client_addr=client_addr,
                request_id=request_id,
                details={
                    "fever_celsius": row.fever_celsius,
                    "trip_window_days": row.trip_window_days,
                    "stop_statuses": statuses,
                    "quarantine_stops": row.quarantine_stops,
                },
                scope=viewer.node_path,
                using_db=conn,
            )
    except IntegrityError:
        raise Conflict("A rule set already takes effect at this time.", code="rules_exist") from None
    log.info("gate rules added effective_from=%s", starts.isoformat())
    return row


DEFAULTS = engine.DEFAULT_RULES
