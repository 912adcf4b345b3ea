"""Rental building services: find in scope, list, update, the landlord (PII vault), the role views.

Staff see only the buildings under their own hierarchy node; any other building is "not found".
What a view shows depends on the audience: anyone sees the address, the services nearby and the two
entries (report a problem, message the grid's party branch); grid staff, officers and administrators
of the building's area also see occupancy, fire facilities, incidents and the landlord masked; police
of the area see the landlord in full only when they give a reason and a case number (like the e-bike
owner lookup), and each such read, or refused attempt, is written to the audit log.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q

from identity import audit, hierarchy
from identity.models import Node
from identity.pii import PiiDecryptError, current_vault, mask_name, mask_phone, mask_public_text
from identity.roles import Role
from identity.validators import InvalidMobile, normalize_mobile
from miniapp_api.buildings.models import Building
from qr import service as qr_service
from qr.kinds import Audience
from server.auth import Principal
from server.errors import NotFound, ValidationFailed

log = logging.getLogger("gmid.buildings")

LANDLORD_NAME_FIELD = "building.landlord_name"
LANDLORD_PHONE_FIELD = "building.landlord_phone"
AUDIT_ACTION = "police.building_landlord"
# A search of buildings by the landlord's mobile: by police (with a reason and a case number), by staff.
POLICE_SEARCH_ACTION = "police.building_landlord_search"
STAFF_SEARCH_ACTION = "building.landlord_search"
LIST_LIMIT = 50
LIST_MAX = 200
_CODE_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")

# The entries every scan shows. The reports and boards packages own the targets; these paths are the
# stable contract the mini-program follows (the building code tells them where the report is from).
ACTIONS = (
    ("report_problem", "反映问题", "POST", "/api/v1/reports"),
    ("message_party_branch", "给网格党支部留言", "GET", "/api/v1/boards?building={code}"),
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def building_label(code: str) -> str:
    # Printed under the sticker's code: the building code, never the landlord.
    return code[:64]


def phone_index(phone: str) -> str:
    return current_vault().blind_index(phone, field=LANDLORD_PHONE_FIELD)


def decrypt_or_none(token: str | None, field: str) -> str | None:
    if not token:
        return None
    return current_vault().decrypt(token, field=field)


@dataclass(frozen=True)
class Landlord:
    name: str | None
    phone: str | None


def landlord_of(building: Building) -> Landlord:
    """The landlord in full: only for police (audited) and for the service's own comparisons."""
    try:
        return Landlord(
            decrypt_or_none(building.landlord_name_enc, LANDLORD_NAME_FIELD),
            decrypt_or_none(building.landlord_phone_enc, LANDLORD_PHONE_FIELD),
        )
    except PiiDecryptError:
        log.error("building landlord cannot be decrypted code=%s", building.code)
        raise


def masked_landlord(building: Building) -> Landlord:
    full = landlord_of(building)
    return Landlord(mask_name(full.name) or None, mask_phone(full.phone) or None)


# Finding buildings --------------------------------------------------------------------------------


def _not_found() -> NotFound:
    return NotFound("No building with this code in your area.", code="building_not_found")


async def get_by_code(*, code: str) -> Building | None:
    """A building by its code (any case), or None; for other packages (reports) too."""
    if not _CODE_RE.fullmatch(code):
        return None
    return await Building.get_or_none(code=code.upper())


async def get_in_scope(*, viewer: Principal, code: str) -> Building:
    """The building if it lies under the viewer's node; 404 otherwise, as if it did not exist."""
    building = await get_by_code(code=code)
    if building is None or not viewer.covers(building.node_path):
        raise _not_found()
    return building


async def by_credential(public_id: str) -> Building | None:
    return await Building.get_or_none(credential_id=public_id)


