"""Several writers on the embedded SQLite database wait for each other instead of failing.

The server (its web workers and its background worker) and the ``gmid`` command line each hold their
own connection to the same file. A write that meets another process's write waits for it (WAL, a busy
timeout, write transactions that take the lock at their start); one that still finds the file busy
after the timeout gives a clear answer: 503 with Retry-After, or one line from the command line.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.buildings.models import Building
from miniapp_api.reports.models import Report
from miniapp_api.reports.states import State
from server.app import create_app
from server.settings import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.factories import load_demo_hierarchy
from tests.miniapp_api.buildings.conftest import row, write_csv
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import move, submit
from tests.support.cli import GMID, gmid, gmid_env
from tests.support.sqlite_writer import BusyWriter, sqlite_path

pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="the embedded SQLite database only")

BUSY_TIMEOUT = 2  # seconds; the app under test gives up on a lock held longer than this


@pytest.fixture
def app(settings: Settings) -> Sanic:
    return create_app(settings.replace(sqlite_busy_timeout=BUSY_TIMEOUT))


async def test_a_request_waits_for_another_process_writing(
    app: Sanic, client: httpx.AsyncClient, settings: Settings
) -> None:
    # A report moves in a transaction that reads the row, then writes it: the shape that met
    # "database is locked" (a 500) when another process committed in between.
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, resident)
    assert settings.database_url
    async with BusyWriter(settings.database_url, BUSY_TIMEOUT / 2) as writer:
        started = time.monotonic()
        moved = await move(client, grid, report["id"], action="accept")
        waited = time.monotonic() - started
        await writer.committed()
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "accepted"
    assert waited >= BUSY_TIMEOUT / 4  # it met the lock and waited for it


async def test_a_request_that_finds_the_database_busy_too_long_answers_503_and_changes_nothing(
    app: Sanic, client: httpx.AsyncClient, settings: Settings
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, resident)
    assert settings.database_url
    async with BusyWriter(settings.database_url, None) as writer:  # held until committed() below
        refused = await move(client, grid, report["id"], action="accept")
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"].isdigit() and int(refused.headers["retry-after"]) >= 1
        body = refused.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == "database_busy"
        assert refused.headers.get("x-request-id")
        # Reads go on while another process writes (WAL), even after a write gave up.
        feed = await client.get("/api/v1/grid/feed", headers=grid.headers)
        assert feed.status_code == 200, feed.text
        await writer.committed()
    assert (await Report.get(public_id=report["id"])).state == State.SUBMITTED  # nothing half done
    # The app's connection is usable again at once: the same move now goes through.
    again = await move(client, grid, report["id"], action="accept")
    assert again.status_code == 200, again.text


async def test_requests_of_one_process_never_wait_on_each_other_for_the_timeout(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    # One process's transactions share its one connection in turn (Tortoise's lock); taking the
    # write lock at BEGIN must not make two of its own requests wait for each other's timeout.
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    reports = [await submit(client, resident) for _ in range(6)]
    moved = await asyncio.gather(*(move(client, grid, r["id"], action="accept") for r in reports))
    # Had they waited on each other at SQLite's lock, those beyond the timeout would be 503 database_busy.
    assert [m.status_code for m in moved] == [200] * 6, [m.text for m in moved]


async def test_import_waits_for_another_process_writing(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "b.csv", [row(n) for n in range(1, 31)])
    await load_demo_hierarchy()
    assert settings.database_url
    async with BusyWriter(settings.database_url, 3.0):
        started = time.monotonic()
        code, out, err = await gmid(settings, "import", "buildings", str(path), "--quiet")
        waited = time.monotonic() - started
    assert code == 0, out + err
    assert "Traceback" not in err and "locked" not in err
    assert "30 imported (30 created" in out
    assert await Building.all().count() == 30
    assert waited >= 1.0  # it really met the other writer (and waited for it)


async def test_import_that_finds_the_database_busy_too_long_says_so_in_one_line_and_imports_nothing(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "b.csv", [row(n) for n in range(1, 31)])
    await load_demo_hierarchy()
    assert settings.database_url
    env = {**gmid_env(settings), "GMID_SQLITE_BUSY_TIMEOUT": "1"}
    async with BusyWriter(settings.database_url, None):  # held until the import has given up
        proc = await asyncio.create_subprocess_exec(
            str(GMID),
            *("import", "buildings", str(path), "--quiet"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(tmp_path),
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 3, out.decode() + err.decode()
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert len(lines) == 1, err.decode()
    assert lines[0].startswith("gmid: the database stayed busy") and "nothing was imported" in lines[0]
    assert "GMID_SQLITE_BUSY_TIMEOUT" in lines[0]
    assert await Building.all().count() == 0
    # Once the other writer is done, the same command goes through.
    code, out_again, err_again = await gmid(settings, "import", "buildings", str(path), "--quiet")
    assert code == 0, out_again + err_again
    assert await Building.all().count() == 30


async def test_a_building_changed_by_another_process_while_the_import_prepares_is_worked_out_again(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    from miniapp_api.buildings import importer

    await load_demo_hierarchy()
    first = await importer.import_file(write_csv(tmp_path / "a.csv", [row(1), row(2)]))
    assert first.created == 2
    assert settings.database_url
    database = sqlite_path(settings.database_url)

    def someone_else_writes(done: int, total: int, started: float) -> None:
        # The import has read every building and worked out its writes; before it writes, another
        # process (staff editing a building) changes one it found unchanged and one it will update.
        if done == total:
            other = sqlite3.connect(database, isolation_level=None, timeout=30)
            stamp = datetime.now(UTC).isoformat(" ")
            other.execute("UPDATE building SET residents = 99, updated_at = ? WHERE code = ?", (stamp, row(1)["code"]))
            other.execute("UPDATE building SET floors = 9, updated_at = ? WHERE code = ?", (stamp, row(2)["code"]))
            other.close()

    result = await importer.import_file(
        write_csv(tmp_path / "b.csv", [row(1), row(2, households="19"), row(3)]), progress=someone_else_writes
    )
    assert (result.created, result.updated, result.unchanged) == (1, 2, 0)
    # The file wins on every column it gives, as if the import had come after the edit.
    one = await Building.get(code=row(1)["code"])
    assert one.residents == 40
    two = await Building.get(code=row(2)["code"])
    assert (two.floors, two.households) == (6, 19)


def test_every_sqlite_connection_gets_the_busy_timeout_wal_and_foreign_keys() -> None:
    from server import db

    config = db.tortoise_config("sqlite:///tmp/x.sqlite3", sqlite_busy_timeout=7)
    connection = config["connections"]["default"]
    assert connection["engine"] == "server.sqlite"
    credentials = connection["credentials"]
    assert credentials["file_path"] == "/tmp/x.sqlite3"
    assert (credentials["busy_timeout"], credentials["journal_mode"], credentials["foreign_keys"]) == (
        7000,
        "WAL",
        "ON",
    )
    # The URL's own pragmas win.
    own = db.tortoise_config("sqlite:///tmp/x.sqlite3?busy_timeout=60000")["connections"]["default"]["credentials"]
    assert own["busy_timeout"] == "60000"


async def test_the_pragmas_hold_on_the_apps_connection(running: object) -> None:
    from tortoise import connections

    conn = connections.get("default")
    assert (await conn.execute_query_dict("PRAGMA busy_timeout"))[0]["timeout"] == BUSY_TIMEOUT * 1000
    assert (await conn.execute_query_dict("PRAGMA journal_mode"))[0]["journal_mode"] == "wal"
    assert (await conn.execute_query_dict("PRAGMA foreign_keys"))[0]["foreign_keys"] == 1
