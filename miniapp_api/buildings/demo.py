"""The demo file: 15,016 generated rental buildings spread over the demo hierarchy's 124 grids.

Deterministic (a fixed seed): the same file every time, so a demo, a test and a benchmark all see
the same buildings. Addresses follow the district's streets and communities; landlords get generated
names and valid mainland mobile numbers (no real person's). Nothing is committed: the file is made on
demand (``gmid buildings demo-file OUT`` or ``gmid import buildings --demo``).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from identity import hierarchy
from miniapp_api.buildings.importer import COLUMN_NAMES

DEMO_COUNT = 15_016  # the district's rental buildings
SEED = 20260615

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤麦"
)
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强文辉玉兰海燕德荣振东少锋嘉怡子轩梓涵浩宇"
_MOBILE_PREFIXES = tuple(
    str(n) for n in (*range(130, 140), *range(150, 154), *range(155, 160), 166, 173, 175, *range(176, 190), 191, 198)
)
_STREET_ROADS = {
    "GM01": ("光明大道", "华夏路", "东周路", "观光路", "河心南路"),
    "GM02": ("松白路", "公明北环大道", "民生路", "长春北路", "振明路"),
    "GM03": ("光侨路", "楼村北路", "新玉路", "科裕路", "圳园路"),
    "GM04": ("凤凰城大道", "光明大道", "观光路", "东长路", "塘明大道"),
    "GM05": ("光侨路", "田园路", "玉律路", "长凤路", "南环大道"),
    "GM06": ("南环大道", "红花山路", "合水口路", "将石路", "新庄路"),
}
_ROAD_SUFFIXES = ("路", "一路", "二路", "大街", "新村", "东路")
_BLOCK = ("", "", "", "A栋", "B栋", "1栋", "2栋", "3栋")
_INCIDENT_TYPES = ("theft", "fraud", "dispute", "burglary", "traffic", "drugs")
_SHARED_SERVICES = (
    "光明区人民医院",
    "光明区中医院",
    "便民服务站",
    "农贸市场",
    "公交站",
    "地铁站",
    "幼儿园",
    "小学",
    "社区图书馆",
    "快递驿站",
    "充电桩",
)


@dataclass(frozen=True)
class DemoGrid:
    code: str
    street_code: str
    street: str
    community: str


def demo_grids() -> list[DemoGrid]:
    """The grids of the shipped demo hierarchy, with their street and community names, by code."""
    doc = json.loads(hierarchy.demo_file().read_text(encoding="utf-8"))
    nodes = {n["code"]: n for n in doc["nodes"]}
    grids = []
    for node in sorted(doc["nodes"], key=lambda n: n["code"]):
        if node["level"] != "grid":
            continue
        community = nodes[node["parent"]]
        street = nodes[community["parent"]]
        grids.append(DemoGrid(node["code"], street["code"], street["name"], community["name"]))
    return grids


def _spread(total: int, weights: list[float]) -> list[int]:
    # Largest remainder: the counts add up to exactly ``total``.
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _row(rng: random.Random, grid: DemoGrid, number: int) -> dict[str, str]:
    community_stem = grid.community.removesuffix("社区")
    roads = (*_STREET_ROADS.get(grid.street_code, ("光明大道",)), *(community_stem + s for s in _ROAD_SUFFIXES[:3]))
    road = rng.choice(roads)
    address = f"深圳市光明区{grid.street}{grid.community}{road}{rng.randint(1, 399)}号{rng.choice(_BLOCK)}"
    floors = rng.choice((3, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 10, 12, 15))
    households = floors * rng.randint(2, 8)
    residents = households * rng.randint(1, 3) + rng.randint(0, households)
    floor_area = round(floors * rng.uniform(80, 320), 1)
    incidents: dict[str, int] = {}
    for kind in _INCIDENT_TYPES:
        if rng.random() < 0.18:
            incidents[kind] = rng.randint(1, 6)
    services = [f"{grid.community}党群服务中心", f"{community_stem}社区健康服务中心"]
    services += rng.sample(_SHARED_SERVICES, rng.randint(1, 4))
    return {
        "code": f"{grid.code}{number:04d}",
        "address": address,
        "grid": grid.code,
        "floor_area": f"{floor_area:.1f}",
        "floors": str(floors),
        "households": str(households),
        "residents": str(residents),
        "extinguishers": str(floors * 2 + rng.randint(0, 2)),
        "hydrants": str(rng.randint(0, 2)),
        "escape_routes": str(rng.randint(1, 2)),
        "smoke_detectors": str(households + rng.randint(0, floors)),
        "landlord_name": _name(rng),
        "landlord_phone": _mobile(rng),
        "incidents": ";".join(f"{k}:{v}" for k, v in incidents.items()),
        "services": ";".join(services),
    }


def generate_rows(count: int = DEMO_COUNT, *, seed: int = SEED) -> Iterator[dict[str, str]]:
    """``count`` buildings, grid by grid; each grid's codes are its own code and a 4-digit number."""
    if not 0 <= count <= 124 * 9999:
        raise ValueError("count must be from 0 to 1,239,876 (9,999 per demo grid)")
    rng = random.Random(seed)
    grids = demo_grids()
    weights = [rng.uniform(0.5, 1.5) for _ in grids]
    for grid, n in zip(grids, _spread(count, weights), strict=True):
        for number in range(1, n + 1):
            yield _row(rng, grid, number)


def write_demo_file(path: Path, count: int = DEMO_COUNT, *, seed: int = SEED) -> int:
    """Write the demo file (CSV UTF-8, or .xlsx by the suffix); the number of buildings written."""
    rows = generate_rows(count, seed=seed)
    written = 0
    if path.suffix.lower() == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("buildings")
        sheet.append(list(COLUMN_NAMES))
        for row in rows:
            sheet.append([row[c] for c in COLUMN_NAMES])
            written += 1
        book.save(path)
        return written
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMN_NAMES))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            written += 1
    return written
