"""Every error a client can provoke leaves in one shape, with the right status, and changes nothing.

Shape: ``{"error": {"code", "message", "details"}}``; every answer carries ``X-Request-ID``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from identity import tokens
from identity.audit import AuditEntry
from identity.models import Account
from identity.roles import Role
from server.app import create_app
from server.auth import public
from server.settings import Settings
from tests.factories import auth, id_number, make_account, token_for
from tests.support.app_server import RunningApp

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
GENERATED_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
# A realistic-looking resident ID number whose check digit is wrong.
_GOOD_ID = id_number(7)
FAKE_ID_NUMBER = _GOOD_ID[:17] + ("0" if _GOOD_ID[17] != "0" else "1")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape, the expected status, a request id; returns the ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and CODE_RE.match(error["code"]), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["details"], dict), error
    if code is not None:
        assert error["code"] == code, error
    assert response.headers.get("x-request-id"), "every answer carries X-Request-ID"
    assert "Traceback" not in response.text
    return error


def failing_fields(error: dict[str, Any]) -> dict[str, str]:
    """``details.fields`` as {field: type}; each entry names the field, a message and a rule."""
    fields = error["details"]["fields"]
    assert isinstance(fields, list) and fields
    for entry in fields:
        assert set(entry) == {"field", "message", "type"}, entry
        assert all(isinstance(v, str) and v for v in entry.values()), entry
    return {entry["field"]: entry["type"] for entry in fields}


# Malformed requests: 400 -------------------------------------------------------------------------


JSON = {"Content-Type": "application/json"}
MALFORMED_JSON = [
    b'{"username": "a", "password": ',  # truncated
    b"{'username': 'a'}",  # single quotes
    b'{"username": "a",}',  # trailing comma
    b"not json at all",
    b'{"username": "a", "password": "x"} trailing',
    b'{"username": "\xff\xfe\xfa", "password": "x"}',  # invalid UTF-8 inside a string
    b"\xc3\x28",  # invalid UTF-8 only
    b"\x00\x01\x02",
]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    for raw in MALFORMED_JSON:
        r = await client.post("/api/v1/auth/login", content=raw, headers=JSON)
        assert_error(r, 400, "malformed_json")


async def test_empty_body_is_400(client: httpx.AsyncClient) -> None:
    for raw in (b"", b"   \n\t "):
        r = await client.post("/api/v1/auth/login", content=raw, headers=JSON)
        error = assert_error(r, 400, "malformed_json")
        assert "empty" in error["message"]


async def test_json_that_is_not_an_object_is_422(client: httpx.AsyncClient) -> None:
    for raw in (b"[]", b'"text"', b"42", b"null", b'[{"username": "a", "password": "b"}]'):
        r = await client.post("/api/v1/auth/login", content=raw, headers=JSON)
        error = assert_error(r, 422, "validation_failed")
        assert failing_fields(error) == {"(body)": "object_type"}


# Routing: 404 and 405 ------------------------------------------------------------------------------


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/nope", "/api/v1/nope", "/api/v2/me", "/api/v1/hierarchy/nodes/GM/extra", "/docs/nope.json"):
        assert_error(await client.get(path), 404, "not_found")
        assert_error(await client.post(path, json={}), 404, "not_found")
    # A broken token on an unknown path still answers in the one shape (401 or 404, never HTML).
    r = await client.get("/api/v1/nope", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code in {401, 404}
    assert_error(r, r.status_code)
    # A route's own 404 has its own code.
    assert_error(await client.get("/api/v1/hierarchy/nodes/NOPE99"), 404, "node_not_found")


async def test_wrong_method_is_405_with_allowed_methods(client: httpx.AsyncClient) -> None:
    cases = [
        ("POST", "/healthz", {"GET"}),
        ("DELETE", "/api/v1/auth/login", {"POST"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
        ("PUT", "/api/v1/hierarchy/nodes", {"GET"}),
        ("DELETE", "/api/v1/accounts", {"GET", "POST"}),
    ]
    for method, path, allowed in cases:
        r = await client.request(method, path)
        error = assert_error(r, 405, "method_not_allowed")
        listed = set(error["details"]["allowed"])
        assert allowed <= listed and method not in listed, (method, path, listed)
        header = {m.strip() for m in r.headers["allow"].split(",")}
        assert header == listed


# Media type: 415 --------------------------------------------------------------------------------


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    body = json.dumps({"username": "someone", "password": "pw"}).encode()
    for content_type in (
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
    ):
        headers = {"Content-Type": content_type} if content_type else {}
        r = await client.post("/api/v1/auth/login", content=body, headers=headers)
        error = assert_error(r, 415, "unsupported_media_type")
        assert error["details"]["expected"] == "application/json"
    # A real form post, as a browser would send it.
    r = await client.post("/api/v1/auth/login", data={"username": "someone", "password": "pw"})
    assert_error(r, 415, "unsupported_media_type")


async def test_json_with_charset_parameter_is_accepted(client: httpx.AsyncClient) -> None:
    body = json.dumps({"username": "nobody", "password": "wrong-password"}).encode()
    r = await client.post(
        "/api/v1/auth/login", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    # Parsed and checked: a sign-in refusal, not a media-type error.
    assert_error(r, 401)


# Body size: 413 --------------------------------------------------------------------------------------

SMALL_LIMIT = 2048


@pytest.fixture
async def small_body_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.replace(max_body_bytes=SMALL_LIMIT))
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield http


async def test_oversize_body_is_413(small_body_client: httpx.AsyncClient) -> None:
    body = json.dumps({"username": "u", "password": "x" * (SMALL_LIMIT * 4)}).encode()
    r = await small_body_client.post("/api/v1/auth/login", content=body, headers=JSON)
    assert_error(r, 413, "payload_too_large")
    # The same on a route that needs sign-in, and whatever the media type claims to be.
    r = await small_body_client.post("/api/v1/accounts", content=body, headers=JSON)
    assert r.status_code in {401, 413}
    assert_error(r, r.status_code)
    r = await small_body_client.post("/api/v1/auth/login", content=b"x" * SMALL_LIMIT * 2, headers={})
    assert_error(r, 413, "payload_too_large")
    # With a request id the client can quote.
    r = await small_body_client.post("/api/v1/auth/login", content=body, headers={**JSON, "X-Request-ID": "big-body-1"})
    assert_error(r, 413, "payload_too_large")
    assert r.headers["x-request-id"] == "big-body-1"


async def test_oversize_chunked_body_is_413(small_body_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"username": "u", "password": "'
        for _ in range(16):
            yield b"x" * 1024
        yield b'"}'

    r = await small_body_client.post(
        "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(r, 413, "payload_too_large")


async def test_body_under_the_limit_is_processed(small_body_client: httpx.AsyncClient) -> None:
    # Close to the limit (JSON allows trailing whitespace), but under it.
    body = json.dumps({"username": "nobody", "password": "x" * 200}).encode()
    body += b" " * (SMALL_LIMIT - 100 - len(body))
    r = await small_body_client.post("/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert_error(r, 401)


# Validation: 422, without echoing what was sent ------------------------------------------------------


async def test_wrong_types_are_422_listing_each_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/login", json={"username": 12345, "password": ["a", "b"]})
    error = assert_error(r, 422, "validation_failed")
    assert set(failing_fields(error)) == {"username", "password"}
    assert "12345" not in r.text


async def test_missing_fields_are_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/login", json={})
    error = assert_error(r, 422, "validation_failed")
    assert failing_fields(error) == {"username": "missing", "password": "missing"}


async def test_unknown_field_is_422_and_its_value_is_not_echoed(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/login", json={"username": "someone", "password": "pw", "id_number": FAKE_ID_NUMBER}
    )
    error = assert_error(r, 422, "validation_failed")
    assert failing_fields(error) == {"id_number": "extra_forbidden"}
    assert FAKE_ID_NUMBER not in r.text
    assert FAKE_ID_NUMBER[:17] not in r.text


async def test_bad_id_number_in_profile_is_422_not_echoed_and_not_stored(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await make_account(Role.RESIDENT)
    headers = auth(await token_for(app, resident))
    r = await client.put(
        "/api/v1/me/profile",
        json={"name": "张三", "phone": "1380013800", "id_number": FAKE_ID_NUMBER},
        headers=headers,
    )
    error = assert_error(r, 422, "validation_failed")
    assert set(failing_fields(error)) == {"phone", "id_number"}
    for secret in (FAKE_ID_NUMBER, FAKE_ID_NUMBER[:17], "1380013800", "张三"):
        assert secret not in r.text
        assert secret not in json.dumps(dict(r.headers))
    # Nothing of the rejected profile was kept, not even the valid name.
    stored = await Account.get(pk=resident.pk)
    assert (stored.name_enc, stored.phone_enc, stored.id_number_enc) == (None, None, None)
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["profile"] == {"name": None, "phone": None, "id_number": None, "address": None}


async def test_id_number_in_a_field_with_a_pattern_is_not_echoed(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await make_account(Role.ADMIN)
    r = await client.post(
        "/api/v1/accounts",
        json={"username": f"x {FAKE_ID_NUMBER}", "role": "officer", "node": "GM0101", "password": "pw"},
        headers=auth(await token_for(app, admin)),
    )
    error = assert_error(r, 422, "validation_failed")
    assert set(failing_fields(error)) == {"username"}
    assert FAKE_ID_NUMBER not in r.text


# A rejected request changes nothing ---------------------------------------------------------------


REJECTED_CREATIONS: list[tuple[object, str, int]] = [
    ({"username": "new.officer", "role": "officer", "node": "GM0101"}, "application/json", 422),
    ({"username": "new.officer", "role": "emperor", "node": "GM0101", "password": "pw"}, "application/json", 422),
    (
        {"username": "new.officer", "role": "officer", "node": "GM0101", "password": "pw", "is_admin": True},
        "application/json",
        422,
    ),
    ({"username": "n", "role": "officer", "node": "GM0101", "password": "pw"}, "application/json", 422),
    ({"username": "new.officer", "role": "officer", "node": 101, "password": "pw"}, "application/json", 422),
    ({"username": "new.officer", "role": "officer", "node": "GM0101", "password": "pw"}, "text/plain", 415),
    (b'{"username": "new.officer", "role": "officer",', "application/json", 400),
    (b"", "application/json", 400),
]


async def test_rejected_account_creation_stores_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await make_account(Role.ADMIN)
    token_headers = auth(await token_for(app, admin))
    before_accounts = await Account.all().count()
    before_audit = await AuditEntry.all().count()
    for body, content_type, status in REJECTED_CREATIONS:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        r = await client.post("/api/v1/accounts", content=raw, headers={**token_headers, "Content-Type": content_type})
        assert_error(r, status)
        assert await Account.all().count() == before_accounts, body
        assert await AuditEntry.all().count() == before_audit, body
    assert not await Account.exists(username="new.officer")
    # The same request, valid, does create the account (so the checks above could have failed).
    r = await client.post(
        "/api/v1/accounts",
        json={"username": "new.officer", "role": "officer", "node": "GM0101", "password": "a long password"},
        headers=token_headers,
    )
    assert r.status_code == 201, r.text
    assert await Account.all().count() == before_accounts + 1
    assert await Account.exists(username="new.officer")


# Tokens: 401 ------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_jwt(header: dict[str, Any], payload: dict[str, Any], key: bytes | None, digest: str = "sha256") -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), getattr(hashlib, digest)).digest()
    return signing_input + "." + _b64(signature)


def _claims(account: Account, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": tokens.ISSUER,
        "sub": account.public_id,
        "role": account.role.value,
        "node": None,
        "typ": "access",
        "iat": now,
        "exp": now + 600,
        "jti": "0123456789abcdef",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not ...}


@pytest.fixture
async def resident(client: httpx.AsyncClient) -> Account:
    return await make_account(Role.RESIDENT)


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def _assert_401(r: httpx.Response, code: str | None = None) -> None:
    assert_error(r, 401, code)
    assert r.headers["www-authenticate"].lower().startswith("bearer")


async def test_genuine_token_is_accepted_as_control(app: Sanic, client: httpx.AsyncClient, resident: Account) -> None:
    r = await _me(client, await token_for(app, resident))
    assert r.status_code == 200
    assert r.json()["account"]["id"] == resident.public_id


async def test_token_signed_with_another_secret_is_401(client: httpx.AsyncClient, resident: Account) -> None:
    forged = jwt.encode(_claims(resident, role="admin"), b"k" * 48, algorithm="HS256")
    _assert_401(await _me(client, forged), "token_invalid")


async def test_expired_token_is_401(app: Sanic, client: httpx.AsyncClient, resident: Account) -> None:
    expired, _ = tokens.issue_access_token(
        secret=app.ctx.access_token_secret,
        account_id=resident.public_id,
        role=resident.role,
        node_path=None,
        ttl=60,
        now=time.time() - 3600,
    )
    _assert_401(await _me(client, expired), "token_expired")


async def test_alg_none_token_is_401(client: httpx.AsyncClient, resident: Account) -> None:
    for alg in ("none", "None", "NONE", "nOnE"):
        unsigned = _raw_jwt({"alg": alg, "typ": "JWT"}, _claims(resident, role="admin"), None)
        _assert_401(await _me(client, unsigned), "token_invalid")
        # The same with a signature part that is present but meaningless.
        _assert_401(await _me(client, unsigned + "AAAA"), "token_invalid")


async def test_header_tricks_are_401(app: Sanic, client: httpx.AsyncClient, resident: Account) -> None:
    secret: bytes = app.ctx.access_token_secret
    claims = _claims(resident, role="admin")
    tricks = [
        # kid pointing at a file with known (empty) content, signed with the empty key.
        _raw_jwt({"alg": "HS256", "typ": "JWT", "kid": "../../../../dev/null"}, claims, b""),
        # kid with SQL in it, signed with a guessable key.
        _raw_jwt({"alg": "HS256", "kid": "x' UNION SELECT 'secret"}, claims, b"secret"),
        # Another HMAC algorithm with the real secret: only HS256 is accepted.
        _raw_jwt({"alg": "HS512", "typ": "JWT"}, claims, secret, "sha512"),
        _raw_jwt({"alg": "HS384", "typ": "JWT"}, claims, secret, "sha384"),
        # Lower-case alg name signed with the real secret.
        _raw_jwt({"alg": "hs256", "typ": "JWT"}, claims, secret),
        # Public-key algorithm names with an HMAC signature (key confusion).
        _raw_jwt({"alg": "RS256", "typ": "JWT"}, claims, secret),
        _raw_jwt({"alg": "EdDSA", "typ": "JWT"}, claims, secret),
        # jku / x5u pointing at an attacker's keys.
        _raw_jwt({"alg": "RS256", "jku": "https://evil.example/jwks.json"}, claims, b"evil"),
        # No alg at all.
        _raw_jwt({"typ": "JWT"}, claims, secret),
    ]
    for token in tricks:
        _assert_401(await _me(client, token), "token_invalid")


async def test_token_with_bad_claims_signed_with_the_real_secret_is_401(
    app: Sanic, client: httpx.AsyncClient, resident: Account
) -> None:
    bad_claims: list[dict[str, Any]] = [
        {"role": "emperor"},
        {"role": "ADMIN"},
        {"role": "superuser"},
        {"role": None},
        {"role": ["admin"]},
        {"role": ...},
        {"typ": "refresh"},
        {"typ": ...},
        {"iss": "someone-else"},
        {"exp": ...},
        {"iat": ...},
        {"jti": ...},
        {"sub": ...},
        {"node": 42},
    ]
    for changes in bad_claims:
        token = _raw_jwt({"alg": "HS256", "typ": "JWT"}, _claims(resident, **changes), app.ctx.access_token_secret)
        r = await _me(client, token)
        assert r.status_code == 401, changes
        _assert_401(r, "token_invalid")


async def test_malformed_authorization_header_is_401(client: httpx.AsyncClient) -> None:
    headers = [
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Token abc.def.ghi",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer eyJhbGciOiJIUzI1NiJ9",
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30",
        "bearer%20x",
        "Bearer " + "A" * 5000,
    ]
    for header in headers:
        r = await client.get("/api/v1/me", headers={"Authorization": header})
        _assert_401(r, "token_invalid")
        # A public route whose answer depends on who asks (scan) refuses a broken token, so the
        # client learns it is broken instead of silently getting the anonymous view...
        r = await client.post("/api/v1/scan", json={"payload": "x"}, headers={"Authorization": header})
        _assert_401(r, "token_invalid")
        # ...while one that never looks at the caller ignores it (clients send the header by habit).
        r = await client.get("/api/v1/hierarchy/nodes", headers={"Authorization": header})
        assert r.status_code == 200


async def test_no_token_on_a_signed_in_route_is_401(client: httpx.AsyncClient) -> None:
    _assert_401(await client.get("/api/v1/me"), "unauthorized")


async def test_wrong_role_is_403(app: Sanic, client: httpx.AsyncClient, resident: Account) -> None:
    r = await client.get("/api/v1/accounts", headers=auth(await token_for(app, resident)))
    error = assert_error(r, 403, "forbidden")
    assert error["details"]["required_roles"] == ["admin"]


# Unknown exceptions: 500 with the request id, no traceback -------------------------------------------

INTERNAL_SECRET = "db-password=hunter2 at /srv/gmid/server/secret_module.py"


@pytest.fixture
async def crashing_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)

    @public
    async def boom(request: Request) -> HTTPResponse:
        raise RuntimeError(INTERNAL_SECRET)

    @public
    async def boom_key(request: Request) -> HTTPResponse:
        table: dict[str, HTTPResponse] = {}
        return table["missing-key"]

    app.add_route(boom, "/test/boom", name="test_boom")
    app.add_route(boom_key, "/test/boom-key", methods=["POST"], name="test_boom_key")
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield http


async def test_unknown_exception_is_500_with_request_id_and_no_traceback(
    crashing_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    r = await crashing_client.get("/test/boom")
    error = assert_error(r, 500, "internal_error")
    request_id = r.headers["x-request-id"]
    assert error["details"] == {"request_id": request_id}
    assert GENERATED_ID_RE.match(request_id)
    for leak in ("Traceback", "RuntimeError", "hunter2", "secret_module", 'File "', ".py"):
        assert leak not in r.text
    # The operator, on the other hand, can find the traceback in the log by the same id.
    logged = [rec for rec in caplog.records if request_id in rec.getMessage()]
    assert logged and any(rec.exc_info for rec in logged)


async def test_unknown_exception_keeps_the_supplied_request_id(crashing_client: httpx.AsyncClient) -> None:
    r = await crashing_client.post("/test/boom-key", headers={"X-Request-ID": "client-req-42"})
    error = assert_error(r, 500, "internal_error")
    assert r.headers["x-request-id"] == "client-req-42"
    assert error["details"]["request_id"] == "client-req-42"
    assert "missing-key" not in r.text and "KeyError" not in r.text


async def test_each_500_has_its_own_request_id(crashing_client: httpx.AsyncClient) -> None:
    ids = {(await crashing_client.get("/test/boom")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


# X-Request-ID ---------------------------------------------------------------------------------------


async def test_valid_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    for supplied in ("abc-1234", "A-b-c-d-9", "0" * 64, "f47ac10b-58cc-4372-a567-0e02b2c3d479"):
        r = await client.get("/healthz", headers={"X-Request-ID": supplied})
        assert r.status_code == 200
        assert r.headers["x-request-id"] == supplied


async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    refused = ["x" * 65, "x" * 129, "short-1", "A.b_c:d-9", "../../etc/passwd", "host:8000/x", "level=ERROR"]
    refused += ["has space", "semi;colon", "<script>", "a/b", "ü-nicode", "a,b", "", "id\twith\ttab"]
    for supplied in refused:
        r = await client.get("/healthz", headers={b"X-Request-ID": supplied.encode()})
        assert r.status_code == 200
        generated = r.headers["x-request-id"]
        assert generated != supplied
        assert GENERATED_ID_RE.match(generated), (supplied, generated)


async def test_request_id_is_made_when_missing_and_differs_per_request(client: httpx.AsyncClient) -> None:
    ids = [(await client.get("/healthz")).headers["x-request-id"] for _ in range(3)]
    assert all(GENERATED_ID_RE.match(i) for i in ids)
    assert len(set(ids)) == 3


async def test_made_request_ids_stay_random_and_distinct_past_a_batch(client: httpx.AsyncClient) -> None:
    """Ids are cut from random bytes read a batch at a time: past the batch (256), still new ones."""
    ids = [(await client.get("/healthz")).headers["x-request-id"] for _ in range(300)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == 300


ERROR_REQUESTS: list[tuple[str, str, dict[str, Any], int]] = [
    ("GET", "/api/v1/nope", {}, 404),
    ("POST", "/healthz", {}, 405),
    ("GET", "/api/v1/me", {}, 401),
    ("GET", "/api/v1/me", {"headers": {"Authorization": "Bearer x.y.z"}}, 401),
    ("POST", "/api/v1/auth/login", {"content": b"{", "headers": {"Content-Type": "application/json"}}, 400),
    ("POST", "/api/v1/auth/login", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415),
    ("POST", "/api/v1/auth/login", {"json": {}}, 422),
    ("GET", "/api/v1/hierarchy/nodes?limit=abc", {}, 422),
]


async def test_request_id_is_on_error_answers_too(client: httpx.AsyncClient) -> None:
    for method, path, kwargs, status in ERROR_REQUESTS:
        options = dict(kwargs)
        headers = dict(options.pop("headers", {}))
        r = await client.request(method, path, headers={**headers, "X-Request-ID": "err-trace-1"}, **options)
        assert_error(r, status)
        assert r.headers["x-request-id"] == "err-trace-1", (method, path)
        # And a generated one when the client sent none, or an invalid one.
        r = await client.request(method, path, headers=headers, **options)
        assert_error(r, status)
        assert GENERATED_ID_RE.match(r.headers["x-request-id"])
        r = await client.request(method, path, headers={**headers, "X-Request-ID": "bad id!"}, **options)
        assert_error(r, status)
        assert GENERATED_ID_RE.match(r.headers["x-request-id"]) and r.headers["x-request-id"] != "bad id!"
