"""HTTP routes of the Open311 GeoReport v2 API (``/open311/v2``, JSON only) and of the administration
of its API keys (``/api/v1/admin/open311``).

Open311 clients expect errors as ``[{"code": <status>, "description": ...}]``: the Open311 blueprint
answers that shape for its own routes (whatever the error, from a handler or a middleware), with 400
where the rest of the API says 415 or 422. The administration routes keep the API's own error shape.
"""

from __future__ import annotations

import json as jsonlib
import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel
from redis.exceptions import RedisError
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from identity.roles import Role
from miniapp_api.open311 import clients
from miniapp_api.open311 import service as open311
from miniapp_api.open311.models import Open311Client
from miniapp_api.open311.schemas import (
    ClientCreated,
    ClientIn,
    ClientList,
    ClientOut,
    CreatedList,
    Open311Errors,
    Open311Query,
    Open311Token,
    RequestIn,
    RequestList,
    RequestsQuery,
    ServiceDefinition,
    ServiceList,
    TokenList,
)
from server.auth import public, require_principal, requires, token_ignored
from server.errors import (
    BadRequest,
    RateLimited,
    UnsupportedMediaType,
    reshape_errors_under,
)
from server.openapi import ResponseDoc, doc_of
from server.ratelimit import Rate, RateLimiter
from server.validation import errors, json_body, load_json, query_args, responds, text_fields, validate_strictly

log = logging.getLogger("gmid.open311")

bp = Blueprint("open311", url_prefix="/open311/v2")
admin_bp = Blueprint("open311_admin", url_prefix="/api/v1/admin/open311")
group = Blueprint.group(bp, admin_bp)  # what server/app.py registers

# Filing through one key: a burst of 30, then one every 2 seconds, shared by every app instance.
POST_RATE = Rate(30, 60)

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])
M = TypeVar("M", bound=BaseModel)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_KNOWN = {"services", "requests"}


# Errors in Open311's shape --------------------------------------------------------------------------


def open311_error_response(request: Request, standard: HTTPResponse) -> HTTPResponse:
    """The API's own answer to an error (status, headers, the request id of a 500) in Open311's shape.
    A known resource asked for in another format than JSON (services.xml) is a 400 that says so."""
    status = 400 if standard.status in (415, 422) else standard.status
    try:
        error = jsonlib.loads(standard.body or b"{}").get("error", {})
    except ValueError:
        error = {}
    details = error.get("details") or {}
    fields = details.get("fields") or []
    descriptions = [f"{f.get('field')}: {f.get('message')}" for f in fields if isinstance(f, dict)]
    stem, dot, ext = request.path.rstrip("/").rsplit("/", 1)[-1].rpartition(".")
    if status == 404 and dot and stem in _KNOWN and ext.lower() != "json":
        status, descriptions = 400, [f"Only JSON is offered: use {stem}.json."]
    if not descriptions:
        message = str(error.get("message") or "The request could not be processed.")
        if details.get("request_id"):
            message += f" (request id {details['request_id']})"
        descriptions = [message]
    headers = {k: v for k, v in standard.headers.items() if k.lower() not in ("content-type", "content-length")}
    return json([{"code": status, "description": d} for d in descriptions], status=status, headers=headers)


reshape_errors_under("/open311/", open311_error_response)


_ERROR_TEXT = {
    400: "Missing or invalid parameters, or a format other than JSON",
    403: "The api_key is missing, invalid or revoked",
    404: "Unknown jurisdiction_id, service_code, service_request_id or token",
    413: "The request body is too large",
    429: "Too many requests: see Retry-After",
}


def _documented_errors(*statuses: int) -> Callable[[Handler], Handler]:
    """Document the error statuses of an Open311 route, in Open311's shape."""

    def decorate(handler: Handler) -> Handler:
        doc = doc_of(handler)
        doc.error_model = Open311Errors
        doc.folded = {415, 422}  # answered as 400
        for status in statuses:
            doc.responses.setdefault(status, ResponseDoc(Open311Errors, _ERROR_TEXT[status]))
        return handler

    return decorate


def _stem(value: str, example: str) -> str:
    """``abc.json`` -> ``abc``; any other format is refused: only JSON is offered."""
    stem, dot, ext = value.rpartition(".")
    if not dot or not stem:
        raise BadRequest(f"Add the format to the address: {example}.json (only JSON is offered).", code="no_format")
    if ext.lower() != "json":
        raise BadRequest("Only JSON is offered: use the .json address.", code="format_not_offered")
    return stem


# Request bodies: form-encoded (the spec) or JSON ---------------------------------------------------


