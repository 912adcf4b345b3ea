from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from identity import hierarchy
from identity.models import Node
from identity.roles import NodeLevel
from tests.identity.guangming import expected_nodes


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
        ([{"code": "A", "name": "a", "level": "district", "parent": None, "division_code": "4403"}], "12"),
        ([{"code": "A", "name": "a", "level": "district", "parent": None, "division_code": "44031100100x"}], "12"),
        (
            [
                {"code": "A", "name": "a", "level": "district", "parent": None, "division_code": "440311"},
                {"code": "B", "name": "b", "level": "street", "parent": "A", "division_code": "440306001000"},
            ],
            "not inside",
        ),
        (
            [
                {"code": "A", "name": "a", "level": "district", "parent": None, "division_code": "440311"},
                {"code": "B", "name": "b", "level": "street", "parent": "A", "division_code": "440311000000"},
            ],
            "not inside",
        ),
        (
            [
                {"code": "A", "name": "a", "level": "district", "parent": None, "division_code": "440311"},
                {"code": "B", "name": "b", "level": "street", "parent": "A", "division_code": "440311001000"},
                {"code": "C", "name": "c", "level": "street", "parent": "A", "division_code": "440311001000"},
            ],
            "both B and C",
        ),
        ([{"code": "A", "name": "a" * 65, "level": "district", "parent": None}], "64"),
    ],
)
def test_bad_hierarchy_files_are_refused_with_a_reason(
    tmp_path: Path, nodes: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
    with pytest.raises(hierarchy.HierarchyError, match=message):
        hierarchy.read_specs(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [('{"node": []}', "nodes"), ('{"nodes": {"code": "A"}}', "nodes"), ('{"nodes": ["A"]}', "row 1"), ("[1]", "row 1")],
)
def test_json_of_another_shape_is_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "h.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(hierarchy.HierarchyError, match=message):
        hierarchy.read_specs(path)


# The official file and the demo file ---------------------------------------------------------------


def test_the_official_file_is_guangming_with_its_official_codes_in_official_order() -> None:
    specs = hierarchy.read_specs(hierarchy.official_file())
    assert {s.code: (s.name, s.level.value, s.parent, s.division_code) for s in specs} == expected_nodes()
    # Our code follows the official one: GMsscc is 440311 0ss 0cc.
    for spec in specs:
        if spec.level is NodeLevel.COMMUNITY:
            assert spec.division_code == f"440311{int(spec.code[2:4]):03d}{int(spec.code[4:6]):03d}"
    doc = json.loads(hierarchy.official_file().read_text(encoding="utf-8"))
    assert "国家统计局" in doc["source"]["division_codes"]
    assert "modood/Administrative-divisions-of-China" in doc["source"]["republished_in"]


def test_the_demo_file_is_the_official_hierarchy_and_four_grids_per_community() -> None:
    official = hierarchy.read_specs(hierarchy.official_file())
    demo = hierarchy.read_specs(hierarchy.demo_file())
    assert [s for s in demo if s.level is not NodeLevel.GRID] == official
    communities = {s.code: s.name for s in official if s.level is NodeLevel.COMMUNITY}
    grids = [s for s in demo if s.level is NodeLevel.GRID]
    assert len(grids) == 4 * len(communities) == 124
    for grid in grids:
        assert grid.parent in communities  # every demo grid sits under a real community
        assert grid.code[:6] == grid.parent and grid.name == f"{communities[grid.parent]}第{int(grid.code[6:])}网格"
        assert grid.division_code is None


async def test_first_start_loads_only_into_an_empty_hierarchy(client: httpx.AsyncClient) -> None:
    loaded = await hierarchy.load_official_if_empty()
    assert loaded is not None and (loaded.created, loaded.updated) == (38, 0)
    before = await Node.all().order_by("id").values_list("code", "name", "path", "division_code")
    assert await hierarchy.load_official_if_empty() is None
    assert await Node.all().order_by("id").values_list("code", "name", "path", "division_code") == before

    r = await client.get("/api/v1/hierarchy/nodes", params={"level": "street"})
    assert [(n["code"], n["name"], n["division_code"]) for n in r.json()["items"]] == [
        ("GM01", "光明街道", "440311001000"),
        ("GM02", "公明街道", "440311002000"),
        ("GM03", "新湖街道", "440311003000"),
        ("GM04", "凤凰街道", "440311004000"),
        ("GM05", "玉塘街道", "440311005000"),
        ("GM06", "马田街道", "440311006000"),
    ]


async def test_a_file_without_division_codes_keeps_the_ones_stored(client: httpx.AsyncClient, tmp_path: Path) -> None:
    await hierarchy.load_official_if_empty()
    renamed = tmp_path / "h.csv"
    renamed.write_text("code,name,level,parent\nGM,光明区,district,\nGM01,光明街道办事处,street,GM\n", encoding="utf-8")
    result = await hierarchy.load_file(renamed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    street = await Node.get(code="GM01")
    assert (street.name, street.division_code) == ("光明街道办事处", "440311001000")
    r = await client.get("/api/v1/hierarchy/nodes/GM010101")
    assert r.status_code == 404  # the official hierarchy has no grids


async def test_a_division_code_that_belongs_to_another_node_is_refused_and_nothing_changes(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await hierarchy.load_official_if_empty()
    before = await Node.all().order_by("id").values_list("code", "name", "path", "division_code")
    path = tmp_path / "h.json"
    path.write_text(
        json.dumps(
            {
                "nodes": [
                    {"code": "GM", "name": "光明区", "level": "district", "parent": None},
                    {"code": "GM01", "name": "新名", "level": "street", "parent": "GM"},
                    # 碧眼社区's code, given to a new node.
                    {
                        "code": "GM0199",
                        "name": "某社区",
                        "level": "community",
                        "parent": "GM01",
                        "division_code": "440311001002",
                    },
                ]
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(hierarchy.HierarchyError, match="already belongs to node GM0102"):
        await hierarchy.load_file(path)
    assert await Node.all().order_by("id").values_list("code", "name", "path", "division_code") == before
