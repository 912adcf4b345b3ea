"""Enterprises: a resident or employment staff registers one (pending); employment staff whose node
covers it verify, reject or suspend it (audited), list those of their area, and create its employer
accounts (username and password, the staff accounts' rules) once it is verified. An enterprise
outside the caller's reach is 404, the same as one that does not exist."""

from __future__ import annotations

import datetime as dt
import json

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from identity import hierarchy
from identity import service as identity_service

# One definition each, shared by the features (these modules' names are what their callers import).
from identity.audit import Who as Who
from identity.audit import record_change as audit_change
from identity.models import Account, Node
from identity.pii import current_vault
from identity.roles import NodeLevel, Role
from miniapp_api.jobs import uscc
from miniapp_api.jobs.models import EmployerBinding, Enterprise, EnterpriseStatus
from miniapp_api.jobs.schemas import ContactOut, EnterpriseIn
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed
from server.public_ids import plausible as plausible_id

STAFF = (Role.EMPLOYMENT_STAFF,)
REGISTRANTS = (Role.RESIDENT, Role.PARTY_MEMBER, Role.EMPLOYMENT_STAFF)
CONTACT_FIELD = "job.enterprise.contact"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def seal_contact(name: str, phone: str) -> str:
    return current_vault().encrypt(json.dumps({"name": name, "phone": phone}, ensure_ascii=False), field=CONTACT_FIELD)


def contact_of(enterprise: Enterprise) -> ContactOut:
    raw = json.loads(current_vault().decrypt(enterprise.contact_enc, field=CONTACT_FIELD))
    return ContactOut(name=raw["name"], phone=raw["phone"])


async def _place(viewer: Principal, code: str) -> Node:
    node = await hierarchy.get_by_code(code.upper())
    if node is None or node.level == NodeLevel.DISTRICT:
        raise ValidationFailed.field(
            "node", "give the street, community or grid the enterprise lies in", "unknown_node"
        )
    if viewer.role is Role.EMPLOYMENT_STAFF and not viewer.covers(node.path):
        raise NotFound("No such node in your area.", code="node_not_found")
    return node


async def register(*, viewer: Principal, body: EnterpriseIn, who: Who) -> Enterprise:
    code = uscc.normalize(body.uscc)
    if code is None:
        raise ValidationFailed.field("uscc", "not a valid 统一社会信用代码 (GB 32100-2015)", "invalid_uscc")
    node = await _place(viewer, body.node)
    taken = Conflict("An enterprise with this 统一社会信用代码 is already registered.", code="uscc_taken")
    if await Enterprise.filter(uscc=code).exclude(status=EnterpriseStatus.REJECTED.value).exists():
        raise taken
    now = utcnow()
    try:
        async with in_transaction() as conn:
            enterprise = await Enterprise.create(
                public_id=public_ids.new("en_"),
                name=body.name,
                uscc=code,
                address=body.address,
                node=node,
                contact_enc=seal_contact(body.contact.name, body.contact.phone),
                status=EnterpriseStatus.PENDING.value,
                registered_by=viewer.account_id,
                created_at=now,
                updated_at=now,
                using_db=conn,
            )
            await audit_change(who, "job.enterprise.register", enterprise.public_id, node.path, conn)
    except IntegrityError:  # the partial unique index: another registration won the race
        raise taken from None
    enterprise.node = node
    return enterprise


async def staff_enterprise(*, viewer: Principal, public_id: str) -> Enterprise:
    """An enterprise in the staff member's area (404 for any other)."""
    found = (
        await Enterprise.get_or_none(public_id=public_id).prefetch_related("node") if plausible_id(public_id) else None
    )
    if found is None or not viewer.covers(found.node.path):
        raise NotFound("There is no such enterprise.", code="enterprise_not_found")
    return found


_MOVES = {
    "verify": ((EnterpriseStatus.PENDING, EnterpriseStatus.SUSPENDED), EnterpriseStatus.VERIFIED),
    "reject": ((EnterpriseStatus.PENDING,), EnterpriseStatus.REJECTED),
    "suspend": ((EnterpriseStatus.VERIFIED,), EnterpriseStatus.SUSPENDED),
}


