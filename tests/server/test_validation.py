"""Query strings are validated against the same schemas /docs shows: bad values, unknown parameters."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity import hierarchy
from identity.roles import Role
from tests.factories import auth, id_number, load_demo_hierarchy, make_account, token_for

NODES = "/api/v1/hierarchy/nodes"


@pytest.fixture
def demo_nodes() -> list[dict[str, Any]]:
    """The shipped demo hierarchy, read straight from its file (the expectation, independent of the API)."""
    data = json.loads(hierarchy.demo_file().read_text(encoding="utf-8"))
    nodes: list[dict[str, Any]] = data["nodes"]
    return nodes


@pytest.fixture
async def loaded(client: httpx.AsyncClient) -> httpx.AsyncClient:
    await load_demo_hierarchy()
    return client


def assert_422(response: httpx.Response, *fields: str) -> dict[str, str]:
    """422 in the one error shape, naming exactly ``fields``; returns {field: rule}."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "validation_failed"
    entries = error["details"]["fields"]
    for entry in entries:
        assert set(entry) == {"field", "message", "type"}
    found = {entry["field"]: entry["type"] for entry in entries}
    assert set(found) == set(fields), found
    return found


async def test_limit_must_be_a_number(loaded: httpx.AsyncClient) -> None:
    for value in ("abc", "1.5", "1e3", "ten", "0x10", "５"):
        r = await loaded.get(NODES, params={"limit": value})
        assert_422(r, "limit")


async def test_limit_must_be_in_range(loaded: httpx.AsyncClient, demo_nodes: list[dict[str, Any]]) -> None:
    for value in ("0", "-1", "1001", "99999999999999999999"):
        r = await loaded.get(NODES, params={"limit": value})
        assert_422(r, "limit")
    for value, expected in (("1", 1), ("7", 7), ("1000", len(demo_nodes))):
        r = await loaded.get(NODES, params={"limit": value})
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == expected


async def test_unknown_query_parameter_is_422(loaded: httpx.AsyncClient) -> None:
    fields = assert_422(await loaded.get(NODES, params={"foo": "1"}), "foo")
    assert fields == {"foo": "extra_forbidden"}
    # Alongside valid parameters, and with names that only differ in case.
    assert_422(await loaded.get(NODES, params={"level": "grid", "LIMIT": "5"}), "LIMIT")
    assert_422(await loaded.get(NODES, params={"limit": "5", "a": "1", "b": "2"}), "a", "b")


async def test_level_must_be_a_known_level(loaded: httpx.AsyncClient) -> None:
    for value in ("bogus", "GRID", "grids", "1"):
        assert_422(await loaded.get(NODES, params={"level": value}), "level")


async def test_values_are_not_echoed(loaded: httpx.AsyncClient) -> None:
    secret = id_number(3) * 2  # too long for "under"
    r = await loaded.get(NODES, params={"under": secret, "limit": "abc"})
    assert_422(r, "under", "limit")
    assert id_number(3) not in r.text


async def test_level_grid_lists_every_grid(loaded: httpx.AsyncClient, demo_nodes: list[dict[str, Any]]) -> None:
    r = await loaded.get(NODES, params={"level": "grid"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    expected = {n["code"]: n for n in demo_nodes if n["level"] == "grid"}
    assert expected, "the demo hierarchy has grids"
    assert {item["code"] for item in items} == set(expected)
    assert len(items) == len(expected)
    for item in items:
        assert item["level"] == "grid"
        assert item["parent"] == expected[item["code"]]["parent"]
        assert item["name"] == expected[item["code"]]["name"]


async def test_level_filter_counts_match_the_1_6_31_n_shape(
    loaded: httpx.AsyncClient, demo_nodes: list[dict[str, Any]]
) -> None:
    counts = {}
    for level in ("district", "street", "community", "grid"):
        r = await loaded.get(NODES, params={"level": level})
        assert r.status_code == 200
        items = r.json()["items"]
        assert {item["level"] for item in items} <= {level}
        counts[level] = len(items)
    assert counts["district"] == 1
    assert counts["street"] == 6
    assert counts["community"] == 31
    assert counts["grid"] == sum(1 for n in demo_nodes if n["level"] == "grid")


async def test_under_and_level_combine(loaded: httpx.AsyncClient, demo_nodes: list[dict[str, Any]]) -> None:
    r = await loaded.get(NODES, params={"under": "GM01", "level": "community"})
    assert r.status_code == 200
    codes = {item["code"] for item in r.json()["items"]}
    assert codes == {n["code"] for n in demo_nodes if n["level"] == "community" and n["parent"] == "GM01"}
    # Grids under one community only.
    r = await loaded.get(NODES, params={"under": "GM0101", "level": "grid", "limit": "2"})
    items = r.json()["items"]
    assert len(items) == 2
    assert all(item["parent"] == "GM0101" for item in items)
    # Under a node that does not exist: nothing, not an error.
    r = await loaded.get(NODES, params={"under": "XX99"})
    assert r.status_code == 200
    assert r.json()["items"] == []


async def test_admin_queries_are_validated_too(app: Sanic, loaded: httpx.AsyncClient) -> None:
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    assert_422(await loaded.get("/api/v1/accounts", params={"role": "emperor"}, headers=admin), "role")
    assert_422(await loaded.get("/api/v1/accounts", params={"limit": "501"}, headers=admin), "limit")
    assert_422(await loaded.get("/api/v1/accounts", params={"page": "2"}, headers=admin), "page")
    assert_422(await loaded.get("/api/v1/admin/audit", params={"since": "yesterday"}, headers=admin), "since")
    # A cursor the list did not give out: 422 bad_cursor naming it, as on every list (README).
    bad = await loaded.get("/api/v1/admin/audit", params={"after": "-1"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_cursor", bad.text
    assert [f["field"] for f in bad.json()["error"]["details"]["fields"]] == ["after"]
    r = await loaded.get("/api/v1/accounts", params={"role": "admin", "limit": "10"}, headers=admin)
    assert r.status_code == 200, r.text
    assert all(item["role"] == "admin" for item in r.json()["items"])
    # Validation never runs before the guard: an anonymous caller learns nothing about the parameters.
    r = await loaded.get("/api/v1/accounts", params={"role": "emperor"})
    assert r.status_code == 401
