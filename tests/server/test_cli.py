"""The ``gmid`` command as an operator runs it: a real subprocess, the same database as the app.

Each call runs ``gmid`` from this virtualenv with only ``GMID_VAR_DIR``, ``GMID_DATABASE_URL`` and
``GMID_REDIS_URL`` set (the test's own database and Redis, so PostgreSQL under CI), and its answer is
checked over real HTTP against the app serving that same database.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from identity.models import Account
from identity.roles import Role
from server.settings import Settings
from tests.factories import auth, make_staff_with_password

GMID = Path(sys.executable).parent / "gmid"
PASSWORD = "Correct-Horse-42"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def gmid_env(var_dir: Path, settings: Settings) -> dict[str, str]:
    # No GMID_* from the caller's shell: the command sees exactly this test's settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    env["GMID_VAR_DIR"] = str(var_dir)
    env["GMID_DATABASE_URL"] = settings.database_url or ""
    env["GMID_REDIS_URL"] = settings.redis_url or ""
    env["GMID_LOG_LEVEL"] = "WARNING"
    return env


async def gmid(settings: Settings, *args: str, stdin: str | None = None, var_dir: Path | None = None) -> Result:
    folder = var_dir or Path(settings.var_dir)
    proc = await asyncio.create_subprocess_exec(
        str(GMID),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=gmid_env(folder, settings),
        # Not the repository: a developer's .env there must not leak into the command.
        cwd=str(folder.parent),
    )
    out, err = await asyncio.wait_for(proc.communicate((stdin or "").encode()), timeout=60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def assert_one_line_error(result: Result) -> str:
    assert result.code != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gmid: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"username": username, "password": password})


@pytest.fixture(autouse=True)
def _gmid_installed() -> None:
    assert GMID.exists(), f"{GMID} is missing: run `make install`"


# keys ------------------------------------------------------------------------------------------------


async def test_keys_init_creates_owner_only_keys_once(settings: Settings, tmp_path: Path) -> None:
    var_dir = tmp_path / "fresh-var"

    first = await gmid(settings, "keys", "init", var_dir=var_dir)
    assert first.code == 0, first.stderr
    created = [Path(line.removeprefix("created ")) for line in first.stdout.splitlines() if line.startswith("created ")]
    assert created, first.stdout
    keys_dir = var_dir / "keys"
    every_file = sorted(p for p in keys_dir.rglob("*") if p.is_file())
    # Every key created is reported; the QR keyring's lock file holds no secret and is not a key.
    on_disk = [p for p in every_file if p.name != ".lock"]
    assert sorted(created) == on_disk
    for path in every_file:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert any(p.name == "access-token.key" for p in on_disk)
    assert any(p.parent.name == "pii" for p in on_disk)
    for path in on_disk:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in [keys_dir, *(p for p in keys_dir.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0, folder
    contents = {p: p.read_bytes() for p in on_disk}

    second = await gmid(settings, "keys", "init", var_dir=var_dir)
    assert second.code == 0, second.stderr
    assert "created" not in second.stdout
    assert sorted(p for p in keys_dir.rglob("*") if p.is_file()) == every_file
    assert {p: p.read_bytes() for p in on_disk} == contents


# create-staff ----------------------------------------------------------------------------------------


async def test_create_staff_then_sign_in_over_http(settings: Settings, client: httpx.AsyncClient) -> None:
    loaded = await gmid(settings, "load-hierarchy")
    assert loaded.code == 0, loaded.stderr

    created = await gmid(
        settings,
        "create-staff",
        "alice",
        "--role",
        "police",
        "--node",
        "GM01",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.code == 0, created.stderr
    assert "alice" in created.stdout
    assert PASSWORD not in created.stdout + created.stderr

    r = await login(client, "alice", PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["account"]["role"] == "police"
    me = await client.get("/api/v1/me", headers=auth(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["account"]["username"] == "alice"

    wrong = await login(client, "alice", PASSWORD + "x")
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    ("args", "stdin", "hint"),
    [
        (["--role", "sheriff", "--node", "GM01"], PASSWORD, "role"),
        (["--role", "police", "--node", "XX99"], PASSWORD, "XX99"),
        (["--role", "police", "--node", "GM01"], "", "empty"),
    ],
    ids=["bad-role", "unknown-node", "empty-password"],
)
async def test_create_staff_refuses_bad_input_with_one_line(
    settings: Settings, client: httpx.AsyncClient, args: list[str], stdin: str, hint: str
) -> None:
    from tests.factories import load_demo_hierarchy

    await load_demo_hierarchy()
    result = await gmid(settings, "create-staff", "bob", *args, "--password-stdin", stdin=stdin + "\n")

    line = assert_one_line_error(result)
    assert hint in line
    assert not await Account.exists(username="bob")
    assert (await login(client, "bob", PASSWORD)).status_code == 401


# seed-demo -------------------------------------------------------------------------------------------


async def test_seed_demo_twice_is_idempotent(settings: Settings, client: httpx.AsyncClient) -> None:
    first = await gmid(settings, "seed-demo", "--password-stdin", stdin=PASSWORD + "\n")
    assert first.code == 0, first.stderr
    accounts = await Account.all().count()
    assert accounts >= 6
    assert PASSWORD not in first.stdout

    second = await gmid(settings, "seed-demo", "--password-stdin", stdin=PASSWORD + "\n")
    assert second.code == 0, second.stderr
    assert await Account.all().count() == accounts
    assert "0 created" in second.stdout
    staff_lines = [line for line in second.stdout.splitlines() if line.startswith(("staff ", "resident "))]
    assert staff_lines and all(line.endswith(": exists") for line in staff_lines), second.stdout

    # The demo staff sign in with the password given on stdin.
    r = await login(client, "police", PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["account"]["role"] == "police"


# token -----------------------------------------------------------------------------------------------


async def test_token_prints_an_access_token_the_api_accepts(settings: Settings, client: httpx.AsyncClient) -> None:
    account = await make_staff_with_password("carol", Role.OFFICER, PASSWORD)

    by_name = await gmid(settings, "token", "carol")
    assert by_name.code == 0, by_name.stderr
    token = by_name.stdout.strip()
    assert token and "\n" not in token

    me = await client.get("/api/v1/me", headers=auth(token))
    assert me.status_code == 200, me.text
    assert me.json()["account"]["id"] == account.public_id
    assert me.json()["account"]["role"] == "officer"

    by_id = await gmid(settings, "token", account.public_id)
    assert by_id.code == 0, by_id.stderr
    me = await client.get("/api/v1/me", headers=auth(by_id.stdout.strip()))
    assert me.status_code == 200


async def test_token_for_unknown_account_fails_cleanly(settings: Settings, running: object) -> None:
    result = await gmid(settings, "token", "nobody")

    line = assert_one_line_error(result)
    assert "nobody" in line
    assert result.stdout == ""


@pytest.mark.parametrize("delay", [0.3, 0.9, 1.5, 4.0])
async def test_serve_stops_on_sigterm_even_while_starting(settings: Settings, delay: float) -> None:
    """SIGTERM must stop `gmid serve` at any moment, and leave no process of it behind: Sanic 25.12
    alone spins forever when the signal arrives before every worker has reported ready, and breaks
    its own state-sharing connection when the signal lands mid-exchange (server/graceful_stop.py)."""
    proc = await _start_serve(settings)
    await asyncio.sleep(delay)
    await _stop_and_find_nothing_left(proc, f"{delay} s into start-up")


@pytest.mark.parametrize("children", [1, 2, 3])
async def test_serve_stops_on_sigterm_the_moment_it_starts_processes(settings: Settings, children: int) -> None:
    """SIGTERM sent as soon as `gmid serve` has started its n-th process (the resource tracker,
    Sanic's state-sharing process, the workers): each window of the start-up stops cleanly too."""
    proc = await _start_serve(settings)
    for _ in range(3000):
        if len(_pids_in_group(proc.pid)) > children or proc.returncode is not None:
            break
        await asyncio.sleep(0.005)
    await _stop_and_find_nothing_left(proc, f"at its process number {children}")


async def _start_serve(settings: Settings) -> asyncio.subprocess.Process:
    """`gmid serve` with two workers on a free port, in its own process group (so what is left of it
    can be found)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return await asyncio.create_subprocess_exec(
        str(GMID),
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=gmid_env(Path(settings.var_dir), settings),
        cwd=str(Path(settings.var_dir).parent),
        start_new_session=True,
    )


async def _stop_and_find_nothing_left(proc: asyncio.subprocess.Process, when: str) -> None:
    """SIGTERM now: it must end within 30 s, cleanly, and no process of its group may outlive it."""
    import signal

    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"gmid serve still ran 30 s after SIGTERM sent {when}")
    # 0: Sanic's graceful stop; -15: the signal came before Python had set its handlers.
    assert proc.returncode in (0, -signal.SIGTERM), stderr.decode(errors="replace")[-3000:]
    left: list[int] = []
    for _ in range(50):  # the group's last members may be a moment behind their parent
        left = _pids_in_group(proc.pid)
        if not left:
            break
        await asyncio.sleep(0.1)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of gmid serve left running after it stopped: {left}"


def _pids_in_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # process group, state
            found.append(int(entry.name))
    return found
