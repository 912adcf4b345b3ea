"""Rule overrides for every device of one type in a rental building (the device's own overrides come
after them and win). Stored as one list per building: ``{"device_type": "gas", "alarm_type": "gas", ...}``,
each checked like a device's own override when staff set it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from identity import audit
from miniapp_api.buildings.models import Building
from miniapp_api.devices import rules
from miniapp_api.devices.models import BuildingDeviceRules
from miniapp_api.devices.rules import DeviceType
from server.auth import Principal
from server.errors import NotFound, ValidationFailed

log = logging.getLogger("gmid.devices.rules")

MAX_OVERRIDES = 50


async def building_in_area(*, viewer: Principal, code: str) -> Building:
    found = await Building.get_or_none(code=code.upper()) if len(code) <= 32 else None
    if found is None or not viewer.covers(found.node_path):
        raise NotFound("No building with this code in your area.", code="building_not_found")
    return found


def checked(overrides: list[Any]) -> list[dict[str, Any]]:
    """Each override with its device type, cleaned; 422 naming the first bad field."""
    if len(overrides) > MAX_OVERRIDES:
        raise ValidationFailed.field("rules", f"at most {MAX_OVERRIDES} overrides a building", "invalid_rule")
    cleaned = []
    for n, override in enumerate(overrides):
        if not isinstance(override, Mapping):
            raise ValidationFailed.field(f"rules.{n}", "each override is an object", "invalid_rule")
        kind = override.get("device_type")
        if not isinstance(kind, str) or kind not in {t.value for t in DeviceType}:
            raise ValidationFailed.field(f"rules.{n}.device_type", "a device type", "invalid_rule")
        rest = {k: v for k, v in override.items() if k != "device_type"}
        try:
            cleaned.append({"device_type": kind, **rules.check_override(DeviceType(kind), rest)})
        except rules.RuleError as exc:
            raise ValidationFailed.field(f"rules.{n}.{exc.field}", exc.message, "invalid_rule") from None
    return cleaned


async def get(building: Building) -> BuildingDeviceRules | None:
    return await BuildingDeviceRules.get_or_none(building_id=building.id)


async def put(
    *, viewer: Principal, building: Building, overrides: list[Any], client_addr: str = "", request_id: str = ""
) -> BuildingDeviceRules:
    cleaned = checked(overrides)
    now = dt.datetime.now(dt.UTC)
    row, created = await BuildingDeviceRules.get_or_create(
        building_id=building.id, defaults={"rules": cleaned, "updated_at": now, "updated_by": viewer.account_id}
    )
    if not created:
        row.rules, row.updated_at, row.updated_by = cleaned, now, viewer.account_id
        await row.save(update_fields=["rules", "updated_at", "updated_by"])
    await audit.record(
        actor=viewer.account_id,
        role=viewer.role.value,
        action="device.building_rules",
        target=building.code,
        client_addr=client_addr,
        request_id=request_id,
        details={"overrides": len(cleaned)},
        scope=building.node_path,
    )
    return row


def for_type(stored: list[dict[str, Any]], device_type: str) -> list[dict[str, Any]]:
    """A building's overrides of one device type, as rules.rules_for takes them."""
    return [{k: v for k, v in o.items() if k != "device_type"} for o in stored if o.get("device_type") == device_type]
