"""Tracing, bounded: who passed a checkpoint, where a band was seen, who passed the same checkpoint
near a person's passages (contacts).

Only health staff and police ask, each only about check-ins at checkpoints of their part of the
hierarchy (decided on each check-in row: its ``node_path`` is the checkpoint's node); a checkpoint,
band or person they cannot see is 404 like a missing one. Every query states a reason and a case
number, spends one lookup of the per-account person-lookup budget, and leaves one audit entry (the
query, never what it found). Answers name people and places and times only: never temperatures,
statuses, decisions or reasons.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from tortoise.expressions import Q

from identity import audit
from identity import service as identity_service
from identity.models import Account
from identity.pii import mask_name, mask_phone
from identity.roles import Role
from miniapp_api.wristbands import codes
from miniapp_api.wristbands.models import Checkin, Checkpoint, Wristband, WristbandPerson
from server.auth import Principal
from server.errors import NotFound, ValidationFailed

MAX_RANGE = dt.timedelta(days=14)
MAX_ROWS = 1000  # an answer never holds more; `truncated` says when there was more
CONTACT_MINUTES_MAX = 60
WINDOWS_PER_QUERY = 50  # contact windows OR-ed in one statement (well within SQLite's expression depth)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CURSOR = re.compile(r"^(\d{1,19})\.(\d{1,19})$")
TRACERS = (Role.HEALTH_STAFF, Role.POLICE)


class Kind(StrEnum):
    CHECKPOINT = "checkpoint"
    BAND = "band"
    CONTACTS = "contacts"


@dataclass(frozen=True)
class Span:
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Passage:
    account: str | None
    name: str | None
    phone: str | None
    band: str | None
    checkpoint: str
    checkpoint_name: str
    at: dt.datetime


@dataclass
class Found:
    passages: list[Passage]
    truncated: bool
    subject: str  # the public id the query was about (for the audit entry)
    scope: str  # the node path the audit entry is about
    next_cursor: str | None = None  # where the next page starts, when there is more


@dataclass(frozen=True)
class After:
    """A page starts after this check-in (answers are ordered by time, then id)."""

    at: dt.datetime
    id: int

    def q(self) -> Q:
        return Q(at__gt=self.at) | Q(at=self.at, id__gt=self.id)


def cursor_of(row: Checkin) -> str:
    at = row.at.astimezone(dt.UTC)
    return f"{(at - EPOCH) // dt.timedelta(microseconds=1)}.{row.id}"


def parse_cursor(text: str | None) -> After | None:
    """A ``next_cursor`` of an earlier answer (422 ``bad_cursor`` for anything else)."""
    if text is None:
        return None
    found = CURSOR.match(text)
    if found is None:
        raise ValidationFailed.field("cursor", "not a cursor of this answer", "bad_cursor")
    return After(EPOCH + dt.timedelta(microseconds=int(found.group(1))), int(found.group(2)))


def _after(after: After | None) -> Q:
    return after.q() if after is not None else Q()


def span(start: dt.datetime, end: dt.datetime) -> Span:
    """The query's time range: ``until`` after ``from``, at most 14 days; else 422 ``bad_time_range``."""
    if end <= start:
        raise ValidationFailed.field("until", "until must be after from", "bad_time_range")
    if end - start > MAX_RANGE:
        raise ValidationFailed.field("until", "a time range spans at most 14 days", "bad_time_range")
    return Span(start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def _in_scope(viewer: Principal) -> Q:
    """Check-ins at checkpoints of the viewer's part of the hierarchy (none without a node)."""
    if not viewer.node_path:
        return Q(id__lt=0)
    return Q(node_path__startswith=viewer.node_path)


async def checkpoint_in_scope(viewer: Principal, public_id: str) -> Checkpoint:
    found = await Checkpoint.get_or_none(public_id=public_id) if len(public_id) <= 16 else None
    if found is None or not viewer.covers(found.node_path):
        raise NotFound("No such checkpoint.", code="checkpoint_not_found")
    return found


async def band_in_scope(viewer: Principal, *, band: str | None, ble_id: str | None) -> Wristband:
    """The band by public id or BLE id, when the viewer may trace it: kept at a node they cover, worn
    by someone living there, or seen at one of their checkpoints; else 404 like a missing one."""
    found: Wristband | None = None
    if band is not None:
        found = await Wristband.get_or_none(public_id=band) if len(band) <= 16 else None
    elif ble_id is not None:
        normal = codes.normalize_ble_id(ble_id)
        if normal is None:
            raise ValidationFailed.field("ble_id", "ble_id is 12 or 32 hexadecimal digits", "invalid_ble_id")
        found = await Wristband.get_or_none(ble_id=normal)
    if found is None or not (
        viewer.covers(found.node_path)
        or await _lives_in_scope(viewer, found.account_id)
        or await Checkin.filter(_in_scope(viewer), band_id=found.id).exists()
    ):
        raise NotFound("No such band.", code="band_not_found")
    return found


async def person_in_scope(viewer: Principal, public_id: str) -> Account:
    """A person the viewer may trace: living in their area or seen at one of their checkpoints."""
    account = await Account.get_or_none(public_id=public_id) if len(public_id) <= 32 else None
    if account is None or not (
        await _lives_in_scope(viewer, account.id)
        or await Checkin.filter(_in_scope(viewer), account_id=account.id).exists()
    ):
        raise NotFound("No such person.", code="person_not_found")
    return account


async def _lives_in_scope(viewer: Principal, account_id: int | None) -> bool:
    if account_id is None:
        return False
    person = await WristbandPerson.get_or_none(account_id=account_id)
    return person is not None and viewer.covers(person.home_node_path)


async def checkpoint_visits(viewer: Principal, checkpoint: Checkpoint, when: Span, after: After | None = None) -> Found:
    rows = await (
        Checkin.filter(
            _in_scope(viewer), _after(after), checkpoint_id=checkpoint.id, at__gte=when.start, at__lt=when.end
        )
        .order_by("at", "id")
        .limit(MAX_ROWS + 1)
    )
    return await _found(viewer, rows, checkpoint.public_id, checkpoint.node_path)


async def band_sightings(viewer: Principal, band: Wristband, when: Span, after: After | None = None) -> Found:
    rows = await (
        Checkin.filter(_in_scope(viewer), _after(after), band_id=band.id, at__gte=when.start, at__lt=when.end)
        .order_by("at", "id")
        .limit(MAX_ROWS + 1)
    )
    return await _found(viewer, rows, band.public_id, viewer.node_path or "")


def contact_windows(own: list[Checkin], near: dt.timedelta) -> list[tuple[int, dt.datetime, dt.datetime]]:
    """Each checkpoint's ``± near`` windows around the passages, overlapping ones merged."""
    by_point: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for passage in own:
        by_point.setdefault(passage.checkpoint_id, []).append((passage.at - near, passage.at + near))
    merged: list[tuple[int, dt.datetime, dt.datetime]] = []
    for point, spans in sorted(by_point.items()):
        spans.sort()
        start, end = spans[0]
        for s_start, s_end in spans[1:]:
            if s_start <= end:
                end = max(end, s_end)
            else:
                merged.append((point, start, end))
                start, end = s_start, s_end
        merged.append((point, start, end))
    return merged


async def contacts(viewer: Principal, person: Account, when: Span, minutes: int, after: After | None = None) -> Found:
    """Everyone else who passed a checkpoint of the viewer's area within ``minutes`` of a passage of
    ``person`` there in the range (the person's own passages are not listed). The passages' windows
    are merged and asked for ``WINDOWS_PER_QUERY`` at a time: at most a few statements, whatever the
    number of passages; a page holds ``MAX_ROWS``, ``after`` is where it starts."""
    if not 1 <= minutes <= CONTACT_MINUTES_MAX:
        raise ValidationFailed.field("minutes", "minutes is 1 to 60", "bad_minutes")
    own = await (
        Checkin.filter(_in_scope(viewer), account_id=person.id, at__gte=when.start, at__lt=when.end)
        .order_by("at", "id")
        .limit(MAX_ROWS + 1)
    )
    truncated = len(own) > MAX_ROWS
    windows = contact_windows(own[:MAX_ROWS], dt.timedelta(minutes=minutes))
    rows: list[Checkin] = []
    for i in range(0, len(windows), WINDOWS_PER_QUERY):
        near = [Q(checkpoint_id=p, at__gte=a, at__lte=b) for p, a, b in windows[i : i + WINDOWS_PER_QUERY]]
        rows += await (
            Checkin.filter(
                _in_scope(viewer),
                Q(account_id__isnull=True) | ~Q(account_id=person.id),
                Q(*near, join_type="OR"),
                _after(after),
            )
            .order_by("at", "id")
            .limit(MAX_ROWS + 1)
        )
    rows = sorted({r.id: r for r in rows}.values(), key=lambda c: (c.at, c.id))[: MAX_ROWS + 1]
    found = await _found(viewer, rows, person.public_id, viewer.node_path or "")
    found.truncated = found.truncated or truncated
    return found


async def _found(viewer: Principal, rows: list[Checkin], subject: str, scope: str) -> Found:
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    next_cursor = cursor_of(rows[-1]) if truncated and rows else None
    accounts = {a.id: a for a in await Account.filter(id__in={r.account_id for r in rows if r.account_id})}
    bands = dict(await Wristband.filter(id__in={r.band_id for r in rows if r.band_id}).values_list("id", "public_id"))
    points = {c.id: c for c in await Checkpoint.filter(id__in={r.checkpoint_id for r in rows})}
    full = viewer.role is Role.POLICE  # police see people as the owner lookup shows them; health staff masked
    people: dict[int, tuple[str | None, str | None]] = {}
    for account_id, account in accounts.items():
        profile = identity_service.read_profile(account)
        people[account_id] = (
            (profile.name, profile.phone)
            if full
            else (mask_name(profile.name) or None, mask_phone(profile.phone) or None)
        )
    passages = []
    for row in rows:
        wearer = accounts.get(row.account_id) if row.account_id else None
        name, phone = people.get(wearer.id, (None, None)) if wearer else (None, None)
        point = points.get(row.checkpoint_id)
        passages.append(
            Passage(
                account=wearer.public_id if wearer else None,
                name=name,
                phone=phone,
                band=bands.get(row.band_id) if row.band_id else None,
                checkpoint=point.public_id if point else "",
                checkpoint_name=point.name if point else "",
                at=row.at,
            )
        )
    return Found(passages, truncated, subject, scope, next_cursor)


async def audit_trace(
    *,
    viewer: Principal,
    kind: Kind,
    subject: str,
    when: tuple[dt.datetime | None, dt.datetime | None],
    reason: str,
    case_no: str,
    outcome: str,
    count: int = 0,
    minutes: int | None = None,
    scope: str = "",
    client_addr: str = "",
    request_id: str = "",
) -> int:
    """One entry per query, answered or refused: who, what kind, about which public id, the time
    range, reason and case number, how many passages; never who or what was found."""
    details: dict[str, object] = {
        "kind": kind.value,
        "case_no": case_no[:64],
        "from": when[0].astimezone(dt.UTC).isoformat() if when[0] else None,
        "until": when[1].astimezone(dt.UTC).isoformat() if when[1] else None,
        "result_count": count,
        "outcome": outcome,
    }
    if minutes is not None:
        details["minutes"] = minutes
    entry = await audit.record(
        actor=viewer.account_id,
        role=viewer.role.value,
        action=f"trace.{kind.value}",
        target=subject[:128],
        reason=reason[:500],
        client_addr=client_addr,
        request_id=request_id,
        details=details,
        scope=scope or viewer.node_path or "",
    )
    return entry.seq
