"""The bench's seed: the hierarchy and buildings, the devices written straight into the database, the households."""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _devices_fleet import SECRET_FIELD, Plan, device_type, gateway_serial, secret_for, serial
from _seeding import asyncpg_dsn

from identity import hierarchy
from identity import service as identity_service
from identity.models import Account, Node
from identity.roles import NodeLevel, Role
from server import db
from server.settings import Settings

DEVICE_COLUMNS = (
    "id",
    "public_id",
    "serial",
    "type",
    "model",
    "firmware",
    "building_id",
    "node_path",
    "place",
    "gateway_id",
    "rules",
    "auto_shutoff",
    "secret_enc",
    "secret_rotated_at",
    "binding_failures",
    "active",
    "created_at",
    "updated_at",
)


@dataclass
class Seeded:
    seconds: float
    building_ids: list[int]
    storm_building_id: int
    device_ids: dict[int, int]  # index -> id
    storm_accounts: list[int]
    households: int
    household_devices: int


async def prepare(settings: Settings, plan: Plan) -> tuple[list[tuple[int, str]], list[str]]:
    """The hierarchy and the buildings (through the importer); (building id, node path) in order."""
    from identity import pii
    from miniapp_api.buildings import importer
    from miniapp_api.devices.models import Device
    from qr import service as qr_service
    from qr.keys import KeyringCache

    await db.open_db(settings)
    pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))  # the importer signs each building's code
    qr_service.set_keyring(KeyringCache(settings.keys_path))
    try:
        if await Device.all().count() or await Account.all().count():
            raise RuntimeError("the database is not empty: give a freshly created one (it is filled with devices)")
        if not await Node.exists(code="GM"):
            await hierarchy.load_file(hierarchy.demo_file())
        grids = await Node.filter(level=NodeLevel.GRID).order_by("code").values_list("code", flat=True)
        header = ["code", "address", "grid", "floor_area", "floors", "households", "residents"]
        rows = []
        for b in range(plan.buildings):
            grid = str(grids[b % len(grids)])
            rows.append(
                (b + 2, [f"{grid}{8000 + b:04d}", f"光明区设备压测楼栋{b}号", grid, "5000", "30", "400", "1000"])
            )
        result = await importer.import_table(importer.Table(header, rows))
        if result.rejected:
            raise RuntimeError(f"a bench building was refused: {result.rejected[0]}")
        from miniapp_api.buildings.models import Building

        codes = [row[1][0] for row in rows]
        found = {
            code: (bid, path)
            for code, bid, path in await Building.filter(code__in=codes).values_list("code", "id", "node_path")
        }
        return [found[code] for code in codes], [str(g) for g in grids]
    finally:
        qr_service.set_keyring(None)
        pii.set_vault(None)
        await db.close_db()


def device_rows(settings: Settings, plan: Plan, buildings: list[tuple[int, str]]) -> list[tuple[Any, ...]]:
    from identity import pii
    from miniapp_api.devices.registry import new_public_id

    vault = pii.Vault(pii.PiiKeyRing.from_settings(settings))
    now = dt.datetime.now(dt.UTC)

    def row(row_id: int, s: str, kind: str, model: str, g: int, place: str, gateway_id: int | None) -> tuple[Any, ...]:
        """One device (or gateway) in the building of gateway ``g``, in DEVICE_COLUMNS' order."""
        building_id, node_path = buildings[plan.building_of_gateway(g)]
        values = {
            "id": row_id,
            "public_id": new_public_id(),
            "serial": s,
            "type": kind,
            "model": model,
            "firmware": "1.0",
            "building_id": building_id,
            "node_path": node_path,
            "place": place,
            "gateway_id": gateway_id,
            "rules": "[]",
            "auto_shutoff": True,
            "secret_enc": vault.encrypt(secret_for(s), field=SECRET_FIELD),
            "secret_rotated_at": now,
            "binding_failures": 0,
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        return tuple(values[column] for column in DEVICE_COLUMNS)

    rows = [row(g + 1, gateway_serial(g), "gateway", "BENCH-GW", g, "", None) for g in range(plan.gateways)]
    for i in range(plan.devices):
        g, kind = plan.gateway_of(i), device_type(i)
        rows.append(row(plan.gateways + 1 + i, serial(i), kind, "BENCH", g, "厨房" if kind == "gas" else "", g + 1))
    return rows


async def seed(settings: Settings, plan: Plan) -> Seeded:
    from identity import pii
    from miniapp_api.devices.models import DeviceMember

    started = time.perf_counter()
    buildings, _ = await prepare(settings, plan)
    rows = device_rows(settings, plan, buildings)
    url = settings.effective_database_url
    if url.startswith("sqlite://"):
        conn = sqlite3.connect(url[len("sqlite://") :].split("?", 1)[0], isolation_level=None)
        try:
            marks = ", ".join("?" * len(DEVICE_COLUMNS))
            conn.execute("BEGIN")
            conn.executemany(
                f"INSERT INTO device ({', '.join(DEVICE_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - our names
                ([v.isoformat(" ") if isinstance(v, dt.datetime) else v for v in row] for row in rows),
            )
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
        finally:
            conn.close()
    else:
        import asyncpg

        pg = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await pg.copy_records_to_table("device", records=rows, columns=DEVICE_COLUMNS)
            await pg.execute("SELECT setval(pg_get_serial_sequence('device', 'id'), (SELECT MAX(id) FROM device))")
            await pg.execute("ANALYZE device")
        finally:
            await pg.close()
    # Households: a resident (WeChat openid and phone) per household, members of its devices.
    vault = pii.Vault(pii.PiiKeyRing.from_settings(settings))
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(plan.devices):
        h = plan.household_of(i)
        if h is not None:
            members[h].append(i)
    await db.open_db(settings)
    try:
        accounts = []
        for n in range(len(members)):
            phone = f"139{n:08d}"
            accounts.append(
                Account(
                    public_id=identity_service.new_public_id(),
                    role=Role.RESIDENT,
                    wechat_openid=f"oGMDEVBENCH{n:017d}",
                    phone_enc=vault.encrypt(phone, field=identity_service.PHONE_FIELD),
                    phone_bidx=vault.blind_index(phone, field=identity_service.PHONE_FIELD),
                )
            )
        await Account.bulk_create(accounts, batch_size=1000)
        ids = (
            await Account.filter(wechat_openid__startswith="oGMDEVBENCH")
            .order_by("wechat_openid")
            .values_list("id", flat=True)
        )
        now = dt.datetime.now(dt.UTC)
        storm_accounts = []
        member_rows = []
        for account_id, h in zip(ids, sorted(members), strict=True):
            if h < 0:
                storm_accounts.append(int(str(account_id)))
            for i in members[h]:
                member_rows.append(
                    DeviceMember(device_id=plan.gateways + 1 + i, account_id=account_id, added_at=now, added_by="bench")
                )
        await DeviceMember.bulk_create(member_rows, batch_size=1000)
    finally:
        await db.close_db()
    return Seeded(
        time.perf_counter() - started,
        [b for b, _ in buildings],
        buildings[0][0],
        {i: plan.gateways + 1 + i for i in range(plan.devices)},
        storm_accounts,
        len(members),
        sum(len(devices) for devices in members.values()),
    )
