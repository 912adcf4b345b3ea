"""Migration 0018 on a database written before credentials followed their subjects: a moved bike's,
board's and building's credential is put where its subject is, a bike's and a board's label is what
the subject is now, a credential without a subject is left alone, and running it again changes
nothing. SQLite always; PostgreSQL too when ``GMID_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from server.settings import Settings
from tests.support.postgres import pg_admin, pg_url
from tests.test_migration_0016 import BACKENDS, TEST_DATABASE_URL, Db, migrate

BEFORE = "models.0017_hierarchy_division_code"
T = "'2026-01-01 00:00:00+00'"
OLD, NEW = "/GM/GM01/GM0101/GM010101/", "/GM/GM02/GM0201/GM020101/"


def credential(n: int, kind: str, subject: str) -> str:
    return (
        "INSERT INTO qr_credential (kind, public_id, serial, status, subject_id, node_path, label, token, "  # noqa: S608 - fixed test values
        f"issued_at, created_at, revoke_reason) VALUES ('{kind}', 'CR{n}', 1, 'active', '{subject}', '{OLD}', "
        f"'旧的标签', 't{n}', {T}, {T}, '')"
    )


ROWS = [
    "INSERT INTO account (id, public_id, role, is_active, created_at, updated_at) "  # noqa: S608 - fixed test values
    f"VALUES (1, 'acc_owner', 'resident', TRUE, {T}, {T})",
    "INSERT INTO ebike (public_id, node_path, brand, model, colour, frame_no, motor_no, plate, status, "  # noqa: S608 - fixed test values
    f"credential_id, registered_at, updated_at, owner_id) VALUES ('eb_1', '{NEW}', '爱玛', 'm', '黑色', "
    f"'FRAME1', 'M', NULL, 'active', 'CR1', {T}, {T}, 1)",
    "INSERT INTO party_board (code, title, node_path, members, credential_id, created_at, updated_at) "  # noqa: S608 - fixed test values
    f"VALUES ('B-1', '已改名的亮相牌', '{NEW}', '[]', 'CR2', {T}, {T})",
    "INSERT INTO building (code, address, grid_code, node_path, floor_area, floors, households, residents, "  # noqa: S608 - fixed test values
    "extinguishers, hydrants, escape_routes, smoke_detectors, incidents, services, credential_id, created_at, "
    f"updated_at) VALUES ('GM0201010001', 'x', 'GM020101', '{NEW}', 1, 1, 1, 1, 0, 0, 0, 0, '{{}}', '[]', 'CR3', "
    f"{T}, {T})",
    credential(1, "ebike", "eb_1"),
    credential(2, "board", "B-1"),
    credential(3, "building", "GM0201010001"),
    credential(4, "ebike", "eb_gone"),  # no such bike: left as it is
]
EXPECTED = [
    {"public_id": "CR1", "node_path": NEW, "label": "爱玛 黑色"},
    {"public_id": "CR2", "node_path": NEW, "label": "已改名的亮相牌"},
    {"public_id": "CR3", "node_path": NEW, "label": "旧的标签"},
    {"public_id": "CR4", "node_path": OLD, "label": "旧的标签"},
]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_0018_puts_credentials_where_their_subjects_are(tmp_path: Path, backend: str) -> None:
    name = f"gmid_m18_{os.getpid()}"
    if backend == "postgres":
        await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
        url = pg_url(TEST_DATABASE_URL, name)
    else:
        url = f"sqlite://{tmp_path / 'm18.sqlite3'}"
    settings = Settings(var_dir=str(tmp_path / "var"), database_url=url)
    db = Db(url)
    query = "SELECT public_id, node_path, label FROM qr_credential ORDER BY public_id"
    try:
        await migrate(settings, BEFORE)
        for sql in ROWS:
            await db.run(sql)
        await migrate(settings)
        assert await db.run(query) == EXPECTED
        await migrate(settings)  # again: nothing to do, nothing changes
        assert await db.run(query) == EXPECTED
    finally:
        if backend == "postgres":
            await pg_admin(TEST_DATABASE_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
