"""The gate's check-in: who may send it (the checkpoint's staff), the decision (engine.decide over the
wearer's windows and the rules in force at the check-in's time), and the row that keeps it (temperature
and reasons sealed). A replay with the same body answers the first answer; another body under the
same id is a conflict.

The hot path is two round trips of indexed queries: at once, the checkpoint with the sender's
assignment, the band, the wearer's status, orders and trips (by the band's id), and the fingerprint
below; then the insert. Rule sets and key areas are cached in the
process and re-read when a one-row fingerprint of their tables (counts, newest id and change times)
moves, so a change made by any instance is seen by the next check-in everywhere."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from identity.models import Account
from miniapp_api.wristbands import codes, engine, facts, gate_reads, sealed
from miniapp_api.wristbands.gate_schemas import CheckinAnswer, CheckinIn
from miniapp_api.wristbands.models import (
    BandState,
    Checkin,
    Checkpoint,
    Decision,
    Wristband,
)
from server.auth import Principal
from server.errors import Conflict, NotFound, ValidationFailed

log = logging.getLogger("gmid.wristbands")

FUTURE_SLACK = dt.timedelta(minutes=5)  # a checkpoint app's clock may run a little fast
ONLINE_SLACK = dt.timedelta(minutes=5)  # older than this, an online check-in is an offline upload


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Rule sets and key areas, cached ------------------------------------------------------------------


@dataclass(frozen=True)
class GateFacts:
    fingerprint: tuple[Any, ...]
    rule_sets: tuple[engine.Rules, ...]
    areas: tuple[engine.AreaFact, ...]


_cached: GateFacts | None = None


async def gate_facts() -> GateFacts:
    """The rule sets and key areas as they are now (one small query when nothing changed)."""
    global _cached
    fingerprint = await gate_reads.rules_and_areas_fingerprint()
    if _cached is None or _cached.fingerprint != fingerprint:
        _cached = GateFacts(fingerprint, tuple(await facts.rule_sets()), tuple(await facts.key_areas()))
    return _cached


# Who may send -------------------------------------------------------------------------------------

_account_ids: dict[str, int] = {}  # public id -> id: never changes, so kept for the process's life


async def account_id_of(principal: Principal) -> int:
    found = _account_ids.get(principal.account_id)
    if found is None:
        ids = await Account.filter(public_id=principal.account_id).values_list("id", flat=True)
        if not ids:
            raise NotFound("Your account no longer exists.", code="account_not_found")
        found = _account_ids[principal.account_id] = int(ids[0])  # type: ignore[call-overload]
        if len(_account_ids) > 100_000:
            _account_ids.clear()
    return found


def not_staffed() -> NotFound:
    return NotFound("No checkpoint with this id that you work.", code="checkpoint_not_found")


# The decision -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stop:
    """What the notifications of a stop need (never sent to the gate)."""

    checkpoint: Checkpoint
    at: dt.datetime
    reasons: tuple[engine.Reason, ...]
    person_id: int | None  # the wearer; None for a band that is unknown, in stock or revoked
    band_key: str  # the band (a hash of its BLE id): unknown bands are told once per band
    red: bool


@dataclass(frozen=True)
class Outcome:
    answer: CheckinAnswer
    stop: Stop | None  # set for a new stop (a replay tells nobody again)


def request_hash(data: CheckinIn, ble_id: str) -> str:
    canonical = {
        "id": data.id,
        "ble_id": ble_id,
        "checkpoint": data.checkpoint,
        "temperature": data.temperature,
        "at": data.at.astimezone(dt.UTC).isoformat(),
        "offline": data.offline,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def answer_of(client_id: str, decision: str, reasons: Sequence[engine.Reason]) -> CheckinAnswer:
    stop = decision == Decision.STOP.value
    return CheckinAnswer(
        id=client_id, decision=Decision(decision).value, alert="vibrate" if stop else None, reasons=list(reasons)
    )


def check_time(data: CheckinIn, now: dt.datetime, retention_days: int) -> dt.datetime:
    at = data.at.astimezone(dt.UTC)
    if at > now + FUTURE_SLACK:
        raise ValidationFailed.field("at", "more than a few minutes in the future: check the app's clock", "at_future")
    if at < now - dt.timedelta(days=retention_days):
        raise ValidationFailed.field("at", "older than check-ins are kept", "at_too_old")
    if not data.offline and at < now - ONLINE_SLACK:
        raise ValidationFailed.field("at", "an older check-in is an upload: send offline: true", "at_not_now")
    return at


def wearer_at(band: Wristband | None, at: dt.datetime) -> int | None:
    """Who wore the band at ``at``; None when it was no valid band then (unknown, in stock, revoked)."""
    if band is None or band.account_id is None:
        return None
    if band.state == BandState.ACTIVE.value:
        return band.account_id
    if band.state == BandState.REVOKED.value and band.revoked_at is not None and at < band.revoked_at:
        return band.account_id  # an offline check-in from before the band was revoked
    return None


async def replayed(checkpoint: Checkpoint, client_id: str, digest: str) -> CheckinAnswer:
    row = await Checkin.get(checkpoint_id=checkpoint.id, client_id=client_id)
    if row.request_hash != digest:
        raise Conflict("This check-in id was already used for another check-in.", code="checkin_id_reused")
    reasons = sealed.unseal_json(row.reasons_enc, field=sealed.REASONS) if row.reasons_enc else []
    return answer_of(row.client_id, row.decision, [engine.Reason(r) for r in reasons])


async def check_in(
    *, viewer: Principal, data: CheckinIn, retention_days: int, now: dt.datetime | None = None
) -> Outcome:
    """Decide and keep one check-in sent by ``viewer`` (a staff account of the checkpoint)."""
    now = now or utcnow()
    ble_id = codes.normalize_ble_id(data.ble_id)
    if ble_id is None:
        raise ValidationFailed.field("ble_id", "a BLE address (12 hex digits) or 128-bit id (32)", "invalid_ble_id")
    staff_id = await account_id_of(viewer)
    if len(data.checkpoint) > 16:
        raise not_staffed()
    # Who may send, the band and its wearer's facts in one query; the rules and areas beside it.
    found, known = await asyncio.gather(
        gate_reads.read(checkpoint=data.checkpoint, staff_id=staff_id, ble_id=ble_id), gate_facts()
    )
    checkpoint, band, person = found.checkpoint, found.band, found.person
    if checkpoint is None:
        raise not_staffed()
    digest = request_hash(data, ble_id)
    try:
        at = check_time(data, now, retention_days)
    except ValidationFailed:
        # A replay sent again later (the first answer was lost on the way) still answers the first answer.
        if await Checkin.exists(checkpoint_id=checkpoint.id, client_id=data.id):
            return Outcome(await replayed(checkpoint, data.id, digest), None)
        raise
    wearer = wearer_at(band, at)
    rules = engine.rules_at(known.rule_sets, at)
    windows: list[engine.Window] = []
    red = False
    if wearer is not None:
        windows = engine.person_windows(person, known.areas, rules)
        status = person.status
        red = status is not None and status.status == "red" and status.set_at <= at < status.expires_at
    verdict = engine.decide(
        at=at, temperature=data.temperature, band_valid=wearer is not None, windows=windows, rules=rules
    )
    row = Checkin(
        client_id=data.id,
        checkpoint_id=checkpoint.id,
        staff_account_id=staff_id,
        band_id=band.id if band is not None else None,
        account_id=wearer,
        at=at,
        received_at=now,
        offline=data.offline,
        temperature_enc=None
        if data.temperature is None
        else sealed.seal(f"{data.temperature:.1f}", field=sealed.TEMPERATURE),
        decision=verdict.decision,
        reasons_enc=sealed.seal_json([r.value for r in verdict.reasons], field=sealed.REASONS)
        if verdict.stop
        else None,
        request_hash=digest,
        node_path=checkpoint.node_path,
    )
    try:
        await row.save()
    except IntegrityError:  # a replay (or the same id sent twice at once: one of them won)
        return Outcome(await replayed(checkpoint, data.id, digest), None)
    answer = answer_of(data.id, verdict.decision, verdict.reasons)
    if not verdict.stop:
        return Outcome(answer, None)
    band_key = hashlib.sha256(ble_id.encode()).hexdigest()[:24]
    return Outcome(answer, Stop(checkpoint, at, verdict.reasons, wearer, band_key, red))