def _body_fields(request: Request) -> dict[str, Any]:
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    raw = request.body or b""
    if content_type == "application/json" or content_type.endswith("+json"):
        if not raw.strip():
            return {}
        data = load_json(raw)  # bounded depth and number sizes, then parsed
        if not isinstance(data, dict):
            raise BadRequest("The request body must be a JSON object.", code="malformed_json")
        return data
    if content_type in _FORM_TYPES:
        form: dict[str, list[str]] = request.form or {}
        return {key: values[0] for key, values in form.items() if values}
    if not raw.strip():
        return {}
    raise UnsupportedMediaType(
        "Send the parameters as application/x-www-form-urlencoded (or JSON).",
        details={"expected": "application/x-www-form-urlencoded", "received": content_type or None},
    )


def parse_open311_body(request: Request, model: type[M]) -> M:
    # Empty form fields mean "not given"; NUL never belongs in a field (PostgreSQL text refuses it).
    data = {k: v for k, v in _body_fields(request).items() if v is not None and v != ""}
    if any(isinstance(v, str) and "\x00" in v for v in data.values()):
        raise BadRequest("A parameter contains a NUL character.", code="nul_character")
    if not _is_json(request):
        data = text_fields(model, data)  # form fields are text: numbers read from their usual spelling
    return validate_strictly(model, data)


def _is_json(request: Request) -> bool:
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def open311_body(model: type[BaseModel]) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Any:
            kwargs["body"] = parse_open311_body(request, model)
            return await handler(request, *args, **kwargs)

        doc_of(wrapper).body = model
        return wrapper  # type: ignore[return-value]

    return decorate


def _json_ending(name: str) -> Callable[[Any], Any]:
    """The route captures ``{name}.json`` whole (the handler takes the ending off): say so in /docs."""

    def decorate(handler: Any) -> Any:
        doc_of(handler).suffixes[name] = ".json"
        return handler

    return decorate


async def _limit(request: Request, client: Open311Client) -> None:
    limits = getattr(request.app.ctx, "limits", None)
    limiter: RateLimiter | None = getattr(request.app.ctx, "rate_limiter", None)
    if limiter is None or limits is None or not limits.enabled:
        return
    try:
        decision = await limiter.hit(f"open311:{client.public_id}", POST_RATE)
    except RedisError:
        log.warning("open311 rate limit skipped: redis unavailable")
        return
    if not decision.allowed:
        raise RateLimited(
            f"Too many requests with this api_key; try again in {max(1, round(decision.retry_after))} s.",
            retry_after=int(decision.retry_after + 0.999),
        )


# GeoReport v2 -------------------------------------------------------------------------------------


@bp.get("/services.json", name="open311.services")
@public
@token_ignored
@query_args(Open311Query)
@responds(200, ServiceList, "The services: our report categories")
@_documented_errors(400, 404, 429)
async def services(request: Request, query: Open311Query) -> HTTPResponse:
    """GET services.json: the kinds of report one can file (明心桥 categories), with their department."""
    open311.check_jurisdiction(query.jurisdiction_id)
    items = await open311.list_services()
    body = ServiceList(items).model_dump(mode="json")
    return json(body, headers={"Cache-Control": "public, max-age=300"})


@bp.get("/services/<service_code:str>", name="open311.service")
@_json_ending("service_code")
@public
@token_ignored
@query_args(Open311Query)
@responds(200, ServiceDefinition, "The service definition: no service has attributes")
@_documented_errors(400, 404, 429)
async def service(request: Request, service_code: str, query: Open311Query) -> HTTPResponse:
    """GET services/{service_code}.json: a service's definition."""
    open311.check_jurisdiction(query.jurisdiction_id)
    definition = await open311.service_definition(_stem(service_code, "services/{service_code}"))
    return json(definition.model_dump(mode="json"), headers={"Cache-Control": "public, max-age=300"})


@bp.get("/requests.json", name="open311.requests")
@public
@token_ignored
@query_args(RequestsQuery)
@responds(200, RequestList, "Service requests, newest first, at most 1000; no personal data")
@_documented_errors(400, 404, 429)
async def requests(request: Request, query: RequestsQuery) -> HTTPResponse:
    """GET requests.json: reports by id, or requested in a span of at most 90 days (by default the last
    90), by service and status. Nothing says who filed a report; a resident's report shows only its
    category and community, a request filed through Open311 its description and address (redacted) and its
    media_url (null when it carries personal data). Police matters and personal ones (health, labour) are not listed."""
    open311.check_jurisdiction(query.jurisdiction_id)
    rows = await open311.find_requests(
        open311.RequestFilter(
            ids=open311.split_list(query.service_request_id),
            service_codes=open311.split_list(query.service_code),
            statuses=[s.lower() for s in open311.split_list(query.status)],
            start=query.start_date,
            end=query.end_date,
        )
    )
    body = RequestList(await open311.describe(rows)).model_dump(mode="json")
    return json(body, headers={"Cache-Control": "no-store"})


