"""Conformance vectors: every stored token gives its documented answer, in the codec and over HTTP.

The vectors (``tests/qr/vectors/*.json``) are signed with FIXED test-only keys (``vectors/keys.json``)
and checked against a fixed clock, so they stay valid; ``make_vectors.py`` recreates them byte for
byte. The registry answers (superseded, revoked, not_found) need a database: they are checked here
against the running app after issue, reissue and revoke.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import KeySet, OKPKey

from qr import codec, scanning, service
from qr.keys import load
from qr.models import Credential, ScanEvent
from server.settings import Settings
from tests.qr import make_vectors
from tests.qr.fixed_keyring import fixed_keyring

CODEC_CODES = {
    "ok",
    "malformed",
    "bad_signature",
    "unknown_key",
    "retired_key",
    "algorithm_not_allowed",
    "issued_in_future",
}
HTTP_STATUS = {"ok": 200, "malformed": 400, "not_found": 404, "revoked": 410, "superseded": 410}
BASE_URL = "https://eid.example.cn"  # the settings fixture's public base URL


def _vector_files() -> list[Path]:
    return sorted(p for p in make_vectors.VECTORS_DIR.glob("*.json") if p.name != "keys.json")


def _all_vectors() -> list[dict[str, Any]]:
    found = []
    for path in _vector_files():
        for entry in json.loads(path.read_text(encoding="utf-8"))["vectors"]:
            found.append({**entry, "file": path.name})
    return found


VECTORS = _all_vectors()


FIXED_RING = fixed_keyring()
TEST_KEYS = make_vectors.load_keys()


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['file'].removesuffix('.json')}/{entry['name']}"


# The files ------------------------------------------------------------------------------------------


def test_vector_files_are_what_the_generator_writes() -> None:
    expected = make_vectors.render_files(make_vectors.load_keys())
    stored = {p.name: p.read_text(encoding="utf-8") for p in make_vectors.VECTORS_DIR.glob("*.json")}
    assert sorted(stored) == sorted(expected), "run `.venv/bin/python -m tests.qr.make_vectors`"
    for name, text in expected.items():
        assert stored[name] == text, f"{name} is stale: run `.venv/bin/python -m tests.qr.make_vectors`"


def test_test_keys_are_marked_test_only_and_form_the_documented_keyring() -> None:
    document = json.loads((make_vectors.VECTORS_DIR / "keys.json").read_text(encoding="utf-8"))
    assert "TEST-ONLY" in document["WARNING"]
    statuses = {entry["name"]: entry["status"] for entry in document["keys"]}
    assert statuses == {"active": "active", "verifying": "verifying", "retired": "retired", "outsider": None}
    assert FIXED_RING.active_kid == TEST_KEYS["active"].kid
    assert {k: v.status for k, v in FIXED_RING.keys.items()} == {
        TEST_KEYS["active"].kid: "active",
        TEST_KEYS["verifying"].kid: "verifying",
        TEST_KEYS["retired"].kid: "retired",
    }


def test_vectors_cover_every_codec_answer_and_each_case_the_issue_names() -> None:
    assert {v["expected"] for v in VECTORS} == CODEC_CODES
    names = {v["name"] for v in VECTORS}
    required = {
        "valid-ebike",
        "legacy-valid-ebike",
        "legacy-valid-verifying-key",
        "legacy-retired-kid",
        "valid-building",
        "valid-board",
        "tampered-payload-serial",
        "tampered-signature-bit",
        "unknown-kid",
        "retired-kid",
        "alg-none-empty-signature",
        "alg-none-junk-signature",
        "hs256-raw-public-key",
        "hs256-jwk-json",
        "rs256-header",
        "es256-header",
        "iat-beyond-leeway",
        "iat-within-leeway",
        "truncated-signature",
        "junk-word",
        "payload-10kb",
        "non-canonical-signature",
        "crit-header",
        "two-parts",
        "claims-17-bytes",
        "claims-19-bytes",
    }
    assert required <= names
    assert len(names) == len(VECTORS), "vector names are unique"
    for v in VECTORS:
        assert v["description"] and isinstance(v["token"], str)
    ten_kb = next(v for v in VECTORS if v["name"] == "payload-10kb")
    assert len(make_vectors.b64url_decode(ten_kb["token"].split(".")[1])) == 10 * 1024


# The codec ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=_id)
def test_codec_gives_each_vector_its_documented_answer(vector: dict[str, Any]) -> None:
    if vector["expected"] == "ok":
        verified = codec.verify(vector["token"], FIXED_RING, now=vector["now"])
        claims = vector["claims"]
        assert verified.kid == vector["kid"]
        assert verified.claims.kind == claims["kind_code"]
        assert verified.claims.public_id.hex() == claims["public_id_hex"]
        assert verified.claims.public_id_text == claims["public_id"]
        assert verified.claims.serial == claims["serial"]
        assert verified.claims.iat == claims["iat"]
    else:
        with pytest.raises(codec.VerifyError) as refused:
            codec.verify(vector["token"], FIXED_RING, now=vector["now"])
        assert refused.value.code == vector["expected"], refused.value.message


def test_codec_signs_exactly_the_valid_vectors() -> None:
    """Our encoder writes the same bytes as the independent one in make_vectors (Ed25519 is deterministic)."""
    by_kid = {TEST_KEYS[name].kid: TEST_KEYS[name] for name in ("active", "verifying")}
    checked = 0
    for vector in VECTORS:
        if vector["expected"] != "ok" or vector["file"] == "legacy.json":
            continue  # legacy codes name their key by 8 characters: we no longer sign such codes
        key = by_kid[vector["kid"]]
        ring = dataclasses.replace(FIXED_RING, active_kid=key.kid, signer=key.private)
        c = vector["claims"]
        claims = codec.Claims(c["kind_code"], bytes.fromhex(c["public_id_hex"]), c["serial"], c["iat"])
        assert codec.sign(claims, ring) == vector["token"], vector["name"]
        assert codec.pack_claims(claims) == make_vectors.b64url_decode(c["payload_b64url"])
        checked += 1
    assert checked >= 8


def test_an_independent_jose_library_agrees_on_the_vectors() -> None:
    """joserfc, given only the public JWKS of the verifying keys, accepts exactly the codes whose
    signature and algorithm we accept."""
    jwks = {"keys": [info.jwk() for info in FIXED_RING.verifying()]}
    key_set = KeySet.import_key_set(json.loads(json.dumps(jwks)))  # exactly what a JSON file holds
    for vector in VECTORS:
        if vector["file"] == "time.json" or vector["name"] == "payload-10kb":
            continue  # time is ours to judge; a 10 KB token is refused by size before any JOSE work
        keys: KeySet | OKPKey = key_set
        kid = _header_kid(vector["token"])
        if isinstance(kid, str) and len(kid) == 8:
            # A legacy code: as the README tells verifiers, its 8 characters name the one JWKS key
            # whose kid starts with them.
            named = [k for k in jwks["keys"] if k["kid"].startswith(kid)]
            if len(named) != 1:
                assert vector["expected"] != "ok", vector["name"]
                continue
            keys = OKPKey.import_key(named[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SecurityWarning)  # "EdDSA is deprecated via RFC 9864"
            try:
                obj = jws.deserialize_compact(vector["token"], keys, algorithms=["EdDSA"])
            except (JoseError, ValueError):
                obj = None
        if vector["expected"] == "ok":
            assert obj is not None, vector["name"]
            assert obj.payload == make_vectors.b64url_decode(vector["claims"]["payload_b64url"])
        elif vector["expected"] in {"bad_signature", "unknown_key", "retired_key", "algorithm_not_allowed"}:
            assert obj is None, vector["name"]


def _header_kid(token: str) -> object:
    try:
        header = json.loads(make_vectors.b64url_decode(token.split(".")[0]))
    except ValueError:
        return None
    return header.get("kid") if isinstance(header, dict) else None


@pytest.mark.parametrize("legacy_files", [False, True], ids=["keyring", "legacy-keyring"])
def test_legacy_codes_verify_with_either_keyring_layout(legacy_files: bool, tmp_path: Path) -> None:
    """The codes signed with 8-character kids verify whether the keyring on disk is the earlier one
    (8-character kids in keyring.json and the .pem names) or one written since; new codes name the
    full thumbprint, and the keyring signs with the same key either way."""
    make_vectors.install_keyring(tmp_path, legacy=legacy_files)
    ring = load(tmp_path)
    assert ring.active_kid == TEST_KEYS["active"].kid and len(ring.active_kid) == 43
    assert [k["kid"] for k in ring.jwks()["keys"]] == [TEST_KEYS["active"].kid, TEST_KEYS["verifying"].kid]
    legacy = [v for v in VECTORS if v["file"] == "legacy.json"]
    assert {v["expected"] for v in legacy} == {"ok", "retired_key", "unknown_key"}
    for vector in legacy:
        if vector["expected"] == "ok":
            assert codec.verify(vector["token"], ring, now=vector["now"]).kid == vector["kid"], vector["name"]
        else:
            with pytest.raises(codec.VerifyError) as refused:
                codec.verify(vector["token"], ring, now=vector["now"])
            assert refused.value.code == vector["expected"], vector["name"]
    new = codec.sign(codec.Claims(1, bytes(8), 1, make_vectors.NOW), ring)
    assert _header_kid(new) == TEST_KEYS["active"].kid


# Over HTTP, with the fixed keys installed in the app -------------------------------------------------


@pytest.fixture
def fixed_keys(settings: Settings) -> Path:
    """Replace the app's generated QR keyring with the fixed test keyring (before the app starts)."""
    shutil.rmtree(settings.keys_path / "qr")
    return make_vectors.install_keyring(settings.keys_path)


