"""QR signing keys: derived kids, owner-only files, rotation, retirement, the JWKS, and the cache that
sees a rotation made by another process."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import stat
import time
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import OKPKey

from qr import codec, keys
from qr.keys import KeyringCache, KeyringError
from server.keyfiles import KeyFileError
from server.settings import Settings

RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"  # RFC 8037 appendix A.2
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # RFC 8037 appendix A.3


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def rfc7638_thumbprint(jwk: dict[str, str]) -> str:
    """Computed here from the JWK alone: the required OKP members, sorted, no whitespace, SHA-256."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _claims(serial: int = 1) -> codec.Claims:
    return codec.Claims(1, bytes.fromhex("0011223344556677"), serial, int(time.time()))


@pytest.fixture
def keys_path(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    keys.ensure_keyring(path)
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_thumbprint_matches_the_rfc_8037_example() -> None:
    assert keys.thumbprint(base64.urlsafe_b64decode(RFC8037_X + "=")) == RFC8037_THUMBPRINT
    assert rfc7638_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}) == RFC8037_THUMBPRINT


def test_kid_is_the_full_rfc_7638_thumbprint(keys_path: Path) -> None:
    keys.rotate(keys_path)
    ring = keys.load(keys_path)
    assert len(ring.keys) == 2
    for info in ring.keys.values():
        jwk = info.jwk()
        full = rfc7638_thumbprint(jwk)
        assert info.kid == full == jwk["kid"]
        assert len(info.kid) == keys.KID_LENGTH == 43
        # joserfc computes the same thumbprint from the public JWK
        assert OKPKey.import_key({k: jwk[k] for k in ("kty", "crv", "x")}).thumbprint() == full
        assert (keys_path / "qr" / f"{full}.pem").exists() or info.status != keys.ACTIVE
    # New codes name the full thumbprint.
    header = json.loads(keys.b64url_decode(codec.sign(_claims(), ring).split(".")[0]))
    assert header == {"alg": "EdDSA", "kid": ring.active_kid}


def _legacy_keyring(keys_path: Path) -> tuple[str, str]:
    """A keyring as the earlier qr/keys.py left it: 8-character kids in keyring.json and in the .pem
    names. Returns the (old, active) full kids."""
    keys.rotate(keys_path)
    folder = keys_path / "qr"
    state = json.loads((folder / "keyring.json").read_text())
    fulls = []
    for entry in state["keys"]:
        fulls.append(entry["kid"])
        (folder / f"{entry['kid']}.pem").rename(folder / f"{entry['kid'][:8]}.pem")
        entry["kid"] = entry["kid"][:8]
    state["active"] = state["active"][:8]
    (folder / "keyring.json").write_text(json.dumps(state))
    return fulls[0], fulls[1]


def test_a_keyring_written_with_8_character_kids_loads_with_full_kids(keys_path: Path) -> None:
    old_full, active_full = _legacy_keyring(keys_path)
    ring = keys.load(keys_path)
    assert ring.active_kid == active_full
    assert sorted(ring.keys) == sorted([old_full, active_full])
    assert [k["kid"] for k in ring.jwks()["keys"]] == [active_full, old_full]  # the JWKS lists full kids
    # A code signed by the old key as it was then (8-character kid) verifies, naming the full kid.
    old_code = _sign_with_kid(keys_path, old_full[:8], old_full[:8])
    assert codec.verify(old_code, ring).kid == old_full
    # The operator may name a key by either form; retiring by the old form deletes its old-named file.
    keys.retire(keys_path, old_full[:8])
    assert not (keys_path / "qr" / f"{old_full[:8]}.pem").exists()
    after = keys.load(keys_path)
    assert after.keys[old_full].status == keys.RETIRED
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(old_code, after)
    assert refused.value.code == "retired_key"
    # Rotation goes on from a legacy file: the new key has a full kid and the old active one verifies.
    newest = keys.rotate(keys_path)
    ring = keys.load(keys_path)
    assert len(newest) == 43 and ring.active_kid == newest
    assert ring.keys[active_full].status == keys.VERIFYING


def _sign_with_kid(keys_path: Path, file_kid: str, header_kid: str) -> str:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key((keys_path / "qr" / f"{file_kid}.pem").read_bytes(), None)
    header_b64 = _b64url(json.dumps({"alg": "EdDSA", "kid": header_kid}, separators=(",", ":")).encode())
    payload_b64 = _b64url(codec.pack_claims(_claims()))
    signature = private.sign(f"{header_b64}.{payload_b64}".encode())  # type: ignore[union-attr,call-arg]
    return f"{header_b64}.{payload_b64}.{_b64url(signature)}"


def test_a_legacy_kid_shared_by_two_keys_names_neither(keys_path: Path) -> None:
    ring = keys.load(keys_path)
    info = ring.keys[ring.active_kid]
    twin_kid = info.kid[:8] + "x" * 35  # another key whose thumbprint starts the same (48 bits: made up)
    twins = dataclasses.replace(ring, keys={**ring.keys, twin_kid: dataclasses.replace(info, kid=twin_kid)})
    assert twins.find(info.kid) is info
    assert twins.find(info.kid[:8]) is None
    assert ring.find(info.kid[:8]) is info
    legacy = codec.sign(_claims(), dataclasses.replace(ring, active_kid=info.kid[:8]))
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(legacy, twins)
    assert refused.value.code == "unknown_key"
    assert codec.verify(legacy, ring).kid == info.kid


