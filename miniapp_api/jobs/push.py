"""The push: a posting that goes live reaches the subscribed seekers it matches well, at most once per posting and
a few a day per seeker.

A pass (the ``jobs.push`` job, woken when a posting is published and run every ``EVERY_SECONDS`` as a sweep)
takes the postings published since the last pass (a Redis mark, with ``MARGIN`` of overlap for a publish that
committed late), and for each one still live, still valid and of a verified enterprise scores the subscribed
seekers (SQL prefilter: active account, education at least the posting's minimum, home inside the box of the
widest subscribed radius around the work place, or no home given) with ``matching.top_seekers``. Those scoring
at least ``GMID_JOBS_PUSH_THRESHOLD`` % hear of it, best first, in batches, each in a transaction that locks
the seekers' profiles and checks again that they are still subscribed, that the posting is still pushable, that
they were not told of it (``JobPush``, unique per pair: the "at most once" record, with the outbox's
idempotency key) and that they were told of fewer than ``GMID_JOBS_PUSH_PER_DAY`` postings this China day (a
posting over the cap is not kept for the next day). The message says the title, the pay and a distance band,
and links to the posting's page: nothing of the seeker.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from miniapp_api.jobs import rows, vocab
from miniapp_api.jobs.matching import crowding_factor, seeker_vector
from miniapp_api.jobs.matching.scores import distance_between
from miniapp_api.jobs.models import EnterpriseStatus, JobPush, Posting, PostingStatus, SeekerProfile
from miniapp_api.jobs.postings import CHINA, today
from notify import outbox

log = logging.getLogger("gmid.jobs")

TEMPLATE = "job.match"
WAKE_CHANNEL = "gmid:jobs:push:wake"
MARK_KEY = "gmid:jobs:push:mark"
EVERY_SECONDS = 30.0
MARGIN = dt.timedelta(minutes=2)  # a publish whose transaction committed after the pass read: seen next pass
FIRST_LOOKBACK = dt.timedelta(hours=24)  # no mark yet (a new deployment, a flushed Redis)
BATCH = 500  # seekers told in one transaction
PERIOD_TEXT = {"hour": "时", "day": "天", "month": "月", "year": "年"}


@dataclass(slots=True)
class Pass:
    postings: int = 0
    scored: int = 0
    pushed: int = 0


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def day_start(now: dt.datetime) -> dt.datetime:
    """The start of ``now``'s China day, as an aware UTC instant."""
    local = now.astimezone(CHINA).date()
    return dt.datetime.combine(local, dt.time(0), CHINA).astimezone(dt.UTC)


def distance_band(km: float | None) -> str:
    if km is None:
        return "距离未知"
    if km <= 3:
        return "3公里内"
    if km <= 5:
        return "3-5公里"
    if km <= 10:
        return "5-10公里"
    return "10公里以上"


def salary_text(p: Posting) -> str:
    unit = PERIOD_TEXT.get(p.salary_period, p.salary_period)
    if p.salary_min == p.salary_max:
        return f"{p.salary_min}元/{unit}"
    return f"{p.salary_min}-{p.salary_max}元/{unit}"


def pushable() -> Q:
    """Live, still valid postings of verified enterprises (the public list's rule)."""
    return Q(
        status=PostingStatus.LIVE.value,
        valid_through__gte=today(),
        enterprise__status=EnterpriseStatus.VERIFIED.value,
    )


async def _candidates(posting: Posting) -> list[dict[str, Any]]:
    """Subscribed profiles of active accounts the posting may reach (education, home box, or no home), as light
    rows: only what the matcher reads, and the profile's id."""
    base = SeekerProfile.filter(
        subscribed=True,
        account__is_active=True,
        education__in=list(vocab.EDUCATION[vocab.education_rank(posting.education_min) :]),
    )
    widest: Any = await base.order_by("-radius_km").first().values_list("radius_km", flat=True)
    if widest is None:
        return []
    km = float(widest) + 0.5  # homes are rounded to 3 decimals: about 100 m
    dlat = km / 111.0
    dlon = km / (111.0 * max(math.cos(math.radians(posting.lat)), 0.01))
    near = Q(
        home_lat__gte=posting.lat - dlat,
        home_lat__lte=posting.lat + dlat,
        home_lon__gte=posting.lon - dlon,
        home_lon__lte=posting.lon + dlon,
    )
    found: list[dict[str, Any]] = await base.filter(near | Q(home_lat__isnull=True) | Q(home_lon__isnull=True)).values(
        "id", *rows.SEEKER_COLUMNS
    )
    return found


