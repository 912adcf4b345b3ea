"""Sticker-sheet print jobs from the admin API: an administrator prints, follows and downloads the
sheets of their own part of the hierarchy only; path tricks on the download find nothing; a failed or
interrupted job says so."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from qr import service, sheet_jobs, sheets
from tests.factories import auth, load_demo_hierarchy, make_account, token_for

GRID = "/GM/GM01/GM0101/GM010101/"
OTHER_GRID = "/GM/GM02/GM0201/GM020101/"
SHEETS = "/api/v1/admin/qr/sheets"


async def issue(count: int, node_path: str) -> None:
    for n in range(count):
        await service.issue(kind="building", subject_id=f"bld-{node_path}-{n}", node_path=node_path, label=f"{n}栋")


async def finished(client: httpx.AsyncClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = (await client.get(f"{SHEETS}/{job_id}", headers=headers)).json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.2)


async def test_sheets_only_within_the_admins_part_of_the_hierarchy(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    await issue(3, GRID)
    await issue(2, OTHER_GRID)
    street = auth(await token_for(app, await make_account(Role.ADMIN, node="GM01")))
    other_street = auth(await token_for(app, await make_account(Role.ADMIN, node="GM02")))
    officer = auth(await token_for(app, await make_account(Role.OFFICER)))

    refused = await client.post(SHEETS, json={"kind": "building", "node": "GM0101"}, headers=officer)
    assert refused.status_code == 403
    outside = await client.post(SHEETS, json={"kind": "building", "node": "GM02"}, headers=street)
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "outside_scope"
    above = await client.post(SHEETS, json={"kind": "building", "node": "GM"}, headers=street)
    assert above.status_code == 403
    for body, code in (
        ({"kind": "nosuch", "node": "GM01"}, 404),
        ({"kind": "building", "node": "GM99"}, 404),
        ({"kind": "ebike", "node": "GM01"}, 409),  # nothing to print
        ({"kind": "building", "node": "GM01", "out": "/etc/passwd"}, 422),
        ({"kind": "building" * 100, "node": "GM01"}, 422),
        ({"kind": {"a": [1] * 1000}, "node": "GM01"}, 422),
    ):
        answer = await client.post(SHEETS, json=body, headers=street)
        assert answer.status_code == code, (body, answer.text)

    started = await client.post(SHEETS, json={"kind": "building", "node": "GM01"}, headers=street)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    job = await finished(client, job_id, street)
    assert (job["state"], job["total"], job["done"], job["pages"], job["percent"]) == ("done", 3, 3, 1, 100)

    # Another street's administrator and an officer: as if the job did not exist.
    assert (await client.get(f"{SHEETS}/{job_id}", headers=other_street)).status_code == 404
    assert (await client.get(f"{SHEETS}/{job_id}/sheets.pdf", headers=other_street)).status_code == 404
    assert (await client.get(f"{SHEETS}/{job_id}/sheets.pdf", headers=officer)).status_code == 403
    assert (await client.get(f"{SHEETS}/{job_id}/sheets.pdf")).status_code == 401

    # Path tricks on the download find nothing.
    for trick in ("..%2F..%2Fkeys%2Fqr%2Fkeyring.json", "..", "sj_..%2F..%2Fgmid", "%2e%2e", "sj_" + "a" * 200):
        answer = await client.get(f"{SHEETS}/{trick}/sheets.pdf", headers=street)
        assert answer.status_code == 404, (trick, answer.status_code)

    pdf = await client.get(job["pdf"], headers=street)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and b"/Count 1" in pdf.content
    entry = await AuditEntry.get(action="qr_sheet.start")
    assert (entry.target, entry.details["node"], entry.details["stickers"]) == (job_id, "GM01", 3)


async def test_a_failed_or_interrupted_job_says_so(
    app: Sanic, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load_demo_hierarchy()
    await issue(2, GRID)
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))

    async def broken(**_: object) -> sheets.SheetResult:
        raise OSError("disk full")

    monkeypatch.setattr(sheets, "write_sheets", broken)
    started = await client.post(SHEETS, json={"kind": "building", "node": "GM0101"}, headers=admin)
    job = await finished(client, started.json()["id"], admin)
    assert (job["state"], job["error"], job["pdf"]) == ("failed", "OSError", None)
    not_ready = await client.get(f"{SHEETS}/{job['id']}/sheets.pdf", headers=admin)
    assert not_ready.status_code == 409 and not_ready.json()["error"]["code"] == "sheet_not_ready"

    # A job whose worker stopped beating (it died) reads as interrupted.
    stuck = await client.post(SHEETS, json={"kind": "building", "node": "GM0101"}, headers=admin)
    stuck_id = stuck.json()["id"]
    await finished(client, stuck_id, admin)
    redis = app.ctx.redis
    await redis.hset(sheet_jobs.KEY + stuck_id, mapping={"state": "running", "heartbeat": time.time() - 3600})
    job = (await client.get(f"{SHEETS}/{stuck_id}", headers=admin)).json()
    assert job["state"] == "interrupted"


async def test_jobs_at_once_are_bounded_and_old_pdfs_are_removed(
    app: Sanic, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await load_demo_hierarchy()
    await issue(1, GRID)
    admin = auth(await token_for(app, await make_account(Role.ADMIN)))
    release = asyncio.Event()

    async def slow(**_: object) -> sheets.SheetResult:
        await release.wait()
        raise OSError("stopped by the test")

    monkeypatch.setattr(sheets, "write_sheets", slow)
    folder = app.ctx.settings.var_path / "sheets"
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / "sj_AAAAAAAAAAAAA.pdf"
    old.write_bytes(b"%PDF-old")
    stale = time.time() - sheet_jobs.KEEP_SECONDS - 60
    os.utime(old, (stale, stale))
    body = {"kind": "building", "node": "GM"}
    started = [await client.post(SHEETS, json=body, headers=admin) for _ in range(sheet_jobs.MAX_RUNNING)]
    assert [s.status_code for s in started] == [202] * sheet_jobs.MAX_RUNNING
    assert not old.exists()
    busy = await client.post(SHEETS, json=body, headers=admin)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "sheet_jobs_busy"
    release.set()
    for s in started:
        assert (await finished(client, s.json()["id"], admin))["state"] == "failed"