def _scannable(vector: dict[str, Any]) -> bool:
    token = vector["token"]
    # The scan endpoint trims whitespace and takes at most 2048 characters; time vectors need the vector's clock.
    return bool(token.strip()) and token == token.strip() and len(token) <= 2048 and not vector["depends_on_now"]


async def _scan(client: httpx.AsyncClient, payload: str) -> tuple[int, str, dict[str, Any]]:
    response = await client.post("/api/v1/scan", json={"payload": payload})
    body = response.json()
    code = body["code"] if response.status_code == 200 else body["error"]["code"]
    return response.status_code, code, body


async def test_scan_endpoint_gives_each_vector_its_answer(fixed_keys: Path, client: httpx.AsyncClient) -> None:
    kinds = {1: "ebike", 2: "building", 3: "board"}
    scannable = [v for v in VECTORS if _scannable(v)]
    for vector in scannable:
        if vector["expected"] == "ok":
            c = vector["claims"]
            if await Credential.exists(public_id=c["public_id"]):
                continue  # a legacy code of the same credential and serial as a current one
            await Credential.create(
                kind=kinds[c["kind_code"]],
                public_id=c["public_id"],
                serial=c["serial"],
                subject_id=vector["name"],
                token=vector["token"],
                issued_at=datetime.fromtimestamp(c["iat"], UTC),
            )
    assert len(scannable) >= 50
    for index, vector in enumerate(scannable):
        # Alternate the two forms a scanner sends: the code's URL and the bare token.
        payload = vector["token"] if index % 2 else f"{BASE_URL}/q/{vector['token']}"
        if "://" in vector["token"] or "/" in vector["token"]:
            payload = vector["token"]
        status, code, body = await _scan(client, payload)
        expected = vector["expected"]
        if "://" in payload and not payload.startswith(f"{BASE_URL}/q/"):
            expected = "foreign_url"  # the scan endpoint checks the address before the token
        assert (status, code) == (HTTP_STATUS.get(expected, 422), expected), vector["name"]
        if code == "ok":
            assert body["valid"] is True
            assert body["public_id"] == vector["claims"]["public_id"]
            assert body["kind"] == kinds[vector["claims"]["kind_code"]]
        else:
            assert body["error"]["details"]["valid"] is False


