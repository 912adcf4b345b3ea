"""A seeker's best postings and a posting's best candidates: an in-memory index chooses, the pure matcher decides.

index.py keeps live postings and visible seekers as numpy columns; matching/vector.py (seeker_vector.py) scores
them all at once exactly as the pure matcher does, and the best 2 x N + MARGIN, with every row changed since
the index was built, are read fresh from the database and ranked by ``matching.top_jobs`` / ``top_seekers``
through ``rows.seeker_view`` / ``rows.posting_view``: what the database no longer shows never shows, and each
score matches its explanation; only the top N are then loaded whole. A seeker's matches: live postings still
valid, of verified enterprises, passing the hard filters. A posting's candidates: seekers who opted in
(``visible``) passing them, each known to the employer
only by an id made for this posting (candidates.candidate_id); name and phone only once the seeker applied
or accepted an invitation (Application rows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from identity import service as identity_service
from identity.models import Account
from miniapp_api.jobs import candidates, index, rows
from miniapp_api.jobs.applications import CONSENTED
from miniapp_api.jobs.explain import explain
from miniapp_api.jobs.matching import MatchResult, seeker_vector, top_jobs, top_seekers, vector
from miniapp_api.jobs.models import (
    Application,
    Enterprise,
    EnterpriseStatus,
    Posting,
    PostingStatus,
    SeekerProfile,
)
from miniapp_api.jobs.postings import own_posting, today
from miniapp_api.jobs.seekers import NO_PROFILE, account_of
from miniapp_api.jobs.taxonomy import Taxonomy
from server.auth import Principal
from server.errors import Conflict

MARGIN = 20  # candidates taken from the index: 2 x limit + MARGIN, then scored fresh


def revealed(state: str, initiated_by: str) -> bool:
    """Whether the employer sees the seeker's name and phone: the seeker applied or accepted the employer's
    invitation (and the employer may have decided since: rejected and hired are reached only from those).
    The same rule as the applications list and its messages (applications.CONSENTED); withdrawn, declined or
    merely invited: masked."""
    return state in CONSENTED


def name_of(taxonomy: Taxonomy) -> Any:
    return lambda slug: taxonomy.name(slug) or slug


def scores(r: MatchResult) -> dict[str, float]:
    return {
        "score": round(r.score, 4),
        "combined": round(r.combined, 4),
        "seeker_score": round(r.seeker_score, 4),
        "job_score": round(r.job_score, 4),
        "damping": round(r.damping, 4),
    }


def km(r: MatchResult) -> float | None:
    return None if r.distance_km is None else round(r.distance_km, 1)


@dataclass
class Match:
    posting: Posting
    result: MatchResult
    explanation: dict[str, str]


async def for_seeker(*, viewer: Principal, limit: int) -> list[Match]:
    """The caller's top ``limit`` postings, best first (409 ``profile_missing`` without a profile)."""
    account = await account_of(viewer)
    profile = await SeekerProfile.get_or_none(account_id=account.id)
    if profile is None:
        raise Conflict(NO_PROFILE, code="profile_missing")
    return await best_postings(profile, limit)


SHOWN_COLUMNS = ("status", "valid_through", "enterprise_id")


async def verified_enterprises(ids: set[int]) -> set[int]:
    found = await Enterprise.filter(id__in=ids, status=EnterpriseStatus.VERIFIED.value).values_list("id", flat=True)
    return {cast(int, i) for i in found}


def shown(row: dict[str, Any], verified: set[int], day: dt.date) -> bool:
    """What ``postings.public_query()`` asks, of a row read by key: live, still valid, of a verified enterprise."""
    return (
        row["status"] == PostingStatus.LIVE.value and row["valid_through"] >= day and row["enterprise_id"] in verified
    )


