"""/docs and /docs/openapi.json: every route documented with its method, body, answers and access.

When the ``openapi-spec-validator`` package is installed the document is also checked against the
OpenAPI 3.1 schema; otherwise (it is not a dependency) the checks here are structural.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sanic import Sanic

from server.auth import declared_access
from server.openapi import DOC_ATTR, RouteDoc

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SANIC_PARAM = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)(?::[^>]+)?>")


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/docs/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = r.json()
    return doc


def api_routes(app: Sanic) -> Iterator[tuple[Any, str, str]]:
    """(route, OpenAPI path, lower-case method) for every route and method but HEAD and OPTIONS."""
    for route in app.router.routes:
        # A parameter documented with its fixed ending (Open311's {service_code}.json) shows it.
        endings = route_doc(route).suffixes

        def documented(m: re.Match[str], endings: dict[str, str] = endings) -> str:
            return "{" + m.group(1) + "}" + endings.get(m.group(1), "")

        path = SANIC_PARAM.sub(documented, "/" + route.path.lstrip("/"))
        for method in route.methods:
            if method in {"HEAD", "OPTIONS"}:
                continue
            yield route, path, method.lower()


def route_doc(route: Any) -> RouteDoc:
    doc = route.handler.__dict__.get(DOC_ATTR)
    return doc if isinstance(doc, RouteDoc) else RouteDoc()


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are expected: {ref}"
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def walk_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                assert isinstance(value, str)
                yield value
            else:
                yield from walk_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_refs(item)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def deref(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = resolve(document, schema["$ref"])
    return schema


# The UI and the document --------------------------------------------------------------------------


async def test_docs_page_is_html(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/docs/"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "<html" in r.text.lower()
        assert "/docs/openapi.json" in r.text


async def test_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"]
    assert document["info"]["version"]
    assert isinstance(document["paths"], dict) and document["paths"]
    assert isinstance(document["components"]["schemas"], dict)
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    operation_ids = []
    for path, method, op in operations(document):
        assert path.startswith("/"), path
        assert isinstance(op["responses"], dict) and op["responses"], (path, method)
        for status, response in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), (path, method, status)
            assert isinstance(response["description"], str), (path, method, status)
        # Every {param} in the path is declared as a required path parameter.
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{([^}]+)\}", path)), (path, method)
        for param in op.get("parameters", []):
            assert param["in"] in {"path", "query", "header", "cookie"}
            assert "schema" in param
            if param["in"] == "path":
                assert param["required"] is True
        operation_ids.append(op["operationId"])
    assert len(operation_ids) == len(set(operation_ids)), "operationId must be unique"
    if importlib.util.find_spec("openapi_spec_validator") is not None:
        from openapi_spec_validator import validate

        validate(document)


async def test_every_route_is_documented_with_its_method(app: Sanic, document: dict[str, Any]) -> None:
    documented = {(path, method) for path, method, _ in operations(document)}
    expected = {(path, method) for _, path, method in api_routes(app)}
    assert expected, "the app has routes"
    missing = expected - documented
    assert not missing, f"routes missing from /docs: {sorted(missing)}"
    # And nothing is documented that the app does not serve.
    assert documented == expected


async def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = set(walk_refs(document))
    assert refs, "the document uses references"
    for ref in refs:
        assert isinstance(resolve(document, ref), dict)


async def test_json_bodies_are_documented(app: Sanic, document: dict[str, Any]) -> None:
    seen = 0
    for route, path, method in api_routes(app):
        op = document["paths"][path][method]
        model = route_doc(route).body
        if model is None:
            assert "requestBody" not in op, (path, method)
            continue
        seen += 1
        body = op["requestBody"]
        assert body["required"] is True
        schema = body["content"]["application/json"]["schema"]
        assert schema["$ref"].startswith("#/components/schemas/"), (path, method)
        component = resolve(document, schema["$ref"])
        assert component is document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        _assert_schema_matches_model(component, model)
        # A body route documents the errors its validation can answer with, in its error shape (ours,
        # or Open311's list of {code, description}, which answers 415 and 422 as 400).
        doc = route_doc(route)
        for status in sorted({"400", "413", "415", "422"} - {str(s) for s in doc.folded}):
            assert status in op["responses"], (path, method, status)
            error_schema = deref(document, op["responses"][status]["content"]["application/json"]["schema"])
            if doc.error_model is None:
                assert set(error_schema["properties"]) == {"error"}
            else:
                assert path.startswith("/open311/"), path
                assert set(deref(document, error_schema["items"])["properties"]) == {"code", "description"}
    assert seen, "some routes take a JSON body"


def _assert_schema_matches_model(component: dict[str, Any], model: type[BaseModel]) -> None:
    names = {field.alias or name for name, field in model.model_fields.items()}
    assert set(component["properties"]) == names, model.__name__
    required = {field.alias or name for name, field in model.model_fields.items() if field.is_required()}
    assert set(component.get("required", [])) == required, model.__name__
    if model.model_config.get("extra") == "forbid":
        assert component.get("additionalProperties") is False, f"{model.__name__} refuses unknown fields"


async def test_query_parameters_are_documented(app: Sanic, document: dict[str, Any]) -> None:
    seen = 0
    for route, path, method in api_routes(app):
        model = route_doc(route).query
        if model is None:
            continue
        seen += 1
        op = document["paths"][path][method]
        query = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        assert set(query) == {f.alias or n for n, f in model.model_fields.items()}, (path, method)
        assert ("400" if 422 in route_doc(route).folded else "422") in op["responses"]
    assert seen
    limit = {p["name"]: p for p in document["paths"]["/api/v1/hierarchy/nodes"]["get"]["parameters"]}["limit"]
    assert limit["schema"]["type"] == "integer"
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] == 1000


async def test_every_operation_documents_a_success_answer(document: dict[str, Any]) -> None:
    for path, method, op in operations(document):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        if not successes and path.startswith("/console/") and method == "post":
            # An HTML form post of the console answers 303 See Other (post, redirect, get): that is its success.
            assert "303" in op["responses"], f"{method.upper()} {path} documents neither 2xx nor 303"
            continue
        assert successes, f"{method.upper()} {path} documents no 2xx answer"
        for status, response in successes.items():
            if status == "204":
                assert "content" not in response
                continue
            content = response.get("content")
            assert content, f"{method.upper()} {path} {status} has no content"
            for media in content.values():
                assert media.get("schema"), f"{method.upper()} {path} {status} has no schema"


async def test_signed_in_routes_declare_security_and_roles(app: Sanic, document: dict[str, Any]) -> None:
    signed_in = public = 0
    for route, path, method in api_routes(app):
        op = document["paths"][path][method]
        access = declared_access(route.handler)
        assert access != "undeclared", f"{method.upper()} {path} declares neither @public nor @requires"
        if access is None:
            public += 1
            assert "security" not in op and "x-roles" not in op, (path, method)
            continue
        signed_in += 1
        assert isinstance(access, frozenset)
        assert op["security"] == [{"bearer": []}], (path, method)
        assert sorted(op["x-roles"]) == sorted(role.value for role in access), (path, method)
        assert {"401", "403"} <= set(op["responses"]), (path, method)
        for name in op["security"][0]:
            assert name in document["components"]["securitySchemes"]
    assert signed_in and public


async def test_documented_answers_match_real_answers(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    """The schema /docs gives for a 200 describes what the route really sends."""
    for path in ("/healthz", "/readyz", "/api/v1/hierarchy/nodes"):
        r = await client.get(path)
        assert r.status_code == 200
        answer = document["paths"][path]["get"]["responses"]["200"]
        schema = deref(document, answer["content"]["application/json"]["schema"])
        body = r.json()
        assert set(body) <= set(schema["properties"]), path
        assert set(schema.get("required", [])) <= set(body), path
    # An error answer matches the documented error schema.
    r = await client.get("/api/v1/me")
    answer = document["paths"]["/api/v1/me"]["get"]["responses"]["401"]
    error_schema = deref(document, answer["content"]["application/json"]["schema"])
    assert set(r.json()) == set(error_schema["required"])
    detail = deref(document, error_schema["properties"]["error"])
    assert set(r.json()["error"]) == set(detail["required"])


async def test_document_needs_no_sign_in_and_is_stable(client: httpx.AsyncClient) -> None:
    first = await client.get("/docs/openapi.json")
    second = await client.get("/docs/openapi.json")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