def test_first_key_is_created_once_and_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    created = keys.ensure_keyring(path)
    assert len(created) == 2
    assert keys.ensure_keyring(path) == []  # never replaces an existing keyring
    kid = keys.rotate(path)
    folder = path / "qr"
    pems = sorted(folder.glob("*.pem"))
    assert len(pems) == 2 and folder / f"{kid}.pem" in pems
    for pem in pems:
        assert _mode(pem) == 0o600, pem
    assert _mode(folder / "keyring.json") == 0o600
    assert _mode(folder) == 0o700
    # The public keyring never holds private material.
    assert "PRIVATE" not in (folder / "keyring.json").read_text()


def test_rotate_new_key_signs_old_key_keeps_verifying(keys_path: Path) -> None:
    before = keys.load(keys_path)
    old_token = codec.sign(_claims(), before)
    new_kid = keys.rotate(keys_path)
    after = keys.load(keys_path)

    assert new_kid != before.active_kid and after.active_kid == new_kid
    assert after.keys[before.active_kid].status == keys.VERIFYING
    new_token = codec.sign(_claims(), after)
    assert codec.verify(new_token, after).kid == new_kid
    assert codec.verify(old_token, after).kid == before.active_kid
    # A keyring from before the rotation does not know the new key.
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(new_token, before)
    assert refused.value.code == "unknown_key"


def test_retire_refuses_old_codes_and_deletes_the_private_key(keys_path: Path) -> None:
    old = keys.load(keys_path)
    old_token = codec.sign(_claims(), old)
    keys.rotate(keys_path)
    keys.retire(keys_path, old.active_kid)

    ring = keys.load(keys_path)
    assert ring.keys[old.active_kid].status == keys.RETIRED
    assert ring.keys[old.active_kid].retired_at
    assert not (keys_path / "qr" / f"{old.active_kid}.pem").exists()
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(old_token, ring)
    assert refused.value.code == "retired_key"
    # New codes still work; retiring twice is harmless.
    assert codec.verify(codec.sign(_claims(), ring), ring).kid == ring.active_kid
    keys.retire(keys_path, old.active_kid)
    assert keys.load(keys_path).keys[old.active_kid].status == keys.RETIRED


def test_retiring_the_active_or_an_unknown_key_is_refused(keys_path: Path) -> None:
    ring = keys.load(keys_path)
    with pytest.raises(KeyringError, match="active"):
        keys.retire(keys_path, ring.active_kid)
    with pytest.raises(KeyringError):
        keys.retire(keys_path, "nosuchk1")
    after = keys.load(keys_path)
    assert after.keys[ring.active_kid].status == keys.ACTIVE
    assert (keys_path / "qr" / f"{ring.active_kid}.pem").exists()


def test_jwks_lists_only_keys_that_verify(keys_path: Path) -> None:
    first = keys.load(keys_path).active_kid
    second = keys.rotate(keys_path)
    third = keys.rotate(keys_path)
    keys.retire(keys_path, first)
    ring = keys.load(keys_path)
    jwks = ring.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [third, second]  # the active key first
    for jwk in jwks["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}  # never "d"
        assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
        assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32
        assert rfc7638_thumbprint(jwk) == jwk["kid"]


def test_a_keyring_entry_that_does_not_match_its_key_is_refused(keys_path: Path) -> None:
    state_path = keys_path / "qr" / "keyring.json"
    state = json.loads(state_path.read_text())
    state["keys"][0]["x"] = _b64url(bytes(32))
    state_path.write_text(json.dumps(state))
    with pytest.raises(KeyFileError, match="does not match"):
        keys.load(keys_path)


def test_a_missing_keyring_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="gmid keys init"):
        keys.load(tmp_path / "nothing")


def test_cache_picks_up_a_rotation_and_a_retirement_by_another_process(keys_path: Path) -> None:
    cache = KeyringCache(keys_path, interval=0.05)
    old_kid = cache.get().active_kid
    old_token = codec.sign(_claims(), cache.get())

    new_kid = keys.rotate(keys_path)  # what `gmid keys rotate` does in another process
    time.sleep(0.1)
    ring = cache.get()
    assert ring.active_kid == new_kid
    assert codec.verify(old_token, ring).kid == old_kid

    keys.retire(keys_path, old_kid)
    time.sleep(0.1)
    with pytest.raises(codec.VerifyError) as refused:
        codec.verify(old_token, cache.get())
    assert refused.value.code == "retired_key"


def test_cache_keeps_its_keyring_between_checks_and_reload_forces_one(keys_path: Path) -> None:
    cache = KeyringCache(keys_path, interval=3600)
    old_kid = cache.get().active_kid
    new_kid = keys.rotate(keys_path)
    assert cache.get().active_kid == old_kid  # not re-read before the interval
    assert cache.reload().active_kid == new_kid
    assert cache.get().active_kid == new_kid


async def test_jwks_endpoint_serves_the_keyring_cacheably(client: httpx.AsyncClient, settings: Settings) -> None:
    ring = keys.load(settings.keys_path)
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json() == ring.jwks()
    assert [k["kid"] for k in response.json()["keys"]] == [ring.active_kid]
    assert "public" in response.headers["cache-control"] and "max-age" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = await client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # No login needed: any verifier may fetch it.
    assert "authorization" not in {h.lower() for h in response.request.headers}
