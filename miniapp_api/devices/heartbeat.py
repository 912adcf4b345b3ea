"""Heartbeats: a device silent longer than its type's interval goes offline (one ``offline`` alarm), and
a device heard again clears it.

The ingest writes the time each device was last heard to the ZSET ``dev:heartbeat`` (member the
device id, score Unix seconds). The ``devices.heartbeat`` job (one instance at a time) reads it for
the active devices in batches, copies it to ``Device.last_seen_at`` (one UPDATE per batch), and judges
each device: last heard = the newest of its score, its stored ``last_seen_at`` and its registration.

Inhibition (Alertmanager's idea): a device whose gateway is itself offline gets no offline alarm of its
own, only the gateway's. When the gateway is heard again the devices behind it are judged again, with
their silence counted from the gateway's return (its offline alarm's clear), so the readings the
gateway kept and forwards do not cause a burst of false alarms.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from miniapp_api.devices import alarms, rules
from miniapp_api.devices.ingest import HEARTBEAT_KEY
from miniapp_api.devices.models import Device, DeviceAlarm
from miniapp_api.devices.rules import DeviceType
from server.settings_parsers import device_heartbeat_seconds

log = logging.getLogger("gmid.devices.heartbeat")

BATCH = 1000
OFFLINE_TYPE, OFFLINE_SEVERITY = rules.OFFLINE_ALARM
# last_seen_at is written only when the ZSET is newer by more than this (a device heard every minute
# does not rewrite its row every run).
SEEN_RESOLUTION = dt.timedelta(seconds=60)


def intervals_from(raw: str) -> dict[DeviceType, int]:
    """The intervals in force: issue 14's defaults, then the setting's overrides."""
    overrides = device_heartbeat_seconds(raw)
    return {kind: overrides.get(kind.value, seconds) for kind, seconds in rules.HEARTBEAT_SECONDS.items()}


@dataclass
class Outcome:
    raised: int = 0
    cleared: int = 0
    inhibited: int = 0
    seen_updated: int = 0

    @property
    def total(self) -> int:
        return self.raised + self.cleared + self.seen_updated


@dataclass(frozen=True)
class _Row:
    id: int
    type: str
    gateway_id: int | None
    created_at: dt.datetime
    last_seen_at: dt.datetime | None


def _as_time(score: float | None) -> dt.datetime | None:
    return None if score is None else dt.datetime.fromtimestamp(score, dt.UTC)


async def _scores(redis: aioredis.Redis, ids: list[int]) -> list[float | None]:
    async with redis.pipeline(transaction=False) as pipe:
        for device_id in ids:
            pipe.zscore(HEARTBEAT_KEY, str(device_id))
        return [None if s is None else float(s) for s in await pipe.execute()]


class Heartbeats:
    """One pass over every active device; ``now`` is given by the tests (the job uses the clock)."""

    def __init__(self, redis: aioredis.Redis, intervals: Mapping[DeviceType, int] | None = None) -> None:
        self.redis = redis
        self.intervals = dict(intervals or rules.HEARTBEAT_SECONDS)

    def offline(self, device_type: str, heard: dt.datetime, now: dt.datetime) -> bool:
        return (now - heard).total_seconds() > self.intervals[DeviceType(device_type)]

    async def run_once(self, now: dt.datetime | None = None) -> Outcome:
        now = now or dt.datetime.now(dt.UTC)
        outcome = Outcome()
        heard: dict[int, dt.datetime] = {}
        rows: list[_Row] = []
        after = 0
        try:
            while True:
                batch = [
                    _Row(*values)
                    for values in await Device.filter(active=True, id__gt=after)
                    .order_by("id")
                    .limit(BATCH)
                    .values_list("id", "type", "gateway_id", "created_at", "last_seen_at")
                ]
                if not batch:
                    break
                after = batch[-1].id
                scores = await _scores(self.redis, [r.id for r in batch])
                outcome.seen_updated += await self._store_seen(batch, scores)
                for row, score in zip(batch, scores, strict=True):
                    times = [t for t in (_as_time(score), row.last_seen_at, row.created_at) if t is not None]
                    heard[row.id] = max(times)
                rows += batch
        except RedisError:
            # Without the ZSET every device would look silent: judge nobody rather than raise false alarms.
            log.warning("heartbeats not read: Redis unavailable")
            return outcome
        gateways = {r.id: r for r in rows if r.type == DeviceType.GATEWAY.value}
        gateway_down = {gid for gid, g in gateways.items() if self.offline(g.type, heard[gid], now)}
        back_at = await self._gateways_back(set(gateways) - gateway_down, now)
        open_offline = set(
            await DeviceAlarm.filter(alarm_type=OFFLINE_TYPE, cleared_at=None).values_list("device_id", flat=True)
        )
        # Gateways first: a gateway heard again clears its alarm before the devices behind it are judged.
        for row in sorted(rows, key=lambda r: r.type != DeviceType.GATEWAY.value):
            last = heard[row.id]
            if row.gateway_id is not None:
                if row.gateway_id in gateway_down:
                    if row.id not in open_offline:
                        outcome.inhibited += 1
                    continue
                returned = back_at.get(row.gateway_id)
                if returned is not None and returned > last:
                    last = returned
            silent = self.offline(row.type, last, now)
            if silent == (row.id in open_offline):
                continue  # offline with its alarm open, or heard with none: nothing changes
            changed = await self._apply(row.id, "raise" if silent else "clear", last, now)
            if changed and silent:
                outcome.raised += 1
            elif changed:
                outcome.cleared += 1
                if row.type == DeviceType.GATEWAY.value:
                    back_at[row.id] = now
        if outcome.raised or outcome.cleared or outcome.inhibited:
            log.info(
                "heartbeats judged devices=%s raised=%s cleared=%s inhibited=%s",
                len(rows),
                outcome.raised,
                outcome.cleared,
                outcome.inhibited,
            )
        return outcome

    async def _store_seen(self, batch: list[_Row], scores: list[float | None]) -> int:
        """Copy the ZSET's times to ``last_seen_at``: one UPDATE for the batch (Tortoise's bulk_update
        writes one ``CASE id WHEN ...`` statement per batch)."""
        changed = []
        for row, score in zip(batch, scores, strict=True):
            seen = _as_time(score)
            if seen is not None and (row.last_seen_at is None or seen - row.last_seen_at >= SEEN_RESOLUTION):
                changed.append(Device(id=row.id, last_seen_at=seen))
        if changed:
            await Device.bulk_update(changed, fields=["last_seen_at"], batch_size=BATCH)
        return len(changed)

    async def _gateways_back(self, gateway_ids: set[int], now: dt.datetime) -> dict[int, dt.datetime]:
        """When each gateway that is up now was last heard again after an outage (its latest offline
        alarm's clear, within the longest interval: older returns no longer matter)."""
        if not gateway_ids:
            return {}
        since = now - dt.timedelta(seconds=max(self.intervals.values()))
        back: dict[int, dt.datetime] = {}
        for device_id, cleared_at in await DeviceAlarm.filter(
            device_id__in=list(gateway_ids), alarm_type=OFFLINE_TYPE, cleared_at__gte=since
        ).values_list("device_id", "cleared_at"):
            if device_id not in back or cleared_at > back[device_id]:
                back[device_id] = cleared_at
        return back

    async def _apply(self, device_id: int, kind: str, last: dt.datetime, now: dt.datetime) -> bool:
        device = await Device.get_or_none(id=device_id)
        if device is None or not device.active:
            return False
        evidence = [{"metric": "last_heard", "at": last.isoformat()}]
        change = await alarms.apply(
            alarms.Pending(
                device,
                OFFLINE_TYPE,
                kind,
                OFFLINE_SEVERITY if kind == "raise" else None,
                "",
                None,
                now,
                evidence,
                actor="system",  # nobody's reading raised it: the service noticed the silence
            )
        )
        return change is not None
