"""The QR service over real HTTP: JWKS, the signed revocation feed, the verifier bundle, scanning, the
public landing page, and the admin revoke/reissue routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from qr import codec, keys, kinds, scanning, service
from qr.kinds import KindSpec, ScanContext
from qr.models import Credential, ScanEvent
from server.settings import Settings
from tests.factories import auth, make_account, token_for

BASE = "https://eid.example.cn"


# Helpers --------------------------------------------------------------------------------------------


async def headers_for(app: Sanic, role: Role, node: str | None = None) -> dict[str, str]:
    account = await make_account(role, node=node)
    return auth(await token_for(app, account))


async def fetch_jwks(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks: dict[str, Any] = response.json()
    return jwks


def verify_jws(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """What an offline verifier does: pick the key by kid from the JWKS, check EdDSA, read the claims."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(token, key=jwt.PyJWK(jwk), algorithms=["EdDSA"], issuer=BASE)
    return claims


async def signed_document(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/jose")
    token = response.text
    assert token.count(".") == 2
    return verify_jws(token, await fetch_jwks(client))


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "details"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    return error


async def wait_for(predicate: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Poll (the keyring cache re-reads its file at most every 2 s)."""
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def sign_claims(kind: int, raw_id: bytes, serial: int, iat: int, ring: keys.Keyring | None = None) -> str:
    return codec.sign(codec.Claims(kind, raw_id, serial, iat), ring or service.keyring())


def tamper_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    swapped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{payload}.{signature[:middle]}{swapped}{signature[middle + 1 :]}"


@pytest.fixture
def testkind() -> Iterator[KindSpec]:
    """A kind whose view says which audience it was asked for, and whose owner is the subject id."""

    async def resolver(credential: Credential, context: ScanContext) -> dict[str, Any]:
        return {
            "audience": context.audience,
            "actor": context.viewer.account_id if context.viewer else None,
            "subject": credential.subject_id if context.audience != "anonymous" else None,
        }

    spec = kinds.register(KindSpec("testkind", 250, "测试", "测试", resolver=resolver), replace=True)
    yield spec
    kinds.unregister("testkind")


# JWKS -----------------------------------------------------------------------------------------------


async def test_jwks_is_cacheable_and_changes_on_rotation(client: httpx.AsyncClient, settings: Settings) -> None:
    first = await client.get("/.well-known/jwks.json")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert "max-age" in first.headers["cache-control"]
    [key] = first.json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" and key["use"] == "sig"
    assert "d" not in key
    assert key["kid"] == keys.kid_for(keys.b64url_decode(key["x"]))

    again = await client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    old_code = await service.issue(kind="building", subject_id="b-rot")
    new_kid = keys.rotate(settings.keys_path)

    async def two_keys() -> bool:
        return len((await fetch_jwks(client))["keys"]) == 2

    await wait_for(two_keys)
    rotated = await client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert rotated.status_code == 200
    assert rotated.headers["etag"] != etag
    kids = [k["kid"] for k in rotated.json()["keys"]]
    assert kids[0] == new_kid and key["kid"] in kids

    # Old codes keep verifying; new codes are signed by the new key.
    ok = await client.post("/api/v1/scan", json={"payload": old_code.token})
    assert ok.status_code == 200 and ok.json()["valid"] is True
    fresh = await service.issue(kind="building", subject_id="b-new")
    assert jwt.get_unverified_header(fresh.token)["kid"] == new_kid


# Revocation feed --------------------------------------------------------------------------------------


async def test_revocation_feed_is_signed_and_pages(client: httpx.AsyncClient) -> None:
    creds = [await service.issue(kind="ebike", subject_id=f"bike-{i}") for i in range(4)]
    await service.revoke(public_id=creds[0].public_id, reason="stolen")
    await service.reissue(public_id=creds[1].public_id)
    await service.revoke(public_id=creds[2].public_id, reason="scrapped")
    await service.reissue(public_id=creds[1].public_id)
    await service.revoke(public_id=creds[3].public_id, reason="stolen")

    whole = await signed_document(client, "/api/v1/qr/revocations")
    assert whole["iss"] == BASE
    assert whole["since"] == 0 and whole["until"] == 5 and whole["head"] == 5 and whole["more"] is False
    counters = [e["n"] for e in whole["entries"]]
    assert counters == [1, 2, 3, 4, 5]
    assert whole["entries"][0] == {
        "n": 1,
        "id": creds[0].public_id,
        "kind": "ebike",
        "min_serial": 2,
        "revoked": True,
        "at": whole["entries"][0]["at"],
    }
    assert [e["min_serial"] for e in whole["entries"] if e["id"] == creds[1].public_id] == [2, 3]

    # An offline scanner syncs in pages: since = the last until, while more.
    seen: list[int] = []
    since, rounds = 0, 0
    while True:
        page = await signed_document(client, f"/api/v1/qr/revocations?since={since}&limit=2")
        numbers = [e["n"] for e in page["entries"]]
        assert all(n > since for n in numbers)
        assert numbers == sorted(set(numbers))
        assert page["until"] == (numbers[-1] if numbers else since)
        seen += numbers
        since = page["until"]
        rounds += 1
        if not page["more"]:
            break
    assert seen == [1, 2, 3, 4, 5]
    assert rounds == 3

    tail = await signed_document(client, "/api/v1/qr/revocations?since=5")
    assert tail["entries"] == [] and tail["until"] == 5 and tail["more"] is False

    # A later change shows up above what the scanner has seen.
    await service.revoke(public_id=creds[1].public_id, reason="stolen")
    later = await signed_document(client, "/api/v1/qr/revocations?since=5")
    assert [(e["n"], e["id"], e["revoked"]) for e in later["entries"]] == [(6, creds[1].public_id, True)]


async def test_revocation_feed_signature_is_really_checked(client: httpx.AsyncClient) -> None:
    await service.revoke(public_id=(await service.issue(kind="ebike", subject_id="x")).public_id, reason="stolen")
    token = (await client.get("/api/v1/qr/revocations")).text
    head, payload, signature = token.split(".")
    forged_payload = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"revoked":true', b'"revoked":false')
    ).decode()
    assert forged_payload != payload
    with pytest.raises(jwt.InvalidSignatureError):
        verify_jws(f"{head}.{forged_payload}.{signature}", await fetch_jwks(client))


async def test_revocation_feed_refuses_bad_queries(client: httpx.AsyncClient) -> None:
    for query, code in (
        ("since=-1", "bad_cursor"),  # a counter is a cursor: only what the feed gave out
        ("since=abc", "bad_cursor"),
        ("limit=0", "validation_failed"),
        ("limit=100000", "validation_failed"),
    ):
        response = await client.get(f"/api/v1/qr/revocations?{query}")
        assert response.status_code == 422, query
        assert error_of(response)["code"] == code


# Verifier bundle -----------------------------------------------------------------------------------


async def test_verifier_bundle_is_signed_and_compacted(client: httpx.AsyncClient) -> None:
    reissued = await service.issue(kind="ebike", subject_id="bike-r")
    await service.reissue(public_id=reissued.public_id)
    await service.reissue(public_id=reissued.public_id)
    revoked = await service.issue(kind="building", subject_id="bld-r")
    await service.reissue(public_id=revoked.public_id)
    await service.revoke(public_id=revoked.public_id, reason="demolished")
    await service.issue(kind="board", subject_id="board-untouched")

    bundle = await signed_document(client, "/api/v1/qr/verifier-bundle")
    assert bundle["jwks"] == await fetch_jwks(client)
    assert bundle["kinds"]["1"] == "ebike" and bundle["kinds"]["2"] == "building" and bundle["kinds"]["3"] == "board"
    revocations = bundle["revocations"]
    assert revocations["until"] == 4
    by_id = {e["id"]: e for e in revocations["entries"]}
    assert len(revocations["entries"]) == 2 == len(by_id)  # one entry per credential
    assert by_id[reissued.public_id]["min_serial"] == 3 and by_id[reissued.public_id]["revoked"] is False
    assert by_id[revoked.public_id]["revoked"] is True


# Scanning -------------------------------------------------------------------------------------------


async def test_a_valid_code_scans_as_url_or_bare_token(client: httpx.AsyncClient) -> None:
    credential = await service.issue(kind="building", subject_id="bld-scan", label="1栋")
    payloads = [
        f"{BASE}/q/{credential.token}",
        f"{BASE.upper()}/q/{credential.token}",  # scheme and host are case-insensitive
        credential.token,
        f"  {credential.token}\n",
    ]
    for payload in payloads:
        response = await client.post("/api/v1/scan", json={"payload": payload, "lat": 22.75, "lng": 113.93})
        assert response.status_code == 200, (payload, response.text)
        body = response.json()
        assert body["valid"] is True and body["code"] == "ok"
        assert body["kind"] == "building" and body["public_id"] == credential.public_id
        assert body["status"] == "active"
        assert response.headers["cache-control"] == "no-store"
        # A kind without a resolver shows its kind and status, nothing about the subject.
        assert "bld-scan" not in response.text

    await scanning.flush_scan_log()  # scan records are written in batches
    events = await ScanEvent.all().order_by("id")
    assert len(events) == len(payloads)
    for event in events:
        assert (event.result, event.audience, event.actor) == ("ok", "anonymous", "")
        assert (event.public_id, event.kind) == (credential.public_id, "building")
        assert (event.lat, event.lng) == (22.75, 113.93)
        assert event.request_id


async def test_every_refusal_has_its_code_status_and_a_scan_log(client: httpx.AsyncClient) -> None:
    now = int(time.time())
    revoked = await service.issue(kind="ebike", subject_id="bike-rev")
    await service.revoke(public_id=revoked.public_id, reason="stolen")
    superseded = await service.issue(kind="ebike", subject_id="bike-sup")
    old_token = superseded.token
    await service.reissue(public_id=superseded.public_id)
    live = await service.issue(kind="ebike", subject_id="bike-live")
    live_id = codec.decode_public_id(live.public_id)
    assert live_id is not None

    stranger = keys.Keyring(keys={}, active_kid="ZZZZZZZZ", signer=Ed25519PrivateKey.generate(), version="x")
    kid = service.keyring().active_kid
    hs256 = jwt.api_jws.PyJWS().encode(
        codec.pack_claims(codec.Claims(1, live_id, 1, now)),
        "a-shared-secret-of-more-than-32-bytes!!",
        algorithm="HS256",
        headers={"kid": kid},
    )
    cases: list[tuple[str, str, int]] = [
        ("not a code at all", "malformed", 400),
        (f"{BASE}/elsewhere/{live.token}", "malformed", 400),
        (live.token[:-20], "bad_signature", 422),
        (tamper_signature(live.token), "bad_signature", 422),
        (sign_claims(1, codec.new_public_id(), 1, now), "not_found", 404),
        (sign_claims(1, live_id, 1, now, stranger), "unknown_key", 422),
        (hs256, "algorithm_not_allowed", 422),
        (sign_claims(1, live_id, 1, now + 3600), "issued_in_future", 422),
        (revoked.token, "revoked", 410),
        (old_token, "superseded", 410),
    ]
    for payload, code, status in cases:
        response = await client.post("/api/v1/scan", json={"payload": payload, "lat": -10.5, "lng": 170.25})
        assert response.status_code == status, (code, response.text)
        error = error_of(response)
        assert error["code"] == code
        assert error["details"]["valid"] is False
        if code in ("revoked", "superseded"):
            expected = revoked if code == "revoked" else superseded
            assert error["details"]["public_id"] == expected.public_id
            assert error["details"]["kind"] == "ebike"
        assert "bike-" not in response.text

    await scanning.flush_scan_log()  # scan records are written in batches
    events = await ScanEvent.all().order_by("id")
    assert [e.result for e in events] == [code for _, code, _ in cases]
    assert all(e.audience == "anonymous" and e.actor == "" for e in events)
    assert all((e.lat, e.lng) == (-10.5, 170.25) for e in events)
    by_result = {e.result: e for e in events}
    assert by_result["revoked"].public_id == revoked.public_id
    assert by_result["superseded"].public_id == superseded.public_id
    assert by_result["malformed"].public_id == ""


async def test_scan_refuses_invalid_requests(client: httpx.AsyncClient) -> None:
    token = (await service.issue(kind="ebike", subject_id="bike-v")).token
    bodies: list[dict[str, Any]] = [
        {"payload": token, "lat": 90.5},
        {"payload": token, "lat": -91},
        {"payload": token, "lng": 180.01},
        {"payload": token, "lng": -200},
        {"payload": "x" * 3000},
        {"payload": ""},
        {"payload": token, "extra": 1},
    ]
    for body in bodies:
        response = await client.post("/api/v1/scan", json=body)
        assert response.status_code == 422, (body, response.text)
        assert error_of(response)["code"] == "validation_failed"
    await scanning.flush_scan_log()  # scan records are written in batches
    assert await ScanEvent.all().count() == 0


async def test_a_scan_body_is_judged_alike_however_common_it_is(client: httpx.AsyncClient) -> None:
    """The usual body skips validation; every other one is validated as before: the same answers."""
    token = (await service.issue(kind="ebike", subject_id="bike-fast")).token
    taken: list[tuple[dict[str, Any], tuple[float, float] | None]] = [
        ({"payload": token}, None),
        ({"payload": token, "lat": 22, "lng": 113}, (22.0, 113.0)),  # integers, as clients write them
        ({"payload": token, "lat": 90, "lng": -180}, (90.0, -180.0)),
        ({"payload": token, "lat": None, "lng": None}, None),
        ({"lng": 113.5, "payload": token, "lat": -22.5}, (-22.5, 113.5)),
    ]
    for body, _ in taken:
        response = await client.post("/api/v1/scan", json=body)
        assert response.status_code == 200, (body, response.text)
    refused: list[dict[str, Any]] = [
        {"payload": token, "lat": True, "lng": 113},
        {"payload": token, "lat": "22.5", "lng": 113},
        {"payload": token, "lat": 22.5},
        {"payload": token, "lat": 22.5, "lng": None},
        {"payload": 42},
        {"payload": [token]},
        {"payload": token + "x" * (2049 - len(token))},
        {"payload": token, "lat": 22.5, "lng": 113.5, "alt": 3},
    ]
    for body in refused:
        response = await client.post("/api/v1/scan", json=body)
        assert response.status_code == 422, (body, response.text)
        assert error_of(response)["code"] == "validation_failed"
    infinite = f'{{"payload": "{token}", "lat": 1e400, "lng": 1}}'.encode()  # Python reads it as infinity
    response = await client.post("/api/v1/scan", content=infinite, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and error_of(response)["code"] == "validation_failed"
    foreign = await client.post("/api/v1/scan", json={"payload": f"扫码{token}"})  # not ASCII: validated, then read
    assert foreign.status_code == 400 and error_of(foreign)["code"] == "malformed"

    await scanning.flush_scan_log()  # scan records are written in batches
    events = await ScanEvent.all().order_by("id")
    assert [(e.lat, e.lng) if e.lat is not None else None for e in events[: len(taken)]] == [p for _, p in taken]
    assert all(isinstance(e.lat, float) for e in events[: len(taken)] if e.lat is not None)


AUDIENCES = [
    (None, "anonymous"),
    (Role.RESIDENT, "resident"),
    (Role.PARTY_MEMBER, "resident"),
    (Role.GRID_STAFF, "officer"),
    (Role.OFFICER, "officer"),
    (Role.POLICE, "police"),
    (Role.ADMIN, "admin"),
]


async def test_each_role_sees_its_own_view(client: httpx.AsyncClient, app: Sanic, testkind: KindSpec) -> None:
    credential = await service.issue(kind="testkind", subject_id="subject-7")
    actors: list[str] = []
    for role, audience in AUDIENCES:
        headers: dict[str, str] = {}
        actor = ""
        if role is not None:
            account = await make_account(role)
            actor = account.public_id
            headers = auth(await token_for(app, account))
        actors.append(actor)
        response = await client.post("/api/v1/scan", json={"payload": credential.token}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["kind"] == "testkind"
        assert body["view"]["audience"] == audience
        assert body["view"]["actor"] == (actor or None)
        assert body["view"]["subject"] == (None if role is None else "subject-7")

    await scanning.flush_scan_log()  # scan records are written in batches
    events = await ScanEvent.all().order_by("id")
    assert [(e.actor, e.audience) for e in events] == [
        (actor, audience) for actor, (_, audience) in zip(actors, AUDIENCES, strict=True)
    ]
    assert all(e.lat is None and e.lng is None and e.result == "ok" for e in events)


# The landing page -----------------------------------------------------------------------------------


@pytest.fixture
def plainkind() -> Iterator[KindSpec]:
    """A kind with no view resolver: a valid code of it is valid, whatever its subject id says."""
    spec = kinds.register(KindSpec("plainkind", 249, "光明区测试电子身份证", "测试"), replace=True)
    yield spec
    kinds.unregister("plainkind")


async def test_landing_page_for_a_valid_code(client: httpx.AsyncClient, plainkind: KindSpec) -> None:
    # (A building code whose building is not in the register is not "valid and registered": see
    # tests/qr/test_landing.py. A kind without a resolver is.)
    credential = await service.issue(kind="plainkind", subject_id="owner-张三-13800138000", label="3栋")
    response = await client.get(f"/q/{credential.token}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "光明区测试电子身份证" in page
    assert "有效" in page
    assert credential.public_id[:4] in page
    assert "张三" not in page and "13800138000" not in page and "owner-" not in page
    await scanning.flush_scan_log()  # scan records are written in batches
    [event] = await ScanEvent.all()
    assert (event.result, event.audience, event.public_id) == ("ok", "anonymous", credential.public_id)


async def test_landing_page_refuses_revoked_superseded_and_junk(client: httpx.AsyncClient) -> None:
    revoked = await service.issue(kind="ebike", subject_id="bike-张三")
    await service.revoke(public_id=revoked.public_id, reason="stolen")
    old = await service.issue(kind="ebike", subject_id="bike-2")
    old_token = old.token
    await service.reissue(public_id=old.public_id)

    cases = [
        (revoked.token, 410, "注销"),
        (old_token, 410, "替换"),
        ("junk", 400, "不是"),
        (tamper_signature(old_token), 422, "伪造"),
    ]
    for token, status, text in cases:
        response = await client.get(f"/q/{token}")
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        assert text in response.text
        assert "有效，已登记" not in response.text
        assert "张三" not in response.text
    await scanning.flush_scan_log()  # scan records are written in batches
    assert [e.result for e in await ScanEvent.all().order_by("id")] == [
        "revoked",
        "superseded",
        "malformed",
        "bad_signature",
    ]


# Admin routes ---------------------------------------------------------------------------------------


async def test_admin_revokes_and_reissues_with_audit(client: httpx.AsyncClient, app: Sanic) -> None:
    admin = await make_account(Role.ADMIN)
    headers = auth(await token_for(app, admin))
    credential = await service.issue(kind="building", subject_id="bld-a", node_path="/GM/GM01/GM0101/GM010101/")
    old_token = credential.token

    reissued = await client.post(f"/api/v1/credentials/{credential.public_id}/reissue", headers=headers)
    assert reissued.status_code == 200, reissued.text
    body = reissued.json()
    assert body["serial"] == 2 and body["status"] == "active" and body["id"] == credential.public_id
    new_token = body["url"].removeprefix(f"{BASE}/q/")
    assert body["url"].startswith(f"{BASE}/q/") and new_token != old_token
    assert (await client.post("/api/v1/scan", json={"payload": body["url"]})).status_code == 200
    assert error_of(await client.post("/api/v1/scan", json={"payload": old_token}))["code"] == "superseded"

    revoked = await client.post(
        f"/api/v1/credentials/{credential.public_id}/revoke", json={"reason": "demolished"}, headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"]
    assert error_of(await client.post("/api/v1/scan", json={"payload": new_token}))["code"] == "revoked"

    again = await client.post(f"/api/v1/credentials/{credential.public_id}/reissue", headers=headers)
    assert again.status_code == 410
    assert error_of(again)["code"] == "revoked"

    entries = await AuditEntry.filter(action__startswith="credential.").order_by("seq")
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("credential.reissue", admin.public_id, f"building:{credential.public_id}"),
        ("credential.revoke", admin.public_id, f"building:{credential.public_id}"),
    ]
    assert entries[1].reason == "demolished"
    assert all(e.request_id for e in entries)


async def test_admin_routes_refuse_others_and_bad_input(client: httpx.AsyncClient, app: Sanic) -> None:
    credential = await service.issue(kind="building", subject_id="bld-b", node_path="/GM/GM01/GM0101/GM010101/")
    url = f"/api/v1/credentials/{credential.public_id}"
    for role in (Role.OFFICER, Role.POLICE, Role.RESIDENT):
        headers = await headers_for(app, role)
        assert (await client.post(f"{url}/revoke", json={"reason": "x"}, headers=headers)).status_code == 403
        assert (await client.post(f"{url}/reissue", headers=headers)).status_code == 403
    assert (await client.post(f"{url}/reissue")).status_code == 401

    admin = await headers_for(app, Role.ADMIN)
    for reason in ("", "Not Snake", "x" * 33):
        response = await client.post(f"{url}/revoke", json={"reason": reason}, headers=admin)
        assert response.status_code == 422, reason
    missing = await client.post("/api/v1/credentials/0000000000000/revoke", json={"reason": "x"}, headers=admin)
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "credential_not_found"

    assert (await Credential.get(public_id=credential.public_id)).serial == 1
    assert await AuditEntry.filter(action__startswith="credential.").count() == 0


async def test_jwks_if_none_match_takes_weak_tags_and_lists(client: httpx.AsyncClient) -> None:
    first = await client.get("/.well-known/jwks.json")
    etag = first.headers["etag"]
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        again = await client.get("/.well-known/jwks.json", headers={"If-None-Match": header})
        assert again.status_code == 304, header


async def test_a_genuine_token_on_another_site_is_not_vouched_for(client: httpx.AsyncClient) -> None:
    """A real token copied into a look-alike sticker must not scan as valid."""
    credential = await service.issue(kind="building", subject_id="bld-phish")
    for payload in (
        f"https://evil.example.org/q/{credential.token}",
        f"https://other.example.org/prefix/q/{credential.token}",
        f"http://{BASE.split('://', 1)[1]}/q/{credential.token}",
        f"{BASE}/extra/q/{credential.token}",
    ):
        response = await client.post("/api/v1/scan", json={"payload": payload})
        assert response.status_code == 422, payload
        assert response.json()["error"]["code"] == "foreign_url"
    await scanning.flush_scan_log()  # scan records are written in batches
    assert await ScanEvent.filter(result="foreign_url").count() == 4


async def test_feed_documents_expire_and_say_what_they_are(client: httpx.AsyncClient) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    feed = (await client.get("/api/v1/qr/revocations")).text
    bundle = (await client.get("/api/v1/qr/verifier-bundle")).text
    assert jwt.get_unverified_header(feed)["typ"] == "gmid-revocations+jwt"
    assert jwt.get_unverified_header(bundle)["typ"] == "gmid-verifier-bundle+jwt"
    for document in (feed, bundle):
        claims = verify_jws(document, jwks)  # PyJWT checks exp as well
        assert 0 < claims["exp"] - claims["iat"] <= 24 * 3600


async def test_verifier_bundle_follows_new_revocations(client: httpx.AsyncClient) -> None:
    jwks = (await client.get("/.well-known/jwks.json")).json()
    first = verify_jws((await client.get("/api/v1/qr/verifier-bundle")).text, jwks)
    again = (await client.get("/api/v1/qr/verifier-bundle")).text
    assert verify_jws(again, jwks)["iat"] == first["iat"]  # served from the cache
    credential = await service.issue(kind="building", subject_id="bld-bundle")
    await service.revoke(public_id=credential.public_id, reason="lost")
    fresh = verify_jws((await client.get("/api/v1/qr/verifier-bundle")).text, jwks)
    assert credential.public_id in {e["id"] for e in fresh["revocations"]["entries"]}
