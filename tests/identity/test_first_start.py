"""A newcomer's first start: `gmid migrate` on an empty database loads Guangming District's official
hierarchy (1 district, 6 streets, 31 communities), so the first resident can register a bike without
`gmid seed-demo`; a second start changes nothing, and an existing hierarchy is never touched."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from identity.models import Node
from identity.roles import NodeLevel, Role
from server.app import create_app
from server.settings import Settings
from tests.conftest import TEST_DATABASE_URL
from tests.factories import auth, make_account, token_for
from tests.identity.guangming import GUANGMING, expected_nodes
from tests.miniapp_api.ebikes.conftest import registration
from tests.support.app_server import RunningApp
from tests.support.cli import gmid
from tests.support.postgres import pg_admin, pg_url


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database, never migrated: what a newcomer's first `make run` starts from."""
    if not TEST_DATABASE_URL:
        yield f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        return
    name = f"gmid_fresh_{os.getpid()}"
    drop = f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    import asyncio

    asyncio.run(pg_admin(TEST_DATABASE_URL, drop, f"CREATE DATABASE {name}"))
    try:
        yield pg_url(TEST_DATABASE_URL, name)
    finally:
        asyncio.run(pg_admin(TEST_DATABASE_URL, drop))


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app on a loopback port (started after the commands ran), and a client for it."""
    app = create_app(settings)
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        yield app, client


async def snapshot() -> list[tuple[Any, ...]]:
    rows = await Node.all().order_by("id").values_list("id", "code", "name", "level", "path", "division_code")
    return [tuple(row) for row in rows]


async def migrate(settings: Settings, *args: str) -> str:
    code, out, err = await gmid(settings, "migrate", *args)
    assert code == 0, out + err
    return out


async def test_the_first_migrate_loads_guangming_and_a_second_changes_nothing(settings: Settings) -> None:
    first = await migrate(settings)
    assert "database is at the current schema" in first
    assert "hierarchy: loaded Guangming District's official hierarchy, 38 nodes" in first

    async with serving(settings) as (_, client):
        assert await Node.filter(level=NodeLevel.DISTRICT).count() == 1
        assert await Node.filter(level=NodeLevel.STREET).count() == 6
        assert await Node.filter(level=NodeLevel.COMMUNITY).count() == 31
        assert await Node.filter(level=NodeLevel.GRID).count() == 0  # grids are the demo's
        stored = {n.code: (n.name, n.level.value, parent_of(n.path), n.division_code) for n in await Node.all()}
        assert stored == expected_nodes()
        before = await snapshot()

        # The API shows the official code beside ours.
        r = await client.get("/api/v1/hierarchy/nodes/GM0106")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "code": "GM0106",
            "name": "迳口社区",
            "level": "community",
            "parent": "GM01",
            "path": "/GM/GM01/GM0106/",
            "division_code": "440311001006",
        }

        second = await migrate(settings)
        assert "hierarchy: 38 nodes present, left as they are" in second
        assert not [line for line in second.splitlines() if line.startswith("applied ")]
        assert await snapshot() == before


def parent_of(path: str) -> str | None:
    parts = path.strip("/").split("/")
    return parts[-2] if len(parts) > 1 else None


async def test_a_resident_registers_a_bike_right_after_the_first_migrate(settings: Settings) -> None:
    await migrate(settings)
    async with serving(settings) as (app, client):
        resident = await make_account(Role.RESIDENT)
        headers = auth(await token_for(app, resident))

        # No demo grids: a grid code is refused; the resident's community is there.
        r = await client.post("/api/v1/ebikes", json=registration(1, node="GM010101"), headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "unknown_node"
        assert await Node.filter(level=NodeLevel.GRID).count() == 0

        r = await client.post("/api/v1/ebikes", json=registration(1, node="GM0106"), headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["node"] == "/GM/GM01/GM0106/"


async def test_an_existing_hierarchy_is_never_overwritten_or_moved(settings: Settings, tmp_path: Path) -> None:
    # A hierarchy someone made before the first start: GM renamed, one community under another
    # street than the official one, a name that is not the official one, no division codes.
    custom = tmp_path / "custom.csv"
    custom.write_text(
        "code,name,level,parent\n"
        "GM,光明新区,district,\n"
        "GM01,光明办事处,street,GM\n"
        "GM02,公明办事处,street,GM\n"
        "GM0101,光明社区,community,GM01\n"
        "GM0106,新陂头社区,community,GM02\n"
        "GM010101,第一网格,grid,GM0101\n",
        encoding="utf-8",
    )
    assert "hierarchy:" not in await migrate(settings, "--no-hierarchy")
    code, out, err = await gmid(settings, "load-hierarchy", str(custom))
    assert code == 0 and "6 created" in out, out + err

    again = await migrate(settings)
    assert "hierarchy: 6 nodes present, left as they are" in again
    async with serving(settings):
        rows = await snapshot()
        assert [(code, name, path, division) for _, code, name, _, path, division in rows] == [
            ("GM", "光明新区", "/GM/", None),
            ("GM01", "光明办事处", "/GM/GM01/", None),
            ("GM02", "公明办事处", "/GM/GM02/", None),
            ("GM0101", "光明社区", "/GM/GM01/GM0101/", None),
            ("GM0106", "新陂头社区", "/GM/GM02/GM0106/", None),
            ("GM010101", "第一网格", "/GM/GM01/GM0101/GM010101/", None),
        ]


async def test_another_district_is_loaded_instead_with_no_hierarchy(settings: Settings, tmp_path: Path) -> None:
    out = await migrate(settings, "--no-hierarchy")
    assert "hierarchy:" not in out
    other = tmp_path / "other.json"
    other.write_text(
        '{"nodes": [{"code": "BA", "name": "宝安区", "level": "district", "parent": null, "division_code": "440306"},'
        ' {"code": "BA01", "name": "新安街道", "level": "street", "parent": "BA", "division_code": "440306001000"}]}',
        encoding="utf-8",
    )
    code, out, err = await gmid(settings, "load-hierarchy", str(other))
    assert code == 0, out + err
    assert "hierarchy: 2 nodes present, left as they are" in await migrate(settings)
    async with serving(settings) as (_, client):
        assert sorted(await Node.all().values_list("code", flat=True)) == ["BA", "BA01"]
        r = await client.get("/api/v1/hierarchy/nodes", params={"level": "district"})
        assert [(n["code"], n["division_code"]) for n in r.json()["items"]] == [("BA", "440306")]


async def test_seed_demo_after_the_first_start_adds_the_grids_and_changes_no_official_node(
    settings: Settings,
) -> None:
    await migrate(settings)
    code, out, err = await gmid(settings, "seed-demo")
    assert code == 0, out + err
    assert "hierarchy: 124 created, 0 updated, 38 unchanged" in out
    async with serving(settings) as (_, client):
        assert await Node.filter(level=NodeLevel.GRID).count() == 124
        grids = await Node.filter(level=NodeLevel.GRID, code__startswith="GM0608").order_by("code")
        assert len(grids) == 4
        assert (grids[0].name, grids[0].path, grids[0].division_code) == (
            "新庄社区第1网格",
            "/GM/GM06/GM0608/GM060801/",
            None,
        )
        r = await client.get("/api/v1/hierarchy/nodes", params={"under": "GM06", "level": "community"})
        assert [n["name"] for n in r.json()["items"]] == [name + "社区" for name in GUANGMING["马田街道"]]


async def test_load_hierarchy_defaults_to_the_official_file_and_says_why_a_file_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    await migrate(settings, "--no-hierarchy")
    code, out, err = await gmid(settings, "load-hierarchy")
    assert code == 0, out + err
    assert "hierarchy: 38 created, 0 updated, 0 unchanged" in out

    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"nodes": [{"code": "GM", "name": "光明区", "level": "district", "parent": null, "division_code": "4403"}]}',
        encoding="utf-8",
    )
    code, out, err = await gmid(settings, "load-hierarchy", str(bad))
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(r"6 digits .* or 12", err), err

    missing = tmp_path / "missing.csv"
    code, out, err = await gmid(settings, "load-hierarchy", str(missing))
    assert code == 2 and err.strip() == f"gmid: {missing}: No such file or directory", out + err
    bad.write_text('{"nodes": {"code": "GM"}}', encoding="utf-8")
    code, out, err = await gmid(settings, "load-hierarchy", str(bad))
    assert code == 2 and len(err.strip().splitlines()) == 1 and '{"nodes": [...]}' in err, out + err