# Registry answers: superseded, revoked, not_found ---------------------------------------------------


def _url(token: str) -> str:
    return f"{BASE_URL}/q/{token}"


async def test_reissue_makes_the_old_code_superseded(client: httpx.AsyncClient) -> None:
    first = await service.issue(kind="ebike", subject_id="bike-1", label="粤B 12345")
    old_token = first.token
    status, code, body = await _scan(client, _url(old_token))
    assert (status, code, body["public_id"]) == (200, "ok", first.public_id)

    second = await service.reissue(public_id=first.public_id)
    assert second.serial == 2 and second.token != old_token

    status, code, body = await _scan(client, _url(old_token))
    assert (status, code) == (410, "superseded")
    assert body["error"]["details"] == {
        "valid": False,
        "kind": "ebike",
        "public_id": first.public_id,
        "notice": "此码已被新码替换，不再有效。",  # what the code's page says too
    }
    # The old code is still a genuine signature: it is the registry that refuses it.
    assert codec.verify(old_token, service.keyring()).claims.serial == 1
    with pytest.raises(codec.VerifyError) as refused:
        await service.resolve(payload=old_token)
    assert refused.value.code == "superseded"

    status, code, _ = await _scan(client, second.token)
    assert (status, code) == (200, "ok")
    page = await client.get(f"/q/{old_token}")
    assert page.status_code == 410 and "已被新码替换" in page.text