def _encode_cursor(code: str) -> str:
    return base64.urlsafe_b64encode(code.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        code = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        code = ""
    if not _CODE_RE.fullmatch(code):
        raise ValidationFailed.field("cursor", "not a cursor this list gave out", "bad_cursor")
    return code


def landlord_phone_query(q: str | None) -> str | None:
    """The mobile number a search ``q`` is, when it is one: a search of the landlord's phone, which
    finds a person's property (a person lookup); None for a search by code or address."""
    try:
        return normalize_mobile((q or "").strip())
    except InvalidMobile:
        return None


async def search_area(*, viewer: Principal, grid: str | None = None) -> str | None:
    """The node path a list covers: the viewer's node, or ``grid`` (any node code) inside it; None for
    a viewer without a node. ``grid`` outside the viewer's area is 404."""
    if viewer.node_path is None:
        return None
    if not grid:
        return viewer.node_path
    node = await hierarchy.get_by_code(grid.upper())
    if node is None or not viewer.covers(node.path):
        raise NotFound("No hierarchy node with this code in your area.", code="node_not_found")
    return node.path


async def list_in_scope(
    *, viewer: Principal, grid: str | None = None, q: str | None = None, cursor: str | None = None, limit: int = 50
) -> tuple[list[Building], str | None]:
    """Buildings under the viewer's node (narrowed to ``grid``, any node code), ordered by code.

    ``q`` matches the start of a code, part of the address, or, when it is a mobile number, the
    landlord's phone (by its blind index: the number itself is never stored)."""
    under = await search_area(viewer=viewer, grid=grid)
    if under is None:
        return [], None
    query = Building.filter(node_path__startswith=under)
    text = (q or "").strip()
    if text:
        phone = landlord_phone_query(text)
        if phone is not None:
            query = query.filter(landlord_phone_bidx=phone_index(phone))
        elif _CODE_RE.fullmatch(text):
            query = query.filter(Q(code__startswith=text.upper()) | Q(address__icontains=text))
        else:
            query = query.filter(address__icontains=text)
    if cursor:
        query = query.filter(code__gt=_decode_cursor(cursor))
    rows = list(await query.order_by("code").limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode_cursor(rows[-1].code) if more and rows else None)


async def grid_names(codes: set[str]) -> dict[str, str]:
    return dict(await Node.filter(code__in=list(codes)).values_list("code", "name"))


# Changing a building ------------------------------------------------------------------------------


async def update(*, building: Building, changes: dict[str, Any]) -> Building:
    """Staff correct a building's facts (not its code or grid: those come with the district's file).
    ``changes`` holds only the fields sent; a landlord name or phone of "" clears it."""
    vault = current_vault()
    fields: dict[str, Any] = {}
    for name in ("address", "floor_area", "floors", "households", "residents", "incidents", "services"):
        if changes.get(name) is not None:
            fields[name] = changes[name]
    fire = changes.get("fire_facilities") or {}
    for name, value in fire.items():
        if value is not None:
            fields[name] = value
    if changes.get("landlord_name") is not None:
        name = changes["landlord_name"]
        fields["landlord_name_enc"] = vault.encrypt(name, field=LANDLORD_NAME_FIELD) if name else None
    if changes.get("landlord_phone") is not None:
        raw = changes["landlord_phone"]
        if raw:
            try:
                phone = normalize_mobile(raw)
            except InvalidMobile:
                raise ValidationFailed.field(
                    "landlord_phone", "not a valid mainland mobile number", "invalid_phone"
                ) from None
            fields["landlord_phone_enc"] = vault.encrypt(phone, field=LANDLORD_PHONE_FIELD)
            fields["landlord_phone_bidx"] = phone_index(phone)
        else:
            fields.update(landlord_phone_enc=None, landlord_phone_bidx=None)
    if fields:
        fields["updated_at"] = utcnow()
        await Building.filter(id=building.id).update(**fields)
        for name, value in fields.items():
            setattr(building, name, value)
        await qr_service.changed(building.credential_id)  # the address and services are in the public scan
        log.info("building updated code=%s fields=%s", building.code, ",".join(sorted(fields)))
    return building


# Views ----------------------------------------------------------------------------------------------


def actions(code: str) -> list[dict[str, str]]:
    return [
        {"key": key, "title": title, "method": method, "href": href.format(code=code)}
        for key, title, method, href in ACTIONS
    ]


def staff_view_allowed(audience: str, viewer: Principal | None, building: Building) -> bool:
    """Occupancy, fire facilities, incidents and the masked landlord: staff of the building's area."""
    if audience not in (Audience.OFFICER, Audience.POLICE, Audience.ADMIN) or viewer is None:
        return False
    return viewer.covers(building.node_path)


def full_landlord_allowed(viewer: Principal | None, building: Building) -> bool:
    """Police of the building's area may read the landlord in full, with a reason and a case number."""
    return viewer is not None and viewer.role is Role.POLICE and viewer.covers(building.node_path)


def landlord_access(building: Building) -> dict[str, Any]:
    """How police of the area ask for the landlord in full (what the masked view shows them)."""
    return {"method": "GET", "href": f"/api/v1/buildings/{building.code}", "requires": ["reason", "case_no"]}


def public_view(building: Building) -> dict[str, Any]:
    # Masked as shown: rows stored before address and services refused phone and ID numbers.
    return {
        "code": building.code,
        "address": mask_public_text(building.address),
        "services": [mask_public_text(name) for name in building.services],
        "actions": actions(building.code),
    }


def staff_fields(building: Building, *, full_landlord: bool) -> dict[str, Any]:
    landlord = landlord_of(building) if full_landlord else masked_landlord(building)
    return {
        "grid": building.grid_code,
        "occupancy": {
            "floor_area": building.floor_area,
            "floors": building.floors,
            "households": building.households,
            "residents": building.residents,
        },
        "fire_facilities": {
            "extinguishers": building.extinguishers,
            "hydrants": building.hydrants,
            "escape_routes": building.escape_routes,
            "smoke_detectors": building.smoke_detectors,
        },
        "incidents": dict(building.incidents),
        "landlord": {"name": landlord.name, "phone": landlord.phone, "masked": not full_landlord},
    }


async def audit_landlord_read(
    *,
    viewer: Principal,
    building: Building,
    via: str,
    client_addr: str,
    request_id: str,
    reason: str,
    case_no: str,
    outcome: str = "ok",
) -> int:
    """A police read of a landlord's full name and phone, or a refused attempt: one audit entry (no
    personal data in it)."""
    entry = await audit.record(
        actor=viewer.account_id,
        role=viewer.role.value,
        action=AUDIT_ACTION,
        target=building.code,
        reason=reason[:500],
        client_addr=client_addr,
        request_id=request_id,
        details={
            "via": via,
            "credential": building.credential_id,
            "grid": building.grid_code,
            "case_no": case_no[:64],
            "outcome": outcome,
        },
        scope=building.node_path,
    )
    return entry.seq


async def audit_landlord_search(
    *,
    viewer: Principal,
    phone: str,
    area: str,
    found: list[Building],
    client_addr: str,
    request_id: str,
    reason: str = "",
    case_no: str = "",
    outcome: str = "ok",
) -> int:
    """A search of buildings by a landlord's mobile (who lets out what): one audit entry, the number
    masked, the buildings found as the target; police entries carry the reason and case number."""
    police = viewer.role is Role.POLICE
    details: dict[str, Any] = {"query": mask_phone(phone), "result_count": len(found), "outcome": outcome}
    if police:
        details["case_no"] = case_no[:64]
    entry = await audit.record(
        actor=viewer.account_id,
        role=viewer.role.value,
        action=POLICE_SEARCH_ACTION if police else STAFF_SEARCH_ACTION,
        target=",".join(b.code for b in found)[:128],
        reason=reason[:500],
        client_addr=client_addr,
        request_id=request_id,
        details=details,
        scope=area,
    )
    return entry.seq
