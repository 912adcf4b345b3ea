"""deploy/nginx/gmid.conf as shipped: `nginx -t` accepts it, and a real nginx started with it on loopback
(TLS with a certificate made here) in front of a running app passes an API call, an SSE event at once
(unbuffered), refuses /metrics to a client outside the monitoring network, and hands the app the
client's own address (X-Forwarded-For with GMID_PROXIES_COUNT=1), not one the client made up.

Skipped only where nginx is not installed; `.ci/run` installs it, so CI always runs this."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from identity.roles import Role
from miniapp_api.devices import events
from qr import scanning, service
from qr.models import ScanEvent
from server.app import create_app
from server.settings import Settings
from tests.factories import auth, make_account, token_for
from tests.support.app_server import RunningApp

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "gmid.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
# The client connects from another loopback address than nginx's own: the app must see this one.
CLIENT_ADDR = "127.0.0.3"


async def logged_line(log: Path, wanted: str, seconds: float = 5.0) -> str:
    """The access log once it holds `wanted` (nginx may log a request just after the client has its answer)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while wanted not in (logged := await asyncio.to_thread(log.read_text)):
        assert asyncio.get_running_loop().time() < deadline, f"{wanted!r} never logged: {logged!r}"
        await asyncio.sleep(0.02)
    return logged


pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (.ci/run installs it)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eid.example.cn")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "fullchain.pem", folder / "privkey.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def local_config(folder: Path, app_port: int, http_port: int, https_port: int) -> Path:
    """The shipped file with only what a machine changes: the instances' ports, the listening ports,
    the certificate paths; wrapped in the few lines of Debian's nginx.conf it relies on."""
    cert, key = self_signed(folder)
    text = CONF.read_text()
    servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", text, flags=re.M)
    assert len(servers) >= 2, "the upstream lists several instances"
    text = text.replace(servers[0], f"    server 127.0.0.1:{app_port} max_fails=3 fail_timeout=10s;")
    for line in servers[1:]:
        text = text.replace(line + "\n", "")
    text = re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.M)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = text.replace("/etc/ssl/gmid/fullchain.pem", str(cert)).replace("/etc/ssl/gmid/privkey.pem", str(key))
    text = text.replace("/var/log/nginx/gmid.access.log", str(folder / "access.log"))
    (folder / "gmid.conf").write_text(text)
    main = folder / "nginx.conf"
    main.write_text(
        f"""
daemon off;
master_process off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/gmid.conf;
}}
"""
    )
    return main


@pytest.fixture
def nginx_dir(short_dir: Path) -> Iterator[Path]:
    yield short_dir


def test_the_shipped_configuration_is_valid(nginx_dir: Path) -> None:
    assert NGINX is not None
    main = local_config(nginx_dir, free_port(), free_port(), free_port())
    done = subprocess.run(
        [NGINX, "-t", "-p", str(nginx_dir), "-c", str(main)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


async def test_requests_pass_through_nginx_as_the_configuration_says(settings: Settings, nginx_dir: Path) -> None:
    assert NGINX is not None
    app = create_app(settings.replace(proxies_count=1))
    async with RunningApp(app) as server:
        https_port = free_port()
        main = local_config(nginx_dir, server.port, free_port(), https_port)
        proc = await asyncio.create_subprocess_exec(
            NGINX, "-p", str(nginx_dir), "-c", str(main), stderr=asyncio.subprocess.PIPE
        )
        transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDR, verify=False)
        try:
            async with httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{https_port}", transport=transport, timeout=10
            ) as http:
                for _ in range(100):  # nginx is listening within a few tens of milliseconds
                    try:
                        ready = await http.get("/readyz")
                        break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.05)
                assert ready.status_code == 200
                assert ready.headers["strict-transport-security"].startswith("max-age=")

                # An API call, with a made-up X-Forwarded-For: the app records the real client address.
                credential = await service.issue(kind="ebike", subject_id="bike-nginx")
                scanned = await http.post(
                    "/api/v1/scan", json={"payload": credential.token}, headers={"X-Forwarded-For": "6.6.6.6"}
                )
                assert scanned.status_code == 200, scanned.text
                await scanning.flush_scan_log()
                event = await ScanEvent.get(public_id=credential.public_id)
                assert event.client_addr == CLIENT_ADDR

                # /metrics: refused through nginx to a client outside the monitoring network.
                assert (await http.get("/metrics")).status_code == 403
                async with httpx.AsyncClient(base_url=server.base_url) as direct:
                    assert (await direct.get("/metrics")).status_code == 200

                # The access log keeps the path, never the query (it may carry an ID number) nor a referrer.
                secret = "id_number=110101199003071234"
                await http.get(f"/api/v1/police/ebikes?{secret}", headers={"Referer": f"https://x.example/?{secret}"})
                # nginx writes the line in its log phase, after the answer is on its way: wait for it.
                logged = await logged_line(nginx_dir / "access.log", '"GET /api/v1/police/ebikes HTTP/')
                assert "110101199003071234" not in logged and "id_number" not in logged

                # A body over GMID_MAX_BODY_BYTES stops at nginx (413) before it reaches an instance.
                too_big = await http.post("/api/v1/scan", content=b"x" * (settings.max_body_bytes + 1024))
                assert too_big.status_code == 413

                # SSE: an alarm published while the stream is open arrives at once, not at a buffer's end.
                officer = await make_account(Role.OFFICER)
                headers = auth(await token_for(app, officer))
                node = (await officer.node).path if officer.node else "/"  # type: ignore[union-attr]
                async with http.stream("GET", "/api/v1/device-alarms/stream", headers=headers) as stream:
                    assert stream.status_code == 200
                    assert stream.headers["content-type"].startswith("text/event-stream")
                    await events.publish(
                        alarm_id="al_nginx",
                        node_path=f"{node}",
                        device="dev_nginx",
                        alarm_type="gas",
                        severity="warning",
                        state="raised",
                        change="raise",
                    )

                    async def first_alarm() -> str:
                        async for line in stream.aiter_lines():
                            if line.startswith("data:") and "al_nginx" in line:
                                return line
                        return ""

                    assert "dev_nginx" in await asyncio.wait_for(first_alarm(), timeout=3)
        finally:
            proc.terminate()
            _, err = await proc.communicate()
            assert b"emerg" not in err, err.decode()
