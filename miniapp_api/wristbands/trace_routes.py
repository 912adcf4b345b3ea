"""HTTP routes of tracing: health staff and police ask who passed a checkpoint, where a band was seen,
and who passed near a person (contacts); each with a reason and a case number, audited and counted
against the person-lookup budget. POST, so that reasons, case numbers and band ids stay out of URLs
(and so out of access logs and proxies)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field, model_validator
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import lookup_limit
from identity.purpose import Purpose, require_purpose
from miniapp_api.wristbands import tracing
from miniapp_api.wristbands.tracing import After, Found, Kind, Span
from server.auth import Principal, require_principal, requires
from server.errors import NotFound, ValidationFailed
from server.validation import CalendarTime, StrictModel, errors, json_body, responds
from server.wire import WireTime

bp = Blueprint("wristband_tracing", url_prefix="/api/v1/tracing")
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PublicId = Field(min_length=1, max_length=64)


class TraceIn(StrictModel):
    start: CalendarTime = Field(alias="from", description="From (inclusive), ISO 8601 with its offset.")
    until: CalendarTime = Field(description="Until (exclusive): after `from`, at most 14 days later.")
    reason: str | None = Field(default=None, max_length=1000, description="Why, in words (audited).")
    case_no: str | None = Field(default=None, max_length=200, description="The case number (audited).")
    cursor: str | None = Field(
        default=None, max_length=64, description="`next_cursor` of the previous page (each page is a lookup)."
    )


class CheckpointTraceIn(TraceIn):
    checkpoint: str = PublicId


class BandTraceIn(TraceIn):
    band: str | None = Field(default=None, min_length=1, max_length=64, description="The band's public id.")
    ble_id: str | None = Field(default=None, min_length=1, max_length=64, description="Or its BLE identifier.")

    @model_validator(mode="after")
    def one_key(self) -> BandTraceIn:
        if (self.band is None) == (self.ble_id is None):
            raise ValueError("give exactly one of band, ble_id")
        return self


class ContactTraceIn(TraceIn):
    person: str = Field(min_length=1, max_length=64, description="The person's account public id.")
    minutes: int = Field(ge=1, le=tracing.CONTACT_MINUTES_MAX, description="Within ± this many minutes (1-60).")


class PassageOut(BaseModel):
    account: str | None = Field(description="The wearer's account public id (none for an unbound band).")
    name: str | None = Field(description="Masked for health staff; in full for police.")
    phone: str | None = Field(description="Masked for health staff; in full for police.")
    band: str | None = Field(description="The band's public id.")
    checkpoint: str
    checkpoint_name: str
    at: WireTime


class TraceAnswer(BaseModel):
    items: list[PassageOut]
    count: int
    truncated: bool = Field(
        description=f"More than {tracing.MAX_ROWS} passages: ask for the next page (without `next_cursor`: "
        "the person passed more than that often, narrow the time range)."
    )
    next_cursor: str | None = Field(description="Send it as `cursor` (same query) for the next page.")
    audit_seq: int


Find = Callable[[Principal, Span, After | None], Awaitable[Found]]


async def _trace(
    request: Request, body: TraceIn, kind: Kind, subject: str, find: Find, minutes: int | None = None
) -> HTTPResponse:
    """The steps every trace takes: purpose, time range, budget, scope, answer; each outcome audited."""
    principal = require_principal(request)
    why = Purpose((body.reason or "").strip()[:500], (body.case_no or "").strip()[:64])

    async def audited(outcome: str, found: Found | None = None) -> int:
        return await tracing.audit_trace(
            viewer=principal,
            kind=kind,
            subject=found.subject if found else subject,
            when=(body.start, body.until),
            reason=why.reason,
            case_no=why.case_no,
            outcome=outcome,
            count=len(found.passages) if found else 0,
            minutes=minutes,
            scope=found.scope if found else "",
            client_addr=str(request.remote_addr or request.ip),
            request_id=request.ctx.request_id,
        )

    try:
        why = require_purpose(body.reason, body.case_no)
        when = tracing.span(body.start, body.until)
        after = tracing.parse_cursor(body.cursor)
    except ValidationFailed as exc:
        await audited("refused_no_reason" if exc.code == "reason_required" else "invalid_query")
        raise
    await lookup_limit.spend(
        limiter=request.app.ctx.rate_limiter,
        rate_text=request.app.ctx.settings.police_lookup_rate,
        viewer=principal,
        refused=audited,
    )
    try:
        found = await find(principal, when, after)
    except NotFound:
        await audited("not_found")
        raise
    except ValidationFailed:
        await audited("invalid_query")
        raise
    seq = await audited("ok", found)
    answer = TraceAnswer(
        items=[PassageOut(**vars(p)) for p in found.passages],
        count=len(found.passages),
        truncated=found.truncated,
        next_cursor=found.next_cursor,
        audit_seq=seq,
    )
    return json(answer.model_dump(mode="json"), headers=NO_STORE)


@bp.post("/checkpoint", name="checkpoint")
@requires(*tracing.TRACERS)
@json_body(CheckpointTraceIn)
@responds(200, TraceAnswer, "Who passed the checkpoint in the range (people, checkpoint, time only)")
@errors(404, 422, 429, 503)
async def trace_checkpoint(request: Request, body: CheckpointTraceIn) -> HTTPResponse:
    """Who passed checkpoint `checkpoint` from `from` until `until` (at most 14 days). Health staff and
    police, for checkpoints of their area (others are 404). Needs `reason` and `case_no` (else 422
    `reason_required`); audited; spends one lookup of GMID_POLICE_LOOKUP_RATE (429 past it, 503 when
    it cannot be checked). Health staff see names and phones masked."""

    async def find(viewer: Principal, when: Span, after: After | None) -> Found:
        point = await tracing.checkpoint_in_scope(viewer, body.checkpoint)
        return await tracing.checkpoint_visits(viewer, point, when, after)

    return await _trace(request, body, Kind.CHECKPOINT, body.checkpoint, find)


@bp.post("/band", name="band")
@requires(*tracing.TRACERS)
@json_body(BandTraceIn)
@responds(200, TraceAnswer, "Where the band was seen in the range, at checkpoints of your area")
@errors(404, 422, 429, 503)
async def trace_band(request: Request, body: BandTraceIn) -> HTTPResponse:
    """Where band `band` (public id) or `ble_id` was seen from `from` until `until`, at checkpoints of
    your area. A band you cannot see is 404. Reason, case number, audit and budget as for a checkpoint."""

    async def find(viewer: Principal, when: Span, after: After | None) -> Found:
        band = await tracing.band_in_scope(viewer, band=body.band, ble_id=body.ble_id)
        return await tracing.band_sightings(viewer, band, when, after)

    subject = body.band or f"ble:{body.ble_id}"
    return await _trace(request, body, Kind.BAND, subject, find)


@bp.post("/contacts", name="contacts")
@requires(*tracing.TRACERS)
@json_body(ContactTraceIn)
@responds(200, TraceAnswer, "Who passed the same checkpoints within ± `minutes` of the person")
@errors(404, 422, 429, 503)
async def trace_contacts(request: Request, body: ContactTraceIn) -> HTTPResponse:
    """Everyone who passed a checkpoint of your area within ± `minutes` (1-60) of a passage there of
    `person` (account public id) from `from` until `until`. A person you cannot see is 404. Reason,
    case number, audit and budget as for a checkpoint."""

    async def find(viewer: Principal, when: Span, after: After | None) -> Found:
        person = await tracing.person_in_scope(viewer, body.person)
        return await tracing.contacts(viewer, person, when, body.minutes, after)

    return await _trace(request, body, Kind.CONTACTS, body.person, find, body.minutes)
