"""The push ("tell me only what is new"): consenting residents are screened again in the background when
their profile changes or a new pack version is served, and told of policies that newly match.

Each person keeps a sealed snapshot: policy id -> [policy version, status] of the last screening, and the
``policy:version`` pairs already told. A message goes out for a policy that is eligible now and was not at
the last screening, once per policy version (and the outbox's idempotency key holds even if a run repeats).
The first screening after consent is the baseline: it tells nothing (the resident saw those answers in the
mini-program when saving the profile).
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from identity.models import Account
from miniapp_api.welfare import engine, profiles, service, versions
from miniapp_api.welfare import pack as packs
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


def _diff(
    snapshot: dict[str, Any] | None, now: dict[str, list[Any]], same: dict[str, frozenset[int]]
) -> list[tuple[str, int]]:
    """The policies eligible now and not at the last screening, not yet told under this version or one with the
    same content (``same``: a policy withdrawn and brought back word for word, or the shipped pack's version 0
    loaded again unchanged, is not news)."""
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
        if f"{pid}:{version}" in told or any(f"{pid}:{v}" in told for v in same.get(pid, ())):
            continue
        new.append((pid, int(version)))
    return new


def _next_birthday(birth: dt.date, day: dt.date) -> dt.date:
    """The first date after ``day`` on which someone born on ``birth`` is a year older (29 February: 1 March
    in other years, as ``engine`` counts ages)."""
    for year in (day.year, day.year + 1):
        try:
            candidate = dt.date(year, birth.month, birth.day)
        except ValueError:
            candidate = dt.date(year, 3, 1)
        if candidate > day:
            return candidate
    raise AssertionError("unreachable")


def pack_boundaries(pack: packs.Pack) -> list[dt.date]:
    """The dates on which a screening's answer may change with nothing stored changing: a policy starting
    or ending (the day after its last), a parameter a policy uses taking a new value."""
    dates: set[dt.date] = set()
    for policy in pack.policies.values():
        dates.add(policy.effective_from)
        if policy.effective_until is not None:
            dates.add(policy.effective_until + dt.timedelta(days=1))
        for name in policy.params:
            if name in pack.parameters:
                dates.update(pack.parameters[name].starts)
    return sorted(dates)


def next_boundary(boundaries: list[dt.date], profile: dict[str, Any], day: dt.date) -> dt.date | None:
    """The first date after ``day`` on which this profile's answers may change by the calendar alone (a pack
    boundary, or a member with a birth date a year older)."""
    i = bisect.bisect_right(boundaries, day)
    found = [boundaries[i]] if i < len(boundaries) else []
    for member in profile.get("members") or []:
        birth = member.get("birth_date") if isinstance(member, dict) else None
        if isinstance(birth, str):
            birth = dt.date.fromisoformat(birth)
        if isinstance(birth, dt.date):
            found.append(_next_birthday(birth, day))
    return min(found) if found else None


def stale(snapshot: dict[str, Any] | None, on: dt.date) -> bool:
    """Whether the date moved past a boundary that matters since the snapshot was taken (or it has no date:
    taken before dates were kept)."""
    if snapshot is None or "d" not in snapshot:
        return True
    taken = dt.date.fromisoformat(snapshot["d"])
    nxt = snapshot.get("next")
    return on < taken or (nxt is not None and dt.date.fromisoformat(nxt) <= on)


def _kinds(profile: dict[str, Any]) -> set[str]:
    kinds = set()
    if profile.get("enterprise") is not None:
        kinds.add("enterprise")
    if profile.get("household") is not None or profile.get("members") is not None:
        kinds |= {"person", "household"}
    return kinds or {"person", "household", "enterprise"}


def _screen_row(
    row: WelfareProfile,
    served: versions.Served,
    on: dt.date,
    before: dict[str, list[Any]] | None,
    boundaries: list[dt.date],
) -> tuple[dict[str, list[Any]], dt.date | None] | None:
    """The statuses now of one saved profile, and the next date they may change by the calendar; None when
    it cannot be screened (no profile saved yet, or one the served pack no longer takes: the last snapshot
    stays as it is). With ``before`` (the statuses of a snapshot still good for ``on``, of a profile that did
    not change), only the policies whose version differs from the snapshot's are evaluated again; the others
    keep their stored status (a policy's status depends on the profile, the date and its version only).
    Raises on an unreadable row."""
    if row.profile_enc is None:
        return None
    profile = service.unseal(row.profile_enc, service.PROFILE_FIELD)
    pack = served.pack
    try:
        env = engine.prepare(profile, on, pack)
    except profiles.ProfileError:
        return None
    kinds = _kinds(profile)
    now: dict[str, list[Any]] = {}
    for policy in pack.policies.values():
        if policy.target not in kinds or not policy.in_force(on):
            continue
        version = served.policy_versions.get(policy.id, 0)
        kept = before.get(policy.id) if before is not None else None
        if kept is not None and (kept[0] == version or kept[0] in served.same.get(policy.id, ())):
            now[policy.id] = [version, kept[1]]
            continue
        now[policy.id] = [version, engine.evaluate(env, policy, on, pack=pack, explain=False).status]
    return now, next_boundary(boundaries, profile, on)


async def _rescreen_batch(
    ids: list[int], served: versions.Served, on: dt.date, done: Pass, *, dated: bool = False
) -> None:
    """One transaction for a batch: the rows are locked (a save or a consent change waits, so what is
    screened is what is stored), each is screened, its new matches told and its snapshot stored.
    ``dated``: also the rows whose snapshot the date has made stale (the daily pass)."""
    boundaries = _boundaries(served)
    async with in_transaction() as conn:
        rows = await WelfareProfile.filter(id__in=ids, proactive=True).select_for_update().using_db(conn).order_by("id")
        # Only residents' active accounts: one turned staff or disabled since is not screened (its profile is not
        # even unsealed) and nothing is marked told; it stays due, for the day it is a resident's again.
        residents = (
            set(
                await _residents(Account.filter(id__in=[r.account_id for r in rows]))
                .using_db(conn)
                .values_list("id", flat=True)
            )
            if rows
            else set()
        )
        plans = []
        for row in rows:
            if row.account_id not in residents:
                continue
            try:
                snapshot = service.unseal(row.snapshot_enc, service.SNAPSHOT_FIELD) if row.snapshot_enc else None
                old = stale(snapshot, on)
                if not (row.due or row.screened_pack < served.version or (dated and old)):
                    continue  # screened meanwhile, or nothing to do
                before = snapshot.get("s", {}) if snapshot is not None and not row.due and not old else None
                found = _screen_row(row, served, on, before, boundaries)
            except Exception as exc:  # one unreadable profile must not stop everyone else's
                log.warning("welfare rescreen failed profile_row=%s error=%s", row.id, type(exc).__name__)
                done.failed += 1
                continue
            statuses = found[0] if found is not None else None
            plans.append((row, found, snapshot, _diff(snapshot, statuses, served.same) if statuses is not None else []))
        wanted = [row.account_id for row, _, _, new in plans if new]  # whole accounts only for those told
        accounts = {a.id: a for a in await Account.filter(id__in=wanted).using_db(conn)} if wanted else {}
        at = dt.datetime.now(dt.UTC).isoformat()
        messages = []  # written in one statement below (outbox.enqueue_many), in this transaction
        for row, found, snapshot, new in plans:
            told = set(snapshot.get("told", [])) if snapshot else set()
            account = accounts.get(row.account_id)
            for pid, version in new:
                if account is None:
                    continue  # unreachable: every row with news is a resident's, read above
                told.add(f"{pid}:{version}")
                with contextlib.suppress(ValueError):  # no address on any channel: nothing to send
                    messages.append(
                        outbox.message(
                            template=TEMPLATE,
                            data={"policy": served.pack.policies[pid].name, "policy_id": pid, "at": at},
                            idempotency_key=f"welfare.match:{account.public_id}:{pid}:{version}",
                            account=account,
                        )
                    )
            if found is not None:
                statuses, nxt = found
                row.snapshot_enc = service.seal(
                    {"s": statuses, "told": sorted(told), "d": on.isoformat(), "next": nxt and nxt.isoformat()},
                    service.SNAPSHOT_FIELD,
                )
            row.screened_pack = served.version
            row.due = False
            done.screened += 1
        done.told += await outbox.enqueue_many(messages, using_db=conn)
        if plans:  # one prepared statement run for the whole batch (bulk_update's CASE was a third of the pass)
            sql = _UPDATE_PG if conn.capabilities.dialect == "postgres" else _UPDATE
            await conn.execute_many(sql, [[r.snapshot_enc, r.screened_pack, False, r.id] for r, _, _, _ in plans])


def _residents(accounts: Any) -> Any:
    """``accounts`` (an Account query) narrowed to residents' active accounts."""
    return accounts.filter(is_active=True, role__in=list(service.RESIDENT_ROLES))


def _of_residents() -> Q:
    """Saved profiles whose account is a resident's, active (``_residents``)."""
    return Q(account_id__in=Subquery(_residents(Account.all()).values("id")))


_UPDATE = "UPDATE welfare_profile SET snapshot_enc = ?, screened_pack = ?, due = ? WHERE id = ?"
_UPDATE_PG = "UPDATE welfare_profile SET snapshot_enc = $1, screened_pack = $2, due = $3 WHERE id = $4"
_boundaries_of: dict[int, tuple[packs.Pack, list[dt.date]]] = {}


def _boundaries(served: versions.Served) -> list[dt.date]:
    cached = _boundaries_of.get(served.version)
    if cached is None or cached[0] is not served.pack:
        _boundaries_of.clear()
        cached = _boundaries_of[served.version] = (served.pack, pack_boundaries(served.pack))
    return cached[1]


async def _unserved_dropped(served: versions.Served, on: dt.date) -> None:
    """Messages of matches not yet sent (waiting, failed, or dead and retryable by an admin) whose policy the
    served pack no longer holds, or holds but not in force on ``on``, are dropped: they would send a resident
    to the guide of a policy no longer served. The policy is read from the idempotency key (nothing unsealed)."""
    from notify.models import Notification, Status

    waiting = await Notification.filter(
        template=TEMPLATE, status__in=[Status.PENDING, Status.FAILED, Status.DEAD]
    ).values_list("id", "idempotency_key")
    gone = []
    for nid, key in waiting:
        pid = str(key).split(":")[2] if str(key).count(":") >= 3 else ""
        policy = served.pack.policies.get(pid)
        if policy is None or not policy.in_force(on):
            gone.append(nid)
    if gone:
        await Notification.filter(id__in=gone, status__in=[Status.PENDING, Status.FAILED, Status.DEAD]).delete()


async def rescreen_due(*, limit: int = BATCH, rounds: int = 50, on: dt.date | None = None) -> Pass:
    """Consenting residents whose profile changed or who were screened with an older pack, in batches of
    ``limit`` (at most ``rounds`` batches a pass), on ``on`` (default: today). After a pack change only the
    policies whose version changed are evaluated again, unless the date made the snapshot stale."""
    served = await versions.current()
    on = on or service.today()
    await _unserved_dropped(served, on)
    done = Pass()
    after = 0
    for _ in range(rounds):
        ids = await (
            WelfareProfile.filter(
                Q(due=True) | Q(screened_pack__lt=served.version), _of_residents(), proactive=True, id__gt=after
            )
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


async def rescreen_dated(*, on: dt.date | None = None, limit: int = BATCH) -> Pass:
    """The daily pass: every consenting resident whose answers the date may have changed since their last
    screening (a policy started or ended, a parameter took a new value, a member a year older: the
    snapshot keeps the next such date) is screened again on ``on`` (default: today) and told of new
    matches, once per policy version. Reads every consenting row's sealed snapshot; screens only those."""
    served = await versions.current()
    on = on or service.today()
    await _unserved_dropped(served, on)
    done = Pass()
    after = 0
    while True:
        rows = await (
            WelfareProfile.filter(_of_residents(), proactive=True, id__gt=after)
            .order_by("id")
            .limit(limit)
            .values_list("id", "due", "screened_pack", "snapshot_enc")
        )
        wanted = []
        for row_id, due, screened_pack, sealed in rows:
            try:
                snapshot = service.unseal(sealed, service.SNAPSHOT_FIELD) if sealed else None
            except Exception:  # counted (and logged) by the batch
                snapshot = None
            if due or screened_pack < served.version or stale(snapshot, on):
                wanted.append(int(row_id))
        if wanted:
            await _rescreen_batch(wanted, served, on, done, dated=True)
        if len(rows) < limit:
            return done
        after = int(rows[-1][0])