async def decide(*, viewer: Principal, public_id: str, action: str, reason: str | None, who: Who) -> Enterprise:
    """verify (pending or suspended), reject (pending, with a reason), suspend (verified, with a reason)."""
    enterprise = await staff_enterprise(viewer=viewer, public_id=public_id)
    sources, target = _MOVES[action]
    if enterprise.status not in {s.value for s in sources}:
        raise Conflict(
            f"An enterprise that is {enterprise.status} cannot be moved to {target.value}.",
            code="invalid_transition",
            details={"status": enterprise.status},
        )
    now = utcnow()
    values: dict[str, object] = {"status": target.value, "reason": reason or "", "updated_at": now}
    if target is EnterpriseStatus.VERIFIED:
        values |= {"verified_by": viewer.account_id, "verified_at": now}
    async with in_transaction() as conn:
        # Only while it is still in a state the move starts from: of two decisions at once, one wins.
        moved = (
            await Enterprise.filter(id=enterprise.id, status__in=[s.value for s in sources])
            .using_db(conn)
            .update(**values)
        )
        if not moved:
            raise Conflict(
                f"The enterprise was just decided on: it cannot be moved to {target.value}.",
                code="invalid_transition",
            )
        for name, value in values.items():
            setattr(enterprise, name, value)
        await audit_change(
            who, f"job.enterprise.{action}", enterprise.public_id, enterprise.node.path, conn, reason=reason or ""
        )
    return enterprise


async def list_in_area(
    *, viewer: Principal, node: str | None, status: str | None, cursor: str | None, limit: int
) -> tuple[list[Enterprise], str | None]:
    if viewer.node_path is None:
        return [], None
    under = viewer.node_path
    if node is not None:
        found = await hierarchy.get_by_code(node.upper())
        if found is None or not viewer.covers(found.path):
            raise NotFound("No such node in your area.", code="node_not_found")
        under = found.path
    query = Enterprise.filter(node__path__startswith=under)
    if status is not None:
        query = query.filter(status=status)
    if cursor is not None:  # a row of the caller's area only: another area's id is the same 422 as a made-up one
        last = await Enterprise.filter(node__path__startswith=viewer.node_path, public_id=cursor).first()
        if last is None:
            raise ValidationFailed.field("cursor", "not a cursor this list gave out", "bad_cursor")
        query = query.filter(id__lt=last.id)
    rows = await query.order_by("-id").limit(limit + 1).prefetch_related("node")
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].public_id if more and rows else None


async def create_employer(*, viewer: Principal, public_id: str, username: str, password: str, who: Who) -> Account:
    """An employer account bound to a verified enterprise of the staff member's area."""
    enterprise = await staff_enterprise(viewer=viewer, public_id=public_id)
    if enterprise.status != EnterpriseStatus.VERIFIED.value:
        raise Conflict("Employer accounts are made only for a verified enterprise.", code="enterprise_not_verified")
    name, password_hash = await identity_service.prepare_password_account(username=username, password=password)
    now = utcnow()
    try:
        async with in_transaction() as conn:
            account = await Account.create(
                public_id=identity_service.new_public_id(),
                role=Role.EMPLOYER,
                node=None,  # an employer works for its enterprise, never a part of the district
                username=name,
                password_hash=password_hash,
                using_db=conn,
            )
            await EmployerBinding.create(
                account=account, enterprise=enterprise, created_by=viewer.account_id, created_at=now, using_db=conn
            )
            await audit_change(
                who, "account.create", account.public_id, enterprise.node.path, conn, role="employer",
                enterprise=enterprise.public_id,
            )  # fmt: skip
    except IntegrityError:
        raise Conflict("That username is taken.", code="username_taken") from None
    return account


async def employer_enterprise(viewer: Principal) -> Enterprise:
    """The enterprise an employer account is bound to (404 when it is bound to none)."""
    binding = await EmployerBinding.get_or_none(account__public_id=viewer.account_id).prefetch_related(
        "enterprise__node"
    )
    if binding is None:
        raise NotFound("Your account is bound to no enterprise.", code="enterprise_not_found")
    return binding.enterprise


async def acting_enterprise(viewer: Principal) -> Enterprise:
    """The employer's enterprise when it may act on seekers (invite, read applications or candidates, reject,
    hire): only while verified. A suspended one is 409 ``enterprise_not_verified`` whatever id is asked
    (before any 404, so its employers learn nothing of other rows)."""
    enterprise = await employer_enterprise(viewer)
    if enterprise.status != EnterpriseStatus.VERIFIED.value:
        raise Conflict(
            "Your enterprise is not verified by the employment service: it cannot act on seekers now.",
            code="enterprise_not_verified",
            details={"enterprise_status": enterprise.status},
        )
    return enterprise
