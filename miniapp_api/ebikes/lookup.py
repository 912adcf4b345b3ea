"""The police lookup of owners and their bikes (by frame number, plate, QR code or the owner's ID
number) and its audit trail (one entry per lookup, the query masked). The lookup limit, shared with
the other person lookups, is ``identity.lookup_limit``."""

from __future__ import annotations

import logging

from identity import audit
from identity import service as identity_service
from identity.models import Account
from identity.pii import mask_id_number
from identity.validators import InvalidIdNumber, normalize_id_number
from miniapp_api.ebikes.models import EBike
from miniapp_api.ebikes.service import normalize_frame_no, normalize_plate
from qr import codec
from qr import service as qr_service
from qr.models import Credential
from server.auth import Principal
from server.errors import ValidationFailed

log = logging.getLogger("gmid.ebikes")


def mask_query_value(by: str, value: str) -> str:
    """What the audit log keeps of the query: an ID number masked (also one typed under another
    key), the rest as given."""
    if by == "owner_id_number":
        return mask_id_number(value)
    try:
        return mask_id_number(normalize_id_number(value))
    except InvalidIdNumber:
        return value[:64]


async def police_lookup(*, by: str, value: str, base_url: str) -> list[tuple[Account, list[EBike]]]:
    """Owners and their bikes for one search key; [] when nothing matches or the value is not valid."""
    bikes: list[EBike] = []
    if by == "frame_no":
        bikes = list(await EBike.filter(frame_no=normalize_frame_no(value)).select_related("owner"))
    elif by == "plate":
        plate = normalize_plate(value)
        bikes = list(await EBike.filter(plate=plate).select_related("owner")) if plate else []
    elif by == "qr":
        credential: Credential | None
        try:
            credential = (await qr_service.resolve(payload=value, base_url=base_url)).credential
        except codec.VerifyError as exc:
            # A genuine code that was replaced or revoked still names its bike; a forged one names nothing.
            credential = exc.credential if exc.code in ("superseded", "revoked") else None
        if credential is not None and credential.kind == "ebike":
            bikes = list(await EBike.filter(public_id=credential.subject_id).select_related("owner"))
    elif by == "owner_id_number":
        try:
            account = await identity_service.find_by_id_number(id_number=value)
        except InvalidIdNumber as exc:
            raise ValidationFailed.field("owner_id_number", str(exc), "invalid_id_number") from None
        bikes = list(await EBike.filter(owner_id=account.id).order_by("registered_at")) if account else []
        for bike in bikes:
            bike.owner = account  # type: ignore[assignment]
    owners: dict[int, list[EBike]] = {}
    accounts: dict[int, Account] = {}
    for bike in bikes:
        owners.setdefault(bike.owner_id, []).append(bike)
        accounts[bike.owner_id] = bike.owner
    return [(accounts[owner_id], owned) for owner_id, owned in owners.items()]


# The police lookup's audit trail and limit ---------------------------------------------------------

LOOKUP_KEYS = ("frame_no", "plate", "qr", "owner_id_number")


async def audit_lookup(
    *,
    viewer: Principal,
    by: str,
    value: str,
    reason: str,
    case_no: str,
    outcome: str,
    result_count: int,
    bikes: list[str],
    client_addr: str,
    request_id: str,
    scope: str = "",
) -> int:
    """One audit entry per lookup, found or not, refused or not; returns its sequence number.
    ``scope``: where the bikes found are kept (their common node), "" when none was found."""
    entry = await audit.record(
        actor=viewer.account_id,
        role=viewer.role.value,
        action="police.ebike_lookup",
        target=",".join(bikes)[:128],
        reason=reason[:500],
        client_addr=client_addr,
        request_id=request_id,
        details={
            "case_no": case_no[:64],
            "by": by,
            "query": mask_query_value(by, value),
            "result_count": result_count,
            "outcome": outcome,
        },
        scope=scope,
    )
    return entry.seq
