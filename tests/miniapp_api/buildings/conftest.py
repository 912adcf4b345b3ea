"""Rental building tests: files to import, import helpers (in-process and the real CLI), staff users."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from miniapp_api.buildings import importer
from miniapp_api.buildings.models import Building
from qr.models import Credential
from server.settings import Settings
from tests.factories import auth, load_demo_hierarchy, make_account, token_for
from tests.support.cli import gmid

HEADER = list(importer.COLUMN_NAMES)
NAME = "欧阳娜娜"
PHONE = "13912340001"


def row(n: int = 1, **changes: Any) -> dict[str, str]:
    """A good row; building n of grid GM010101 unless ``grid`` says otherwise."""
    grid = changes.get("grid", "GM010101")
    body = {
        "code": f"{grid}{n:04d}",
        "address": f"深圳市光明区光明街道光明社区华夏路{n}号",
        "grid": grid,
        "floor_area": "420.5",
        "floors": "6",
        "households": "18",
        "residents": "40",
        "extinguishers": "12",
        "hydrants": "1",
        "escape_routes": "2",
        "smoke_detectors": "20",
        "landlord_name": NAME,
        "landlord_phone": PHONE,
        "incidents": "theft:3; fraud:1",
        "services": "光明社区党群服务中心;光明区人民医院",
    }
    body.update({k: str(v) for k, v in changes.items()})
    return body


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    columns = header or HEADER
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for item in rows:
            writer.writerow([item.get(c, "") for c in columns])
    return path


async def import_rows(tmp_path: Path, rows: list[dict[str, str]], name: str = "b.csv") -> importer.ImportResult:
    """Import in the test's own process (the running app has opened the vault and the QR keys)."""
    await load_demo_hierarchy()
    return await importer.import_file(write_csv(tmp_path / name, rows))


async def cli_import(settings: Settings, path: Path, *args: str) -> tuple[int, str, str]:
    await load_demo_hierarchy()
    return await gmid(settings, "import", "buildings", str(path), *args)


async def building(code: str) -> Building:
    return await Building.get(code=code)


async def credential_of(code: str) -> Credential:
    return await Credential.get(public_id=(await building(code)).credential_id)


@dataclass
class User:
    account: Account
    headers: dict[str, str]


async def user(app: Sanic, role: Role, node: str | None = None) -> User:
    account = await make_account(role, node=node)
    return User(account, auth(await token_for(app, account)))


async def scan(client: httpx.AsyncClient, code: str, who: User | None = None) -> dict[str, Any]:
    token = (await credential_of(code)).token
    response = await client.post("/api/v1/scan", json={"payload": token}, headers=who.headers if who else {})
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()["view"]
    return view
