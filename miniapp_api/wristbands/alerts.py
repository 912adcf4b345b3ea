"""Who hears of a stop at a gate, at once: the checkpoint's grid staff and the wearer's community health
staff (each the nearest level above that has any), over WeChat, plus SMS when the wearer's status is
red; and the wearer, told to go to or call the community health service. Once per person per hour per
reason (a Redis key set only if absent, with the outbox's idempotency key as the backstop); a band
with no wearer (unknown, in stock, revoked) is told to grid staff only, once per band per hour and at
most BANDS_PER_CHECKPOINT_HOUR such bands per checkpoint per hour (a faulty reader or made-up ids
would otherwise flood them; the gate still stops each).

Staff messages carry the place, the time and the reason category: never the wearer's name, status,
temperature or trips. The wearer's message holds no diagnosis."""

from __future__ import annotations

import datetime as dt
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from identity.models import Account, Node
from identity.roles import Role
from miniapp_api.wristbands.checkin import Stop
from miniapp_api.wristbands.engine import Reason
from miniapp_api.wristbands.models import WristbandPerson
from notify import outbox
from server.wire import wire_time

log = logging.getLogger("gmid.wristbands")

STAFF_TEMPLATE = "checkin.stop"
PERSON_TEMPLATE = "checkin.stop_person"
ONCE_PER = dt.timedelta(hours=1)
BANDS_PER_CHECKPOINT_HOUR = 10
# Older offline uploads are kept and counted, but telling anyone now would be news of the past.
TELL_WITHIN = dt.timedelta(hours=1)
REASON_ZH = {
    Reason.BAND_INVALID: "手环无效",
    Reason.TEMPERATURE: "体温异常",
    Reason.HEALTH_CHECK_NEEDED: "需健康核查",
}


def paths_above(node_path: str) -> list[str]:
    """The node itself and the paths above it, nearest first."""
    parts = [p for p in node_path.split("/") if p]
    return ["/" + "/".join(parts[:i]) + "/" for i in range(len(parts), 0, -1)]


async def nearest_staff(role: Role, node_path: str) -> list[Account]:
    """Active accounts of ``role`` at the nearest node at or above ``node_path`` that has any."""
    paths = paths_above(node_path)
    nodes = {n.id: n.path for n in await Node.filter(path__in=paths)}
    accounts = await Account.filter(role=role, is_active=True, node_id__in=list(nodes)).order_by("id")
    for path in paths:
        here = [a for a in accounts if nodes.get(a.node_id) == path]  # type: ignore[attr-defined]
        if here:
            return here
    return []


async def first_in_hour(redis: aioredis.Redis | None, key: str) -> bool:
    """True when nothing was told under ``key`` within the hour (and marks it told). When Redis cannot
    answer, the message goes on: the outbox's idempotency key still stops a repeat within the hour."""
    if redis is None:
        return True
    try:
        return bool(await redis.set(key, "1", nx=True, ex=int(ONCE_PER.total_seconds())))
    except RedisError:
        log.warning("stop alert dedup unavailable: relying on the outbox key")
        return True


async def within_band_budget(redis: aioredis.Redis | None, checkpoint_id: int, hour: str) -> bool:
    """True while the checkpoint has told of fewer than BANDS_PER_CHECKPOINT_HOUR wearerless bands in
    ``hour`` (and counts this one). Without Redis, every band is told (the outbox key still dedups)."""
    if redis is None:
        return True
    key = f"gmid:checkin:alert:cp{checkpoint_id}:bands:{hour}"
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, int(ONCE_PER.total_seconds()) * 2)
            count, _ = await pipe.execute()
    except RedisError:
        log.warning("stop alert budget unavailable: telling the band's stop")
        return True
    return int(count) <= BANDS_PER_CHECKPOINT_HOUR


async def _tell_staff(account: Account, *, data: dict[str, str], key: str, red: bool) -> int:
    told = 0
    if account.wechat_openid:
        await outbox.enqueue(
            template=STAFF_TEMPLATE, data=data, idempotency_key=f"{key}:w", account=account, channels=("wechat",)
        )
        told += 1
    if red and account.phone_enc:
        await outbox.enqueue(
            template=STAFF_TEMPLATE, data=data, idempotency_key=f"{key}:s", account=account, channels=("sms",)
        )
        told += 1
    if not told:
        log.warning("staff account without a contact cannot be told of a stop account=%s", account.public_id)
    return told


async def tell(stop: Stop, *, redis: aioredis.Redis | None, now: dt.datetime | None = None) -> int:
    """Queue the messages of one stop; the number queued."""
    now = now or dt.datetime.now(dt.UTC)
    if stop.at < now - TELL_WITHIN:
        return 0
    hour = stop.at.astimezone(dt.UTC).strftime("%Y%m%d%H")
    subject = f"p{stop.person_id}" if stop.person_id is not None else f"b{stop.band_key}"
    fresh: list[Reason] = []
    for reason in stop.reasons:
        if await first_in_hour(redis, f"gmid:checkin:alert:{subject}:{reason.value}"):
            fresh.append(reason)
    if not fresh:
        return 0  # told within the hour: no reads at all
    if stop.person_id is None and not await within_band_budget(redis, stop.checkpoint.id, hour):
        log.info("checkin stop of a band nobody wears not told: the checkpoint's hourly budget is spent")
        return 0
    person = await WristbandPerson.get_or_none(account_id=stop.person_id) if stop.person_id is not None else None
    grid = await nearest_staff(Role.GRID_STAFF, stop.checkpoint.node_path)
    health = await nearest_staff(Role.HEALTH_STAFF, person.home_node_path) if person is not None else []
    told = 0
    for reason in fresh:
        data = {"place": stop.checkpoint.name, "at": wire_time(stop.at), "reason": REASON_ZH[reason]}
        for account in [*grid, *health]:
            key = f"checkin-stop:{subject}:{reason.value}:{hour}:{account.public_id}"
            told += await _tell_staff(account, data=data, key=key, red=stop.red)
    if fresh and stop.person_id is not None:
        told += await _tell_person(stop, hour)
    log.info("checkin stop told=%s reasons=%s", told, ",".join(r.value for r in fresh))
    return told


async def _tell_person(stop: Stop, hour: str) -> int:
    wearer = await Account.get_or_none(id=stop.person_id, is_active=True)
    if wearer is None or not outbox.reachable(wearer, PERSON_TEMPLATE):
        return 0
    await outbox.enqueue(
        template=PERSON_TEMPLATE,
        data={"place": stop.checkpoint.name, "at": wire_time(stop.at)},
        idempotency_key=f"checkin-stop-person:{stop.person_id}:{hour}",
        account=wearer,
    )
    return 1