async def test_revoke_refuses_every_serial_of_the_credential(client: httpx.AsyncClient) -> None:
    first = await service.issue(kind="building", subject_id="house-7")
    second = await service.reissue(public_id=first.public_id)
    await service.revoke(public_id=first.public_id, reason="demolished")
    for token in (first.token, second.token):
        status, code, body = await _scan(client, _url(token))
        assert (status, code) == (410, "revoked")
        assert body["error"]["details"]["public_id"] == first.public_id
    with pytest.raises(codec.VerifyError) as refused:
        await service.reissue(public_id=first.public_id)
    assert refused.value.code == "revoked"
    page = await client.get(f"/q/{second.token}")
    assert page.status_code == 410 and "已注销" in page.text


async def test_genuine_codes_the_registry_does_not_hold_are_not_found(client: httpx.AsyncClient) -> None:
    existing = await service.issue(kind="board", subject_id="member-3")
    raw_id = codec.decode_public_id(existing.public_id)
    assert raw_id is not None
    ring = service.keyring()
    now = int(time.time())
    cases = {
        "unknown id": codec.Claims(1, codec.new_public_id(), 1, now),
        "serial ahead of the registry": codec.Claims(3, raw_id, 2, now),
        "other kind with this id": codec.Claims(1, raw_id, 1, now),
        "unregistered kind code": codec.Claims(200, raw_id, 1, now),
    }
    for what, claims in cases.items():
        token = codec.sign(claims, ring)
        codec.verify(token, ring)  # a genuine signature
        status, code, _ = await _scan(client, _url(token))
        assert (status, code) == (404, "not_found"), what
    with pytest.raises(codec.VerifyError) as refused:
        await service.revoke(public_id="0000000000000", reason="x")
    assert refused.value.code == "not_found"


async def test_every_scan_is_logged_with_its_result(client: httpx.AsyncClient) -> None:
    credential = await service.issue(kind="ebike", subject_id="bike-9")
    await _scan(client, _url(credential.token))
    await service.reissue(public_id=credential.public_id)
    await _scan(client, _url(credential.token))
    await _scan(client, "not a code")
    await scanning.flush_scan_log()  # scan records are written in batches
    results = [e.result for e in await ScanEvent.all().order_by("id")]
    assert results == ["ok", "superseded", "malformed"]
    await scanning.flush_scan_log()  # scan records are written in batches
    logged = await ScanEvent.filter(public_id=credential.public_id).order_by("id")
    assert [e.result for e in logged] == ["ok", "superseded"]
    assert all(e.kind == "ebike" and e.audience == "anonymous" for e in logged)
