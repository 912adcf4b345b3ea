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
BATCH = 200


@dataclass(slots=True)
class Pass:
    screened: int = 0
    told: int = 0
    failed: int = 0


class _Changed(Exception):
    """The profile changed while it was screened: leave it due for the next pass."""


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


async def rescreen_one(row: WelfareProfile, served: versions.Served, on: dt.date) -> int:
    """Screen one saved profile, tell of the new matches, store the snapshot; how many were told."""
    snapshot = service.unseal(row.snapshot_enc, service.SNAPSHOT_FIELD) if row.snapshot_enc else None
    statuses: dict[str, list[Any]] = {}
    if row.profile_enc is not None:
        profile = service.unseal(row.profile_enc, service.PROFILE_FIELD)
        try:
            found = engine.screen(profile, on, pack=served.pack, explain=False)
        except profiles.ProfileError:
            found = None  # the new pack no longer takes this profile: nothing is told until it is saved again
        if found is not None:
            statuses = {r.policy_id: [served.policy_versions.get(r.policy_id, 0), r.status] for r in found.results}
    new = _diff(snapshot, statuses)
    told = set(snapshot.get("told", [])) if snapshot else set()
    sent = 0
    async with in_transaction() as conn:
        account = await Account.get_or_none(id=row.account_id, using_db=conn) if new else None
        for pid, version in new:
            told.add(f"{pid}:{version}")
            if account is None:
                continue
            policy = served.pack.policies[pid]
            try:
                await outbox.enqueue(
                    template=TEMPLATE,
                    data={"policy": policy.name, "policy_id": pid, "at": dt.datetime.now(dt.UTC).isoformat()},
                    idempotency_key=f"welfare.match:{account.public_id}:{pid}:{version}",
                    account=account,
                    using_db=conn,
                )
                sent += 1
            except ValueError:
                pass  # no address on any channel: nothing to send
        updated = (
            await WelfareProfile.filter(id=row.id, revision=row.revision)
            .using_db(conn)
            .update(
                snapshot_enc=service.seal({"s": statuses, "told": sorted(told)}, service.SNAPSHOT_FIELD),
                screened_pack=served.version,
                due=False,
            )
        )
        if not updated:
            raise _Changed()
    return sent


async def rescreen_due(*, limit: int = BATCH, rounds: int = 50) -> Pass:
    """Consenting residents whose profile changed or who were screened with an older pack, in batches of
    ``limit`` (at most ``rounds`` batches a pass)."""
    served = await versions.current()
    on = service.today()
    done = Pass()
    after = 0
    for _ in range(rounds):
        rows = (
            await WelfareProfile.filter(Q(due=True) | Q(screened_pack__lt=served.version), proactive=True, id__gt=after)
            .order_by("id")
            .limit(limit)
        )
        for row in rows:
            try:
                done.told += await rescreen_one(row, served, on)
            except _Changed:
                continue
            except Exception as exc:  # one unreadable profile must not stop everyone else's
                log.warning("welfare rescreen failed profile_row=%s error=%s", row.id, type(exc).__name__)
                done.failed += 1
                continue
            done.screened += 1
        if len(rows) < limit:
            break
        after = rows[-1].id
    return done
