"""Retention: health data is deleted GMID_CHECKIN_RETENTION_DAYS after it ends (PIPL: kept no longer
than needed). Check-ins (with their temperatures and reasons) by their time, trips by their last day
(China time), health statuses by their expiry, quarantine orders by their end or the moment they were
lifted, and the messages about stops at a gate (templates ``HEALTH_TEMPLATES``, with their attempts)
by the time they were written. Deletes go in bounded batches (a statement never holds more than
``batch`` rows, so no long lock and no huge transaction), looping until nothing is left; each run
leaves one audit entry with the counts (no personal data). The people whose statuses, orders or
trips went are handed to the stop list (their offline stop windows may move)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from identity import audit
from miniapp_api.wristbands import stoplist
from miniapp_api.wristbands.engine import CHINA
from miniapp_api.wristbands.models import Checkin, HealthStatus, QuarantineOrder, Trip
from notify.models import Attempt, Notification

BATCH = 1000
ACTION = "wristbands.purge"
# Notifications that say something about a person's health (stopped at a gate, a fever at a
# checkpoint): kept no longer than the check-ins they are about.
HEALTH_TEMPLATES = ("checkin.stop", "checkin.stop_person", "checkpoint.fever")


@dataclass
class Purged:
    checkins: int = 0
    trips: int = 0
    statuses: int = 0
    quarantines: int = 0
    notifications: int = 0
    people: set[int] = field(default_factory=set)  # accounts whose facts changed (never audited)

    @property
    def total(self) -> int:
        return self.checkins + self.trips + self.statuses + self.quarantines + self.notifications


def cutoff(now: dt.datetime, retention_days: int) -> dt.datetime:
    return now.astimezone(dt.UTC) - dt.timedelta(days=retention_days)


async def _delete(model: type[Model], old: Q, batch: int, people: set[int] | None) -> int:
    """Delete every row matching ``old``, ``batch`` at a time; collect their ``account_id`` in ``people``."""
    deleted = 0
    while True:
        if people is None:
            ids = list(await model.filter(old).order_by("id").limit(batch).values_list("id", flat=True))
        else:
            rows = await model.filter(old).order_by("id").limit(batch).values_list("id", "account_id")
            ids = [row[0] for row in rows]
            people.update(int(row[1]) for row in rows)
        if not ids:
            return deleted
        deleted += await model.filter(id__in=ids).delete()
        if len(ids) < batch:
            return deleted


async def _delete_messages(old: Q, batch: int) -> int:
    """Delete the notifications matching ``old`` with their attempt history, ``batch`` at a time."""
    deleted = 0
    while True:
        ids = list(await Notification.filter(old).order_by("id").limit(batch).values_list("id", flat=True))
        if not ids:
            return deleted
        async with in_transaction() as conn:
            await Attempt.filter(notification_id__in=ids).using_db(conn).delete()
            deleted += await Notification.filter(id__in=ids).using_db(conn).delete()
        if len(ids) < batch:
            return deleted


async def purge(*, retention_days: int, now: dt.datetime | None = None, batch: int = BATCH) -> Purged:
    """Delete what is older than the retention; one audit entry with the counts; tell the stop list."""
    now = now or dt.datetime.now(dt.UTC)
    before = cutoff(now, retention_days)
    done = Purged()
    done.checkins = await _delete(Checkin, Q(at__lt=before), batch, None)
    done.trips = await _delete(Trip, Q(until_date__lt=before.astimezone(CHINA).date()), batch, done.people)
    done.statuses = await _delete(HealthStatus, Q(expires_at__lt=before), batch, done.people)
    done.quarantines = await _delete(
        QuarantineOrder, Q(ends_at__lt=before) | Q(lifted_at__lt=before), batch, done.people
    )
    done.notifications = await _delete_messages(Q(template__in=HEALTH_TEMPLATES, created_at__lt=before), batch)
    await audit.record(
        actor="system",
        role="system",
        action=ACTION,
        details={
            "retention_days": retention_days,
            "before": before.isoformat(),
            "checkins": done.checkins,
            "trips": done.trips,
            "statuses": done.statuses,
            "quarantines": done.quarantines,
            "notifications": done.notifications,
        },
    )
    for account_id in sorted(done.people):
        await stoplist.person_changed(account_id)
    return done
