"""Applications: a seeker applies to a live posting, or an employer invites a visible seeker; the state table
below is the only way a row moves (each step in one transaction, the row locked, an ApplicationEvent written,
the posting's applicants count kept, the other side told through the notify outbox).

A row of someone else (another seeker's, another enterprise's) is 404, the same as a missing one; a step the
table does not allow from the row's state is 409 ``invalid_transition``; the same step asked again (a retry)
answers the row as it is, changing nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity.models import Account
from identity.pii import mask_name
from identity.service import read_profile
from miniapp_api.jobs import candidates, postings
from miniapp_api.jobs.enterprises import acting_enterprise, contact_of, plausible_id, utcnow
from miniapp_api.jobs.models import (
    Application,
    ApplicationEvent,
    ApplicationState,
    EmployerBinding,
    Initiator,
    Posting,
    PostingStatus,
    SeekerProfile,
)
from notify import outbox
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("gmid.jobs")

S = ApplicationState


@dataclass(frozen=True)
class Move:
    by: Initiator
    sources: tuple[ApplicationState | None, ...]  # None: no application yet (the step creates it)
    to: ApplicationState


# The state table: every step, who may take it, from which states, to which state.
TABLE: dict[str, Move] = {
    "apply": Move(Initiator.SEEKER, (None,), S.APPLIED),
    "invite": Move(Initiator.EMPLOYER, (None,), S.INVITED),
    "accept": Move(Initiator.SEEKER, (S.INVITED,), S.ACCEPTED),
    "decline": Move(Initiator.SEEKER, (S.INVITED,), S.DECLINED),
    "withdraw": Move(Initiator.SEEKER, (S.APPLIED, S.ACCEPTED), S.WITHDRAWN),
    "reject": Move(Initiator.EMPLOYER, (S.APPLIED, S.ACCEPTED), S.REJECTED),
    "hire": Move(Initiator.EMPLOYER, (S.APPLIED, S.ACCEPTED), S.HIRED),
}
SEEKER_STEPS = tuple(k for k, m in TABLE.items() if m.by is Initiator.SEEKER and None not in m.sources)
EMPLOYER_STEPS = tuple(k for k, m in TABLE.items() if m.by is Initiator.EMPLOYER and None not in m.sources)
# Seekers competing for (or holding) a posting's openings: what the crowding damping reads.
ACTIVE = frozenset({S.APPLIED.value, S.ACCEPTED.value, S.HIRED.value})
# States in which the employer sees the seeker's name and phone: the seeker applied or accepted an invitation
# (and the employer then decided). Never while only invited, nor after the seeker declined or withdrew.
CONSENTED = frozenset({S.APPLIED.value, S.ACCEPTED.value, S.REJECTED.value, S.HIRED.value})
# Which side hears of a step.
TELL_SEEKER = frozenset({S.INVITED.value, S.REJECTED.value, S.HIRED.value})
TELL_EMPLOYER = frozenset({S.APPLIED.value, S.ACCEPTED.value, S.DECLINED.value, S.WITHDRAWN.value})
STEP_WORDS = {
    S.APPLIED.value: "投递简历",
    S.INVITED.value: "邀请面试",
    S.ACCEPTED.value: "接受邀请",
    S.DECLINED.value: "谢绝邀请",
    S.WITHDRAWN.value: "撤回投递",
    S.REJECTED.value: "未通过",
    S.HIRED.value: "已录用",
}
SEEKER_TEMPLATE = "job.seeker_update"
EMPLOYER_TEMPLATE = "job.employer_update"


def _not_found() -> NotFound:
    return NotFound("There is no such application.", code="application_not_found")


def _refuse(action: str, state: str | None) -> Conflict:
    move = TABLE[action]
    return Conflict(
        f"An application that is {state} cannot be moved by {action}.",
        code="invalid_transition",
        details={"state": state, "action": action, "from": [s.value if s else None for s in move.sources]},
    )


async def _account(viewer: Principal) -> Account:
    return await Account.get(public_id=viewer.account_id)


async def _step(row: Application, action: str, actor: Account, note: str, conn: BaseDBAsyncClient) -> bool:
    """Move the (locked) row by ``action``; False when it is already where the step leads (a retry)."""
    move = TABLE[action]
    if row.state == move.to.value:
        return False
    if S(row.state) not in move.sources:
        raise _refuse(action, row.state)
    before, now = row.state, utcnow()
    row.state, row.updated_at = move.to.value, now
    await row.save(update_fields=["state", "updated_at"], using_db=conn)
    await _record(row, before, actor, note, now, conn)
    return True


async def _record(
    row: Application, before: str | None, actor: Account, note: str, now: dt.datetime, conn: BaseDBAsyncClient
) -> None:
    event = await ApplicationEvent.create(
        application=row, from_state=before, to_state=row.state, actor=actor, note=note, at=now, using_db=conn
    )
    delta = (row.state in ACTIVE) - (before in ACTIVE)
    if delta:
        await Posting.filter(id=row.posting_id).using_db(conn).update(applicants=F("applicants") + delta)
    await _tell(row, event, conn)


async def _create(
    *, action: str, posting: Posting, seeker_id: int, actor: Account, note: str
) -> tuple[Application, bool]:
    """A new application by ``apply`` or ``invite``; a retry answers the existing row (False), an existing row
    in any other state is 409."""
    move = TABLE[action]
    try:
        async with in_transaction() as conn:
            existing = (
                await Application.filter(posting_id=posting.id, seeker_id=seeker_id)
                .using_db(conn)
                .select_for_update()
                .first()
            )
            if existing is not None:
                if existing.state == move.to.value:
                    return existing, False
                raise _refuse(action, existing.state)
            now = utcnow()
            row = await Application.create(
                public_id=public_ids.new("ja_"),
                posting=posting,
                seeker_id=seeker_id,
                state=move.to.value,
                initiated_by=move.by.value,
                created_at=now,
                updated_at=now,
                using_db=conn,
            )
            await _record(row, None, actor, note, now, conn)
            return row, True
    except IntegrityError:  # the same step raced in from another request: answer what it made
        existing = await Application.get_or_none(posting_id=posting.id, seeker_id=seeker_id)
        if existing is None:
            raise
        if existing.state == move.to.value:
            return existing, False
        raise _refuse(action, existing.state) from None


async def apply(*, viewer: Principal, posting_id: str, note: str) -> tuple[Application, bool]:
    """The seeker applies to a live posting (True: a new application)."""
    posting = await postings.public_posting(public_id=posting_id)
    seeker = await _account(viewer)
    return await _create(action="apply", posting=posting, seeker_id=seeker.id, actor=seeker, note=note)


async def invite(*, viewer: Principal, posting_id: str, candidate: str, note: str) -> tuple[Application, bool]:
    """The employer invites a seeker of the posting's candidate list, named by its candidate id: recomputed over
    the seekers who opted in to being seen (an unknown id, or one of a seeker who is not visible: 404)."""
    await acting_enterprise(viewer)
    posting = await postings.own_posting(viewer=viewer, public_id=posting_id)
    if posting.status != PostingStatus.LIVE.value or posting.valid_through < postings.today():
        raise Conflict("Only a live posting invites seekers.", code="posting_not_live")
    visible: list[int] = await SeekerProfile.filter(visible=True).values_list("account_id", flat=True)  # type: ignore[assignment]
    seeker_id = candidates.find(posting.public_id, candidate, visible)
    if seeker_id is None:
        raise NotFound("There is no such candidate for this posting.", code="candidate_not_found")
    actor = await _account(viewer)
    return await _create(action="invite", posting=posting, seeker_id=seeker_id, actor=actor, note=note)


async def seeker_step(*, viewer: Principal, public_id: str, action: str, note: str) -> Application:
    """accept, decline or withdraw one of the seeker's own applications (another's: 404)."""
    seeker = await _account(viewer)
    if not plausible_id(public_id) or not await Application.exists(public_id=public_id, seeker_id=seeker.id):
        raise _not_found()
    async with in_transaction() as conn:
        row = await Application.filter(public_id=public_id).using_db(conn).select_for_update().get()
        if action == "accept" and row.state == S.INVITED.value:
            live = await postings.public_query().filter(id=row.posting_id).using_db(conn).exists()
            if not live:
                raise Conflict("The posting is no longer open.", code="posting_not_live")
        await _step(row, action, seeker, note, conn)
    return row


async def employer_step(*, viewer: Principal, public_id: str, action: str, note: str) -> Application:
    """reject or hire an application to one of the employer's enterprise's postings (another's: 404)."""
    enterprise = await acting_enterprise(viewer)
    if not plausible_id(public_id) or not await Application.exists(
        public_id=public_id, posting__enterprise_id=enterprise.id
    ):
        raise _not_found()
    actor = await _account(viewer)
    async with in_transaction() as conn:
        row = await Application.filter(public_id=public_id).using_db(conn).select_for_update().get()
        if action == "hire" and S(row.state) in TABLE["hire"].sources:
            await _room_to_hire(row, conn)
        await _step(row, action, actor, note, conn)
    return row


async def _room_to_hire(row: Application, conn: BaseDBAsyncClient) -> None:
    """A hire needs a posting not taken down with an opening left. The posting's row is locked (after the
    application's, the order every step takes) so two hires at once cannot both take the last opening."""
    posting = await Posting.filter(id=row.posting_id).using_db(conn).select_for_update().get()
    if posting.status == PostingStatus.TAKEN_DOWN.value:
        raise Conflict(
            "The posting was taken down by the employment service: it hires nobody.", code="posting_taken_down"
        )
    hired = await Application.filter(posting_id=posting.id, state=S.HIRED.value).using_db(conn).count()
    if hired >= posting.openings:
        raise Conflict(
            "All the posting's openings are filled: raise its openings (while draft or live) to hire more.",
            code="openings_filled",
            details={"openings": posting.openings, "hired": hired},
        )


# Telling the other side -------------------------------------------------------------------------


async def _tell(row: Application, event: ApplicationEvent, conn: BaseDBAsyncClient) -> None:
    if row.state not in TELL_SEEKER and row.state not in TELL_EMPLOYER:
        return
    posting = await Posting.get(id=row.posting_id, using_db=conn).prefetch_related("enterprise")
    seeker = await Account.get(id=row.seeker_id, using_db=conn)
    at = event.at.isoformat()
    key = f"job.application:{row.public_id}:{event.id}"
    if row.state in TELL_SEEKER:
        if not outbox.reachable(seeker, SEEKER_TEMPLATE):
            log.info("job step not told: seeker unreachable application=%s", row.public_id)
            return
        data = {
            "posting": posting.title,
            "enterprise": posting.enterprise.name,
            "step": STEP_WORDS[row.state],
            "at": at,
            "application_id": row.public_id,
        }
        await outbox.enqueue(
            template=SEEKER_TEMPLATE, data=data, idempotency_key=f"{key}:seeker", account=seeker, using_db=conn
        )
        return
    # The employer side: a name only once the seeker applied or accepted (and masked even then).
    name = read_profile(seeker).name if row.state in CONSENTED else None
    who = mask_name(name) if name else candidates.candidate_id(posting.public_id, row.seeker_id)
    data = {
        "posting": posting.title,
        "candidate": who,
        "step": STEP_WORDS[row.state],
        "at": at,
        "posting_id": posting.public_id,
    }
    bindings = (
        await EmployerBinding.filter(enterprise_id=posting.enterprise_id).using_db(conn).prefetch_related("account")
    )
    reached = [b.account for b in bindings if b.account.is_active and outbox.reachable(b.account, EMPLOYER_TEMPLATE)]
    for account in reached:
        await outbox.enqueue(
            template=EMPLOYER_TEMPLATE,
            data=data,
            idempotency_key=f"{key}:a{account.id}",
            account=account,
            using_db=conn,
        )
    if not reached:  # employer accounts sign in with a password and carry no address: the enterprise's contact
        await outbox.enqueue(
            template=EMPLOYER_TEMPLATE,
            data=data,
            idempotency_key=f"{key}:contact",
            phone=contact_of(posting.enterprise).phone,
            channels=("sms",),
            using_db=conn,
        )


# Lists ---------------------------------------------------------------------------------------------


async def _page(
    scope: QuerySet[Application], state: str | None, cursor: str | None, limit: int
) -> tuple[list[Application], str | None]:
    """A page of ``scope`` (the caller's own rows) in ``state``; the cursor must be a row of ``scope`` (another
    seeker's or enterprise's application id is the same 422 as a made-up one: no probing ids)."""
    query = scope if state is None else scope.filter(state=state)
    if cursor is not None:
        last = await scope.filter(public_id=cursor).first() if plausible_id(cursor) else None
        if last is None:
            raise ValidationFailed.field("cursor", "not a cursor this list gave out", "bad_cursor")
        query = query.filter(id__lt=last.id)
    rows = await query.order_by("-id").limit(limit + 1).prefetch_related("posting__enterprise", "seeker")
    return rows[:limit], rows[limit - 1].public_id if len(rows) > limit else None


async def history(rows: list[Application]) -> dict[int, list[ApplicationEvent]]:
    """Each application's events, oldest first."""
    out: dict[int, list[ApplicationEvent]] = {r.id: [] for r in rows}
    for event in await ApplicationEvent.filter(application_id__in=list(out)).order_by("id"):
        out[event.application_id].append(event)
    return out


async def mine(
    *, viewer: Principal, state: str | None, cursor: str | None, limit: int
) -> tuple[list[Application], str | None]:
    seeker = await _account(viewer)
    return await _page(Application.filter(seeker_id=seeker.id), state, cursor, limit)


async def of_posting(
    *, viewer: Principal, posting_id: str, state: str | None, cursor: str | None, limit: int
) -> tuple[Posting, list[Application], str | None]:
    """The applications of one of the employer's own postings (another enterprise's posting: 404)."""
    await acting_enterprise(viewer)
    posting = await postings.own_posting(viewer=viewer, public_id=posting_id)
    rows, next_cursor = await _page(Application.filter(posting_id=posting.id), state, cursor, limit)
    return posting, rows, next_cursor
