"""The attempt history: an :class:`~notify.models.Attempt` row for everything that happened to a
notification (a send and its result, a wait, a retake, a limit), which the admin API shows and
``/metrics`` counts. Written in the same transaction as the row's new state."""

from __future__ import annotations

import datetime as dt
import hashlib

from notify.channels.base import Result
from notify.models import Attempt, Notification


async def note(
    row: Notification, *, worker: str, outcome: str, code: str, detail: str, channel: str | None = None
) -> None:
    """Something that happened to the row without a provider call (``channel`` defaults to the row's)."""
    await Attempt.create(
        notification_id=row.id,
        at=dt.datetime.now(dt.UTC),
        channel=row.channel if channel is None else channel,
        outcome=outcome,
        code=code,
        detail=detail[:255],
        worker=worker,
    )


async def record(row: Notification, *, worker: str, channel: str, result: Result, elapsed_ms: int | None) -> None:
    """What a provider call on ``channel`` answered."""
    await Attempt.create(
        notification_id=row.id,
        at=dt.datetime.now(dt.UTC),
        channel=channel,
        outcome=str(result.outcome),
        code=result.code[:64],
        detail=result.detail[:255],
        provider_message_id=fit_id(result.provider_message_id),
        worker=worker,
        elapsed_ms=elapsed_ms,
    )


def fit_id(value: str | None) -> str | None:
    """Provider ids go into varchar(64) columns. A longer one (an email Message-ID with a long sender
    domain) keeps its start and a hash of the whole: it is for people to read. Receipts match WeChat
    msgids and SMS serial numbers, which are far shorter and stay whole."""
    if value is None or len(value) <= 64:
        return value
    return value[:47] + "~" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]
