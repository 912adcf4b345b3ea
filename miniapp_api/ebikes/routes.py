"""HTTP routes of e-bikes: residents register and alarm, police look owners up (audited)."""

from __future__ import annotations

from collections.abc import Callable

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity import hierarchy, lookup_limit
from identity import service as identity_service
from identity.models import Account
from identity.purpose import require_purpose
from identity.roles import Role
from miniapp_api.ebikes import alarms, lookup, scan, service, transfer
from miniapp_api.ebikes.models import Alarm, EBike
from miniapp_api.ebikes.schemas import (
    AlarmAnswer,
    AlarmIn,
    AlarmOut,
    BikeList,
    BikeOut,
    CredentialRef,
    LookupAnswer,
    LookupBike,
    LookupQuery,
    LookupResult,
    OwnerFull,
    RegisterIn,
    TransferAcceptIn,
    TransferOut,
    UpdateIn,
)
from qr.routes import code_url, image_urls
from server.auth import Principal, require_principal, requires
from server.errors import AppError, BadRequest, NotFound, ValidationFailed
from server.openapi import doc_of
from server.ratelimit import rate_limit
from server.validation import Handler, errors, json_body, load_json, parse_json_body, parse_query, responds

bp = Blueprint("ebikes", url_prefix="/api/v1")
scan.register_kind()

RESIDENTS = (Role.RESIDENT, Role.PARTY_MEMBER)


async def current_account(principal: Principal) -> Account:
    account = await identity_service.get_account(public_id=principal.account_id)
    if account is None:
        raise NotFound("Your account no longer exists.", code="account_not_found")
    return account


async def alarm_out(alarm: Alarm, sightings: int | None = None) -> AlarmOut:
    return AlarmOut(
        id=alarm.public_id,
        status=alarm.status,
        lost_at=alarm.lost_at,
        location=alarm.location,
        lat=alarm.lat,
        lng=alarm.lng,
        description=alarm.description,
        created_at=alarm.created_at,
        closed_at=alarm.closed_at,
        sightings=await alarms.sighting_count(alarm) if sightings is None else sightings,
    )


async def bike_out(request: Request, bike: EBike, details: service.Details | None = None) -> BikeOut:
    if details is None:
        details = await service.details_of([bike])
    credential = details.credential(bike)
    alarm = details.open_alarm(bike)
    return BikeOut(
        id=bike.public_id,
        status=bike.status,
        brand=bike.brand,
        model=bike.model,
        colour=bike.colour,
        frame_no=bike.frame_no,
        motor_no=bike.motor_no,
        plate=bike.plate,
        purchase_date=bike.purchase_date,
        node=bike.node_path,
        registered_at=bike.registered_at,
        credential=CredentialRef(
            id=credential.public_id,
            serial=credential.serial,
            url=code_url(request, credential.token),
            images=image_urls(credential.public_id),
        )
        if credential is not None
        else None,
        alarm=await alarm_out(alarm, details.sightings.get(alarm.id, 0)) if alarm is not None else None,
    )


async def _bike_out_json(request: Request, bike: EBike, status: int = 200) -> HTTPResponse:
    return json((await bike_out(request, bike)).model_dump(mode="json"), status=status)


async def own_bike(request: Request, public_id: str) -> tuple[Account, EBike]:
    principal = require_principal(request)
    account = await current_account(principal)
    return account, await service.get_for(viewer=principal, account=account, public_id=public_id)


# Residents ----------------------------------------------------------------------------------------


@bp.post("/ebikes", name="ebikes.register")
@requires(*RESIDENTS)
@json_body(RegisterIn)
@responds(201, BikeOut, "Registered; `credential` holds the e-ID code and its image URLs")
@errors(409, 422)
async def register(request: Request, body: RegisterIn) -> HTTPResponse:
    """Register an e-bike to yourself. The owner's name, ID number and phone are checked and kept
    encrypted; the frame number (车架号) and plate must not be on the register (a deregistered
    bike's may be registered again)."""
    account = await current_account(require_principal(request))
    bike = await service.register(
        owner=account,
        data=body,
        max_per_owner=request.app.ctx.settings.ebike_max_per_owner,
        redis=request.app.ctx.redis,
    )
    return await _bike_out_json(request, bike, 201)


