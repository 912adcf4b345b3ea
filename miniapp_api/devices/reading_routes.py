"""Chart data of a device (hourly rollups) and the raw readings kept as an alarm's evidence: staff in
the device's area and the device's household; 404 for everyone else."""

from __future__ import annotations

import datetime as dt

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from miniapp_api.devices import readings_store, registry, rules
from miniapp_api.devices.models import Device
from miniapp_api.devices.reading_schemas import (
    MAX_EVIDENCE,
    MAX_POINTS,
    MAX_SPAN_DAYS,
    AlarmEvidence,
    EvidenceItem,
    HourPoint,
    ReadingsChart,
    ReadingsQuery,
)
from miniapp_api.devices.routes import alarm_for, current_account
from miniapp_api.devices.rules import DeviceType
from server.auth import require_principal, requires
from server.errors import ValidationFailed
from server.validation import errors, query_args, responds

bp = Blueprint("device_readings", url_prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}
DEFAULT_SPAN = dt.timedelta(hours=24)


async def device_for(request: Request, device_id: str) -> Device:
    """Staff: a device in their area; residents: a device of their household (404 otherwise)."""
    principal = require_principal(request)
    if principal.role in registry.RESIDENTS:
        return await registry.member_device(account=await current_account(principal), public_id=device_id)
    return await registry.staff_device(viewer=principal, public_id=device_id)


def window(query: ReadingsQuery) -> tuple[dt.datetime, dt.datetime]:
    until = (query.to or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    since = (query.from_ or until - DEFAULT_SPAN).astimezone(dt.UTC)
    if since >= until:
        raise ValidationFailed.field("from", "`from` is before `to`", "bad_range")
    if until - since > dt.timedelta(days=MAX_SPAN_DAYS):
        raise ValidationFailed.field("from", f"at most {MAX_SPAN_DAYS} days between `from` and `to`", "range_too_long")
    return since, until


@bp.get("/devices/<device_id:str>/readings", name="device_readings.chart")
@requires(*registry.READERS, *registry.RESIDENTS)
@query_args(ReadingsQuery)
@responds(200, ReadingsChart, "Hourly points (count, min, max, avg, last) of one metric, oldest first")
@errors(404, 422)
async def chart(request: Request, device_id: str, query: ReadingsQuery) -> HTTPResponse:
    """One metric of a device by the hour from `from` to `to` (at most 400 days; default the last 24
    hours), the current hour included. Staff in the device's area and its household."""
    since, until = window(query)
    device = await device_for(request, device_id)
    if require_principal(request).role in registry.RESIDENTS and device.retired_at is not None:
        # A household's chart starts with the first whole hour after the device came back into service:
        # an hour's point may hold a former tenant's readings.
        hour = device.retired_at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        since = max(since, hour + dt.timedelta(hours=1))
    if query.metric not in rules.METRICS_BY_TYPE[DeviceType(device.type)]:
        raise ValidationFailed.field("metric", f"a {device.type} device does not send this metric", "bad_metric")
    rows = await readings_store.hourly(
        device_id=device.id,
        metric=query.metric,
        since=since,
        until=until,
        redis=request.app.ctx.redis,
        limit=MAX_POINTS,
    )
    points = [
        HourPoint(
            hour=r.hour,
            count=r.count,
            min=r.min_value,
            max=r.max_value,
            avg=r.sum_value / r.count if r.count else 0.0,
            last=r.last_value,
            last_at=r.last_at,
        )
        for r in rows
    ]
    answer = ReadingsChart(device=device.public_id, metric=query.metric, from_=since, to=until, points=points)
    return json(answer.model_dump(mode="json", by_alias=True), headers=NO_STORE)


@bp.get("/device-alarms/<alarm_id:str>/evidence", name="device_readings.evidence")
@requires(*registry.READERS, *registry.RESIDENTS)
@responds(200, AlarmEvidence, "The raw readings kept around the alarm, oldest first")
@errors(404)
async def evidence(request: Request, alarm_id: str) -> HTTPResponse:
    """The device's raw readings from 30 minutes before the alarm to its end (or now). Staff in the
    alarm's area and the household."""
    alarm, _ = await alarm_for(request, alarm_id)
    device = await Device.get(id=alarm.device_id)
    rows = await readings_store.evidence(alarm, MAX_EVIDENCE + 1)
    items = [EvidenceItem(metric=r.metric, value=r.value, at=r.at) for r in rows[:MAX_EVIDENCE]]
    more = len(rows) > MAX_EVIDENCE
    answer = AlarmEvidence(alarm=alarm.public_id, device=device.public_id, items=items, truncated=more)
    return json(answer.model_dump(mode="json"), headers=NO_STORE)
