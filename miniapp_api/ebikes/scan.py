"""What a scan of an e-bike code shows each role, registered with the QR service's kind registry.

Anyone: that it is a registered e-bike, its make and colour, and whether it is reported stolen (then:
call 110); nothing personal. Officers: the bike's details, its status and the owner's masked name and
phone. Police: the same, plus where to look the owner up. When an officer or police account scans a
stolen bike, the answer says so first, and a sighting is recorded and announced.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from identity import pii
from identity import service as identity_service
from identity.models import Account
from identity.roles import Role
from miniapp_api.ebikes import alarms, service
from miniapp_api.ebikes.models import BikeStatus
from qr import kinds
from qr.kinds import Audience, ScanContext
from qr.models import Credential
from server.auth import Principal
from server.wire import wire_time

STOLEN_MESSAGE = "该车已被车主报失被盗。如发现此车，请拨打110报警。"
_SIGHTING_ROLES = (Role.OFFICER, Role.POLICE)


async def view(credential: Credential, context: ScanContext) -> dict[str, Any]:
    bike = await service.bike_for_credential(credential)
    if bike is None or bike.status is BikeStatus.DEREGISTERED:
        return {"kind": "ebike", "registered": False}
    stolen = bike.status is BikeStatus.STOLEN
    alarm = await alarms.open_alarm(bike) if stolen else None
    answer: dict[str, Any] = {}
    if stolen:
        answer.update(alert="stolen", message=STOLEN_MESSAGE)
    # Masked: a make or colour stored before such text was refused may hold a phone number.
    brand, colour = (pii.mask_public_text(v) if v else v for v in (bike.brand, bike.colour))
    answer.update(kind="ebike", registered=True, brand=brand, colour=colour, stolen=stolen)
    if context.audience not in (Audience.OFFICER, Audience.POLICE, Audience.ADMIN):
        return answer
    owner = await Account.get(id=bike.owner_id)
    masked = identity_service.masked_profile(owner)
    answer.update(
        id=bike.public_id,
        model=bike.model,
        frame_no=bike.frame_no,
        motor_no=bike.motor_no,
        plate=bike.plate,
        status=bike.status.value,
        owner={"name": masked.name, "phone": masked.phone},
    )
    if alarm is not None:
        answer["alarm"] = {
            "id": alarm.public_id,
            "lost_at": wire_time(alarm.lost_at),
            "location": alarm.location,
        }
        viewer = context.viewer
        if viewer is not None and viewer.role in _SIGHTING_ROLES:
            answer["sighting_recorded"] = await alarms.record_sighting(
                bike=bike, alarm=alarm, viewer=viewer, lat=context.lat, lng=context.lng
            )
    if context.audience == Audience.POLICE:
        answer["lookup"] = {
            "href": f"/api/v1/police/ebikes?frame_no={bike.frame_no}",
            "requires": ["reason", "case_no"],
        }
    return answer


async def is_owner(credential: Credential, principal: Principal) -> bool:
    bike = await service.bike_for_credential(credential)
    if bike is None:
        return False
    return await Account.filter(id=bike.owner_id, public_id=principal.account_id).exists()


def register_kind() -> None:
    kinds.register(dataclasses.replace(kinds.EBIKE, resolver=view, is_owner=is_owner), replace=True)