@bp.get("/ebikes", name="ebikes.list")
@requires(*RESIDENTS)
@responds(200, BikeList, "Your registered e-bikes")
async def list_bikes(request: Request) -> HTTPResponse:
    account = await current_account(require_principal(request))
    bikes = await service.own_bikes(owner=account)
    details = await service.details_of(bikes)
    items = [await bike_out(request, bike, details) for bike in bikes]
    return json(BikeList(items=items).model_dump(mode="json"))


@bp.get("/ebikes/<public_id:str>", name="ebikes.get")
@requires(*RESIDENTS, Role.ADMIN)
@responds(200, BikeOut, "One of your e-bikes")
@errors(404)
async def get_bike(request: Request, public_id: str) -> HTTPResponse:
    _, bike = await own_bike(request, public_id)
    return await _bike_out_json(request, bike)


@bp.patch("/ebikes/<public_id:str>", name="ebikes.update")
@requires(*RESIDENTS)
@json_body(UpdateIn)
@responds(200, BikeOut, "Updated (the frame and motor numbers and the owner do not change here)")
@errors(404, 409, 422)
async def update_bike(request: Request, public_id: str, body: UpdateIn) -> HTTPResponse:
    _, bike = await own_bike(request, public_id)
    return await _bike_out_json(request, await service.update(bike=bike, data=body))


@bp.delete("/ebikes/<public_id:str>", name="ebikes.deregister")
@requires(*RESIDENTS)
@responds(200, BikeOut, "Deregistered; the e-ID code is revoked")
@errors(404, 409)
async def deregister_bike(request: Request, public_id: str) -> HTTPResponse:
    _, bike = await own_bike(request, public_id)
    return await _bike_out_json(request, await service.deregister(bike=bike))


@bp.post("/ebikes/<public_id:str>/transfer", name="ebikes.transfer")
@requires(*RESIDENTS)
@responds(201, TransferOut, "A one-time code for the new owner, valid 24 hours")
@errors(404, 409)
async def start_transfer(request: Request, public_id: str) -> HTTPResponse:
    """Step one of a change of owner: the owner gets a code to give the buyer."""
    _, bike = await own_bike(request, public_id)
    code, expires = await transfer.start_transfer(bike=bike)
    body = TransferOut(code=code, expires_at=expires).model_dump(mode="json")
    return json(body, status=201, headers={"Cache-Control": "no-store"})


@bp.post("/ebikes/transfers/accept", name="ebikes.transfer.accept")
@requires(*RESIDENTS)
@json_body(TransferAcceptIn)
@responds(200, BikeOut, "The bike is yours, with a new e-ID code (the old one answers `superseded`)")
@errors(404, 409, 422)
async def accept_transfer(request: Request, body: TransferAcceptIn) -> HTTPResponse:
    """Step two: the new owner, signed in, accepts with the code and their own identity. Both owners
    are notified."""
    account = await current_account(require_principal(request))
    bike = await transfer.accept_transfer(
        new_owner=account,
        code=body.code,
        owner=body.owner,
        max_per_owner=request.app.ctx.settings.ebike_max_per_owner,
        redis=request.app.ctx.redis,
    )
    return await _bike_out_json(request, bike)


@bp.post("/ebikes/<public_id:str>/alarm", name="ebikes.alarm")
@requires(*RESIDENTS)
@json_body(AlarmIn)
@responds(201, AlarmAnswer, "Alarm raised: the bike is stolen; the area's police and you are notified")
@responds(200, AlarmAnswer, "The same alarm: this press repeats one from the last 10 minutes")
@errors(404, 409, 422)
async def raise_alarm(request: Request, public_id: str, body: AlarmIn) -> HTTPResponse:
    """One-key alarm (一键报警) for a stolen bike."""
    account, bike = await own_bike(request, public_id)
    alarm, created = await alarms.raise_alarm(bike=bike, owner=account, data=body)
    answer = AlarmAnswer(alarm=await alarm_out(alarm), created=created)
    return json(answer.model_dump(mode="json"), status=201 if created else 200)


