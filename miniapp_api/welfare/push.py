"""The push ("tell me only what is new"): consenting residents are screened again in the background when
their profile changes or a new pack version is served, and told of policies that newly match.

Each person keeps a sealed snapshot: policy id -> [policy version, status] of the last screening, and the
``policy:version`` pairs already told. A message goes out for a policy that is eligible now and was not at
the last screening, once per policy version (and the outbox's idempotency key holds even if a run repeats).
The first screening after consent is the baseline: it tells nothing (the resident saw those answers in the
mini-program when saving the profile).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.welfare import engine, profiles, service, versions
from miniapp_api.welfare.models import WelfareProfile
from notify import outbox

TEMPLATE = "welfare.match"
log = logging.getLogger("gmid.welfare")
BATCH = 500


@dataclass(slots=True)
class Pass:
    screened: int = 0
    told: int = 0
    failed: int = 0


def _diff(snapshot: dict[str, Any] | None, now: dict[str, list[Any]]) -> list[tuple[str, int]]:
    if snapshot is None:
        return []
    before: dict[str, list[Any]] = snapshot.get("s", {})
    told = set(snapshot.get("told", []))
    new = []
    for pid, (version, status) in sorted(now.items()):
        if status != "eligible":
            continue
        if pid in before and before[pid][1] == "eligible":
            continue  # already had it
        if f"{pid}:{version}" in told:
            continue
        new.append((pid, int(version)))
    return new


def _screen_row(row: WelfareProfile, served: versions.Served, on: dt.date) -> dict[str, list[Any]] | None:
    """The statuses now of one saved profile; None when it cannot be screened (no profile saved yet, or one
    the served pack no longer takes: the last snapshot stays as it is). Raises on an unreadable row."""
    if row.profile_enc is None:
        return None
    profile = service.unseal(row.profile_enc, service.PROFILE_FIELD)
    try:
        found = engine.screen(profile, on, pack=served.pack, explain=False)
    except profiles.ProfileError:
        return None
    return {r.policy_id: [served.policy_versions.get(r.policy_id, 0), r.status] for r in found.results}


async def _rescreen_batch(ids: list[int], served: versions.Served, on: dt.date, done: Pass) -> None:
    """One transaction for a batch: the rows are locked (a save or a consent change waits, so what is
    screened is what is stored), each is screened, its new matches told and its snapshot stored."""
    async with in_transaction() as conn:
        rows = await WelfareProfile.filter(id__in=ids, proactive=True).select_for_update().using_db(conn).order_by("id")
        plans = []
        for row in rows:
            if not (row.due or row.screened_pack < served.version):
                continue  # screened meanwhile
            try:
                statuses = _screen_row(row, served, on)
                snapshot = service.unseal(row.snapshot_enc, service.SNAPSHOT_FIELD) if row.snapshot_enc else None
            except Exception as exc:  # one unreadable profile must not stop everyone else's
                log.warning("welfare rescreen failed profile_row=%s error=%s", row.id, type(exc).__name__)
                done.failed += 1
                continue
            plans.append((row, statuses, snapshot, _diff(snapshot, statuses) if statuses is not None else []))
        wanted = [row.account_id for row, _, _, new in plans if new]
        accounts = (
            {a.id: a for a in await Account.filter(id__in=wanted, is_active=True).using_db(conn)} if wanted else {}
        )
        at = dt.datetime.now(dt.UTC).isoformat()
        for row, statuses, snapshot, new in plans:
            told = set(snapshot.get("told", [])) if snapshot else set()
            account = accounts.get(row.account_id)
            for pid, version in new:
                told.add(f"{pid}:{version}")
                if account is None:
                    continue
                try:
                    await outbox.enqueue(
                        template=TEMPLATE,
                        data={"policy": served.pack.policies[pid].name, "policy_id": pid, "at": at},
                        idempotency_key=f"welfare.match:{account.public_id}:{pid}:{version}",
                        account=account,
                        using_db=conn,
                    )
                    done.told += 1
                except ValueError:
                    pass  # no address on any channel: nothing to send
            if statuses is not None:
                row.snapshot_enc = service.seal({"s": statuses, "told": sorted(told)}, service.SNAPSHOT_FIELD)
            row.screened_pack = served.version
            row.due = False
            done.screened += 1
        if plans:  # one statement for the batch
            await WelfareProfile.bulk_update(
                [row for row, _, _, _ in plans], fields=["snapshot_enc", "screened_pack", "due"], using_db=conn
            )


async def rescreen_due(*, limit: int = BATCH, rounds: int = 50) -> Pass:
    """Consenting residents whose profile changed or who were screened with an older pack, in batches of
    ``limit`` (at most ``rounds`` batches a pass)."""
    served = await versions.current()
    on = service.today()
    done = Pass()
    after = 0
    for _ in range(rounds):
        ids = await (
            WelfareProfile.filter(Q(due=True) | Q(screened_pack__lt=served.version), proactive=True, id__gt=after)
            .order_by("id")
            .limit(limit)
            .values_list("id", flat=True)
        )
        if ids:
            await _rescreen_batch([int(i) for i in ids], served, on, done)  # type: ignore[call-overload]
        if len(ids) < limit:
            break
        after = int(ids[-1])  # type: ignore[call-overload]
    return done
