"""What fuzzing the API against its own OpenAPI document found (schemathesis), kept as tests."""

from __future__ import annotations

import time

import httpx
from sanic import Sanic

from identity import tokens
from identity.roles import Role
from tests.factories import auth, make_account, make_staff_with_password, token_for


async def test_over_long_path_values_and_cursors_are_404_or_422_never_500(
    client: httpx.AsyncClient, app: Sanic
) -> None:
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    long_value = "A" * 33
    assert (await client.get(f"/api/v1/hierarchy/nodes/{long_value}")).status_code == 404
    assert (await client.get("/api/v1/hierarchy/nodes", params={"under": long_value})).status_code == 422
    assert (await client.get(f"/api/v1/accounts/{long_value}", headers=admin)).status_code == 404
    patched = await client.patch(f"/api/v1/accounts/{long_value}", json={"is_active": True}, headers=admin)
    assert patched.status_code == 404
    assert (await client.get("/api/v1/accounts", params={"after": long_value}, headers=admin)).status_code == 422


async def test_integers_beyond_64_bits_are_422_never_500(client: httpx.AsyncClient, app: Sanic) -> None:
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    huge = str(2**63)
    r = await client.get("/api/v1/qr/revocations", params={"since": huge})
    assert r.status_code == 422
    assert (await client.get("/api/v1/qr/revocations", params={"since": str(2**63 - 1)})).status_code == 200
    assert (await client.get("/api/v1/admin/audit", params={"after": huge}, headers=admin)).status_code == 422


async def test_passwords_are_taken_exactly_as_typed(client: httpx.AsyncClient) -> None:
    """Blanks around a password are part of it: a password set with a trailing space signs in only
    with that space (it used to be stripped over HTTP but not in `gmid create-staff`)."""
    await make_staff_with_password("spaced.user", Role.OFFICER, "Correct-horse-9 ")
    ok = await client.post("/api/v1/auth/login", json={"username": " spaced.user ", "password": "Correct-horse-9 "})
    assert ok.status_code == 200, ok.text
    wrong = await client.post("/api/v1/auth/login", json={"username": "spaced.user", "password": "Correct-horse-9"})
    assert wrong.status_code == 401


async def test_routes_that_never_look_at_the_caller_ignore_a_stale_token(client: httpx.AsyncClient, app: Sanic) -> None:
    account = await make_staff_with_password("stale.token", Role.GRID_STAFF, "Correct-horse-9")
    expired, _ = tokens.issue_access_token(
        secret=app.ctx.access_token_secret,
        account_id=account.public_id,
        role=account.role,
        node_path=None,
        ttl=60,
        now=time.time() - 3600,
    )
    stale = auth(expired)
    login = await client.post(
        "/api/v1/auth/login", json={"username": "stale.token", "password": "Correct-horse-9"}, headers=stale
    )
    assert login.status_code == 200, login.text
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}, headers=stale
    )
    assert refreshed.status_code == 200, refreshed.text
    for path in ("/healthz", "/docs/openapi.json", "/.well-known/jwks.json", "/api/v1/hierarchy/nodes"):
        assert (await client.get(path, headers=stale)).status_code == 200, path
    # A route whose answer depends on the caller still says the token is stale.
    scan = await client.post("/api/v1/scan", json={"payload": "x"}, headers=stale)
    assert scan.status_code == 401
    assert scan.json()["error"]["code"] == "token_expired"


async def test_strict_booleans_and_documented_error_media(client: httpx.AsyncClient, app: Sanic) -> None:
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    target = await make_account(Role.OFFICER)
    r = await client.patch(f"/api/v1/accounts/{target.public_id}", json={"is_active": 0}, headers=admin)
    assert r.status_code == 422

    page = await client.get("/q/0")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    document = (await client.get("/docs/openapi.json")).json()
    landing = document["paths"]["/q/{token}"]["get"]["responses"]
    assert set(landing["400"]["content"]) == {"text/html"}
    # The NUL refusal (400) is documented on routes with a query.
    assert "400" in document["paths"]["/api/v1/hierarchy/nodes"]["get"]["responses"]
    # /scan is public but refuses a bad token: its 401 is documented; /healthz ignores tokens.
    assert "401" in document["paths"]["/api/v1/scan"]["post"]["responses"]
    assert "401" not in document["paths"]["/healthz"]["get"]["responses"]


async def test_unsupported_methods_answer_405_with_allow(client: httpx.AsyncClient, app: Sanic) -> None:
    target = await make_account(Role.OFFICER)
    for method in ("TRACE", "DELETE", "PUT"):
        r = await client.request(method, f"/api/v1/accounts/{target.public_id}")
        assert r.status_code == 405, method
        assert r.headers.get("allow"), method
        assert set(r.json()["error"]["details"]["allowed"]) == {m.strip() for m in r.headers["allow"].split(",")}


async def test_head_and_options_are_answered(client: httpx.AsyncClient) -> None:
    """Monitors probe with HEAD; browsers and tools ask OPTIONS."""
    head = await client.head("/healthz")
    assert head.status_code == 200 and head.content == b""
    options = await client.options("/api/v1/me")
    assert options.status_code == 204
    assert {m.strip() for m in options.headers["allow"].split(",")} >= {"GET", "HEAD", "OPTIONS"}


async def test_options_answers_every_known_path_and_only_those(client: httpx.AsyncClient) -> None:
    # A POST-only route, routes with a path parameter, Open311's own API (not reshaped: not an error).
    for path, methods in (
        ("/api/v1/auth/login", {"POST"}),
        ("/api/v1/reports/R-nothing/follow", {"DELETE", "PUT"}),
        ("/api/v1/reports/R-nothing", {"GET", "HEAD"}),
        ("/open311/v2/services.json", {"GET", "HEAD"}),
    ):
        r = await client.options(path)
        assert r.status_code == 204 and r.content == b"", (path, r.text)
        assert r.headers["allow"].split(",") == [*sorted(methods), "OPTIONS"], path
        assert r.headers.get("x-request-id")
    # A path the router does not know stays 404 for OPTIONS as for any method.
    r = await client.options("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # A method refused on a known path lists OPTIONS among the allowed ones.
    r = await client.request("TRACE", "/api/v1/auth/login")
    assert r.status_code == 405
    assert r.json()["error"]["details"]["allowed"] == ["OPTIONS", "POST"]
    assert r.headers["allow"] == "OPTIONS, POST"
