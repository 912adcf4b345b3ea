"""Postings: an employer writes, edits, publishes and closes its own enterprise's postings (another
enterprise's posting is 404); employment staff whose node covers a posting take it down with a reason
(audited); anyone lists live postings still valid, of verified enterprises, with filters."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from identity import hierarchy
from identity.models import Node
from identity.roles import NodeLevel
from miniapp_api.buildings.models import Building
from miniapp_api.jobs import occupations, rows, vocab
from miniapp_api.jobs.enterprises import Who, audit_change, employer_enterprise, plausible_id, utcnow
from miniapp_api.jobs.models import Enterprise, EnterpriseStatus, Posting, PostingStatus
from miniapp_api.jobs.schemas import PostingIn, PublicPostingQuery
from server import public_ids
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

CHINA = ZoneInfo("Asia/Shanghai")
EDITABLE = (PostingStatus.DRAFT.value, PostingStatus.LIVE.value)


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


async def skills(texts: list[str]) -> list[dict[str, str | None]]:
    """Typed skills read through the taxonomy (as staff have edited it): each text maps to one or more skills,
    or stays as typed with id null (never dropped); each skill once."""
    taxonomy = await rows.skills.current()
    seen: set[tuple[str | None, str | None]] = set()
    out: list[dict[str, str | None]] = []
    for text in texts:
        for item in taxonomy.normalize(text):
            key = (item["id"], None if item["id"] else item["text"])
            if key not in seen:
                seen.add(key)
                out.append(item)
    return out


async def _fields(body: PostingIn, enterprise: Enterprise) -> dict[str, Any]:
    if not occupations.valid(body.occupation_code):
        raise ValidationFailed.field(
            "occupation_code", "not a code of the 2022 occupational classification", "unknown_occupation"
        )
    if body.valid_through < today():
        raise ValidationFailed.field("valid_through", "a day from today on", "in_the_past")
    if body.valid_through > today() + dt.timedelta(days=366):
        raise ValidationFailed.field("valid_through", "at most a year ahead", "too_far_ahead")
    node: Node = enterprise.node
    if body.node is not None:
        found = await hierarchy.get_by_code(body.node.upper())
        if found is None or found.level == NodeLevel.DISTRICT:
            raise ValidationFailed.field("node", "give the street, community or grid of the work place", "unknown_node")
        node = found
    building = None
    if body.building is not None:
        building = await Building.get_or_none(code=body.building.upper())
        if building is None:
            raise ValidationFailed.field("building", "no building with this code", "unknown_building")
    return {
        "title": body.title,
        "description": body.description,
        "occupation_code": body.occupation_code,
        "skills_required": await skills(body.skills_required),
        "skills_preferred": await skills(body.skills_preferred),
        "education_min": body.education_min,
        "experience_min_years": body.experience_min_years,
        "salary_min": body.salary_min,
        "salary_max": body.salary_max,
        "salary_period": body.salary_period,
        "salary_monthly_min": round(vocab.monthly(body.salary_min, body.salary_period)),
        "salary_monthly_max": round(vocab.monthly(body.salary_max, body.salary_period)),
        "employment_type": body.employment_type,
        "shifts": list(body.shifts),
        "hours": body.hours,
        "lat": body.lat,
        "lon": body.lon,
        "building": building,
        "node": node,
        "openings": body.openings,
        "valid_through": body.valid_through,
    }


def _place(fields: dict[str, Any]) -> tuple[float, float, int, int | None]:
    building = fields["building"]
    return fields["lat"], fields["lon"], fields["node"].id, building.id if building is not None else None


async def create(*, viewer: Principal, body: PostingIn) -> Posting:
    enterprise = await employer_enterprise(viewer)
    now = utcnow()
    fields = await _fields(body, enterprise)
    posting = await Posting.create(
        public_id=public_ids.new("jp_"),
        enterprise=enterprise,
        status=PostingStatus.DRAFT.value,
        created_at=now,
        updated_at=now,
        **fields,
    )
    return await Posting.get(id=posting.id).prefetch_related("enterprise", "node")


async def own_posting(*, viewer: Principal, public_id: str) -> Posting:
    """A posting of the employer's own enterprise (404 for any other, the same as a missing one)."""
    enterprise = await employer_enterprise(viewer)
    found = (
        await Posting.get_or_none(public_id=public_id, enterprise_id=enterprise.id).prefetch_related(
            "enterprise__node", "node"
        )
        if plausible_id(public_id)
        else None
    )
    if found is None:
        raise NotFound("There is no such posting.", code="posting_not_found")
    return found


