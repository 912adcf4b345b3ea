"""Hostile input never gives a 500: every refusal is in the one error shape, with its own status and
code, and leaves nothing behind in the database or the log.

Each test sends what an attacker or a careless client would: JSON nested hundreds of levels deep or
with numbers of thousands of digits, to every route that reads a body, signed in or not.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json as jsonlib
import logging
import re
import time
from typing import Any, get_args, get_origin

import httpx
import pytest
from pydantic import ValidationError
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.reports.models import Report
from server.auth import ignores_token
from server.logs import MAX_TRACEBACK_FRAMES, JSONFormatter
from server.openapi import doc_of
from server.settings import Settings
from server.validation import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, StrictModel, json_shape, scalar_type
from tests.factories import auth, id_number, make_account, token_for
from tests.server.test_errors import assert_error
from tests.support.notify_fixtures import app_with_channels
from tests.support.wechat_fake import wechat_signature

JSON = {"Content-Type": "application/json"}
DEEP_ARRAY = b"[" * 600 + b"]" * 600
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000
UNCLOSED = b"[" * 100_000
LONG_INT = b'{"lat": ' + b"9" * 5000 + b"}"
LONG_FLOAT = b'{"lat": 0.' + b"0" * 60 + b"1}"
HOSTILE: dict[str, tuple[bytes, str]] = {
    "deep array": (DEEP_ARRAY, "json_too_deep"),
    "deep object": (DEEP_OBJECT, "json_too_deep"),
    "unclosed": (UNCLOSED, "json_too_deep"),
    "long integer": (LONG_INT, "number_too_long"),
    "long float": (LONG_FLOAT, "number_too_long"),
}
REPORT = {"category": "urban_construction", "text": "楼道灯坏了一个星期，晚上很黑", "node": "GM010101"}
ROLES = (
    None,
    Role.RESIDENT,
    Role.GRID_STAFF,
    Role.OFFICER,
    Role.POLICE,
    Role.ADMIN,
    Role.PARTY_MEMBER,
    Role.EMPLOYER,  # the job routes of an enterprise's HR account (bound to none here: the body is refused first)
    Role.EMPLOYMENT_STAFF,
)


@pytest.fixture
def app(notify_settings: Settings) -> Sanic:
    # WeChat, SMS and the receipt callbacks configured (loopback fakes), so every route is live.
    return app_with_channels(notify_settings)


def _body_routes(app: Sanic) -> list[tuple[str, str]]:
    """(method, path) of every route whose body is JSON (``@json_body`` or Open311's own parser)."""
    found = []
    for route in app.router.routes:
        if doc_of(route.handler).body is None:
            continue
        path = "/" + route.path
        path = re.sub(r"<[^>]+>", "x0000", path)
        if route.path.startswith("open311"):
            path = path.replace("x0000", "requests.json") if "x0000" in path else path
        for method in route.methods:
            found.append((method, path))
    return sorted(found)


async def _tokens(app: Sanic) -> dict[Role | None, dict[str, str]]:
    headers: dict[Role | None, dict[str, str]] = {None: {}}
    for role in ROLES[1:]:
        assert role is not None
        headers[role] = auth(await token_for(app, await make_account(role)))
    return headers


def _error_code(response: httpx.Response) -> str:
    body = response.json()
    if isinstance(body, list):  # Open311's shape: [{"code": 400, "description": ...}]
        return str(body[0]["code"])
    return str(body["error"]["code"])


async def test_every_json_route_refuses_deep_nesting_and_long_numbers_before_parsing(
    app: Sanic, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = await _tokens(app)
    routes = _body_routes(app)
    assert ("POST", "/api/v1/auth/login") in routes and ("POST", "/open311/v2/requests.json") in routes
    assert len(routes) > 15
    caplog.set_level(logging.INFO, logger="gmid")
    for method, path in routes:
        for name, (raw, code) in HOSTILE.items():
            # The first role the route's guard lets through: what it then says is about the body.
            for role in ROLES:
                r = await client.request(method, path, content=raw, headers={**JSON, **tokens[role]})
                if r.status_code not in (401, 403):
                    break
            assert r.status_code == 400, (method, path, name, r.status_code, r.text[:200])
            if path.startswith("/open311/"):
                assert r.json() == [{"code": 400, "description": r.json()[0]["description"]}]
            else:
                assert_error(r, 400, code)
    assert await Report.all().count() == 0
    # No unhandled error, and nothing of a body in the log.
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert not [rec for rec in caplog.records if "99999" in rec.getMessage() or "[[[[" in rec.getMessage()]


async def test_a_body_within_the_bounds_is_processed_as_before(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = auth(await token_for(app, await make_account(Role.RESIDENT)))
    # Text that merely looks deep or numeric is free text: only structure and number tokens count.
    text = "[" * 200 + "楼道灯坏了" + "9" * 200 + '\\"{{{'
    r = await client.post(
        "/api/v1/reports", json={**REPORT, "text": text, "lat": 22.78012345678901, "lng": 113.9}, headers=resident
    )
    assert r.status_code == 201, r.text
    assert (await Report.get(public_id=r.json()["id"])).text == text


def test_the_shape_of_json_is_measured_outside_strings() -> None:
    nested = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert json_shape(nested) == (MAX_JSON_DEPTH, 0)
    assert json_shape(b'{"a": "[[[[{{{{\\"]]]", "b": [1, -2.5e+10]}') == (2, 8)
    assert json_shape(b'{"a": "\\\\", "b": [[[1]]]}') == (4, 1)  # an escaped backslash ends the string
    assert json_shape(b'{"n": ' + b"1" * MAX_NUMBER_CHARS + b"}") == (1, MAX_NUMBER_CHARS)
    assert json_shape(b'{"s": "' + b"1" * 500 + b'"}') == (1, 0)
    assert json_shape(b"") == (0, 0)


async def test_sms_status_callback_refuses_deep_json(app: Sanic, client: httpx.AsyncClient, settings: Any) -> None:
    token = app.ctx.settings.sms_callback_token
    for raw, code in (
        (DEEP_ARRAY, "json_too_deep"),
        (b'[{"sid": "x", "mobile": ' + b"1" * 900 + b"}]", "number_too_long"),
    ):
        r = await client.post("/api/v1/notify/sms/status", params={"token": token}, content=raw, headers=JSON)
        assert_error(r, 400, code)


async def test_wechat_event_callback_refuses_deep_xml_without_a_500(app: Sanic, client: httpx.AsyncClient) -> None:
    # The signature covers token, timestamp and nonce, not the body: anyone holding one callback URL
    # can send any body until the timestamp is stale. Deep or entity-laden XML is a 400.
    bodies = [
        b"<xml>" + b"<a>" * 4000 + b"</a>" * 4000 + b"</xml>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<xml><MsgType>&b;</MsgType></xml>",
    ]
    for n, body in enumerate(bodies):
        timestamp, nonce = str(int(time.time())), f"deep-{n}"
        signature = wechat_signature(app.ctx.settings.wechat_oa_token, timestamp, nonce)
        params = {"signature": signature, "timestamp": timestamp, "nonce": nonce}
        r = await client.post("/api/v1/notify/wechat/events", params=params, content=body)
        assert_error(r, 400, "bad_event")


def test_logged_tracebacks_are_bounded_and_carry_no_submitted_values() -> None:
    class Sample(StrictModel):
        phone: int

    def recurse(n: int) -> None:
        if n == 0:
            Sample.model_validate({"phone": "138" + "12345678 is mine"})  # built: source lines are logged
        recurse(n - 1)

    try:
        recurse(500)
    except ValidationError as exc:
        record = logging.LogRecord("gmid.errors", logging.ERROR, __file__, 1, "boom", (), (type(exc), exc, None))
        record.exc_info = (type(exc), exc, exc.__traceback__)
    line = JSONFormatter().format(record)
    assert "13812345678" not in line
    assert "validation errors at phone" in line
    assert line.count('File "') <= MAX_TRACEBACK_FRAMES
    assert len(line) < 10_000


# Crafted tokens: 401, never 500 ------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed(header: bytes, payload: bytes, key: bytes) -> str:
    signing_input = f"{_b64(header)}.{_b64(payload)}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def _crafted_tokens(app: Sanic, account_id: str) -> dict[str, str | bytes]:
    secret: bytes = app.ctx.access_token_secret
    now = int(time.time())
    claims = {"iss": "gmid", "sub": account_id, "role": "admin", "typ": "access", "iat": now, "exp": now + 600}
    payload = jsonlib.dumps({**claims, "jti": "0123456789abcdef"}).encode()
    return {
        "unknown-crit": _signed(b'{"alg":"HS256","crit":["exp"]}', payload, secret),  # an extension nobody knows
        "kid-not-a-string": _signed(b'{"alg":"HS256","kid":5}', payload, secret),
        "foreign-kid": _signed(b'{"alg":"HS256","kid":"k1"}', payload, secret),  # a member our tokens never carry
        "jku": _signed(b'{"alg":"HS256","typ":"JWT","jku":"https://evil.example/k"}', payload, secret),
        "header-not-utf8": _signed(b'\xff\xfe{"alg":"HS256"}', payload, secret),
        "header-an-array": _signed(b'["HS256"]', payload, secret),  # a header that is not an object
        "header-null": _signed(b"null", payload, secret),
        "header-nested": _signed(b"[" * 700 + b"]" * 700, payload, secret),  # past any parser's patience
        "payload-nested": _signed(b'{"alg":"HS256","typ":"JWT"}', b"[" * 600, b"not-the-secret"),
        "payload-not-utf8": _signed(b'{"alg":"HS256","typ":"JWT"}', b"\xff" * 20, b"not-the-secret"),
        "huge": "e" * 6000,
        "many-dots": "a." * 500 + "b",
        "non-ascii-bytes": "é.é.é".encode("latin-1"),  # bytes that are not ASCII, sent as they are
    }


CRAFTED = (
    "unknown-crit",
    "kid-not-a-string",
    "foreign-kid",
    "jku",
    "header-not-utf8",
    "header-an-array",
    "header-null",
    "header-nested",
    "payload-nested",
    "payload-not-utf8",
    "huge",
    "many-dots",
    "non-ascii-bytes",
)


# One test per token (each goes to every route): the suite's workers share them out.
@pytest.mark.parametrize("kind", CRAFTED)
async def test_crafted_access_tokens_are_401_token_invalid_on_every_route(
    app: Sanic, client: httpx.AsyncClient, kind: str
) -> None:
    account = await make_account(Role.ADMIN)
    crafted = _crafted_tokens(app, account.public_id)
    assert set(crafted) == set(CRAFTED)
    token = crafted[kind]
    value = b"Bearer " + token if isinstance(token, bytes) else f"Bearer {token}"
    checked = 0
    for route in app.router.routes:
        path = "/" + re.sub(r"<[^>]+>", "x0000", route.path)
        ignored = ignores_token(route.handler)
        for method in sorted(route.methods):
            r = await client.request(method, path, headers={"Authorization": value})  # type: ignore[dict-item]
            assert r.status_code != 500, (method, path, token)
            if not ignored:
                assert r.status_code == 401, (method, path, r.text)
                assert method == "HEAD" or _error_code(r) in ("token_invalid", "401"), (method, path, r.text)
            checked += 1
    assert checked > 300  # every route, HEAD too
    # The genuine article still works (so the refusals above are about the tokens).
    assert (await client.get("/api/v1/me", headers=auth(await token_for(app, account)))).status_code == 200


async def test_transfer_codes_we_never_issued_are_404_or_422_whatever_their_bytes(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    buyer = auth(await token_for(app, await make_account(Role.RESIDENT)))
    owner = {"name": "王五", "id_number": id_number(2), "phone": "13912340002"}
    for code in ("\u202e" * 8, "../../etc/passwd", "x' OR '1'='1", "\u00e9" * 10, "0" * 32):
        r = await client.post("/api/v1/ebikes/transfers/accept", json={"code": code, "owner": owner}, headers=buyer)
        assert_error(r, 404, "transfer_not_found")
    for code in ("x" * 33, "abc", 123456):
        r = await client.post("/api/v1/ebikes/transfers/accept", json={"code": code, "owner": owner}, headers=buyer)
        assert_error(r, 422, "validation_failed")


async def test_refresh_tokens_we_never_issued_are_401_whatever_their_bytes(client: httpx.AsyncClient) -> None:
    for value in ("x" * 256, "rt_" + "A" * 43, "rt_" + "é" * 43, "rt_../../etc/passwd", " ", "\u202e" * 40):
        for path in ("/api/v1/auth/refresh", "/api/v1/auth/logout"):
            r = await client.post(path, json={"refresh_token": value})
            if path.endswith("refresh"):
                assert_error(r, 401, "refresh_invalid")
            else:
                assert r.status_code in (200, 204), r.text


# Cursors and other numbers that reach the database ---------------------------------------------


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


CRAFTED_FEED_CURSORS = [
    _cursor("10.1.9999999999999999999"),  # an id past PostgreSQL's bigint
    _cursor("11.0.9223372036854775808"),  # 2**63 exactly
    _cursor("00.1." + "9" * 25),
    _cursor("10.99999999999999999.1"),  # a moment past the calendar
    _cursor("10.9223372036854775807.9223372036854775807"),
    _cursor("10.-99999999999999999.1"),  # negative
    _cursor("10.-5.3"),
    _cursor("10.1.-3"),
    _cursor("10.1.0"),
    _cursor("10.1.\u0663"),  # an Arabic-Indic digit
    _cursor("10.1"),
    _cursor("20.1.1"),
    "!!!!",  # not base64
    "\u00e9\u00e9\u00e9\u00e9",  # not ASCII
    "_w",  # base64 of a byte that is not UTF-8
]


async def test_crafted_feed_cursors_are_422_bad_cursor(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = auth(await token_for(app, await make_account(Role.GRID_STAFF)))
    resident = auth(await token_for(app, await make_account(Role.RESIDENT)))
    for cursor in CRAFTED_FEED_CURSORS:
        r = await client.get("/api/v1/grid/feed", params={"cursor": cursor}, headers=staff)
        assert_error(r, 422, "bad_cursor")
    # The cursors the feed gives out still page through it.
    for n in range(3):
        filed = await client.post("/api/v1/reports", json={**REPORT, "text": f"楼道灯坏了第{n}盏"}, headers=resident)
        assert filed.status_code == 201, filed.text
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        page = await client.get(
            "/api/v1/grid/feed", params={"limit": 1, **({"cursor": cursor} if cursor else {})}, headers=staff
        )
        assert page.status_code == 200, page.text
        seen += [item["id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 3


async def test_feed_times_must_carry_an_offset_and_stay_in_the_calendar(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = auth(await token_for(app, await make_account(Role.GRID_STAFF)))
    for params in (
        {"since": "0001-01-01T00:00:00"},
        {"until": "9999-12-31T23:59:59"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"until": "9999-12-31T23:59:59-14:00"},
        {"since": "2026-11-01T00:00:00"},  # no offset: which zone?
    ):
        r = await client.get("/api/v1/grid/feed", params=params, headers=staff)
        assert_error(r, 422, "validation_failed")
    r = await client.get("/api/v1/grid/feed", params={"since": "2026-11-01T00:00:00+08:00"}, headers=staff)
    assert r.status_code == 200, r.text


async def test_a_last_event_id_beyond_64_bits_is_422(app: Sanic, client: httpx.AsyncClient) -> None:
    staff = auth(await token_for(app, await make_account(Role.GRID_STAFF)))
    for last_id in ("18446744073709551616-0", "99999999999999999999-0", "0-99999999999999999999"):
        r = await client.get("/api/v1/grid/feed/stream", headers={**staff, "Last-Event-ID": last_id})
        assert_error(r, 422, "bad_last_event_id")


async def test_an_account_list_cursor_that_names_no_account_is_422(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    for after in ("acc_doesnotexist00", "\u00e9", "0"):
        r = await client.get("/api/v1/accounts", params={"after": after}, headers=admin)
        assert_error(r, 422, "bad_cursor")
    first = await client.get("/api/v1/accounts", params={"limit": 1}, headers=admin)
    assert first.status_code == 200
    after = first.json()["next_after"]
    assert (await client.get("/api/v1/accounts", params={"after": after}, headers=admin)).status_code == 200


async def test_every_cursor_a_list_did_not_give_out_is_422_bad_cursor(app: Sanic, client: httpx.AsyncClient) -> None:
    # README: "Cursors are only what a list gave out: anything else, out-of-range numbers included, is
    # 422 bad_cursor": well-formed base64 of the wrong thing, too long, not a number, out of range.
    tokens = {role: auth(await token_for(app, await make_account(role))) for role in (Role.ADMIN, Role.GRID_STAFF)}
    crafted: list[tuple[Role, str, dict[str, str]]] = [
        (Role.ADMIN, "/api/v1/buildings", {"cursor": "eyJhIjoxfQ"}),  # {"a":1}
        (Role.ADMIN, "/api/v1/buildings", {"cursor": _cursor("GM" + "9" * 90)}),
        (Role.ADMIN, "/api/v1/buildings", {"cursor": "%%%"}),
        (Role.ADMIN, "/api/v1/buildings", {"cursor": "A" * 300}),
        (Role.ADMIN, "/api/v1/admin/notifications", {"cursor": "\u00e9" * 20}),
        (Role.ADMIN, "/api/v1/admin/notifications", {"cursor": "n" * 300}),
        (Role.ADMIN, "/api/v1/accounts", {"after": "a" * 300}),
        (Role.ADMIN, "/api/v1/admin/audit", {"after": str(2**63)}),
        (Role.ADMIN, "/api/v1/admin/audit", {"after": "-1"}),
        (Role.ADMIN, "/api/v1/admin/audit", {"after": "seq12"}),
        (Role.ADMIN, "/api/v1/qr/revocations", {"since": str(2**64)}),
        (Role.ADMIN, "/api/v1/qr/revocations", {"since": "-1"}),
        (Role.GRID_STAFF, "/api/v1/grid/feed", {"cursor": "A" * 300}),
    ]
    for role, path, params in crafted:
        r = await client.get(path, params=params, headers=tokens[role])
        assert_error(r, 422, "bad_cursor")
        assert "9" * 20 not in r.text and "A" * 20 not in r.text and "n" * 20 not in r.text  # never echoed
    # A cursor that a list gave out still pages.
    await make_account(Role.RESIDENT)
    first = await client.get("/api/v1/admin/audit", params={"limit": 1}, headers=tokens[Role.ADMIN])
    assert first.status_code == 200, first.text
    assert (
        await client.get("/api/v1/qr/revocations", params={"since": "0"}, headers=tokens[Role.ADMIN])
    ).status_code == 200


async def test_every_other_cursor_and_bound_answers_4xx_never_500(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    requests: list[tuple[str, dict[str, str], int]] = [
        ("/api/v1/buildings", {"cursor": _cursor("\x00")}, 422),
        ("/api/v1/buildings", {"cursor": _cursor("GM" + "9" * 90)}, 422),
        ("/api/v1/buildings", {"cursor": "%%%"}, 422),
        ("/api/v1/admin/notifications", {"cursor": "\u00e9" * 20}, 422),
        ("/api/v1/admin/notifications", {"limit": "9" * 30}, 422),
        ("/api/v1/admin/audit", {"after": str(2**63)}, 422),
        ("/api/v1/admin/audit", {"after": "-1"}, 422),
        ("/api/v1/admin/audit", {"since": "0001-01-01T00:00:00+14:00"}, 422),
        ("/api/v1/qr/revocations", {"since": str(2**64)}, 422),
        ("/api/v1/hierarchy/nodes", {"limit": "1e3"}, 422),
        ("/open311/v2/requests.json", {"start_date": "0001-01-01T00:00:00"}, 400),
        ("/open311/v2/requests.json", {"end_date": "9999-12-31T23:59:59-14:00"}, 400),
    ]
    for path, params, status in requests:
        r = await client.get(path, params=params, headers=admin)
        assert r.status_code == status, (path, params, r.text)


# Disconnects and request ids ----------------------------------------------------------------------


async def test_a_client_that_disconnects_is_logged_at_info_without_a_traceback(
    app: Sanic, running: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gmid")
    token = await token_for(app, await make_account(Role.RESIDENT))
    # Gone while the server reads the body: of a streamed photo, and of a JSON request.
    for path, media, sent in (
        ("/api/v1/reports/r_x/photos", "image/jpeg", b"\xff" * 1000),
        ("/api/v1/reports", "application/json", b'{"a":'),
    ):
        _, writer = await asyncio.open_connection("127.0.0.1", running.port)
        head = f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Type: {media}\r\n"
        writer.write(head.encode() + b"Content-Length: 100000\r\n\r\n" + sent)
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.transport.abort()
    for _ in range(50):
        if len([r for r in caplog.records if "client closed the connection" in r.getMessage()]) >= 2:
            break
        await asyncio.sleep(0.1)
    gone = [r for r in caplog.records if "client closed the connection" in r.getMessage()]
    assert len(gone) == 2 and all(r.levelno == logging.INFO and not r.exc_info for r in gone)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await Report.all().count() == 0


async def test_a_retry_after_a_disconnect_runs_again_rather_than_replaying_the_disconnect(
    app: Sanic, running: Any, client: httpx.AsyncClient
) -> None:
    token = await token_for(app, await make_account(Role.RESIDENT))
    resident = auth(token)
    report = await client.post("/api/v1/reports", json=REPORT, headers=resident)
    path = f"/api/v1/reports/{report.json()['id']}/photos"
    _, writer = await asyncio.open_connection("127.0.0.1", running.port)
    head = f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: photo-1\r\n"
    writer.write(head.encode() + b"Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n" + b"\xff" * 100)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.transport.abort()
    await asyncio.sleep(0.3)
    retry = await client.post(
        path, content=b"not a picture", headers={**resident, "Idempotency-Key": "photo-1", "Content-Type": "image/jpeg"}
    )
    assert "idempotent-replayed" not in retry.headers
    assert_error(retry, 422, "not_an_image")


async def test_only_plain_request_ids_reach_the_answer_and_the_audit_log(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    target = await make_account(Role.RESIDENT)
    refused = ["../../etc/passwd", "a.b.c.d.e.f", "host:8000:x", "1234567", "x" * 65, "req 12345678", "level=ERROR,x"]
    kept = ["f47ac10b-58cc-4372-a567-0e02b2c3d479", "client-req-00000042", "A" * 64]
    for supplied in refused + kept:
        r = await client.get(f"/api/v1/accounts/{target.public_id}", headers={**admin, "X-Request-ID": supplied})
        assert r.status_code == 200, r.text
        answered = r.headers["x-request-id"]
        if supplied in kept:
            assert answered == supplied
        else:
            assert answered != supplied and re.fullmatch(r"[0-9a-f]{32}", answered), (supplied, answered)
        entry = await AuditEntry.filter(action="account.read").order_by("-seq").first()
        assert entry is not None and entry.request_id == answered


# Strict types ------------------------------------------------------------------------------------

WRONG_JSON: dict[type, list[Any]] = {
    float: [True, False, "22.5", "nan", None, [1.0], {"v": 1}],
    int: [True, "5", 5.0, 5.5, [5]],
    bool: ["yes", "true", 1, 0, "1", None, [True]],
}
WRONG_TEXT: dict[type, list[str]] = {
    float: ["true", "yes", "nan", "inf", "-Infinity", "1_0", "0x10", " 22.5", "22,5"],
    int: ["true", "yes", "1.0", "1e3", "1e2", "nan", "1_000", " 5", "\u0665"],
    bool: ["yes", "no", "on", "off", "t", "y", "2"],
}


def _typed_fields(model: Any) -> list[tuple[str, type, bool]]:
    """(name, int/float/bool, nullable) of the model's top-level scalar fields."""
    found = []
    for name, field in model.model_fields.items():
        kind = scalar_type(field.annotation)
        if kind in (int, float, bool) and get_origin(field.annotation) not in (list, dict):
            found.append((field.alias or name, kind, type(None) in get_args(field.annotation)))
    return found


async def _first_allowed(
    client: httpx.AsyncClient, tokens: dict[Role | None, dict[str, str]], method: str, path: str, **kwargs: Any
) -> httpx.Response:
    for role in ROLES:
        r = await client.request(method, path, headers={**kwargs.pop("headers", {}), **tokens[role]}, **kwargs)
        if r.status_code not in (401, 403):
            return r
    return r


def _failing(r: httpx.Response) -> dict[str, str]:
    body = r.json()
    return {f["field"]: f["type"] for f in body["error"]["details"].get("fields", [])}


async def test_numbers_and_booleans_are_strict_in_every_json_body(app: Sanic, client: httpx.AsyncClient) -> None:
    tokens = await _tokens(app)
    checked = 0
    for route in app.router.routes:
        model = doc_of(route.handler).body
        if model is None or route.path.startswith("open311"):
            continue
        path = "/" + re.sub(r"<[^>]+>", "x0000", route.path)
        for method in route.methods:
            for name, kind, nullable in _typed_fields(model):
                for value in WRONG_JSON[kind]:
                    if value is None and nullable:
                        continue
                    r = await _first_allowed(client, tokens, method, path, json={name: value})
                    assert r.status_code == 422, (path, name, value, r.text)
                    assert name in _failing(r), (path, name, value, r.text)
                    checked += 1
    assert checked > 50
    assert await Report.all().count() == 0


async def test_a_float_field_takes_a_json_integer_and_the_report_keeps_its_types(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = auth(await token_for(app, await make_account(Role.RESIDENT)))
    for changes, field in (
        ({"lat": True}, "lat"),
        ({"anonymous": "yes"}, "anonymous"),
        ({"anonymous": 1}, "anonymous"),
    ):
        r = await client.post("/api/v1/reports", json={**REPORT, **changes, "lng": 113.9}, headers=resident)
        assert_error(r, 422, "validation_failed")
        assert field in _failing(r)
    assert await Report.all().count() == 0
    # Clients write 22 for 22.0: a JSON integer is a number.
    r = await client.post(
        "/api/v1/reports", json={**REPORT, "lat": 22, "lng": 113, "anonymous": True}, headers=resident
    )
    assert r.status_code == 201, r.text
    stored = await Report.get(public_id=r.json()["id"])
    assert (stored.lat, stored.lng, stored.anonymous) == (22.0, 113.0, True)


async def test_numbers_and_booleans_in_every_query_are_read_from_their_usual_spelling_only(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    tokens = await _tokens(app)
    checked = 0
    for route in app.router.routes:
        model = doc_of(route.handler).query
        if model is None:
            continue
        path = "/" + re.sub(r"<[^>]+>", "x0000", route.path)
        if route.path.startswith("open311"):
            path = path.replace("x0000", "x0000.json")
        for method in route.methods - {"HEAD", "OPTIONS"}:
            for name, kind, _ in _typed_fields(model):
                for value in WRONG_TEXT[kind]:
                    r = await _first_allowed(client, tokens, method, path, params={name: value})
                    assert r.status_code in (400, 422), (path, name, value, r.text)
                    if not path.startswith("/open311/"):
                        assert name in _failing(r), (path, name, value, r.text)
                    checked += 1
    assert checked > 40
    staff = tokens[Role.GRID_STAFF]
    for params in ({"overdue": "true"}, {"overdue": "0"}, {"overdue": "FALSE"}, {"limit": "+20"}):
        assert (await client.get("/api/v1/grid/feed", params=params, headers=staff)).status_code == 200, params
    resident = tokens[Role.RESIDENT]
    assert (await client.get("/api/v1/report-categories")).status_code == 200  # the default categories exist
    near = {"category": "urban_construction", "node": "GM010101", "lat": "22.75", "lng": "1.1394e2"}
    similar = await client.get("/api/v1/reports/similar", params=near, headers=resident)
    assert similar.status_code == 200, similar.text


async def test_open311_form_and_json_bodies_are_strict_too(app: Sanic, client: httpx.AsyncClient) -> None:
    for fields in ({"lat": "true", "long": "113.9"}, {"lat": "nan", "long": "113.9"}, {"lat": "22.7", "long": "yes"}):
        r = await client.post("/open311/v2/requests.json", data={"service_code": "x", "api_key": "k", **fields})
        assert r.status_code == 400, r.text
        assert "lat" in r.text or "long" in r.text
    r = await client.post(
        "/open311/v2/requests.json", json={"service_code": "x", "api_key": "k", "lat": True, "long": 113.9}
    )
    assert r.status_code == 400 and "lat" in r.text, r.text
    assert await Report.all().count() == 0
