"""The one-key alarm and sightings: a stolen bike's owner raises an alarm, the police of its area are
told on every channel they have; an officer's scan of a stolen bike is a sighting the owner and the
police hear of; the owner closes the alarm when the bike is found."""

from __future__ import annotations

import datetime as dt
import logging

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from identity import service as identity_service
from identity.models import Account, Node
from identity.roles import Role
from miniapp_api.ebikes.models import Alarm, AlarmStatus, BikeStatus, EBike, Sighting
from miniapp_api.ebikes.schemas import AlarmIn
from miniapp_api.ebikes.service import bike_label, lock_bike, new_public_id, utcnow
from notify import outbox
from qr import service as qr_service
from server.auth import Principal
from server.errors import Conflict, ValidationFailed
from server.wire import wire_time

log = logging.getLogger("gmid.ebikes")

ALARM_REPEAT_WINDOW = dt.timedelta(minutes=10)
SIGHTING_BUCKET_SECONDS = 600  # one sighting notice per scanner per alarm per 10 minutes


async def open_alarm(bike: EBike) -> Alarm | None:
    return await Alarm.filter(bike_id=bike.id, status=AlarmStatus.OPEN).order_by("-created_at").first()


async def police_for(node_path: str | None, conn: BaseDBAsyncClient | None = None) -> list[Account]:
    """Active police accounts responsible for the place: their node is the bike's node or above it."""
    if node_path is None:
        return []
    ancestors = [node_path[: i + 1] for i, ch in enumerate(node_path) if ch == "/" and i > 0]
    nodes = await Node.filter(path__in=ancestors).using_db(conn).values_list("id", flat=True)
    return list(
        await Account.filter(role=Role.POLICE, is_active=True, node_id__in=list(nodes)).using_db(conn).order_by("id")
    )


async def _notify_police(
    *, template: str, data: dict[str, str], key: str, node_path: str | None, conn: BaseDBAsyncClient
) -> int:
    """Each responsible officer on every channel they have (an alarm is urgent: WeChat and SMS both)."""
    sent = 0
    for account in await police_for(node_path, conn):
        profile = identity_service.read_profile(account)
        routes = []
        if account.wechat_openid:
            routes.append(("wechat", {"openid": account.wechat_openid}))
        if profile.phone:
            routes.append(("sms", {"phone": profile.phone}))
        for channel, address in routes:
            # With the account, so that the row is in its administrators' outbox view.
            await outbox.enqueue(
                template=template,
                data=data,
                idempotency_key=f"{key}:police:{account.public_id}:{channel}",
                account=account,
                channels=[channel],
                using_db=conn,
                **address,  # type: ignore[arg-type]
            )
            sent += 1
    return sent


def alarm_data(bike: EBike, alarm: Alarm) -> dict[str, str]:
    return {
        "bike": bike_label(bike),
        "lost_at": wire_time(alarm.lost_at),
        "location": alarm.location,
        "alarm_id": alarm.public_id,
    }