async def edit(*, viewer: Principal, public_id: str, body: PostingIn) -> Posting:
    posting = await own_posting(viewer=viewer, public_id=public_id)
    if posting.status not in EDITABLE:
        raise Conflict(f"A posting that is {posting.status} cannot be edited.", code="posting_not_editable")
    fields = await _fields(body, posting.enterprise)
    if posting.status == PostingStatus.LIVE.value and _place(fields) != (
        posting.lat,
        posting.lon,
        posting.node_id,
        posting.building_id,
    ):
        # Its candidates keep their ids while it is live: moving it and reading their distances again would
        # place a seeker's home. Close it and publish a new one instead.
        raise Conflict(
            "A live posting's work place cannot move: close it and publish a new posting.", code="posting_place_fixed"
        )
    node, building = fields.pop("node"), fields.pop("building")
    values = fields | {"node_id": node.id, "building_id": building.id if building else None, "updated_at": utcnow()}
    await _write_if(posting, (posting.status,), values, "posting_not_editable")
    return await Posting.get(id=posting.id).prefetch_related("enterprise", "node")


async def _write_if(
    posting: Posting, sources: tuple[str, ...], values: dict[str, Any], code: str, using_db: Any = None
) -> None:
    """Write ``values`` only while the row is still in one of ``sources``, in one statement: a take-down,
    publish or close that committed since the row was read is never overwritten (409 ``code``)."""
    query = Posting.filter(id=posting.id, status__in=list(sources))
    if not await (query.using_db(using_db) if using_db is not None else query).update(**values):
        now = await Posting.get(id=posting.id).values_list("status", flat=True)
        raise Conflict(f"The posting is {now} now: it cannot be changed so.", code=code, details={"status": now})
    for name, value in values.items():
        setattr(posting, name, value)


async def publish(*, viewer: Principal, public_id: str) -> Posting:
    posting = await own_posting(viewer=viewer, public_id=public_id)
    if posting.enterprise.status != EnterpriseStatus.VERIFIED.value:
        raise Conflict(
            "Your enterprise is not verified by the employment service: its postings cannot go live yet.",
            code="enterprise_not_verified",
            details={"enterprise_status": posting.enterprise.status},
        )
    if posting.status != PostingStatus.DRAFT.value:
        raise Conflict(f"Only a draft is published; this posting is {posting.status}.", code="invalid_transition")
    if posting.valid_through < today():
        raise Conflict("The posting's valid_through has passed: edit it first.", code="posting_expired")
    now = utcnow()
    values = {"status": PostingStatus.LIVE.value, "published_at": now, "updated_at": now}
    await _write_if(posting, (PostingStatus.DRAFT.value,), values, "invalid_transition")
    return posting


async def close(*, viewer: Principal, public_id: str) -> Posting:
    posting = await own_posting(viewer=viewer, public_id=public_id)
    if posting.status not in EDITABLE:
        raise Conflict(f"A posting that is {posting.status} cannot be closed.", code="invalid_transition")
    values = {"status": PostingStatus.CLOSED.value, "updated_at": utcnow()}
    await _write_if(posting, EDITABLE, values, "invalid_transition")
    return posting


async def list_own(
    *, viewer: Principal, status: str | None, cursor: str | None, limit: int
) -> tuple[list[Posting], str | None]:
    enterprise = await employer_enterprise(viewer)
    scope = Posting.filter(enterprise_id=enterprise.id)
    query = scope if status is None else scope.filter(status=status)
    rows = await _page(query, cursor, limit, scope)
    return rows[:limit], rows[limit - 1].public_id if len(rows) > limit else None


