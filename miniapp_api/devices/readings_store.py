"""Readings kept: hourly rollups (accumulated in Redis, moved to ``device_rollup`` by a job) and raw
readings as an alarm's evidence (the last 30 minutes per device in Redis, copied to ``device_evidence``
when an alarm is raised and written there while the device has an open alarm).

The reading path writes no row per reading: one Lua call per ingest batch updates every accumulator and
every device's evidence window; only a device with an open alarm has its batch written, in one insert.

Redis keys:
- ``dev:roll:{device}:{metric}:{hour ms}``: a hash of count, sum, min, max, last, last_at and ``merge``
  (1 when it was started after its hour was closed: a late delta to add to the stored row, not totals);
- ``dev:roll:changed`` (set): accumulators changed since the job last copied them;
- ``dev:roll:hours`` (sorted set by hour): every live accumulator, so closed hours are found and removed;
- ``dev:ev:{device}`` (sorted set by time): the device's readings of the last 30 minutes, capped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from miniapp_api.devices.models import DeviceAlarm, DeviceRollup, EvidenceReading

if TYPE_CHECKING:
    from miniapp_api.devices.ingest import DeviceBatch
    from miniapp_api.devices.schemas import DeviceAlarmChange

log = logging.getLogger("gmid.devices.readings")

HOUR_MS = 3_600_000
GRACE = dt.timedelta(minutes=15)  # readings of an hour arriving this long after it still add to its totals
EVIDENCE_WINDOW = dt.timedelta(minutes=30)
EVIDENCE_CAP = 2000  # readings per device in the window (a device sending every second fills 1,800)
EVIDENCE_KEPT_AFTER = dt.timedelta(days=30)
ROLLUPS_KEPT = dt.timedelta(days=400)
ACCUMULATOR_TTL_SECONDS = 2 * 86400
FLUSH_BATCH = 500
CHANGED_KEY = "dev:roll:changed"
HOURS_KEY = "dev:roll:hours"

# ARGV: closed_before (hour ms: hours starting before it are closed), evidence_since (ms), cap, ttl,
# then per reading: device, metric, value (text), at (ms), hour (ms).
_RECORD = """
local closed = tonumber(ARGV[1])
local since = tonumber(ARGV[2])
local cap = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local windows = {}
for i = 5, #ARGV, 5 do
  local device, metric, value, at, hour = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = 'dev:roll:' .. device .. ':' .. metric .. ':' .. hour
  local v = tonumber(value)
  local t = tonumber(at)
  local cur = redis.call('HMGET', key, 'min', 'max', 'last_at')
  if not cur[1] then
    local merge = '0'
    if tonumber(hour) < closed then merge = '1' end
    redis.call('HSET', key, 'count', 1, 'sum', value, 'min', value, 'max', value, 'last', value,
      'last_at', at, 'merge', merge)
    redis.call('ZADD', KEYS[2], hour, key)
  else
    redis.call('HINCRBY', key, 'count', 1)
    redis.call('HINCRBYFLOAT', key, 'sum', value)
    if v < tonumber(cur[1]) then redis.call('HSET', key, 'min', value) end
    if v > tonumber(cur[2]) then redis.call('HSET', key, 'max', value) end
    if t >= tonumber(cur[3]) then redis.call('HSET', key, 'last', value, 'last_at', at) end
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('SADD', KEYS[1], key)
  if t >= since then
    local ev = 'dev:ev:' .. device
    redis.call('ZADD', ev, t, metric .. '|' .. at .. '|' .. value)
    windows[ev] = true
  end
end
for ev, _ in pairs(windows) do
  redis.call('ZREMRANGEBYSCORE', ev, '-inf', '(' .. since)
  redis.call('ZREMRANGEBYRANK', ev, 0, -(cap + 1))
  redis.call('PEXPIRE', ev, 1800000 + 60000)
end
return 1
"""

# A copy of each changed accumulator, taken off the changed set (a reading after this adds it back);
# a late delta (merge=1) is taken away whole, so it is added to the stored row exactly once.
_SNAPSHOT = """
local out = {}
for i, key in ipairs(KEYS) do
  if i > 2 then
    redis.call('SREM', KEYS[1], key)
    local h = redis.call('HGETALL', key)
    if #h > 0 then
      local merge = redis.call('HGET', key, 'merge')
      if merge == '1' then
        redis.call('DEL', key)
        redis.call('ZREM', KEYS[2], key)
      end
    end
    out[#out + 1] = h
  end
end
return out
"""

# Closed hours already copied (not changed since): removed; a changed one waits for the next copy.
_DROP_CLOSED = """
local n = 0
for i, key in ipairs(KEYS) do
  if i > 2 then
    if redis.call('SISMEMBER', KEYS[1], key) == 0 then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[2], key)
      n = n + 1
    end
  end
