"""The OpenAPI 3.1 document, built from the routes themselves.

Each route's decorators (``json_body``, ``query_args``, ``responds``, ``errors``, ``requires``,
``public``) record what they do in one ``RouteDoc`` on the handler; this module walks the router and
turns those records, and the pydantic schemas they name, into the document served at
``/docs/openapi.json`` (UI at ``/docs``). What validates a request is what documents it, so the
two cannot disagree.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sanic import Sanic

DOC_ATTR = "__gmid_doc__"


@dataclass
class ResponseDoc:
    model: type[BaseModel] | None
    description: str
    media: str = "application/json"


@dataclass
class RouteDoc:
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, ResponseDoc] = field(default_factory=dict)
    errors: set[int] = field(default_factory=set)
    roles: list[str] | None = None  # None: public
    access_declared: bool = False
    ignores_token: bool = False
    extra_headers: list[str] = field(default_factory=list)
    # An API with its own error shape (Open311) names it, and the statuses it folds into others
    # (Open311 answers 415 and 422 as 400).
    error_model: type[BaseModel] | None = None
    folded: set[int] = field(default_factory=set)
    # A path parameter whose URL value carries a fixed ending (Open311's ``{service_code}.json``):
    # the document shows the ending after the parameter, as clients must write it.
    suffixes: dict[str, str] = field(default_factory=dict)


def doc_of(handler: Callable[..., Any]) -> RouteDoc:
    """The handler's RouteDoc, created on first use. ``functools.wraps`` copies ``__dict__``, so a
    wrapper and the function it wraps share one RouteDoc."""
    existing = handler.__dict__.get(DOC_ATTR)
    if existing is None:
        existing = RouteDoc()
        setattr(handler, DOC_ATTR, existing)
    doc: RouteDoc = existing
    return doc


ERROR_NAMES = {
    400: "bad_request: malformed request or JSON",
    401: "unauthorized: missing, invalid or expired access token",
    403: "forbidden: your role may not do this",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict with the current state",
    413: "payload_too_large",
    415: "unsupported_media_type: send application/json",
    422: "validation_failed: the fields that failed are in details.fields",
    429: "rate_limited: see Retry-After",
    503: "service_unavailable",
}

_PARAM_RE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)(?::([^>]+))?>")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorResponse(BaseModel):
    """The one error shape every route answers with."""

    error: ErrorDetail


def _path_and_params(uri: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        name, kind = match.group(1), (match.group(2) or "str")
        schema: dict[str, Any] = {"type": "integer"} if kind == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    path = _PARAM_RE.sub(replace, "/" + uri.lstrip("/"))
    return path, params


def _query_params(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def build_document(app: Sanic, *, title: str, version: str, description: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    models: set[type[BaseModel]] = {ErrorResponse}
    routes = sorted(app.router.routes, key=lambda r: r.path)
    docs: list[tuple[Any, RouteDoc]] = []
    for route in routes:
        doc = route.handler.__dict__.get(DOC_ATTR) or RouteDoc()
        docs.append((route, doc))
        if doc.body:
            models.add(doc.body)
        models.update(r.model for r in doc.responses.values() if r.model)
        if doc.error_model:
            models.add(doc.error_model)
    by_name: dict[str, type[BaseModel]] = {}
    for model in models:  # components are named after the class: two classes may not share a name
        if by_name.setdefault(model.__name__, model) is not model:
            raise RuntimeError(
                f"two schemas named {model.__name__}: {model.__module__}, {by_name[model.__name__].__module__}"
            )
    _, top = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))

    def ref(model: type[BaseModel]) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    for route, doc in docs:
        path, path_params = _path_and_params(route.path)
        for name, suffix in doc.suffixes.items():
            path = path.replace("{" + name + "}", "{" + name + "}" + suffix)
        handler = route.handler
        text = inspect.getdoc(handler) or ""
        summary, _, rest = text.partition("\n")
        tag = route.name.split(".")[1] if route.name.count(".") >= 1 else "default"
        for method in sorted(route.methods):
            if method in {"HEAD", "OPTIONS"}:
                continue
            op: dict[str, Any] = {
                "operationId": route.name.split(".", 1)[-1],
                "tags": [tag],
                "summary": summary or route.name.split(".", 1)[-1],
            }
            if rest.strip():
                op["description"] = rest.strip()
            parameters = list(path_params)
            if doc.query:
                parameters += _query_params(doc.query, schemas)
            if parameters:
                op["parameters"] = parameters
            if doc.body:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(doc.body)}},
                }
            responses: dict[str, Any] = {}
            for status, resp in sorted(doc.responses.items()):
                if resp.model:
                    content_schema = ref(resp.model)
                else:
                    content_schema = {"type": "object"} if resp.media.endswith("json") else {"type": "string"}
                entry: dict[str, Any] = {"description": resp.description}
                if status != 204:
                    entry["content"] = {resp.media: {"schema": content_schema}}
                responses[str(status)] = entry
            error_statuses = set(doc.errors)
            if doc.body:
                error_statuses |= {400, 413, 415, 422}
            if doc.query:
                error_statuses |= {400, 422}
            if doc.roles is not None:
                error_statuses |= {401, 403}
            elif not doc.ignores_token:
                error_statuses.add(401)  # public, but a bad token sent along is refused
            error_statuses.add(429)
            for status in sorted(error_statuses - doc.folded):
                responses.setdefault(
                    str(status),
                    {
                        "description": ERROR_NAMES.get(status, "error"),
                        "content": {"application/json": {"schema": ref(doc.error_model or ErrorResponse)}},
                    },
                )
            op["responses"] = responses or {"200": {"description": "OK"}}
            if doc.roles is not None:
                op["security"] = [{"bearer": []}]
                op["x-roles"] = doc.roles
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
