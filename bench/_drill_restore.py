"""The drill's restore: a backup of the running system, restored into a new database, served by a new
instance; what was there is there, and offline verifiers are told to start again.

The hazard a restore brings (qr/feed.py): the revocation feed's counter goes back to the backup's head.
A verifier that synced after the backup holds a position the restored feed has not reached; the next
revocation on the restored system takes a counter that verifier believes it has seen, and a verifier
that followed ``since`` alone would never fetch it. The new epoch announced by ``gmid restore`` makes
that verifier's next sync a ``reset``. The drill shows both: the answer a verifier gets with its old
position and epoch (reset, the new revocation in it), and the answer it would get without the epoch
(nothing: the revocation skipped).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import httpx
from _harness import GMID, HOST, Workspace, free_port, gmid
from _seeding import asyncpg_dsn

from tests.support.postgres import pg_admin

# The tables whose rows are counted in the live and the restored database: each must be equal.
COUNTED = (
    "account", "ebike", "ebike_alarm", "report", "audit_entry", "notify_notification", "checkin",
    "device", "device_alarm", "qr_revocation",
)  # fmt: skip


def feed_payload(answer: httpx.Response) -> dict[str, Any]:
    """The payload of the feed's compact JWS (its signature is the verifiers' business, checked in tests/qr)."""
    if answer.status_code != 200:
        raise RuntimeError(f"the revocation feed answered {answer.status_code}: {answer.text[:200]}")
    part = answer.text.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in COUNTED}  # noqa: S608 - our names
    finally:
        await conn.close()


async def restore_drill(
    work: Workspace,
    env: dict[str, str],
    serve_env: dict[str, str],
    *,
    database_url: str,
    redis_url: str,
    base: str,
    victims: list[tuple[str, str]],
) -> list[tuple[str, bool, str]]:
    """``victims``: two bikes (id, owner token) to deregister: one after the backup on the live system,
    one on the restored system. The checks, each (name, ok, detail)."""
    checks: list[tuple[str, bool, str]] = []
    (late_bike, late_owner), (new_bike, new_owner) = victims
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        before = await counts(database_url)
        backup = work.path / "gmid.dump"
        took_backup, _ = gmid(env, "backup", "--out", str(backup), cwd=work.path)
        # Work after the backup: a revocation the restored database will not have, which a verifier syncs.
        gone = await http.delete(f"{base}/api/v1/ebikes/{late_bike}", headers={"Authorization": f"Bearer {late_owner}"})
        if gone.status_code not in (200, 204):
            raise RuntimeError(f"deregistering a bike after the backup: {gone.status_code} {gone.text[:200]}")
        synced = feed_payload(await http.get(f"{base}/api/v1/qr/revocations", params={"since": 0, "limit": 10000}))
        position, old_epoch = int(synced["head"]), str(synced["epoch"])

        # Restore into a new database, with its own Redis database (a Redis lost with the machine).
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        await pg_admin(admin, 'CREATE DATABASE "gmid_restored"')
        restored_url = database_url.rsplit("/", 1)[0] + "/gmid_restored"
        restored_env = {
            **env,
            "GMID_DATABASE_URL": restored_url + "?maxsize=10",
            "GMID_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/1",
        }
        started = time.perf_counter()
        gmid(restored_env, "restore", str(backup), cwd=work.path)
        took_restore = time.perf_counter() - started
        after = await counts(restored_url)
        differ = {t: (before[t], after[t]) for t in COUNTED if before[t] != after[t]}
        checks.append((
            "a backup restored into a new database holds what the live one held",
            not differ,
            f"gmid backup {took_backup:.1f} s ({backup.stat().st_size / 1e6:.1f} MB), "
            f"gmid restore {took_restore:.1f} s;"
            f" rows compared in {len(COUNTED)} tables: " + (f"different {differ}" if differ else "all equal")
            + f" ({before['report']} reports, {before['audit_entry']} audit entries)",
        ))  # fmt: skip
        try:
            _, verified = gmid(restored_env, "audit", "verify", cwd=work.path)
            checks.append(("the restored audit chain verifies", True, verified.strip().splitlines()[-1]))
        except RuntimeError as exc:
            checks.append(("the restored audit chain verifies", False, str(exc)[:300]))

        port = free_port()
        server = work.start_server(
            "restored app",
            [str(GMID), "serve"],
            env={**serve_env, **restored_env, "GMID_PORT": str(port)},
            port=port,
        )
        server.wait_ready()
        restored = f"http://{HOST}:{port}"
        # The restored system works: a revocation on it, then the verifier that synced the live feed.
        gone = await http.delete(
            f"{restored}/api/v1/ebikes/{new_bike}", headers={"Authorization": f"Bearer {new_owner}"}
        )
        told = feed_payload(
            await http.get(f"{restored}/api/v1/qr/revocations", params={"since": position, "epoch": old_epoch})
        )
        blind = feed_payload(await http.get(f"{restored}/api/v1/qr/revocations", params={"since": position}))
        newest = int(told["head"])
        has_new = any(int(e["n"]) == newest for e in told["entries"])
        checks.append((
            "after the restore a verifier resyncs from zero and misses no revocation (new epoch)",
            gone.status_code in (200, 204) and told["reset"] and told["epoch"] != old_epoch and has_new
            and not blind["entries"],
            f"the verifier had synced to {position} (epoch {old_epoch[:6]}…); the restored feed's head is {newest}; "
            f"with its epoch it got reset={told['reset']}, {len(told['entries'])} entries from zero, the new "
            f"revocation {'in them' if has_new else 'MISSING'}; by position alone it would have got "
            f"{len(blind['entries'])} entries (the revocation skipped)",
        ))  # fmt: skip
        server.terminate()
        server.wait_stopped()
    return checks
