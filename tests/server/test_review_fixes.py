"""Regression tests for the defects a security review found, each over real HTTP where it can be.

One section per finding: login throttling per address, disabled accounts decided by the database,
scoped audit reads, ID-number binding under races, no-store answers never replayed, administrators
managing peers, metrics labels and access, secrets in `gmid settings`, owner-only files, the embedded
Redis dying with its parent, NUL characters, the hard end of a login, and the active PII key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from identity.models import Account, RefreshToken
from identity.pii import PiiKeyRing, Vault
from identity.roles import Role
from server.app import create_app
from server.keyfiles import KeyFileError
from server.settings import Settings
from tests.factories import auth, id_number, make_account, make_staff_with_password, token_for
from tests.support.app_server import RunningApp
from tests.support.processes import process_alive

ROOT = Path(__file__).resolve().parents[2]
GMID = Path(sys.executable).parent / "gmid"
PASSWORD = "Correct-horse-9"


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Sanic, httpx.AsyncClient]]:
    """The real app built from ``settings``, on a loopback port, with an HTTP client pointed at it."""
    app = create_app(settings)
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield app, http


def error_code(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


async def login(http: httpx.AsyncClient, username: str, password: str, **kwargs: Any) -> httpx.Response:
    return await http.post("/api/v1/auth/login", json={"username": username, "password": password}, **kwargs)


async def refresh(http: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await http.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMID_")}
    env.update(extra)
    return env


# 1. Login throttling per client address ------------------------------------------------------------


async def test_failures_for_many_usernames_lock_the_address(settings: Settings) -> None:
    """The per-address limit holds on its own, with the per-username limit far away."""
    async with serve(settings.replace(login_max_failures=100, login_max_failures_per_address=4)) as (_, http):
        await make_staff_with_password("officer.real", Role.OFFICER, PASSWORD)
        for n in range(4):
            r = await login(http, f"guess.user{n}", "wrong-password")
            assert r.status_code == 401, r.text
            assert error_code(r) == "invalid_credentials"

        fifth = await login(http, "guess.user4", "wrong-password")
        assert fifth.status_code == 429, fifth.text
        assert error_code(fifth) == "login_locked"
        assert int(fifth.headers["retry-after"]) > 0

        # The address is refused, even for a real username with its right password.
        real = await login(http, "officer.real", PASSWORD)
        assert real.status_code == 429
        assert error_code(real) == "login_locked"
        assert "access_token" not in real.text


async def test_successful_logins_do_not_count_against_the_address(settings: Settings) -> None:
    async with serve(settings.replace(login_max_failures=100, login_max_failures_per_address=2)) as (_, http):
        await make_staff_with_password("officer.busy", Role.OFFICER, PASSWORD)
        for _ in range(3):
            r = await login(http, "officer.busy", PASSWORD)
            assert r.status_code == 200, r.text

        # The successes left the address's count at zero: two failures are still allowed, then the lock.
        for _ in range(2):
            assert (await login(http, "officer.busy", "wrong-password")).status_code == 401
        locked = await login(http, "officer.busy", PASSWORD)
        assert locked.status_code == 429
        assert error_code(locked) == "login_locked"


# 2. Disabled and missing accounts: the database decides ------------------------------------------------


async def test_disabled_account_stays_refused_after_redis_loses_its_data(
    client: httpx.AsyncClient, app: Sanic, settings: Settings
) -> None:
    admin = await make_account(Role.ADMIN)
    officer = await make_account(Role.OFFICER)
    admin_token = await token_for(app, admin)
    old_token = await token_for(app, officer)
    assert (await client.get("/api/v1/me", headers=auth(old_token))).status_code == 200

    r = await client.patch(
        f"/api/v1/accounts/{officer.public_id}", json={"is_active": False}, headers=auth(admin_token)
    )
    assert r.status_code == 200, r.text
    refused = await client.get("/api/v1/me", headers=auth(old_token))
    assert refused.status_code == 401
    assert error_code(refused) == "account_disabled"

    # A Redis restart (or eviction) loses the cached state: the database still says no.
    assert settings.redis_url is not None
    store = aioredis.Redis.from_url(settings.redis_url)
    try:
        await store.flushdb()
    finally:
        await store.aclose()
    after_flush = await client.get("/api/v1/me", headers=auth(old_token))
    assert after_flush.status_code == 401
    assert error_code(after_flush) == "account_disabled"


async def test_token_of_a_deleted_or_unknown_account_is_refused(client: httpx.AsyncClient, app: Sanic) -> None:
    officer = await make_account(Role.OFFICER)
    token = await token_for(app, officer)
    await officer.delete()
    r = await client.get("/api/v1/me", headers=auth(token))
    assert r.status_code == 401
    assert error_code(r) == "account_disabled"

    # A well-signed token for an account id that never existed.
    ghost = await make_account(Role.OFFICER)
    ghost.public_id = "acc_neverexisted0000"
    ghost_token = await token_for(app, ghost)
    r = await client.get("/api/v1/me", headers=auth(ghost_token))
    assert r.status_code == 401
    assert error_code(r) == "account_disabled"


# 3. The audit log is read within one's part of the hierarchy -------------------------------------------


async def test_audit_entries_are_scoped_to_the_readers_part_of_the_hierarchy(
    client: httpx.AsyncClient, app: Sanic
) -> None:
    district = await make_account(Role.ADMIN, node="GM")
    street1 = await make_account(Role.ADMIN, node="GM01")
    street2 = await make_account(Role.ADMIN, node="GM02")
    community = await make_account(Role.ADMIN, node="GM0101")
    tokens = {a.public_id: await token_for(app, a) for a in (district, street1, street2, community)}

    async def create(by: Account, username: str, node: str) -> None:
        body = {"username": username, "role": "officer", "node": node, "password": PASSWORD}
        r = await client.post("/api/v1/accounts", json=body, headers=auth(tokens[by.public_id]))
        assert r.status_code == 201, r.text

    await create(district, "made.by.district", "GM03")
    await create(street1, "made.by.street1", "GM0101")
    await create(street2, "made.by.street2", "GM0201")
    await create(community, "made.by.community", "GM0101")

    async def actors(reader: Account) -> list[str]:
        r = await client.get("/api/v1/admin/audit", headers=auth(tokens[reader.public_id]))
        assert r.status_code == 200, r.text
        return [e["actor"] for e in r.json()["items"] if e["action"] == "account.create"]

    everyone = [district.public_id, street1.public_id, street2.public_id, community.public_id]
    assert await actors(district) == everyone
    # GM01 sees what GM01's accounts did (its own and GM0101's), not GM02's nor the district's.
    assert await actors(street1) == [street1.public_id, community.public_id]
    assert await actors(street2) == [street2.public_id]
    assert await actors(community) == [community.public_id]

    # Asking for another street's actor by name does not get round the scope.
    r = await client.get(
        "/api/v1/admin/audit", params={"actor": street2.public_id}, headers=auth(tokens[street1.public_id])
    )
    assert r.status_code == 200
    assert r.json()["items"] == []


# 4. One ID number, one account, even under races; profile writes are rate limited ------------------------


async def test_concurrent_binding_of_one_id_number_lets_exactly_one_through(
    client: httpx.AsyncClient, app: Sanic
) -> None:
    residents = [await make_account(Role.RESIDENT) for _ in range(6)]
    tokens = [await token_for(app, r) for r in residents]
    number = id_number(7)
    answers = await asyncio.gather(
        *(client.put("/api/v1/me/profile", json={"id_number": number}, headers=auth(t)) for t in tokens)
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 409, 409, 409, 409, 409], [r.text for r in answers]
    assert all(error_code(r) == "identity_mismatch" for r in answers if r.status_code == 409)

    winner = residents[next(i for i, r in enumerate(answers) if r.status_code == 200)]
    bound = await Account.filter(id_number_bidx__isnull=False).values_list("public_id", flat=True)
    assert bound == [winner.public_id]
    # The losers kept no half-written ciphertext either.
    assert await Account.filter(id_number_enc__isnull=False).count() == 1


async def test_profile_updates_are_rate_limited_per_account(client: httpx.AsyncClient, app: Sanic) -> None:
    resident = await make_account(Role.RESIDENT)
    token = await token_for(app, resident)
    for n in range(20):
        r = await client.put("/api/v1/me/profile", json={"name": f"居民{n}"}, headers=auth(token))
        assert r.status_code == 200, (n, r.text)
    limited = await client.put("/api/v1/me/profile", json={"name": "居民"}, headers=auth(token))
    assert limited.status_code == 429
    assert error_code(limited) == "rate_limited"
    assert int(limited.headers["retry-after"]) > 0

    # Another resident is not held back by the first one's limit.
    other = await token_for(app, await make_account(Role.RESIDENT))
    assert (await client.put("/api/v1/me/profile", json={"name": "别人"}, headers=auth(other))).status_code == 200


# 5. Token answers are never kept for Idempotency-Key replays ---------------------------------------------


async def test_login_with_idempotency_key_is_not_replayed_and_tokens_never_reach_redis(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await make_staff_with_password("officer.idem", Role.OFFICER, PASSWORD)
    headers = {"Idempotency-Key": "login-once-please"}
    first = await login(client, "officer.idem", PASSWORD, headers=headers)
    second = await login(client, "officer.idem", PASSWORD, headers=headers)
    for r in (first, second):
        assert r.status_code == 200, r.text
        assert "no-store" in r.headers["cache-control"]
        assert "idempotent-replayed" not in r.headers
    assert first.json()["access_token"] != second.json()["access_token"]
    assert first.json()["refresh_token"] != second.json()["refresh_token"]
    # Two logins happened: two refresh-token families.
    assert await RefreshToken.filter(account__username="officer.idem").count() == 2

    assert settings.redis_url is not None
    store = aioredis.Redis.from_url(settings.redis_url)
    try:
        async for key in store.scan_iter(match="idem:*"):
            value = await store.get(key)
            assert value is None or b"access_token" not in value
            assert value is None or b"refresh_token" not in value
            if value is not None:  # a stored answer keeps its body base64-encoded
                body = base64.b64decode(json.loads(value).get("body", ""))
                assert b"access_token" not in body
    finally:
        await store.aclose()


# 6. Administrators manage those below them, never their peers --------------------------------------------


async def test_street_admin_cannot_disable_a_peer_but_can_disable_below(client: httpx.AsyncClient, app: Sanic) -> None:
    district = await make_account(Role.ADMIN, node="GM")
    street = await make_account(Role.ADMIN, node="GM01")
    peer = await make_account(Role.ADMIN, node="GM01")
    below = await make_account(Role.ADMIN, node="GM0101")
    street_token = await token_for(app, street)

    async def disable(token: str, target: Account) -> httpx.Response:
        return await client.patch(
            f"/api/v1/accounts/{target.public_id}", json={"is_active": False}, headers=auth(token)
        )

    r = await disable(street_token, peer)
    assert r.status_code == 403, r.text
    assert error_code(r) == "outside_scope"
    await peer.refresh_from_db()
    assert peer.is_active is True
    peer_token = await token_for(app, peer)
    assert (await client.get("/api/v1/me", headers=auth(peer_token))).status_code == 200

    r = await disable(street_token, below)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False

    # The district administration is above GM01: it may disable the street administrator.
    r = await disable(await token_for(app, district), street)
    assert r.status_code == 200, r.text
    assert (await client.get("/api/v1/me", headers=auth(street_token))).status_code == 401


# 7. Metrics: bounded labels, restricted readers ---------------------------------------------------------


def method_total(text: str, method: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("gmid_http_requests_total{") and f'method="{method}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_made_up_methods_share_one_metrics_label(client: httpx.AsyncClient) -> None:
    before = await client.get("/metrics")
    assert before.status_code == 200
    r = await client.request("BREW", "/healthz")
    assert 400 <= r.status_code < 500
    after = await client.get("/metrics")
    assert 'method="BREW"' not in after.text
    assert method_total(after.text, "OTHER") == method_total(before.text, "OTHER") + 1


async def test_metrics_answer_only_allowed_networks(settings: Settings) -> None:
    async with serve(settings.replace(metrics_allow="10.0.0.0/8")) as (_, http):
        r = await http.get("/metrics")
        assert r.status_code == 404
        assert "gmid_http_requests_total" not in r.text
    async with serve(settings) as (_, http):  # the default list includes loopback
        r = await http.get("/metrics")
        assert r.status_code == 200
        assert "gmid_http_requests_total" in r.text


# 8. Secrets never printed ---------------------------------------------------------------------------


def gmid_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(GMID), "settings"],
        env=clean_env(GMID_VAR_DIR=str(tmp_path / "var"), **env),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_gmid_settings_and_settings_repr_hide_passwords(tmp_path: Path) -> None:
    db_url = "postgres://u:s3cretpw@db:5432/x"
    redis_url = "redis://:r3dispw@h:6379/0"
    done = gmid_settings(tmp_path, GMID_DATABASE_URL=db_url, GMID_REDIS_URL=redis_url)
    output = done.stdout + done.stderr
    assert "s3cretpw" not in output
    assert "r3dispw" not in output
    assert "GMID_DATABASE_URL=postgres://u:***@db:5432/x" in done.stdout
    assert "GMID_REDIS_URL=redis://:***@h:6379/0" in done.stdout

    shown = repr(Settings(database_url=db_url, redis_url=redis_url, wechat_secret="wx-secret-value-123"))
    assert "s3cretpw" not in shown
    assert "r3dispw" not in shown
    assert "wx-secret-value-123" not in shown


def test_gmid_settings_shows_every_secret_as_set(tmp_path: Path) -> None:
    """Each secret an operator may put in the environment is printed as "(set)", its value never."""
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    given = {
        "GMID_WECHAT_SECRET": "wechat-secret-1",
        "GMID_WECHAT_OA_SECRET": "oa-secret-2",
        "GMID_WECHAT_OA_TOKEN": "oa-token-3",
        "GMID_ACCESS_TOKEN_SECRET": "access-token-secret-4-" + secrets.token_hex(16),
        "GMID_PII_KEYS": f"k1:{key}",
        "GMID_PII_INDEX_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "GMID_SMS_SECRET_KEY": "sms-secret-key-5",
        "GMID_SMS_CALLBACK_TOKEN": "sms-callback-token-6",
        "GMID_SMTP_PASSWORD": "smtp-password-7",
    }
    done = gmid_settings(tmp_path, **given)
    for name, value in given.items():
        assert f"{name}=(set)" in done.stdout.splitlines()
        assert value not in done.stdout + done.stderr
    assert key not in done.stdout + done.stderr


# 9. Files gmid creates are for its owner alone ----------------------------------------------------------


def test_keys_init_and_migrate_create_owner_only_files(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    env = clean_env(GMID_VAR_DIR=str(var_dir), GMID_LOG_LEVEL="WARNING")
    for args in (["keys", "init"], ["migrate"]):
        done = subprocess.run(
            [str(GMID), *args], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr

    database = var_dir / "gmid.sqlite3"
    assert database.is_file()
    assert database.stat().st_mode & 0o077 == 0, oct(database.stat().st_mode)
    assert var_dir.stat().st_mode & 0o077 == 0, oct(var_dir.stat().st_mode)
    for path in var_dir.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"


# 10. The embedded Redis dies with its parent ------------------------------------------------------------


def test_embedded_redis_dies_when_its_parent_is_killed(short_dir: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from server.redis import EmbeddedRedis\n"
        "embedded = EmbeddedRedis(Path(sys.argv[1]))\n"
        "embedded.start()\n"
        "print(embedded.process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(short_dir / "r")],
        cwd=str(ROOT),
        env=clean_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    redis_pid = 0
    try:
        assert parent.stdout is not None
        redis_pid = int(parent.stdout.readline().strip())
        assert process_alive(redis_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)

        deadline = time.monotonic() + 5
        while process_alive(redis_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(redis_pid), "the embedded Redis outlived the process that started it"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if redis_pid and process_alive(redis_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(redis_pid, signal.SIGKILL)


# 11. NUL characters are refused up front ------------------------------------------------------------


async def test_nul_characters_are_400_not_500(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/hierarchy/nodes?under=GM%00")
    assert r.status_code == 400, r.text
    assert error_code(r) == "nul_character"

    r = await client.get("/api/v1/hierarchy/nodes/GM%00")
    assert r.status_code == 400, r.text
    assert error_code(r) == "nul_character"

    r = await login(client, "a\u0000b", "whatever-password")
    assert r.status_code == 400, r.text
    assert error_code(r) == "nul_character"

    # The service is fine afterwards.
    assert (await client.get("/api/v1/hierarchy/nodes")).status_code == 200


# 12. A login has a hard end, however often it is refreshed --------------------------------------------


async def test_refresh_never_outlives_the_session_max_age(settings: Settings) -> None:
    async with serve(settings.replace(session_max_age=3600, refresh_token_ttl=7200)) as (_, http):
        account = await make_staff_with_password("officer.session", Role.OFFICER, PASSWORD)
        started = datetime.now(UTC)
        first = await login(http, "officer.session", PASSWORD)
        assert first.status_code == 200, first.text
        second = await refresh(http, first.json()["refresh_token"])
        assert second.status_code == 200, second.text

        rows = await RefreshToken.filter(account_id=account.id)
        assert len(rows) == 2
        family_end = rows[0].family_expires_at
        assert family_end is not None
        assert abs((family_end - (started + timedelta(seconds=3600))).total_seconds()) < 30
        for row in rows:
            assert row.family_expires_at == family_end
            assert row.expires_at <= family_end  # the 2-hour refresh ttl is cut to the 1-hour session

        # The login's end has passed (as if an hour went by): the family's refresh tokens are refused.
        family = rows[0].family_id
        await RefreshToken.filter(family_id=family).update(family_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        refused = await refresh(http, second.json()["refresh_token"])
        assert refused.status_code == 401, refused.text
        assert error_code(refused) in {"refresh_expired", "refresh_revoked"}
        assert "access_token" not in refused.text


# 13. The active PII key ------------------------------------------------------------------------------


def pii_settings(tmp_path: Path, active: str = "") -> Settings:
    """Two PII keys, ``ka`` then ``kb``, from the environment-style setting; no key files."""
    keys = ",".join(f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode()}" for kid in ("ka", "kb"))
    index = base64.b64encode(secrets.token_bytes(32)).decode()
    return Settings(var_dir=str(tmp_path / "var"), pii_keys=keys, pii_index_key=index, pii_active_key=active)


def test_pii_active_key_chooses_the_key_for_new_encryptions(tmp_path: Path) -> None:
    chosen = PiiKeyRing.from_settings(pii_settings(tmp_path, "ka"))
    assert chosen.active_kid == "ka"
    assert chosen.kids == ["ka", "kb"]
    token = Vault(chosen).encrypt("张三", field="account.name")
    assert token.startswith("v1.ka.")
    assert Vault(chosen).decrypt(token, field="account.name") == "张三"

    default = PiiKeyRing.from_settings(pii_settings(tmp_path))
    assert default.active_kid == "kb"  # unset: the last one listed
    assert Vault(default).encrypt("张三", field="account.name").startswith("v1.kb.")


def test_pii_active_key_not_in_the_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="kc"):
        PiiKeyRing.from_settings(pii_settings(tmp_path, "kc"))


async def test_app_encrypts_profiles_with_the_chosen_pii_key(settings: Settings, tmp_path: Path) -> None:
    keyed = pii_settings(tmp_path, "ka")
    wired = settings.replace(pii_keys=keyed.pii_keys, pii_index_key=keyed.pii_index_key, pii_active_key="ka")
    async with serve(wired) as (app, http):
        resident = await make_account(Role.RESIDENT)
        r = await http.put("/api/v1/me/profile", json={"name": "李四"}, headers=auth(await token_for(app, resident)))
        assert r.status_code == 200, r.text
        stored = await Account.get(id=resident.id)
        assert stored.name_enc is not None
        assert re.match(r"^v1\.ka\.", stored.name_enc)
