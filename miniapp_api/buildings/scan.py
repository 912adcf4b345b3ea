"""What a scan of a building's code shows each role, registered with the QR service's kind registry.

Anyone: the address, the services nearby and the two entries (report a problem, message the grid's
party branch). Grid staff, officers, police and administrators of the building's area: also occupancy,
fire facilities, police incidents nearby and the landlord's masked name and phone. A scan carries no
reason: police see the landlord masked too, with ``landlord_access`` saying how to ask for it in full
(``GET /api/v1/buildings/{code}`` with a reason and a case number, audited as
``police.building_landlord``), as the e-bike scan points to the owner lookup.
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
    answer.update(service.staff_fields(building, full_landlord=False))
    if service.full_landlord_allowed(viewer, building):
        answer["landlord_access"] = service.landlord_access(building)
    return answer


async def is_owner(credential: Credential, principal: Principal) -> bool:
    # Landlords are not accounts: a building's code is printed by staff of its area only.
    return False


def register_kind() -> None:
    kinds.register(dataclasses.replace(kinds.BUILDING, resolver=view, is_owner=is_owner), replace=True)