async def _push_batch(
    posting: Posting, batch: list[tuple[int, float | None]], per_day: int, at: dt.datetime
) -> int | None:
    """Tell a batch of seekers (profile id, distance), best first, of one posting in one transaction that locks
    their profiles (in id order: concurrent passes cannot deadlock) and checks again that each is still subscribed
    with an active account, that the posting is still pushable, that they were not told of it (``JobPush``, unique
    per pair, and the outbox's key) and that they were told of fewer than ``per_day`` postings this China day.
    Returns how many were told; None when the posting is no longer pushable (the caller stops)."""
    distance = dict(batch)
    async with in_transaction() as conn:
        locked = (
            await SeekerProfile.filter(id__in=list(distance), subscribed=True, account__is_active=True)
            .using_db(conn)
            .select_for_update()
            .order_by("id")
            .prefetch_related("account")
        )
        if not await Posting.filter(pushable(), id=posting.id).using_db(conn).exists():
            return None
        by_id = {p.id: p for p in locked}
        seekers = [p.account_id for p in locked]
        told_of_it = set(
            await JobPush.filter(posting_id=posting.id, seeker_id__in=seekers)
            .using_db(conn)
            .values_list("seeker_id", flat=True)
        )
        today_counts = Counter(
            int(seeker)  # type: ignore[call-overload]
            for seeker in await JobPush.filter(seeker_id__in=seekers, created_at__gte=day_start(at))
            .using_db(conn)
            .values_list("seeker_id", flat=True)
        )
        messages = []
        pushes = []
        for profile_id, _ in batch:  # best first
            profile = by_id.get(profile_id)
            if (
                profile is None
                or profile.account_id in told_of_it
                or today_counts.get(profile.account_id, 0) >= per_day
            ):
                continue
            try:
                messages.append(
                    outbox.message(
                        template=TEMPLATE,
                        data={
                            "title": posting.title,
                            "salary": salary_text(posting),
                            "distance": distance_band(distance[profile_id]),
                            "posting_id": posting.public_id,
                            "at": at.isoformat(),
                        },
                        idempotency_key=f"{TEMPLATE}:{posting.public_id}:{profile.account.public_id}",
                        account=profile.account,
                    )
                )
            except ValueError:
                continue  # no address on any channel: nothing written, nothing counted
            pushes.append(JobPush(posting_id=posting.id, seeker_id=profile.account_id, created_at=at))
        await JobPush.bulk_create(pushes, ignore_conflicts=True, using_db=conn)
        return await outbox.enqueue_many(messages, using_db=conn)


async def push_posting(posting_id: int, *, threshold: float, per_day: int, done: Pass | None = None) -> int:
    """Score one posting against the subscribed seekers and tell those at or above ``threshold`` (0-1), best
    first, in batches of ``BATCH``. The scores are the matcher's (matching.seeker_vector over the light rows, as
    ranking.top_seekers scores them, with the posting's crowding)."""
    done = done if done is not None else Pass()
    posting = await Posting.filter(pushable(), id=posting_id).first()
    if posting is None:
        return 0
    done.postings += 1
    found = await _candidates(posting)
    if not found:
        return 0
    taxonomy = await rows.skills.current()
    views = [rows.seeker_view(rows.as_row(SeekerProfile, r)) for r in found]
    view = rows.posting_view(posting)
    scores = seeker_vector.seeker_scores(view, seeker_vector.SeekerColumns.build(views, taxonomy.related))
    scores = scores * crowding_factor(posting.applicants, posting.openings)
    done.scored += len(found)
    best = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= threshold]
    told = 0
    at = utcnow()
    for start in range(0, len(best), BATCH):
        batch = [(int(found[i]["id"]), distance_between(views[i], view)) for i in best[start : start + BATCH]]
        outcome = await _push_batch(posting, batch, per_day, at)
        if outcome is None:
            break  # taken down, closed or its enterprise suspended during the pass
        told += outcome
    done.pushed += told
    return told


async def run_pass(redis: aioredis.Redis, *, threshold: float, per_day: int) -> Pass:
    """Every posting published since the last pass's mark (less ``MARGIN``), oldest first."""
    started = utcnow()
    raw = await redis.get(MARK_KEY)
    since = dt.datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else raw) if raw else None
    since = (since - MARGIN) if since is not None else started - FIRST_LOOKBACK
    ids: list[Any] = (
        await Posting.filter(pushable(), published_at__gte=since)
        .order_by("published_at", "id")
        .values_list("id", flat=True)
    )
    done = Pass()
    for posting_id in ids:
        await push_posting(int(posting_id), threshold=threshold, per_day=per_day, done=done)
    await redis.set(MARK_KEY, started.isoformat())  # only after a whole pass: a failed one is done again
    return done


async def wake(redis: aioredis.Redis) -> None:
    """Tell the push job a posting went live (best effort: the sweep finds it anyway)."""
    try:
        await redis.publish(WAKE_CHANNEL, b"1")
    except (RedisError, OSError) as exc:
        log.warning("jobs push wake-up not published error=%s", exc.__class__.__name__)
