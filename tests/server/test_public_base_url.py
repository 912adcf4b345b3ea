"""With GMID_PUBLIC_BASE_URL unset, QR codes point at the address the server listens on: host and
port from the settings or from `gmid serve --host/--port`, not a fixed port 8000."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from qr.models import Credential
from server.settings import Settings
from tests.factories import auth, make_account, token_for
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.server.test_lingering_close import oversize_login
from tests.support.cli import GMID, gmid_env


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"GMID_PORT": "8123"}, "http://127.0.0.1:8123"),
        ({"GMID_HOST": "0.0.0.0", "GMID_PORT": "9000"}, "http://127.0.0.1:9000"),  # noqa: S104
        ({"GMID_HOST": "::", "GMID_PORT": "9001"}, "http://127.0.0.1:9001"),
        ({"GMID_HOST": "::1", "GMID_PORT": "9002"}, "http://[::1]:9002"),
        ({"GMID_HOST": "eid.lan", "GMID_PORT": "80"}, "http://eid.lan:80"),
        ({"GMID_PORT": "8123", "GMID_PUBLIC_BASE_URL": "https://eid.example.cn/"}, "https://eid.example.cn"),
    ],
)
def test_the_default_public_address_follows_host_and_port(env: dict[str, str], expected: str) -> None:
    settings = Settings.from_env(env, env_file=None)
    assert settings.public_base_url == expected
    assert settings.public_base_url_derived is ("GMID_PUBLIC_BASE_URL" not in env)


def test_a_new_port_moves_a_derived_address_and_never_a_set_one() -> None:
    derived = Settings.from_env({"GMID_PORT": "8123"}, env_file=None)
    assert derived.replace(port=9100).public_base_url == "http://127.0.0.1:9100"
    assert derived.replace(host="10.1.2.3", port=9100).public_base_url == "http://10.1.2.3:9100"
    assert derived.replace(workers=2).public_base_url == "http://127.0.0.1:8123"
    assert derived.replace(public_base_url="https://eid.example.cn").replace(port=1).public_base_url == (
        "https://eid.example.cn"
    )
    explicit = Settings.from_env({"GMID_PUBLIC_BASE_URL": "https://eid.example.cn"}, env_file=None)
    assert explicit.replace(port=9100).public_base_url == "https://eid.example.cn"
    assert Settings().public_base_url == Settings.from_env({}, env_file=None).public_base_url


async def test_gmid_serve_on_another_port_serves_codes_that_point_at_it(
    app: Sanic, settings: Settings, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    credential = await Credential.get(kind="building", subject_id=row(1)["code"])
    headers = auth(await token_for(app, await make_account(Role.ADMIN)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = gmid_env(settings)
    del env["GMID_PUBLIC_BASE_URL"]
    env["GMID_NOTIFY_WORKER"] = "false"
    env["GMID_MAX_BODY_BYTES"] = "4096"
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        *("serve", "--port", str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(Path(settings.var_dir).parent),
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            r = await http.get(f"/api/v1/credentials/{credential.public_id}", headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["url"] == f"http://127.0.0.1:{port}/q/{credential.token}"
            # The code's own page is there, at that address.
            page = await http.get(r.json()["url"].removeprefix(f"http://127.0.0.1:{port}"))
            assert page.status_code == 200
            # While it runs: the served protocol closes lingering, so an upload still streaming when
            # it is refused reads its 413 (tests/server/test_lingering_close.py says why).
            for _ in range(10):
                r = await http.post("/api/v1/auth/login", content=oversize_login(), headers=JSON)
                assert r.status_code == 413, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert f"QR codes point at http://127.0.0.1:{port}/q/ (GMID_PUBLIC_BASE_URL unset)" in out.decode()


JSON = {"Content-Type": "application/json"}