end
return n
"""


def hour_of(at_ms: int) -> int:
    return at_ms - at_ms % HOUR_MS


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(value: int | float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC)


def closed_before(now: dt.datetime) -> int:
    """Hours starting before this (ms) are closed: their end plus the grace has passed."""
    return hour_of(ms(now - GRACE - dt.timedelta(hours=1))) + HOUR_MS


def _text(value: float) -> str:
    return repr(float(value))


# Ingest ------------------------------------------------------------------------------------------


async def record(
    batches: dict[int, DeviceBatch],
    changes: list[DeviceAlarmChange],
    redis: aioredis.Redis,
    now: dt.datetime | None = None,
) -> None:
    """After a batch's readings are accepted and its alarms applied: add its metric readings to the
    hourly accumulators and the devices' evidence windows (one Redis call), and write the readings of
    devices with an open (or just changed) alarm to their evidence (one insert)."""
    now = now or dt.datetime.now(dt.UTC)
    flat = [(device_id, item) for device_id, b in batches.items() for item in b.items if not item.is_event]
    if not flat:
        return
    argv: list[Any] = [closed_before(now), ms(now - EVIDENCE_WINDOW), EVIDENCE_CAP, ACCUMULATOR_TTL_SECONDS]
    for device_id, item in flat:
        argv += [device_id, item.what, _text(item.value), item.at_ms, hour_of(item.at_ms)]
    try:
        await redis.eval(_RECORD, 2, CHANGED_KEY, HOURS_KEY, *argv)
    except RedisError as exc:
        log.warning("rollups not accumulated readings=%s error=%s", len(flat), exc.__class__.__name__)
    serials = {c.device for c in changes}
    alarmed = {device_id for device_id, b in batches.items() if b.device.serial in serials}
    ids = {device_id for device_id, _ in flat}
    open_now = await DeviceAlarm.filter(device_id__in=list(ids), cleared_at=None).values_list("device_id")
    alarmed |= {int(row[0]) for row in open_now}
    rows = [
        EvidenceReading(device_id=device_id, metric=item.what, at=item.at, value=item.value)
        for device_id, item in flat
        if device_id in alarmed
    ]
    if rows:
        await EvidenceReading.bulk_create(rows, ignore_conflicts=True)


async def alarm_raised(alarm: DeviceAlarm, conn: BaseDBAsyncClient, redis: aioredis.Redis | None) -> int:
    """A new alarm's evidence: the device's readings of the 30 minutes before it (from Redis)."""
    if redis is None:
        return 0
    since = alarm.started_at - EVIDENCE_WINDOW
    try:
        members = await redis.zrangebyscore(f"dev:ev:{alarm.device_id}", ms(since), "+inf")
    except RedisError as exc:
        log.warning("alarm evidence not copied alarm=%s error=%s", alarm.public_id, exc.__class__.__name__)
        return 0
    rows = []
    for member in members:
        text = member.decode() if isinstance(member, bytes) else str(member)
        metric, at, value = text.split("|", 2)
        rows.append(EvidenceReading(device_id=alarm.device_id, metric=metric, at=from_ms(int(at)), value=float(value)))
    if rows:
        await EvidenceReading.bulk_create(rows, ignore_conflicts=True, using_db=conn)
    return len(rows)


# The job -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accumulated:
    device_id: int
    metric: str
    hour: dt.datetime
    count: int
    sum_value: float
    min_value: float
    max_value: float
    last_value: float
    last_at: dt.datetime
    merge: bool

    @classmethod
    def parse(cls, key: str, raw: Iterable[Any]) -> Accumulated | None:
        items = [x.decode() if isinstance(x, bytes) else str(x) for x in raw]
        fields = dict(zip(items[::2], items[1::2], strict=True))
        if not fields:
            return None
        _, _, device, metric, hour = key.split(":")
        return cls(
            device_id=int(device),
            metric=metric,
            hour=from_ms(int(hour)),
            count=int(fields["count"]),
            sum_value=float(fields["sum"]),
            min_value=float(fields["min"]),
            max_value=float(fields["max"]),
            last_value=float(fields["last"]),
            last_at=from_ms(int(fields["last_at"])),
            merge=fields.get("merge") == "1",
        )

    def row(self) -> DeviceRollup:
        return DeviceRollup(
            device_id=self.device_id,
            metric=self.metric,
            hour=self.hour,
            count=self.count,
            min_value=self.min_value,
            max_value=self.max_value,
            sum_value=self.sum_value,
            last_value=self.last_value,
            last_at=self.last_at,
        )


def merged(delta: Accumulated, stored: DeviceRollup | None) -> DeviceRollup:
    if stored is None:
        return delta.row()
    later = delta.last_at >= stored.last_at
    return DeviceRollup(
        device_id=delta.device_id,
        metric=delta.metric,
        hour=delta.hour,
        count=stored.count + delta.count,
        min_value=min(stored.min_value, delta.min_value),
        max_value=max(stored.max_value, delta.max_value),
        sum_value=stored.sum_value + delta.sum_value,
        last_value=delta.last_value if later else stored.last_value,
        last_at=delta.last_at if later else stored.last_at,
    )


UPDATED = ("count", "min_value", "max_value", "sum_value", "last_value", "last_at")


async def _store(found: list[Accumulated]) -> None:
    """Totals overwrite their hour's row; late deltas are added to it. One transaction per batch."""
    async with in_transaction() as conn:
        rows = [a.row() for a in found if not a.merge]
        deltas = [a for a in found if a.merge]
        if deltas:
            stored = {
                (r.device_id, r.metric, r.hour): r
                for r in await DeviceRollup.filter(
                    device_id__in=list({d.device_id for d in deltas}), hour__in=list({d.hour for d in deltas})
                )
                .using_db(conn)
                .select_for_update()
            }
            combined: dict[tuple[int, str, dt.datetime], DeviceRollup] = {}
            for delta in deltas:
                key = (delta.device_id, delta.metric, delta.hour)
                combined[key] = merged(delta, combined.get(key) or stored.get(key))
            rows += list(combined.values())
        if rows:
            await DeviceRollup.bulk_create(
                rows, on_conflict=("device_id", "metric", "hour"), update_fields=UPDATED, using_db=conn
            )


