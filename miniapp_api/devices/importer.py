"""Import sensor devices from a CSV (UTF-8) or XLSX file: ``gmid import devices``.

The same rules and report as the building import (miniapp_api/buildings/importer): the file is read by
its ``table`` module, every row is checked on its own, a bad row is reported by line, column and reason
(never the value), the good rows are written all of them or none, in one transaction. A row is found
again by its serial: a re-import updates the device's other fields (its secret stays); a row that
changes nothing writes nothing. Each row passes the registry's own checks (``registry.check``, as
``POST /devices``). A new device's secret and binding code go to the caller's ``keep`` (the command
writes them to a file of the operator's), never to the report.

Gateways and valves are written before the devices that name them, so a file may list them anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tortoise.transactions import in_transaction

from miniapp_api.buildings.importer import ImportFileError, ImportResult, Rejected, Table, map_header, read_table
from miniapp_api.buildings.importer.table import Column
from miniapp_api.devices import registry
from miniapp_api.devices.models import BindingRequest, BindingState, Device, DeviceAlarm, DeviceSilence
from miniapp_api.devices.rules import DeviceType
from miniapp_api.devices.schemas import DeviceIn
from server.auth import Principal
from server.errors import AppError

COLUMNS: tuple[Column, ...] = (
    Column("serial", True, ("序列号", "设备序列号", "设备编号")),
    Column("type", True, ("类型", "设备类型")),
    Column("model", False, ("型号",)),
    Column("firmware", False, ("固件", "固件版本")),
    Column("building", False, ("楼栋编码", "楼栋", "building_code")),
    Column("node", False, ("节点", "节点编码", "网格", "社区")),
    Column("place", False, ("安装位置", "位置")),
    Column("gateway", False, ("网关", "网关序列号")),
    Column("valve", False, ("阀门", "阀门序列号")),
    Column("noise_zone", False, ("声环境功能区", "噪声功能区")),
    Column("auto_shutoff", False, ("自动关阀",)),
)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)

_SERIAL = "a serial is 4 to 64 letters, digits, _ or - (starting with a letter or digit)"
_PUBLIC = "no phone or ID numbers or e-mail addresses (it is shown to who scans the device)"
# Why a cell was refused, by column: never the value, which may be personal data.
REASONS = {
    "serial": _SERIAL,
    "type": "one of " + ", ".join(t.value for t in DeviceType),
    "model": f"a model is at most 64 characters; {_PUBLIC}",
    "firmware": "a firmware version is at most 32 of A-Z a-z 0-9 . _ + -",
    "building": "a building code is 1 to 32 letters and digits",
    "node": "a node code is 1 to 32 letters and digits",
    "place": f"a place is at most 32 characters; {_PUBLIC}",
    "gateway": _SERIAL,
    "valve": _SERIAL,
    "noise_zone": "a GB 3096-2008 zone class: 0, 1, 2, 3, 4a or 4b",
    "auto_shutoff": "yes or no (1/0, true/false, 是/否)",
}
_YES = {"1", "yes", "y", "true", "是", "开"}
_NO = {"0", "no", "n", "false", "否", "关"}
# The registry columns a file column sets (a column the file does not have keeps what the device had).
FIELDS = {
    "model": ("model",),
    "firmware": ("firmware",),
    "building": ("building_id", "node_path"),
    "node": ("building_id", "node_path"),
    "place": ("place",),
    "gateway": ("gateway_id",),
    "valve": ("valve_id",),
    "noise_zone": ("noise_zone",),
    "auto_shutoff": ("auto_shutoff",),
}
# Written first, so that the devices naming them find them.
_ORDER = {DeviceType.GATEWAY: 0, DeviceType.VALVE: 1}


@dataclass(frozen=True)
class DeviceRow:
    line: int
    data: DeviceIn
    present: frozenset[str]  # the file's columns


@dataclass(frozen=True)
class NewDevice:
    """What the operator needs to provision a new device: shown once, kept only in their file."""

    serial: str
    id: str
    type: str
    secret: str
    binding_code: str


@dataclass
class DeviceImportResult(ImportResult):
    new: list[NewDevice] = field(default_factory=list)


Keep = Callable[[list[NewDevice]], object]


def parse_row(line: int, cells: list[str], positions: dict[str, int]) -> tuple[DeviceRow | None, list[Rejected]]:
    def cell(name: str) -> str:
        index = positions.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    problems: list[Rejected] = []
    doc: dict[str, Any] = {}
    for name in positions:
        text = cell(name)
        if name == "auto_shutoff":
            if text.lower() in _YES:
                doc[name] = True
            elif text.lower() in _NO:
                doc[name] = False
            elif text:
                problems.append(Rejected(line, name, REASONS[name]))
        elif name in ("type", "noise_zone"):
            if text:
                doc[name] = text.lower()
        elif text or name in ("model", "firmware", "place"):
            doc[name] = text
    if not cell("building") and not cell("node"):
        problems.append(Rejected(line, "building", "give the building code (or a community or grid node)"))
    try:
        data = DeviceIn.model_validate(doc)
    except ValidationError as exc:
        columns = []
        for error in exc.errors():
            column = str(error["loc"][0]) if error["loc"] else "serial"
            if column not in columns:
                columns.append(column)
        for column in columns:
            reason = REASONS.get(column, "required") if column in doc else f"a {column} is required"
            problems.append(Rejected(line, column, reason))
        return None, problems
    if problems:
        return None, problems
    return DeviceRow(line, data, frozenset(positions)), []


def check_rows(table: Table) -> tuple[list[DeviceRow], list[Rejected], list[str]]:
    """The good rows (gateways, then valves, then the rest, each in line order), the rejections and
    the ignored columns."""
    positions, ignored = map_header(table.header, COLUMNS)
    if "building" not in positions and "node" not in positions:
        problem = Rejected(1, "building", "required column missing from the header (or node)")
        raise ImportFileError("the header cannot be used (building)", [problem])
    good: list[DeviceRow] = []
    rejected: list[Rejected] = []
    first_line: dict[str, int] = {}
    for line, cells in table.rows:
        row, problems = parse_row(line, cells, positions)
        if row is not None:
            serial = registry.normalize_serial(row.data.serial)
            if serial in first_line:
                problems = [Rejected(line, "serial", f"duplicate of line {first_line[serial]} in this file")]
                row = None
            else:
                first_line[serial] = line
        rejected.extend(problems)
        if row is not None:
            good.append(row)
    good.sort(key=lambda r: (_ORDER.get(r.data.type, 2), r.line))
    return good, rejected, ignored


def _refusal(line: int, exc: AppError) -> list[Rejected]:
    fields = (exc.details or {}).get("fields") or []
    if fields:
        return [Rejected(line, str(f["field"]).split(".")[0], str(f["message"])) for f in fields]
    column = "valve" if exc.code == "valve_taken" else "serial"
    return [Rejected(line, column, exc.message.rstrip("."))]


async def _import_row(row: DeviceRow, viewer: Principal, new: list[NewDevice], now: Any) -> tuple[str, list[Rejected]]:
    """'created', 'updated', 'unchanged' or 'rejected', with the reasons."""
    serial = registry.normalize_serial(row.data.serial)
    existing = await Device.get_or_none(serial=serial)
    if existing is not None and not viewer.covers(existing.node_path):
        # Found again by its serial, but another area's device: never taken over by a re-import.
        return "rejected", [Rejected(row.line, "serial", "a device with this serial is registered outside your area")]
    if existing is not None and existing.type != row.data.type.value:
        return "rejected", [Rejected(row.line, "type", "a registered device keeps its type (retire it instead)")]
    try:
        checked = await registry.check(viewer=viewer, data=row.data, own=existing)
    except AppError as exc:
        return "rejected", _refusal(row.line, exc)
    if existing is None:
        device, secret, code = registry.new_device(row.data, checked)
        await device.save()
        await registry.issue_code(device)  # its sticker's code, as a device registered one by one
        new.append(NewDevice(device.serial, device.public_id, device.type, secret, code))
        return "created", []
    wanted = registry.columns_of(row.data, checked)
    names = {name for column in row.present for name in FIELDS.get(column, ())}
    changes = {k: wanted[k] for k in sorted(names) if getattr(existing, k) != wanted[k]}
    if not changes:
        return "unchanged", []
    if "node_path" in changes or "building_id" in changes:
        problems = await _pairs_kept(row.line, existing, {**changes})
        if problems:
            return "rejected", problems
    await Device.filter(id=existing.id).update(**changes, updated_at=now)
    if "node_path" in changes or "building_id" in changes:
        # What staff decide about the device goes with it to its new area: pending binding requests,
        # the device's silences (seen and lifted there), and its open alarms (seen, acknowledged and
        # escalated there; cleared ones stay where they happened).
        moved_to = str(changes.get("node_path", existing.node_path))
        building_id = changes.get("building_id", existing.building_id)
        pending = BindingRequest.filter(device_id=existing.id, state=BindingState.PENDING.value)
        await pending.update(node_path=moved_to)
        await DeviceSilence.filter(device_id=existing.id, scope="device", ended_at=None).update(node_path=moved_to)
        await DeviceAlarm.filter(device_id=existing.id, cleared_at=None).update(
            node_path=moved_to, building_id=building_id
        )
    return "updated", []


async def _pairs_kept(line: int, device: Device, changes: dict[str, Any]) -> list[Rejected]:
    """A device moved by a re-import keeps its pairs only where they still hold (a valve in its
    detector's home, a gateway at the device's place or above): the pairs the file does not name, and
    the devices paired with it, are checked at its new place."""
    node_path = str(changes.get("node_path", device.node_path))
    building_id = changes.get("building_id", device.building_id)
    valve_id = changes.get("valve_id", device.valve_id)
    gateway_id = changes.get("gateway_id", device.gateway_id)
    if valve_id is not None:
        valve = await Device.get(id=valve_id)
        if valve.node_path != node_path or valve.building_id != building_id:
            return [Rejected(line, "valve", "the valve is installed where its detector is")]
    if gateway_id is not None and not node_path.startswith((await Device.get(id=gateway_id)).node_path):
        return [Rejected(line, "gateway", "the gateway is at the device's grid or community, or above it")]
    for detector in await Device.filter(valve_id=device.id).order_by("id"):
        if detector.node_path != node_path or detector.building_id != building_id:
            return [Rejected(line, "building", f"its detector {detector.serial} is installed elsewhere")]
    for behind in await Device.filter(gateway_id=device.id).order_by("id"):
        if not behind.node_path.startswith(node_path):
            return [Rejected(line, "building", f"its device {behind.serial} is not under its new place")]
    return []


async def import_table(table: Table, *, viewer: Principal, keep: Keep | None) -> DeviceImportResult:
    """Check and write the rows, the good ones all or none. Without ``keep`` (nowhere to put new
    secrets), a file that would register a new device imports nothing (ImportFileError)."""
    started = time.monotonic()
    good, rejected, ignored = check_rows(table)
    if keep is None:
        serials = [registry.normalize_serial(r.data.serial) for r in good]
        known = set(await Device.filter(serial__in=serials).values_list("serial", flat=True)) if serials else set()
        if len(known) < len(set(serials)):
            raise ImportFileError(
                f"{len(set(serials)) - len(known):,} rows register new devices: say where their secrets go"
            )
    counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    new: list[NewDevice] = []
    now = registry.utcnow()
    async with in_transaction():
        for row in good:
            outcome, problems = await _import_row(row, viewer, new, now)
            counts[outcome] += 1
            rejected.extend(problems)
        if new:
            if keep is None:  # registered by someone else since the check above
                raise ImportFileError("some rows register new devices: say where their secrets go")
            keep(new)  # on disk before the devices exist
    rejected.sort(key=lambda r: r.line)
    return DeviceImportResult(
        rows=len(table.rows),
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        rejected=rejected,
        ignored_columns=ignored,
        seconds=time.monotonic() - started,
        new=new,
    )


async def import_file(path: Path, *, viewer: Principal, keep: Keep | None) -> DeviceImportResult:
    """Read, check and import one file; ImportFileError when the file cannot be used at all."""
    return await import_table(read_table(path), viewer=viewer, keep=keep)