@bp.post("/requests.json", name="open311.create")
@public
@token_ignored
@open311_body(RequestIn)
@responds(201, CreatedList, "Filed: the report's id and a token")
@_documented_errors(400, 403, 404, 413, 429)
async def create(request: Request, body: RequestIn) -> HTTPResponse:
    """POST requests.json: file a report, with an API key (form-encoded, as the spec says, or JSON).

    It enters the 明心桥 pipeline like any report, under the grid of the building given as
    address_id, else of the nearest building within 200 m of lat/long or the one address_string names,
    else the area the key is bound to; a key bound to an area files nowhere else (403). The reporter
    fields (email, phone, names, device and account ids) are dropped unread."""
    open311.check_jurisdiction(body.jurisdiction_id)
    client = await clients.authenticate(body.api_key)
    await _limit(request, client)
    _, created = await open311.file_request(
        client=client,
        new=open311.NewRequest(
            service_code=body.service_code.strip(),
            description=body.description,
            lat=body.lat,
            lng=body.long,
            address_string=body.address_string,
            address_id=(body.address_id or "").strip() or None,
            media_url=body.media_url,
        ),
    )
    return json(CreatedList([created]).model_dump(mode="json"), status=201)


@bp.get("/requests/<service_request_id:str>", name="open311.request")
@_json_ending("service_request_id")
@public
@token_ignored
@query_args(Open311Query)
@responds(200, RequestList, "The one service request")
@_documented_errors(400, 404, 429)
async def one_request(request: Request, service_request_id: str, query: Open311Query) -> HTTPResponse:
    """GET requests/{service_request_id}.json: one report, as in requests.json."""
    open311.check_jurisdiction(query.jurisdiction_id)
    report = await open311.get_request(_stem(service_request_id, "requests/{service_request_id}"))
    body = RequestList(await open311.describe([report])).model_dump(mode="json")
    return json(body, headers={"Cache-Control": "no-store"})


@bp.get("/tokens/<token:str>", name="open311.token")
@_json_ending("token")
@public
@token_ignored
@query_args(Open311Query)
@responds(200, TokenList, "The service request the token stands for")
@_documented_errors(400, 404, 429)
async def token(request: Request, token: str, query: Open311Query) -> HTTPResponse:
    """GET tokens/{token}.json: the service_request_id of a request filed with POST requests.json."""
    open311.check_jurisdiction(query.jurisdiction_id)
    value = _stem(token, "tokens/{token}")
    service_request_id = await open311.token_request(value)
    return json(TokenList([Open311Token(service_request_id=service_request_id, token=value)]).model_dump(mode="json"))


# Administration of API keys -----------------------------------------------------------------------


def client_out(client: Open311Client) -> ClientOut:
    return ClientOut(
        id=client.public_id,
        name=client.name,
        node=clients.node_code_of(client.node_path),
        active=client.active,
        created_at=client.created_at,
        last_used_at=client.last_used_at,
    )


def _by(request: Request) -> clients.By:
    return clients.By(
        principal=require_principal(request),
        client_addr=str(request.remote_addr or request.ip),
        request_id=str(getattr(request.ctx, "request_id", "")),
    )


@admin_bp.post("/clients", name="open311_admin.create")
@requires(Role.ADMIN)
@json_body(ClientIn)
@responds(201, ClientCreated, "The client and its API key, shown this once")
@errors(403, 404, 409)
async def create_client(request: Request, body: ClientIn) -> HTTPResponse:
    """Give an outside system an API key to file reports through Open311. The key is in this answer
    only; a lost key is revoked and a new one made. A key bound to a node files only under it."""
    client, key = await clients.create_client(by=_by(request), name=body.name, node_code=body.node)
    out = ClientCreated(**client_out(client).model_dump(), api_key=key)
    return json(out.model_dump(mode="json"), status=201, headers={"Cache-Control": "no-store"})


@admin_bp.get("/clients", name="open311_admin.list")
@requires(Role.ADMIN)
@responds(200, ClientList, "The clients you may manage, without their keys")
async def list_clients(request: Request) -> HTTPResponse:
    rows = await clients.list_clients(principal=require_principal(request))
    return json(ClientList(items=[client_out(c) for c in rows]).model_dump(mode="json"))


@admin_bp.post("/clients/<public_id:str>/revoke", name="open311_admin.revoke")
@requires(Role.ADMIN)
@responds(200, ClientOut, "Revoked: its key no longer files anything")
@errors(404)
async def revoke_client(request: Request, public_id: str) -> HTTPResponse:
    client = await clients.revoke_client(by=_by(request), public_id=public_id)
    return json(client_out(client).model_dump(mode="json"))