@bp.delete("/ebikes/<public_id:str>/alarm", name="ebikes.alarm.cancel")
@requires(*RESIDENTS)
@responds(200, AlarmOut, "Cancelled: the bike was found; the police who were told hear so")
@errors(404, 409)
async def cancel_alarm(request: Request, public_id: str) -> HTTPResponse:
    _, bike = await own_bike(request, public_id)
    alarm = await alarms.cancel_alarm(bike=bike)
    return json((await alarm_out(alarm)).model_dump(mode="json"))


# Police -------------------------------------------------------------------------------------------


def documents_body(model: type[LookupQuery]) -> Callable[[Handler], Handler]:
    """Document the JSON body for /docs; the handler parses it itself, so that refusals are audited too."""

    def decorate(handler: Handler) -> Handler:
        doc_of(handler).body = model
        return handler

    return decorate


def documents_query(model: type[LookupQuery]) -> Callable[[Handler], Handler]:
    """Document the query for /docs; the handler parses it itself, so that refusals are audited too."""

    def decorate(handler: Handler) -> Handler:
        doc_of(handler).query = model
        return handler

    return decorate


def _asked(request: Request) -> dict[str, str]:
    """What the caller asked for, as sent (the JSON body of a POST, the query of a GET), for the audit
    of a refusal: a value that fails validation is audited too."""
    if request.method.upper() == "POST":
        try:
            data = load_json(request.body or b"")  # bounded: this runs before the body's own validation
        except BadRequest:
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k)[:64]: v if isinstance(v, str) else "" for k, v in data.items() if v}
    return {key: request.args.get(key, "") for key in request.args}


async def _audit_lookup_attempt(request: Request, principal: Principal, outcome: str) -> int:
    """Audit what a refused caller asked for, from the raw query or body (a value that fails validation too)."""
    asked = _asked(request)
    given = [(key, asked[key]) for key in lookup.LOOKUP_KEYS if asked.get(key)]
    by, value = given[0] if len(given) == 1 else (",".join(key for key, _ in given), "")
    return await lookup.audit_lookup(
        viewer=principal,
        by=by[:64],
        value=value[:4096],
        reason=str(asked.get("reason", "")),
        case_no=str(asked.get("case_no", "")),
        outcome=outcome,
        result_count=0,
        bikes=[],
        client_addr=str(request.remote_addr or request.ip),
        request_id=request.ctx.request_id,
    )


async def _audit_refused_role(request: Request, principal: Principal) -> None:
    await _audit_lookup_attempt(request, principal, "refused_role")


@bp.get("/police/ebikes", name="police.ebikes")
@requires(Role.POLICE, refused=_audit_refused_role)
@rate_limit(exempt=True)  # the per-officer lookup limit below is the limit, and it is audited
@documents_query(LookupQuery)
@responds(200, LookupAnswer, "The owners' full identity and contact, their bikes and alarm history")
@errors(400, 422, 429, 503)
async def police_lookup(request: Request) -> HTTPResponse:
    """Owner lookup by exactly one of `frame_no`, `plate`, `qr` (a scanned code) or `owner_id_number`,
    with the `reason` and the `case_no`. Every lookup is in the audit log (found or not, refused or
    not, by any signed-in account), and each officer may make GMID_POLICE_LOOKUP_RATE lookups in any
    window of that period; going past it is refused and the district administrators are told. Never
    cached. An ID number is refused here (400 `id_number_in_url`, audited without it): it would stand in
    addresses, proxy logs and browser history; send it in the body of `POST /api/v1/police/ebikes/lookup`."""
    if "owner_id_number" in request.args:
        principal = require_principal(request)
        await lookup.audit_lookup(
            viewer=principal,
            by="owner_id_number",
            value="",  # never kept: it came in the address
            reason=str(request.args.get("reason", ""))[:200],
            case_no=str(request.args.get("case_no", ""))[:64],
            outcome="refused_id_in_url",
            result_count=0,
            bikes=[],
            client_addr=str(request.remote_addr or request.ip),
            request_id=request.ctx.request_id,
        )
        raise BadRequest(
            "An ID number never goes in an address: send it in the body of POST /api/v1/police/ebikes/lookup.",
            code="id_number_in_url",
        )
    return await _police_lookup(request, parse_query)


