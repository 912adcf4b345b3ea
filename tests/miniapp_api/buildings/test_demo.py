"""The generated demo file: 15,016 buildings over the demo hierarchy's grids, the same every time, and
importable (a small sample here; the whole file is timed by bench/buildings_import_bench.py)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import httpx

from identity import hierarchy
from identity.validators import normalize_mobile
from miniapp_api.buildings import demo, importer
from miniapp_api.buildings.models import Building
from qr.models import Credential
from server.settings import Settings
from tests.support.cli import gmid


def test_the_demo_file_has_15016_buildings_spread_over_every_grid() -> None:
    rows = list(demo.generate_rows())
    assert len(rows) == demo.DEMO_COUNT == 15_016
    codes = [r["code"] for r in rows]
    assert len(set(codes)) == len(codes)
    grids = {s.code for s in hierarchy.read_specs(hierarchy.demo_file()) if s.level.value == "grid"}
    per_grid = Counter(r["grid"] for r in rows)
    assert set(per_grid) == grids and len(grids) == 124
    assert min(per_grid.values()) >= 50
    for r in rows[:2000]:
        assert r["code"].startswith(r["grid"])
        assert r["address"].startswith("深圳市光明区") and "街道" in r["address"] and "社区" in r["address"]
        assert normalize_mobile(r["landlord_phone"]) == r["landlord_phone"]
        assert 2 <= len(r["landlord_name"]) <= 3
        importer.parse_incidents(r["incidents"])
        assert importer.parse_services(r["services"])


def test_the_demo_file_is_the_same_every_time() -> None:
    def digest() -> str:
        return hashlib.sha256(json.dumps(list(demo.generate_rows(500)), ensure_ascii=False).encode()).hexdigest()

    assert digest() == digest()
    assert list(demo.generate_rows(3)) != list(demo.generate_rows(3, seed=1))


async def test_a_demo_sample_imports(client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    code, out, err = await gmid(settings, "import", "buildings", "--demo", "--count", "300", "--quiet")
    assert code == 0, out + err
    assert "300 rows, 300 imported (300 created, 0 updated, 0 unchanged), 0 rejected" in out
    assert await Building.all().count() == 300
    assert await Credential.filter(kind="building").count() == 300

    # The same buildings written as .xlsx import as the same buildings: nothing changes.
    xlsx = tmp_path / "demo.xlsx"
    code, out, err = await gmid(settings, "buildings", "demo-file", str(xlsx), "--count", "300")
    assert code == 0 and "300 demo buildings" in out, out + err
    code, out, err = await gmid(settings, "import", "buildings", str(xlsx), "--quiet")
    assert code == 0, out + err
    assert "300 imported (0 created, 0 updated, 300 unchanged)" in out


async def test_import_needs_a_file_or_demo(client: httpx.AsyncClient, settings: Settings) -> None:
    code, _, err = await gmid(settings, "import", "buildings")
    assert code == 2 and "give the FILE" in err
