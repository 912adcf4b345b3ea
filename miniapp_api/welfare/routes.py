"""HTTP routes of the welfare calculator: public screening, policies and traces; a resident's saved
profile and consent to proactive screening."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from miniapp_api.welfare import service
from miniapp_api.welfare.schemas import (
    WelfareConsentIn,
    WelfarePolicyList,
    WelfarePolicyOut,
    WelfareProfileIn,
    WelfareSavedProfileOut,
    WelfareScreenIn,
    WelfareScreenOut,
    WelfareTraceOut,
)
from server.auth import public, requires
from server.ratelimit import rate_limit
from server.validation import errors, json_body, responds

bp = Blueprint("welfare", url_prefix="/api/v1")

RESIDENTS = service.RESIDENT_ROLES
NO_STORE = {"Cache-Control": "no-store"}
# Screening and tracing cost CPU (every policy's conditions over up to 20 members): an address gets far
# fewer of them than the default rate (a resident answering the questions one by one stays well within).
SCREEN_RATE = "60/minute"
TRACE_RATE = "30/minute"


@bp.post("/welfare/screen", name="welfare.screen")
@public
@rate_limit(ip=SCREEN_RATE)
@json_body(WelfareScreenIn)
@responds(200, WelfareScreenOut, "Each policy's result and the questions that would settle the unknown ones")
@errors(413, 422)
async def screen(request: Request, body: WelfareScreenIn) -> HTTPResponse:
    """Screen a profile against every policy in force on `date` (default today, China time). Anonymous
    callers are welcome; nothing is stored. A field the profile leaves out is unknown: the policies that
    need it are `unknown`, and `questions` lists what to ask, the most useful first."""
    answer = await service.screen(profile=body.profile, day=body.date)
    return json(WelfareScreenOut.model_validate(answer).model_dump(mode="json"), headers=NO_STORE)


@bp.get("/welfare/policies", name="welfare.policies")
@public
@responds(200, WelfarePolicyList, "The policies of the pack served now")
async def policies(request: Request) -> HTTPResponse:
    return json(WelfarePolicyList.model_validate(await service.list_policies()).model_dump(mode="json"))


@bp.get("/welfare/policies/<policy_id:str>", name="welfare.policy")
@public
@responds(200, WelfarePolicyOut, "One policy: legal basis, conditions, amounts for today, documents, channel")
@errors(404)
async def policy(request: Request, policy_id: str) -> HTTPResponse:
    answer = await service.get_policy(policy_id=policy_id)
    return json(WelfarePolicyOut.model_validate(answer).model_dump(mode="json"))


@bp.post("/welfare/policies/<policy_id:str>/trace", name="welfare.trace")
@public
@rate_limit(ip=TRACE_RATE)
@json_body(WelfareScreenIn)
@responds(200, WelfareTraceOut, "One result with each step: date, parameters, conditions, amount")
@errors(404, 413, 422)
async def trace(request: Request, policy_id: str, body: WelfareScreenIn) -> HTTPResponse:
    answer = await service.trace(policy_id=policy_id, profile=body.profile, day=body.date)
    return json(WelfareTraceOut.model_validate(answer).model_dump(mode="json"), headers=NO_STORE)


async def _account_id(request: Request) -> int:
    from miniapp_api.wristbands.band_routes import current_account

    return (await current_account(request)).id


@bp.put("/me/welfare/profile", name="welfare.save_profile")
@requires(*RESIDENTS)
@json_body(WelfareProfileIn)
@responds(200, WelfareSavedProfileOut, "Your household profile is saved (sealed)")
@errors(413, 422)
async def save_profile(request: Request, body: WelfareProfileIn) -> HTTPResponse:
    """Save your household profile (incomes, disabilities and the like are stored encrypted). With your
    consent (`PUT /api/v1/me/welfare/consent`), it is screened again in the background when it changes or
    when policies change, and you are told only of policies that newly match."""
    row = await service.save_profile(account_id=await _account_id(request), profile=body.profile)
    return json(WelfareSavedProfileOut.model_validate(service.saved_out(row)).model_dump(mode="json"), headers=NO_STORE)


@bp.get("/me/welfare/profile", name="welfare.my_profile")
@requires(*RESIDENTS)
@responds(200, WelfareSavedProfileOut, "Your saved profile and consent")
@errors(404)
async def my_profile(request: Request) -> HTTPResponse:
    row = await service.get_saved(account_id=await _account_id(request))
    return json(WelfareSavedProfileOut.model_validate(service.saved_out(row)).model_dump(mode="json"), headers=NO_STORE)


@bp.delete("/me/welfare/profile", name="welfare.erase_profile")
@requires(*RESIDENTS)
@responds(204, None, "Your profile, consent and last screening are erased")
async def erase_profile(request: Request) -> HTTPResponse:
    await service.erase(account_id=await _account_id(request))
    return HTTPResponse(status=204, headers=NO_STORE)


@bp.put("/me/welfare/consent", name="welfare.consent")
@requires(*RESIDENTS)
@json_body(WelfareConsentIn)
@responds(200, WelfareSavedProfileOut, "Your consent is recorded")
@errors(422)
async def consent(request: Request, body: WelfareConsentIn) -> HTTPResponse:
    """`proactive: true` lets the background screening use your saved profile and tell you of new matches;
    `false` stops it at once and forgets the last screening (the profile stays until you delete it)."""
    row = await service.set_consent(account_id=await _account_id(request), proactive=body.proactive)
    return json(WelfareSavedProfileOut.model_validate(service.saved_out(row)).model_dump(mode="json"), headers=NO_STORE)