async def take_down(*, viewer: Principal, public_id: str, reason: str, who: Who) -> Posting:
    found = (
        await Posting.get_or_none(public_id=public_id).prefetch_related("enterprise__node", "node")
        if plausible_id(public_id)
        else None
    )
    # The staff of the work place, or of the enterprise's own area: the employer names the work place's node, and
    # must not be able to move a posting out of its own area's reach by naming another street.
    if found is None or not (viewer.covers(found.node.path) or viewer.covers(found.enterprise.node.path)):
        raise NotFound("There is no such posting.", code="posting_not_found")
    if found.status == PostingStatus.TAKEN_DOWN.value:
        raise Conflict("The posting is already taken down.", code="invalid_transition")
    async with in_transaction() as conn:
        values = {"status": PostingStatus.TAKEN_DOWN.value, "take_down_reason": reason, "updated_at": utcnow()}
        others = tuple(s.value for s in PostingStatus if s is not PostingStatus.TAKEN_DOWN)
        await _write_if(found, others, values, "invalid_transition", conn)
        await audit_change(who, "job.posting.take_down", found.public_id, found.node.path, conn, reason=reason)
    return found


def public_query() -> QuerySet[Posting]:
    """Live, still valid postings of verified enterprises: what anyone may see."""
    return Posting.filter(
        status=PostingStatus.LIVE.value,
        valid_through__gte=today(),
        enterprise__status=EnterpriseStatus.VERIFIED.value,
    )


async def _page(
    query: QuerySet[Posting], cursor: str | None, limit: int, scope: QuerySet[Posting] | None = None
) -> list[Posting]:
    """``limit`` + 1 rows of ``query`` after the cursor, which must name a row of ``scope`` (the caller's reach:
    another enterprise's posting id is the same 422 as a made-up one)."""
    if cursor is not None:
        last = await (scope if scope is not None else Posting.all()).filter(public_id=cursor).first()
        if last is None:
            raise ValidationFailed.field("cursor", "not a cursor this list gave out", "bad_cursor")
        query = query.filter(id__lt=last.id)
    return await query.order_by("-id").limit(limit + 1).prefetch_related("enterprise", "node")


async def list_public(*, query: PublicPostingQuery) -> tuple[list[Posting], str | None]:
    base = public_query()
    if query.occupation is not None:
        base = base.filter(occupation_code__startswith=query.occupation)
    if query.employment_type is not None:
        base = base.filter(employment_type=query.employment_type)
    if query.salary_at_least is not None:
        base = base.filter(salary_monthly_max__gte=query.salary_at_least)
    if query.lat is None or query.lon is None:
        rows = await _page(base, query.cursor, query.limit, Posting.filter(published_at__isnull=False))
        return rows[: query.limit], rows[query.limit - 1].public_id if len(rows) > query.limit else None
    lat, lon, km = query.lat, query.lon, query.km
    dlat = km / 111.0
    dlon = km / (111.0 * math.cos(math.radians(lat)))
    base = base.filter(lat__gte=lat - dlat, lat__lte=lat + dlat, lon__gte=lon - dlon, lon__lte=lon + dlon)
    found: list[Posting] = []
    cursor = query.cursor
    while len(found) <= query.limit:  # the box is wider than the circle: read on until the page is full
        rows = await _page(base, cursor, query.limit * 2, Posting.filter(published_at__isnull=False))
        found.extend(r for r in rows if vocab.haversine_km(lat, lon, r.lat, r.lon) <= km)
        if len(rows) <= query.limit * 2:
            break
        cursor = rows[-1].public_id
    page = found[: query.limit]
    return page, page[-1].public_id if len(found) > query.limit else None


async def public_posting(*, public_id: str) -> Posting:
    found = (
        await public_query().filter(public_id=public_id).first().prefetch_related("enterprise", "node")
        if plausible_id(public_id)
        else None
    )
    if found is None:
        raise NotFound("There is no such posting.", code="posting_not_found")
    return found