async def raise_alarm(*, bike: EBike, owner: Account, data: AlarmIn) -> tuple[Alarm, bool]:
    """One-key alarm: the bike is stolen, police of its area and the owner are told. A second press
    within 10 minutes answers the same alarm (False: not created)."""
    now = utcnow()
    if data.lost_at.tzinfo is None:
        raise ValidationFailed.field("lost_at", "give the time with its offset, e.g. 2026-11-25T09:30:00+08:00")
    if data.lost_at > now + dt.timedelta(minutes=5):
        raise ValidationFailed.field("lost_at", "the time is in the future")
    async with in_transaction() as conn:
        # Checked on the locked row: a deregistration at the same moment is seen, not missed.
        locked = await lock_bike(bike, conn)
        existing = await Alarm.filter(bike_id=bike.id, status=AlarmStatus.OPEN).using_db(conn).first()
        if existing is not None:
            if now - existing.created_at <= ALARM_REPEAT_WINDOW:
                return existing, False
            raise Conflict(
                "This bike is already reported stolen.",
                code="alarm_open",
                details={"alarm": existing.public_id},
            )
        alarm = await Alarm.create(
            public_id=new_public_id("al_"),
            bike_id=bike.id,
            owner_id=owner.id,
            lost_at=data.lost_at,
            location=data.location,
            lat=data.lat,
            lng=data.lng,
            description=data.description,
            node_path=locked.node_path,
            created_at=now,
            using_db=conn,
        )
        await EBike.filter(id=bike.id).using_db(conn).update(status=BikeStatus.STOLEN, updated_at=now)
        payload = alarm_data(locked, alarm)
        if outbox.reachable(owner, "ebike.stolen"):
            await outbox.enqueue(
                template="ebike.stolen",
                data=payload,
                idempotency_key=f"alarm:{alarm.public_id}:owner",
                account=owner,
                using_db=conn,
            )
        police = await _notify_police(
            template="ebike.stolen",
            data=payload,
            key=f"alarm:{alarm.public_id}",
            node_path=locked.node_path,
            conn=conn,
        )
    bike.status = BikeStatus.STOLEN
    await qr_service.changed(bike.credential_id)  # after the commit: the next scan says stolen
    log.info("ebike alarm raised id=%s bike=%s police_messages=%s", alarm.public_id, bike.public_id, police)
    return alarm, True


async def cancel_alarm(*, bike: EBike) -> Alarm:
    """The owner found the bike: the alarm is closed and the police who were told hear so."""
    now = utcnow()
    async with in_transaction() as conn:
        alarm = await Alarm.filter(bike_id=bike.id, status=AlarmStatus.OPEN).using_db(conn).select_for_update().first()
        if alarm is None:
            raise Conflict("This bike has no open alarm.", code="no_open_alarm")
        alarm.status = AlarmStatus.FOUND
        alarm.closed_at = now
        await alarm.save(using_db=conn, update_fields=["status", "closed_at"])
        await EBike.filter(id=bike.id).using_db(conn).update(status=BikeStatus.ACTIVE, updated_at=now)
        await _notify_police(
            template="ebike.found",
            data={"bike": bike_label(bike), "at": wire_time(now), "alarm_id": alarm.public_id},
            key=f"alarm:{alarm.public_id}:found",
            node_path=alarm.node_path,
            conn=conn,
        )
    bike.status = BikeStatus.ACTIVE
    await qr_service.changed(bike.credential_id)
    return alarm


async def record_sighting(
    *, bike: EBike, alarm: Alarm, viewer: Principal, lat: float | None, lng: float | None
) -> bool:
    """An officer or police scan of a stolen bike: recorded, and the owner and the police told (once
    per scanner per alarm in 10 minutes). True when a new sighting was recorded."""
    now = utcnow()
    window = dt.timedelta(seconds=SIGHTING_BUCKET_SECONDS)
    place = f"{lat:.5f},{lng:.5f}" if lat is not None and lng is not None else "位置未提供"
    data = {"bike": bike_label(bike), "seen_at": wire_time(now), "place": place, "alarm_id": alarm.public_id}
    async with in_transaction() as conn:
        # The alarm's row is locked first: scans at the same moment by one officer make one sighting.
        await Alarm.filter(id=alarm.id).using_db(conn).select_for_update().first()
        recent = Sighting.filter(alarm_id=alarm.id, actor=viewer.account_id, at__gte=now - window).using_db(conn)
        if await recent.exists():
            return False
        sighting = await Sighting.create(
            alarm_id=alarm.id, actor=viewer.account_id, role=viewer.role.value, at=now, lat=lat, lng=lng, using_db=conn
        )
        key = f"sighting:{sighting.id}"
        owner = await Account.get(id=bike.owner_id, using_db=conn)
        if outbox.reachable(owner, "ebike.sighted"):
            await outbox.enqueue(
                template="ebike.sighted", data=data, idempotency_key=f"{key}:owner", account=owner, using_db=conn
            )
        await _notify_police(template="ebike.sighted", data=data, key=key, node_path=alarm.node_path, conn=conn)
    log.info("ebike sighting recorded alarm=%s", alarm.public_id)
    return True


async def sighting_count(alarm: Alarm) -> int:
    return await Sighting.filter(alarm_id=alarm.id).count()
