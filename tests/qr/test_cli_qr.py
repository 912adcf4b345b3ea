"""``gmid qr verify`` and ``gmid keys rotate|list|retire`` as an operator runs them: real subprocesses
on the test's database and keys, with their effect checked over HTTP against the running app."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import jwt
import pytest
from PIL import Image
from sanic import Sanic

from identity.roles import Role
from qr import service
from server.settings import Settings
from tests.factories import auth, make_account, token_for
from tests.support.cli import GMID, gmid


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(autouse=True)
def _gmid_installed() -> None:
    assert GMID.exists(), f"{GMID} is missing: run `make install`"


async def test_qr_verify_a_png_a_revoked_token_and_junk(
    client: httpx.AsyncClient, app: Sanic, settings: Settings, tmp_path: Path
) -> None:
    valid = await service.issue(kind="building", subject_id="bld-cli", node_path="/GM/GM01/")
    revoked = await service.issue(kind="ebike", subject_id="bike-cli")
    await service.revoke(public_id=revoked.public_id, reason="stolen")

    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    png = await client.get(f"/api/v1/credentials/{valid.public_id}/qr.png?size=300", headers=admin)
    assert png.status_code == 200
    code_file = tmp_path / "code.png"
    code_file.write_bytes(png.content)
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)

    results = await asyncio.gather(
        gmid(settings, "qr", "verify", str(code_file)),
        gmid(settings, "qr", "verify", revoked.token),
        gmid(settings, "qr", "verify", f"{settings.public_base_url}/q/{revoked.token}"),
        gmid(settings, "qr", "verify", "definitely-not-a-code"),
        gmid(settings, "qr", "verify", str(blank)),
    )
    (ok, ok_out, _), (rev, rev_out, _), (rev_url, rev_url_out, _), (junk, junk_out, _), blank_result = results

    assert ok == 0
    assert one_line(ok_out) == f"VALID building {valid.public_id} serial 1 status active"
    for code, out in ((rev, rev_out), (rev_url, rev_url_out)):
        assert code == 1
        line = one_line(out)
        assert line.startswith("INVALID revoked"), line
        assert revoked.public_id in line
    assert junk == 1
    assert one_line(junk_out).startswith("INVALID malformed")
    code, out, err = blank_result
    assert code == 2 and out == ""
    assert one_line(err).startswith("gmid: no QR code found")


def listed(stdout: str) -> dict[str, str]:
    """``gmid keys list``: one line per key, ``KID  STATUS  created ...``."""
    found = {}
    for line in stdout.strip().splitlines():
        match = re.match(r"^(\S{43})\s+(active|verifying|retired)\s+created \S+", line)
        assert match, line
        found[match.group(1)] = match.group(2)
    return found


async def test_keys_rotate_list_and_retire(client: httpx.AsyncClient, settings: Settings) -> None:
    old_code = await service.issue(kind="building", subject_id="bld-old")
    old_kid = jwt.get_unverified_header(old_code.token)["kid"]

    code, out, err = await gmid(settings, "keys", "rotate")
    assert code == 0, err
    new_kid = re.search(r"key (\S+) signs from now on", out)
    assert new_kid is not None
    new_kid_text = new_kid.group(1)
    assert new_kid_text != old_kid

    code, out, _ = await gmid(settings, "keys", "list")
    assert code == 0
    assert listed(out) == {old_kid: "verifying", new_kid_text: "active"}

    # The running app picks the new key up within its re-read interval: two keys, old codes still valid.
    deadline = time.monotonic() + 15  # the keyring is re-read every 2 s; a loaded machine is slow
    while len((await client.get("/.well-known/jwks.json")).json()["keys"]) != 2:
        assert time.monotonic() < deadline, "the app never saw the rotated keyring"
        await asyncio.sleep(0.1)
    assert (await client.post("/api/v1/scan", json={"payload": old_code.token})).status_code == 200
    new_code = await service.issue(kind="building", subject_id="bld-new")
    assert jwt.get_unverified_header(new_code.token)["kid"] == new_kid_text

    # The active key cannot be retired; an unknown kid is named.
    for kid, needle in ((new_kid_text, "active key"), ("nosuchky", "no key")):
        code, out, err = await gmid(settings, "keys", "retire", kid)
        assert code == 2 and out == ""
        assert one_line(err).startswith("gmid: ") and needle in err

    # The old code is still active: retiring its key is refused unless forced (tests/qr/test_reissue.py
    # reissues instead).
    code, out, err = await gmid(settings, "keys", "retire", old_kid)
    assert (code, out) == (2, "")
    assert one_line(err).startswith(f"gmid: 1 active codes are still signed by {old_kid}")
    code, out, err = await gmid(settings, "keys", "retire", old_kid, "--force")
    assert code == 0, err
    assert old_kid in out

    deadline = time.monotonic() + 15  # the keyring is re-read every 2 s; a loaded machine is slow
    while True:
        response = await client.post("/api/v1/scan", json={"payload": old_code.token})
        if response.status_code != 200:
            break
        assert time.monotonic() < deadline, "the app kept accepting a retired key"
        await asyncio.sleep(0.1)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "retired_key"
    landing = await client.get(f"/q/{old_code.token}")
    assert landing.status_code == 422
    assert "有效，已登记" not in landing.text
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid_text]
    assert (await client.post("/api/v1/scan", json={"payload": new_code.token})).status_code == 200

    code, out, _ = await gmid(settings, "keys", "list")
    assert listed(out) == {old_kid: "retired", new_kid_text: "active"}
    assert "retired 20" in out
    assert not (settings.keys_path / "qr" / f"{old_kid}.pem").exists()

    code, out, _ = await gmid(settings, "qr", "verify", old_code.token)
    assert code == 1
    assert one_line(out).startswith("INVALID retired_key")


async def test_retire_takes_a_kid_that_starts_with_a_dash(settings: Settings, running: object) -> None:
    """Kids are base64url: about one in 32 starts with "-", which argparse would read as an option."""
    from qr import keys as qr_keys

    for _ in range(3000):  # rotate until the previous active key's kid starts with "-" (~1 in 64)
        old = qr_keys.load(settings.keys_path).active_kid
        qr_keys.rotate(settings.keys_path)
        if old.startswith("-"):
            break
    else:
        pytest.fail("no kid starting with '-' in 3000 keys")
    code, out, err = await gmid(settings, "keys", "retire", old)
    assert code == 0, err
    assert old in out
    assert qr_keys.load(settings.keys_path).keys[old].status == "retired"
