from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from identity import hierarchy
from identity.models import Node
from identity.roles import NodeLevel


async def test_demo_hierarchy_is_one_district_six_streets_thirty_one_communities(
    client: httpx.AsyncClient,
) -> None:
    result = await hierarchy.load_file(hierarchy.demo_file())
    assert result.created == await Node.all().count()
    assert await Node.filter(level=NodeLevel.DISTRICT).count() == 1
    assert await Node.filter(level=NodeLevel.STREET).count() == 6
    assert await Node.filter(level=NodeLevel.COMMUNITY).count() == 31
    assert await Node.filter(level=NodeLevel.GRID).count() >= 31

    again = await hierarchy.load_file(hierarchy.demo_file())
    assert (again.created, again.updated) == (0, 0)

    r = await client.get("/api/v1/hierarchy/nodes", params={"under": "GM01", "level": "community"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert items and all(i["parent"] == "GM01" and i["path"].startswith("/GM/GM01/") for i in items)

    r = await client.get("/api/v1/hierarchy/nodes/GM010101")
    assert r.json()["level"] == "grid" and r.json()["parent"] == "GM0101"
    assert (await client.get("/api/v1/hierarchy/nodes/NOPE")).status_code == 404


async def test_csv_load_and_rename(client: httpx.AsyncClient, tmp_path: Path) -> None:
    csv_file = tmp_path / "h.csv"
    csv_file.write_text(
        "code,name,level,parent\nX,某区,district,\nX1,某街道,street,X\nX101,某社区,community,X1\nX10101,网格一,grid,X101\n",
        encoding="utf-8",
    )
    result = await hierarchy.load_file(csv_file)
    assert result.created == 4
    csv_file.write_text(csv_file.read_text(encoding="utf-8").replace("网格一", "第一网格"), encoding="utf-8")
    result = await hierarchy.load_file(csv_file)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 3)
    assert (await Node.get(code="X10101")).name == "第一网格"


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([{"code": "A", "name": "a", "level": "street", "parent": None}], "root"),
        (
            [
                {"code": "A", "name": "a", "level": "district", "parent": None},
                {"code": "B", "name": "b", "level": "district", "parent": None},
            ],
            "root",
        ),
        (
            [
                {"code": "A", "name": "a", "level": "district", "parent": None},
                {"code": "B", "name": "b", "level": "grid", "parent": "A"},
            ],
            "cannot sit under",
        ),
        (
            [
                {"code": "A", "name": "a", "level": "district", "parent": None},
                {"code": "B", "name": "b", "level": "street", "parent": "Z"},
            ],
            "not in the file",
        ),
        (
            [
                {"code": "A", "name": "a", "level": "district", "parent": None},
                {"code": "A", "name": "b", "level": "street", "parent": "A"},
            ],
            "twice",
        ),
        ([{"code": "A", "name": "a", "level": "county", "parent": None}], "row 1"),
    ],
)
def test_bad_hierarchy_files_are_refused_with_a_reason(
    tmp_path: Path, nodes: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
    with pytest.raises(hierarchy.HierarchyError, match=message):
        hierarchy.read_specs(path)
