"""Readings in: a signed batch from a device or a gateway, checked reading by reading.

The reading path writes no database row per reading: duplicates are found, the last value per metric
and each rule's state are kept in Redis (one pipelined read and one pipelined write per batch). Only a
reading that changes an alarm touches the database (miniapp_api/devices/alarms.py), in one transaction
with the notifications it causes.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from identity.pii import PiiDecryptError
from miniapp_api.devices import alarms, readings_store, rules, signing, valve
from miniapp_api.devices import building_rules as building_overrides
from miniapp_api.devices.models import BuildingDeviceRules, Device, DeviceAlarm
from miniapp_api.devices.registry import normalize_serial, secret_of
from miniapp_api.devices.rules import DeviceType, RuleState
from miniapp_api.devices.schemas import CommandOut, DeviceAlarmChange, ReadingRefusal, ReadingsAnswer
from server.errors import ServiceUnavailable, Unauthorized, ValidationFailed

log = logging.getLogger("gmid.devices.ingest")

MAX_READINGS = 1000
OLDEST = dt.timedelta(days=7)  # a gateway back from a week offline still uploads what it kept
NEWEST = dt.timedelta(seconds=signing.WINDOW_SECONDS)
SEEN_TTL_SECONDS = int((OLDEST + dt.timedelta(days=1)).total_seconds())
STATE_TTL_SECONDS = 30 * 86400
ITEM_KEYS_READING = frozenset({"device", "metric", "value", "at"})
ITEM_KEYS_EVENT = frozenset({"device", "event", "at"})
ITEM_KEYS_COMMAND = frozenset({"device", "command", "result", "at"})
COMMAND_RE = re.compile(r"^dc_[A-Za-z0-9_-]{1,13}$")
AUTH_HEADERS = {"WWW-Authenticate": 'GMID-HMAC-SHA256 realm="gmid-devices"'}
HEARTBEAT_KEY = "dev:heartbeat"


# One Redis call a step of a batch (a pipeline of hundreds of commands costs the server's event loop far
# more, in the client's packing and parsing, than the commands cost Redis).
# ARGV: ttl, then the keys: "1" for a key set now (not seen before), "0" for one that was there.
_FIRST_SEEN = """
local ttl = ARGV[1]
local out = {}
for i = 2, #ARGV do
  if redis.call('SET', ARGV[i], '1', 'NX', 'EX', ttl) then out[#out + 1] = '1' else out[#out + 1] = '0' end
end
return table.concat(out)
"""

# ARGV: device ids. JSON: per device, the flat field/value list of dev:rule:{id}, then of dev:last:{id}.
_LOAD_STATES = """
local out = {}
for i = 1, #ARGV do
  out[#out + 1] = redis.call('HGETALL', 'dev:rule:' .. ARGV[i])
  out[#out + 1] = redis.call('HGETALL', 'dev:last:' .. ARGV[i])
end
return cjson.encode(out)
"""

# KEYS[1] the heartbeat ZSET; ARGV: ttl, now (Unix seconds), then per device: id, the number of rule
# states, the number of last values, and those field/value pairs (rule states first).
_SAVE_STATES = """
local ttl = tonumber(ARGV[1])
local now = ARGV[2]
local i = 3
while i <= #ARGV do
  local id, nstates, nlast = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  for _, spec in ipairs({{'dev:rule:', nstates}, {'dev:last:', nlast}}) do
    if spec[2] > 0 then
      local key = spec[1] .. id
      for j = 0, spec[2] - 1 do
        redis.call('HSET', key, ARGV[i + 2 * j], ARGV[i + 2 * j + 1])
      end
      redis.call('EXPIRE', key, ttl)
      i = i + 2 * spec[2]
    end
  end
  redis.call('ZADD', KEYS[1], now, id)
end
return 1
"""


def _pairs(flat: Any) -> dict[str, str]:
    """A hash read as a flat list (cjson writes an empty one as {})."""
    if not isinstance(flat, list):
        return {}
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _seen_key(device_id: int, what: str, at_ms: int) -> str:
    return f"dev:seen:{device_id}:{what}:{at_ms}"


def _rule_key(device_id: int) -> str:
    return f"dev:rule:{device_id}"


def _last_key(device_id: int) -> str:
    return f"dev:last:{device_id}"


def refused_signature(message: str, code: str) -> Unauthorized:
    return Unauthorized(message, code=code, headers=dict(AUTH_HEADERS))


async def authenticate(
    *, method: str, path: str, headers: Mapping[str, str], body: bytes, redis: aioredis.Redis
) -> Device:
    """The device or gateway that signed this request; 401 for anything else (the same ``bad_signature``
    for an unknown signer and a wrong signature: a serial's existence is not told)."""
    serial = headers.get(signing.DEVICE_HEADER, "")
    timestamp = headers.get(signing.TIMESTAMP_HEADER, "")
    nonce = headers.get(signing.NONCE_HEADER, "")
    signature = headers.get(signing.SIGNATURE_HEADER, "").lower()
    if not (serial and timestamp and nonce and signature):
        raise refused_signature(
            "Sign the request: X-GMID-Device, X-GMID-Timestamp, X-GMID-Nonce and X-GMID-Signature.",
            "signature_missing",
        )
    if not signing.TIMESTAMP_RE.match(timestamp) or not signing.within_window(timestamp):
        raise refused_signature(
            f"X-GMID-Timestamp must be Unix seconds within {signing.WINDOW_SECONDS} s of the server's clock.",
            "timestamp_out_of_window",
        )
    if not signing.NONCE_RE.match(nonce):
        raise refused_signature("X-GMID-Nonce must be 16-64 of A-Z a-z 0-9 _ -.", "bad_nonce")
    bad = refused_signature("The signature does not match.", "bad_signature")
    if not signing.SIGNATURE_RE.match(signature) or len(serial) > 64:
        raise bad
    signer = await Device.get_or_none(serial=normalize_serial(serial))
    if signer is None or not signer.active:
        raise bad
    try:
        secret = secret_of(signer)
    except PiiDecryptError:
        log.error("device secret unreadable id=%s", signer.public_id)
        raise bad from None
    if not signing.matches(secret, signature, method, path, timestamp, nonce, body):
        raise bad
    try:
        fresh = await redis.set(f"dev:nonce:{signer.id}:{nonce}", b"1", nx=True, ex=signing.NONCE_TTL_SECONDS)
    except RedisError:
        # Without the nonce store a replay cannot be told from a new request: refuse, do not guess.
        raise ServiceUnavailable("Readings cannot be checked for replay now; send again shortly.") from None
    if not fresh:
        raise refused_signature("This nonce was used before: each request needs a new one.", "nonce_reused")
    return signer


@dataclass(frozen=True)
class Item:
    index: int
    serial: str
    what: str  # the metric, the event, or the command's id
    is_event: bool
    value: float  # a command's answer: 1 done, 0 failed
    at: dt.datetime
    is_command: bool = False

    @property
    def at_ms(self) -> int:
        return int(self.at.timestamp() * 1000)


def _refusal(index: int, code: str, message: str) -> ReadingRefusal:
    return ReadingRefusal(index=index, code=code, message=message)


def parse_item(index: int, raw: Any, now: dt.datetime) -> Item | ReadingRefusal:
    """One reading checked on its own: a refusal names the reason, never the value sent."""
    if not isinstance(raw, dict):
        return _refusal(index, "not_an_object", "Each reading is a JSON object.")
    keys = set(raw)
    is_event, is_command = "event" in raw, "command" in raw
    allowed = ITEM_KEYS_EVENT if is_event else ITEM_KEYS_COMMAND if is_command else ITEM_KEYS_READING
    if keys - allowed or ("metric" in raw and is_event):
        return _refusal(index, "unknown_field", f"A reading has only the fields {', '.join(sorted(allowed))}.")
    serial = raw.get("device")
    if not isinstance(serial, str) or not 4 <= len(serial) <= 64:
        return _refusal(index, "bad_device", "`device` is the serial of a device (4-64 characters).")
    at_text = raw.get("at")
    if not isinstance(at_text, str) or len(at_text) > 40:
        return _refusal(index, "bad_time", "`at` is an ISO 8601 time with its offset.")
    try:
        at = dt.datetime.fromisoformat(at_text)
    except ValueError:
        return _refusal(index, "bad_time", "`at` is an ISO 8601 time with its offset.")
    if at.tzinfo is None:
        return _refusal(index, "bad_time", "`at` needs its offset (e.g. +08:00 or Z).")
    if at > now + NEWEST or at < now - OLDEST:
        return _refusal(index, "time_out_of_range", "`at` is in the future or more than 7 days ago.")
    at = at.astimezone(dt.UTC)
    if is_command:
        command, result = raw.get("command"), raw.get("result")
        if not isinstance(command, str) or not COMMAND_RE.match(command) or result not in ("done", "failed"):
            return _refusal(
                index, "bad_command_answer", "A command's answer is {device, command: id, result: done|failed, at}."
            )
        return Item(index, normalize_serial(serial), command, False, 1.0 if result == "done" else 0.0, at, True)
    if is_event:
        event = raw.get("event")
        if not isinstance(event, str) or event not in rules.EVENTS:
            return _refusal(index, "unknown_event", f"`event` is one of {', '.join(sorted(rules.EVENTS))}.")
        return Item(index, normalize_serial(serial), event, True, 1.0, at)
    metric, value = raw.get("metric"), raw.get("value")
    if not isinstance(metric, str) or metric not in rules.METRIC_RANGES:
        return _refusal(index, "unknown_metric", "`metric` is not a metric this service knows.")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return _refusal(index, "bad_value", "`value` is a number.")
    low, high = rules.METRIC_RANGES[metric]
    if not low <= value <= high:
        return _refusal(index, "value_out_of_range", f"`{metric}` lies between {low:g} and {high:g}.")
    return Item(index, normalize_serial(serial), metric, False, float(value), at)


@dataclass
class DeviceBatch:
    device: Device
    items: list[Item] = field(default_factory=list)


def body_readings(document: Any) -> list[Any]:
    if not isinstance(document, dict) or set(document) != {"readings"} or not isinstance(document["readings"], list):
        raise ValidationFailed.field("readings", 'the body is {"readings": [...]}', "invalid_body")
    readings: list[Any] = document["readings"]
    if not readings:
        raise ValidationFailed.field("readings", "send at least one reading", "empty_batch")
    if len(readings) > MAX_READINGS:
        raise ValidationFailed.field("readings", f"at most {MAX_READINGS} readings a request", "too_many_readings")
    return readings


def may_report(signer: Device, device: Device) -> bool:
    """A device reports for itself; a gateway for itself and the devices paired with it."""
    return device.id == signer.id or (signer.type == DeviceType.GATEWAY.value and device.gateway_id == signer.id)


async def ingest(*, signer: Device, readings: list[Any], redis: aioredis.Redis) -> ReadingsAnswer:
    now = dt.datetime.now(dt.UTC)
    refused: list[ReadingRefusal] = []
    parsed: list[Item] = []
    for index, raw in enumerate(readings):
        item = parse_item(index, raw, now)
        (refused if isinstance(item, ReadingRefusal) else parsed).append(item)  # type: ignore[arg-type]
    serials = {item.serial for item in parsed}
    devices = {d.serial: d for d in await Device.filter(serial__in=list(serials))} if serials else {}
    batches: dict[int, DeviceBatch] = {}
    answered = 0
    for item in parsed:
        device = devices.get(item.serial)
        if device is None or not device.active or not may_report(signer, device):
            refused.append(
                _refusal(item.index, "unknown_device", "No active device with this serial reports through you.")
            )
            continue
        kind = DeviceType(device.type)
        if item.is_command:
            problem = await valve.confirm(device=device, command_id=item.what, done=item.value == 1.0, at=item.at)
            if problem is not None:
                refused.append(_refusal(item.index, problem, "No open command with this id for this device."))
            else:
                answered += 1
            continue
        if not item.is_event and item.what not in rules.METRICS_BY_TYPE[kind]:
            refused.append(
                _refusal(item.index, "metric_not_for_type", f"A {kind.value} device does not send `{item.what}`.")
            )
            continue
        batches.setdefault(device.id, DeviceBatch(device)).items.append(item)
    accepted, duplicates = await _first_seen(batches, redis)
    changes = await _evaluate(batches, redis, now) if batches else []
    await readings_store.record(batches, changes, redis, now)  # rollups and alarm evidence, one call a batch
    accepted += answered
    commands = [
        CommandOut(id=c.id, device=c.device, action=c.action, expires_at=c.expires_at)  # type: ignore[arg-type]
        for c in await valve.due_for(signer, now)
    ]
    await _heard(signer, redis, now)
    refused.sort(key=lambda r: r.index)
    log.info(
        "readings ingested signer=%s accepted=%s duplicates=%s refused=%s alarms=%s",
        signer.public_id,
        accepted,
        duplicates,
        len(refused),
        len(changes),
    )
    return ReadingsAnswer(accepted=accepted, duplicates=duplicates, refused=refused, alarms=changes, commands=commands)


async def _first_seen(batches: dict[int, DeviceBatch], redis: aioredis.Redis) -> tuple[int, int]:
    """Keep in each batch only the readings not received before (same device, metric and time), in time
    order; the counts of new and repeated readings."""
    flat = [(batch, item) for batch in batches.values() for item in batch.items]
    if not flat:
        return 0, 0
    try:
        keys = [_seen_key(batch.device.id, item.what, item.at_ms) for batch, item in flat]
        flags = await redis.eval(_FIRST_SEEN, 0, SEEN_TTL_SECONDS, *keys)
    except RedisError:
        raise ServiceUnavailable("Readings cannot be stored now; send them again shortly.") from None
    fresh = [c == 49 for c in (flags if isinstance(flags, bytes) else str(flags).encode())]  # b"1"
    keep: set[int] = set()
    seen_in_batch: set[tuple[int, str, int]] = set()
    for (batch, item), first in zip(flat, fresh, strict=True):
        key = (batch.device.id, item.what, item.at_ms)
        if first and key not in seen_in_batch:
            keep.add(id(item))
        seen_in_batch.add(key)
    for batch in batches.values():
        batch.items = sorted((i for i in batch.items if id(i) in keep), key=lambda i: (i.at, i.index))
    accepted = len(keep)
    return accepted, len(flat) - accepted


async def _evaluate(
    batches: dict[int, DeviceBatch], redis: aioredis.Redis, now: dt.datetime
) -> list[DeviceAlarmChange]:
    live = {device_id: batch for device_id, batch in batches.items() if batch.items}
    if not live:
        return []
    ids = list(live)
    try:
        loaded = json.loads(await redis.eval(_LOAD_STATES, 0, *ids))
    except RedisError:
        raise ServiceUnavailable("Readings cannot be stored now; send them again shortly.") from None
    stored_states = {device_id: _pairs(loaded[2 * n]) for n, device_id in enumerate(ids)}
    stored_last = {device_id: _pairs(loaded[2 * n + 1]) for n, device_id in enumerate(ids)}
    # A device whose rule states Redis no longer has starts from its open alarms in the database.
    missing = [device_id for device_id in ids if not stored_states[device_id]]
    open_now: dict[int, dict[str, str]] = {}
    if missing:
        for device_id, alarm_type, severity in await DeviceAlarm.filter(
            device_id__in=missing, cleared_at=None
        ).values_list("device_id", "alarm_type", "severity"):
            open_now.setdefault(device_id, {})[alarm_type] = severity
    building_rules = await _building_rules({b.device.building_id for b in live.values() if b.device.building_id})
    pending: list[alarms.Pending] = []
    new_states: dict[int, dict[str, str]] = {}
    new_last: dict[int, dict[str, str]] = {}
    rules_seen: dict[tuple[DeviceType, str | None, str], list[rules.ThresholdRule]] = {}
    for device_id, batch in live.items():
        device = batch.device
        kind = DeviceType(device.type)
        stored = building_rules.get(device.building_id or 0, [])
        overrides = [*building_overrides.for_type(stored, kind.value), *device.rules]
        # Most devices of a batch share their type and rules: each set is worked out once a batch.
        rules_key = (kind, device.noise_zone, json.dumps(overrides, sort_keys=True) if overrides else "")
        device_rules = rules_seen.get(rules_key)
        if device_rules is None:
            try:
                device_rules = rules.rules_for(kind, noise_zone=device.noise_zone, overrides=overrides)
            except rules.RuleError:
                # Overrides are checked when saved; one that no longer holds must not stop the readings.
                log.error("device rule overrides refused, defaults used device=%s", device.public_id)
                device_rules = rules.rules_for(kind, noise_zone=device.noise_zone)
            rules_seen[rules_key] = device_rules
        states: dict[str, RuleState] = {}
        raw_states = stored_states[device_id]
        for rule in device_rules:
            raw = raw_states.get(rule.alarm_type)
            state = rules.RuleState.from_json(raw)
            if raw is None and rule.alarm_type in open_now.get(device_id, {}):
                state.severity = rules.Severity(open_now[device_id][rule.alarm_type])
            states[rule.alarm_type] = state
        last = stored_last[device_id]
        changed_last: dict[str, str] = {}
        for item in batch.items:
            evidence = {"metric": item.what, "value": item.value, "at": item.at.isoformat()}
            if item.is_event:
                outcome = rules.EVENTS.get(item.what)
                if outcome is not None:
                    alarm_type, severity = outcome
                    pending.append(
                        alarms.Pending(device, alarm_type, "raise", severity, item.what, None, item.at, [evidence])
                    )
                continue
            previous = last.get(item.what)
            if previous is None or json.loads(previous)["at"] <= item.at_ms:
                last[item.what] = changed_last[item.what] = json.dumps({"v": item.value, "at": item.at_ms})
            for rule in device_rules:
                if rule.metric != item.what:
                    continue
                state, change = rules.evaluate(rule, states[rule.alarm_type], item.value, item.at)
                states[rule.alarm_type] = state
                if change is not None:
                    pending.append(
                        alarms.Pending(
                            device,
                            rule.alarm_type,
                            change.kind,
                            change.severity,
                            item.what,
                            change.value,
                            item.at,
                            [evidence],
                        )
                    )
        new_states[device_id] = {name: state.to_json() for name, state in states.items()}
        new_last[device_id] = changed_last
    # The alarms first: a batch whose alarm could not be stored is forgotten (not "seen"), so the
    # device's retry is evaluated again; rule states written after a commit that then fails to be
    # written only make the next reading meet the same open alarm.
    try:
        changes = await alarms.apply_all(pending, redis=redis)
    except Exception:
        await _unsee(live, redis)
        raise
    argv: list[Any] = [STATE_TTL_SECONDS, repr(now.timestamp())]
    for device_id in ids:
        states_json, last_json = new_states.get(device_id, {}), new_last.get(device_id, {})
        argv += [device_id, len(states_json), len(last_json)]
        for mapping in (states_json, last_json):
            for name, value in mapping.items():
                argv += [name, value]
    try:
        await redis.eval(_SAVE_STATES, 1, HEARTBEAT_KEY, *argv)
    except RedisError:
        log.warning("rule states not written devices=%s", len(ids))
    return changes


async def _heard(signer: Device, redis: aioredis.Redis, now: dt.datetime) -> None:
    """A signed request is a sign of life of its signer (a gateway that only forwards its devices'
    readings is heard too): the heartbeat job judges it by this."""
    try:
        await redis.zadd(HEARTBEAT_KEY, {str(signer.id): now.timestamp()})
    except RedisError:
        log.warning("heartbeat not written signer=%s", signer.public_id)


async def _unsee(batches: dict[int, DeviceBatch], redis: aioredis.Redis) -> None:
    keys = [_seen_key(b.device.id, i.what, i.at_ms) for b in batches.values() for i in b.items]
    try:
        await redis.delete(*keys)
    except RedisError as exc:
        log.warning("readings left marked as seen count=%s error=%s", len(keys), exc.__class__.__name__)


async def _building_rules(building_ids: set[int | None]) -> dict[int, list[dict[str, Any]]]:
    wanted = [b for b in building_ids if b]
    if not wanted:
        return {}
    return dict(await BuildingDeviceRules.filter(building_id__in=wanted).values_list("building_id", "rules"))


async def forget_rule_state(device_id: int, alarm_type: str, redis: aioredis.Redis) -> None:
    """After staff clear an alarm by hand: the rule starts over, so a condition that lasts raises again."""
    try:
        await redis.hdel(_rule_key(device_id), alarm_type)
    except RedisError as exc:
        log.warning("rule state not reset device=%s error=%s", device_id, exc.__class__.__name__)