@bp.post("/police/ebikes/lookup", name="police.ebikes.lookup")
@requires(Role.POLICE, refused=_audit_refused_role)
@rate_limit(exempt=True)  # the per-officer lookup limit is the limit, and it is audited
@documents_body(LookupQuery)
@responds(200, LookupAnswer, "The owners' full identity and contact, their bikes and alarm history")
@errors(400, 415, 422, 429, 503)
async def police_lookup_post(request: Request) -> HTTPResponse:
    """The owner lookup of `GET /api/v1/police/ebikes` with the same fields in a JSON body, so that an ID
    number, plate or frame number never stands in an address (access and proxy logs, browser
    history). The same checks, limit and audit entry; the console's lookup page uses this one."""
    return await _police_lookup(request, parse_json_body)


async def _police_lookup(request: Request, parse: Callable[[Request, type[LookupQuery]], LookupQuery]) -> HTTPResponse:
    principal = require_principal(request)
    addr = str(request.remote_addr or request.ip)
    rid = request.ctx.request_id

    async def audited(
        by: str,
        value: str,
        reason: str,
        case_no: str,
        outcome: str,
        count: int = 0,
        bikes: list[str] | None = None,
        scope: str = "",
    ) -> int:
        return await lookup.audit_lookup(
            viewer=principal,
            by=by,
            value=value,
            reason=reason,
            case_no=case_no,
            outcome=outcome,
            result_count=count,
            bikes=bikes or [],
            client_addr=addr,
            request_id=rid,
            scope=scope,
        )

    try:
        query = parse(request, LookupQuery)
    except AppError:
        await _audit_lookup_attempt(request, principal, "invalid_query")
        raise
    given = [(k, str(getattr(query, k)).strip()) for k in lookup.LOOKUP_KEYS if getattr(query, k)]
    by, value = given[0] if len(given) == 1 else (",".join(k for k, _ in given), "")
    reason, case_no = (query.reason or "").strip(), (query.case_no or "").strip()
    if len(given) != 1:
        await audited(by, value, reason, case_no, "refused_search_key")
        raise ValidationFailed(
            "Give exactly one of frame_no, plate, qr, owner_id_number.", code="one_search_key_required"
        )
    try:
        purpose = require_purpose(query.reason, query.case_no)
    except ValidationFailed:
        await audited(by, value, reason, case_no, "refused_no_reason")
        raise
    reason, case_no = purpose.reason, purpose.case_no
    settings = request.app.ctx.settings

    async def refused(outcome: str) -> None:
        await audited(by, value, reason, case_no, outcome)

    await lookup_limit.spend(
        limiter=request.app.ctx.rate_limiter, rate_text=settings.police_lookup_rate, viewer=principal, refused=refused
    )
    try:
        found = await lookup.police_lookup(by=by, value=value, base_url=settings.public_base_url)
    except ValidationFailed:
        await audited(by, value, reason, case_no, "invalid_value")
        raise
    results = []
    bike_ids: list[str] = []
    details = await service.details_of([bike for _, bikes in found for bike in bikes], all_alarms=True)
    for owner, bikes in found:
        profile = identity_service.read_profile(owner)
        items = []
        for bike in bikes:
            bike_ids.append(bike.public_id)
            items.append(
                LookupBike(
                    bike=await bike_out(request, bike, details),
                    alarms=[
                        await alarm_out(alarm, details.sightings.get(alarm.id, 0))
                        for alarm in details.alarms.get(bike.id, [])
                    ],
                )
            )
        results.append(
            LookupResult(
                owner=OwnerFull(
                    account=owner.public_id,
                    name=profile.name,
                    id_number=profile.id_number,
                    phone=profile.phone,
                    address=profile.address,
                ),
                bikes=items,
            )
        )
    scope = hierarchy.common_path([bike.node_path for _, bikes in found for bike in bikes])
    seq = await audited(by, value, reason, case_no, "ok", len(bike_ids), bike_ids, scope)
    answer = LookupAnswer(results=results, count=len(bike_ids), audit_seq=seq)
    return json(answer.model_dump(mode="json"), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