async def best_postings(profile: SeekerProfile, limit: int) -> list[Match]:
    """The profile's top ``limit`` postings (the bench times this): candidates from the in-memory index
    (index.py), plus every posting changed since it was built, read fresh from the database (still live,
    valid, of a verified enterprise), scored by the pure matcher."""
    seeker = rows.seeker_view(profile)
    taxonomy = await rows.skills.current()
    snap, keep = await index.postings.current()
    changed = await index.changed_since(snap)
    if len(changed) > index.CHANGED_MAX:
        snap, keep = await index.postings.rebuilt(snap)
        changed = await index.changed_since(snap)
    if changed:
        keep &= ~np.isin(snap.ids, np.array(changed, dtype=np.int64))
    picked = vector.top(seeker, snap.columns, 2 * limit + MARGIN, taxonomy.related, keep=keep)
    ids = sorted({int(snap.ids[i]) for i, _ in picked}.union(changed))
    # By key only, what public_query() asks checked here: with its join and filters in the query, PostgreSQL
    # may read the live-postings index instead of the key.
    found = await Posting.filter(id__in=ids).order_by("id").values(*rows.POSTING_COLUMNS, *SHOWN_COLUMNS)
    verified = await verified_enterprises({r["enterprise_id"] for r in found})
    day = today()
    views = [rows.posting_view(rows.as_row(Posting, r)) for r in found if shown(r, verified, day)]
    best = top_jobs(seeker, views, limit, taxonomy.related)
    loaded = {
        p.id: p
        for p in await Posting.filter(id__in=[r.posting_id for r in best]).prefetch_related("enterprise", "node")
        if p.status == PostingStatus.LIVE.value
        and p.valid_through >= day
        and p.enterprise.status == EnterpriseStatus.VERIFIED.value
    }
    name = name_of(taxonomy)
    return [
        Match(loaded[cast(int, r.posting_id)], r, explain(r, name).as_dict()) for r in best if r.posting_id in loaded
    ]


@dataclass
class Candidate:
    id: str
    result: MatchResult
    profile: dict[str, Any]
    explanation: dict[str, str]
    application: str | None
    identity: dict[str, str | None] | None


async def best_candidates(
    posting: Posting, limit: int, taxonomy: Taxonomy
) -> tuple[list[MatchResult], dict[int, dict[str, Any]]]:
    """The posting's top ``limit`` opted-in seekers and their light rows (the bench times this): candidates
    from the seeker index (index.py) plus every profile changed since it was built, read fresh (still opted
    in, not erased) and scored by the pure matcher."""
    view = rows.posting_view(posting)
    snap = await index.seekers.current(taxonomy)
    changed = await index.seekers_changed(snap)
    if len(changed) > index.CHANGED_MAX:
        snap = await index.seekers.rebuilt(snap)
        changed = await index.seekers_changed(snap)
    keep = ~np.isin(snap.ids, np.array(changed, dtype=np.int64)) if changed else None
    picked = seeker_vector.top_seekers(view, snap.columns, 2 * limit + MARGIN, keep)
    ids = sorted({int(snap.ids[i]) for i, _ in picked}.union(changed))
    found = (
        await SeekerProfile.filter(visible=True, account_id__in=ids).order_by("account_id").values(*rows.SEEKER_COLUMNS)
    )
    views = [rows.seeker_view(rows.as_row(SeekerProfile, r)) for r in found]
    return top_seekers(view, views, limit, taxonomy.related), {r["account_id"]: r for r in found}


async def for_posting(*, viewer: Principal, public_id: str, limit: int) -> list[Candidate]:
    """The posting's top ``limit`` opted-in seekers, best first, masked (another enterprise's posting: 404)."""
    posting = await own_posting(viewer=viewer, public_id=public_id)
    if posting.status != PostingStatus.LIVE.value:
        raise Conflict(f"Only a live posting has candidates; this one is {posting.status}.", code="posting_not_live")
    if posting.enterprise.status != EnterpriseStatus.VERIFIED.value:
        raise Conflict(
            "Your enterprise is not verified by the employment service: it cannot look for candidates.",
            code="enterprise_not_verified",
        )
    taxonomy = await rows.skills.current()
    best, by_account = await best_candidates(posting, limit, taxonomy)
    ids = [cast(int, r.seeker_id) for r in best]
    applications = {a.seeker_id: a for a in await Application.filter(posting_id=posting.id, seeker_id__in=ids)}
    shown = [i for i in ids if i in applications and revealed(applications[i].state, applications[i].initiated_by)]
    identities = {}
    for account in await Account.filter(id__in=shown):
        full = identity_service.read_profile(account)
        identities[account.id] = {"name": full.name, "phone": full.phone}
    name = name_of(taxonomy)
    out = []
    for r in best:
        seeker = cast(int, r.seeker_id)
        application = applications.get(seeker)
        out.append(
            Candidate(
                id=candidates.candidate_id(posting.public_id, seeker),
                result=r,
                profile=by_account[seeker],
                explanation=explain(r, name).as_dict(),
                application=application.state if application else None,
                identity=identities.get(seeker),
            )
        )
    return out