async def flush(redis: aioredis.Redis, now: dt.datetime | None = None) -> int:
    """Copy every changed accumulator to ``device_rollup`` (current hours overwritten with their newer
    totals), then drop the accumulators of closed hours. Running it twice changes nothing more."""
    now = now or dt.datetime.now(dt.UTC)
    moved = 0
    changed = [k.decode() if isinstance(k, bytes) else str(k) for k in await redis.smembers(CHANGED_KEY)]
    for start in range(0, len(changed), FLUSH_BATCH):
        keys = changed[start : start + FLUSH_BATCH]
        taken = await redis.eval(_SNAPSHOT, 2 + len(keys), CHANGED_KEY, HOURS_KEY, *keys)
        found = [a for a in (Accumulated.parse(k, h) for k, h in zip(keys, taken, strict=True)) if a is not None]
        try:
            await _store(found)
        except Exception:
            # Totals are copied again on the next run; a late delta taken away is lost (logged).
            again = [f"dev:roll:{a.device_id}:{a.metric}:{ms(a.hour)}" for a in found if not a.merge]
            if again:
                await redis.sadd(CHANGED_KEY, *again)
            log.warning("rollups not stored count=%s lost_deltas=%s", len(found), sum(a.merge for a in found))
            raise
        moved += len(found)
    closed = [
        k.decode() if isinstance(k, bytes) else str(k)
        for k in await redis.zrangebyscore(HOURS_KEY, "-inf", f"({closed_before(now)}")
    ]
    for start in range(0, len(closed), FLUSH_BATCH):
        keys = closed[start : start + FLUSH_BATCH]
        await redis.eval(_DROP_CLOSED, 2 + len(keys), CHANGED_KEY, HOURS_KEY, *keys)
    return moved


async def purge(now: dt.datetime | None = None) -> tuple[int, int]:
    """Rollups older than 400 days; evidence older than 30 days of devices without an alarm open or
    ended within 30 days. The counts deleted."""
    now = now or dt.datetime.now(dt.UTC)
    rollups = await DeviceRollup.filter(hour__lt=now - ROLLUPS_KEPT).delete()
    cutoff = now - EVIDENCE_KEPT_AFTER
    relevant = DeviceAlarm.filter(Q(cleared_at=None) | Q(cleared_at__gte=cutoff)).values("device_id")
    evidence = await EvidenceReading.filter(at__lt=cutoff).exclude(device_id__in=Subquery(relevant)).delete()
    return rollups, evidence


# Chart data --------------------------------------------------------------------------------------


async def hourly(
    *, device_id: int, metric: str, since: dt.datetime, until: dt.datetime, redis: aioredis.Redis, limit: int
) -> list[DeviceRollup]:
    """The hours in [since, until) of one metric: stored rows, with the live hours from Redis."""
    first = from_ms(hour_of(ms(since)))
    rows = {
        r.hour.astimezone(dt.UTC): r
        for r in await DeviceRollup.filter(device_id=device_id, metric=metric, hour__gte=first, hour__lt=until)
        .order_by("hour")
        .limit(limit)
    }
    now = dt.datetime.now(dt.UTC)
    live_hours = [h for h in (hour_of(ms(now)), hour_of(ms(now)) - HOUR_MS) if ms(first) <= h < ms(until)]
    if live_hours:
        keys = [f"dev:roll:{device_id}:{metric}:{h}" for h in live_hours]
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                found = await pipe.execute()
        except RedisError as exc:
            log.warning("live rollups not read error=%s", exc.__class__.__name__)
            found = []
        for key, raw in zip(keys, found, strict=False):
            live = Accumulated.parse(key, [x for kv in raw.items() for x in kv])
            if live is not None:
                stored = rows.get(live.hour)
                rows[live.hour] = merged(live, stored) if live.merge else live.row()
    return [rows[h] for h in sorted(rows)][:limit]


async def evidence(alarm: DeviceAlarm, limit: int) -> list[EvidenceReading]:
    """The alarm's raw readings: from 30 minutes before it to its end (or now), oldest first."""
    query = EvidenceReading.filter(device_id=alarm.device_id, at__gte=alarm.started_at - EVIDENCE_WINDOW)
    if alarm.cleared_at is not None:
        query = query.filter(at__lte=alarm.cleared_at)
    return list(await query.order_by("at", "metric").limit(limit))
