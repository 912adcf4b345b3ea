"""The revocation feed's epoch, as an offline verifier meets it: `gmid qr new-epoch`, and `gmid backup` /
`gmid restore` into a new database (SQLite always; PostgreSQL when GMID_TEST_DATABASE_URL is set): the
restored instance answers, announces a new epoch, and a verifier on the old one is told to resync from
zero, so it never skips a revocation made after the restore."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from qr import service
from server.app import create_app
from server.settings import Settings
from tests.support.app_server import RunningApp
from tests.support.cli import gmid

BASE = "https://eid.example.cn"
TEST_DATABASE_URL = os.environ.get("GMID_TEST_DATABASE_URL", "")


async def feed(http: httpx.AsyncClient, query: str = "") -> dict[str, Any]:
    jwks = (await http.get("/.well-known/jwks.json")).json()
    response = await http.get(f"/api/v1/qr/revocations{query}")
    assert response.status_code == 200, response.text
    token = response.text
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    claims: dict[str, Any] = jwt.decode(token, key=key, algorithms=["EdDSA"], issuer=BASE)
    return claims


async def bundle(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/api/v1/qr/verifier-bundle")
    assert response.status_code == 200
    claims: dict[str, Any] = jwt.decode(response.text, options={"verify_signature": False})
    return claims


async def revoked_ids(count: int) -> list[str]:
    ids = []
    for i in range(count):
        credential = await service.issue(kind="ebike", subject_id=f"bike-epoch-{i}-{os.urandom(3).hex()}")
        await service.revoke(public_id=credential.public_id, reason="stolen")
        ids.append(credential.public_id)
    return ids


async def test_new_epoch_tells_a_verifier_on_the_old_one_to_resync(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    first = await revoked_ids(2)
    synced = await feed(client)
    epoch = synced["epoch"]
    assert synced["reset"] is False and synced["until"] == 2 and len(epoch) == 16
    assert (await bundle(client))["revocations"]["epoch"] == epoch

    same = await feed(client, f"?since=2&epoch={epoch}")
    assert same["reset"] is False and same["entries"] == [] and same["epoch"] == epoch

    code, out, err = await gmid(settings, "qr", "new-epoch")
    assert code == 0, err
    later = await revoked_ids(1)

    told = await feed(client, f"?since=2&epoch={epoch}")
    assert told["reset"] is True and told["epoch"] != epoch and told["epoch"] in out
    assert told["since"] == 0  # from zero: everything, not only what is above 2
    assert [e["id"] for e in told["entries"]] == [*first, *later]
    again = await feed(client, f"?since={told['until']}&epoch={told['epoch']}")
    assert again["reset"] is False and again["entries"] == []
    fresh = await bundle(client)  # the cached bundle follows the epoch
    assert fresh["revocations"]["epoch"] == told["epoch"]


async def test_feed_refuses_a_malformed_epoch_and_resets_a_position_above_the_head(
    client: httpx.AsyncClient,
) -> None:
    await revoked_ids(1)
    for bad in ("ZZ", "x" * 40, "a%20b"):
        response = await client.get(f"/api/v1/qr/revocations?since=0&epoch={bad}")
        assert response.status_code == 422, bad
        assert response.json()["error"]["code"] == "validation_failed"
    # No epoch (an older verifier) but a position the feed never reached: its list is of another history.
    beyond = await feed(client, "?since=50")
    assert beyond["reset"] is True and beyond["since"] == 0 and len(beyond["entries"]) == 1


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    if not TEST_DATABASE_URL:
        yield f"sqlite://{tmp_path / 'restored' / 'gmid.sqlite3'}"
        return
    from tests.conftest import pg_admin, pg_url

    name = f"gmid_restored_{os.getpid()}_{os.urandom(3).hex()}"
    asyncio.run(pg_admin(TEST_DATABASE_URL, f"CREATE DATABASE {name}"))
    yield pg_url(TEST_DATABASE_URL, name)
    asyncio.run(pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def test_backup_restore_into_a_new_database_announces_a_new_epoch(
    settings: Settings, empty_database: str, tmp_path: Path
) -> None:
    backup_file = tmp_path / "gmid.backup"
    async with RunningApp(create_app(settings)) as server, httpx.AsyncClient(base_url=server.base_url) as http:
        before = await revoked_ids(2)
        code, out, err = await gmid(settings, "backup", "--out", str(backup_file))
        assert code == 0, err
        assert backup_file.stat().st_size > 0
        again = await gmid(settings, "backup", "--out", str(backup_file))
        assert again[0] == 2 and "exists" in again[2]  # never overwrites
        await revoked_ids(2)  # lost with the old database
        verifier = await feed(http)
        assert verifier["until"] == 4
        old_epoch = verifier["epoch"]

    restored = settings.replace(database_url=empty_database)
    code, out, err = await gmid(restored, "restore", str(backup_file))
    assert code == 0, err
    assert "epoch" in out
    # A second restore onto the now full database is refused, and changes nothing.
    refused = await gmid(restored, "restore", str(backup_file))
    assert refused[0] == 2 and "not empty" in refused[2]

    async with RunningApp(create_app(restored)) as server, httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/readyz")).status_code == 200
        after = await revoked_ids(1)  # counter 3 again, in the restored history
        told = await feed(http, f"?since={verifier['until']}&epoch={old_epoch}")
        assert told["reset"] is True and told["epoch"] != old_epoch
        # The resync from zero holds what the backup had and what came after the restore.
        assert [e["id"] for e in told["entries"]] == [*before, *after]
        assert (await bundle(http))["revocations"]["epoch"] == told["epoch"]
