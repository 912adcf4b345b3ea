"""What a scan of a building's code shows each role, registered with the QR service's kind registry.

Anyone: the address, the services nearby and the two entries (report a problem, message the grid's
party branch). Grid staff, officers and administrators of the building's area: also occupancy, fire
facilities, police incidents nearby and the landlord's masked name and phone. Police of the area: the
landlord in full, and the read goes into the audit log (``police.building_landlord``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from miniapp_api.buildings import service
from qr import kinds
from qr.kinds import ScanContext
from qr.models import Credential
from server.auth import Principal


async def view(credential: Credential, context: ScanContext) -> dict[str, Any]:
    building = await service.by_credential(credential.public_id)
    if building is None:
        return {"kind": "building", "registered": False}
    answer: dict[str, Any] = {"kind": "building", "registered": True, **service.public_view(building)}
    viewer = context.viewer
    if not service.staff_view_allowed(context.audience, viewer, building):
        return answer
    full = service.full_landlord_allowed(viewer, building)
    answer.update(service.staff_fields(building, full_landlord=full))
    if full and viewer is not None:
        answer["audit_seq"] = await service.audit_landlord_read(
            viewer=viewer,
            building=building,
            via="scan",
            client_addr=context.client_addr,
            request_id=context.request_id,
        )
    return answer


async def is_owner(credential: Credential, principal: Principal) -> bool:
    # Landlords are not accounts: a building's code is printed by staff of its area only.
    return False


def register_kind() -> None:
    kinds.register(dataclasses.replace(kinds.BUILDING, resolver=view, is_owner=is_owner), replace=True)
