"""The one-key alarm over HTTP: who is told, repeated presses, refused input, cancelling, atomicity,
sightings when officers scan a stolen bike, and what each role sees when scanning."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import httpx
from sanic import Sanic

from identity.models import Account
from identity.roles import Role
from miniapp_api.ebikes.models import Alarm, AlarmStatus, BikeStatus, EBike, Sighting
from notify.dispatcher import Dispatcher
from notify.models import Notification
from tests.factories import id_number
from tests.miniapp_api.ebikes.conftest import User, register, user
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake

ALARM = {"lost_at": "2026-01-05T09:30:00+08:00", "location": "光明大街与华夏路口", "description": "锁在楼下"}
PUBLIC_VIEW = {"kind", "registered", "brand", "colour", "stolen"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


@dataclass
class Scene:
    owner: User
    bike: dict[str, Any]
    police_gm01: User  # the street of the bike's grid: WeChat and SMS
    police_gm02: User  # another street
    police_gm: User  # the district: WeChat only
    url: str

    @property
    def alarm_path(self) -> str:
        return f"/api/v1/ebikes/{self.bike['id']}/alarm"


async def scene(app: Sanic, client: httpx.AsyncClient) -> Scene:
    owner = await user(app, Role.RESIDENT)
    police_gm01 = await user(app, Role.POLICE, node="GM01", openid="o_police_gm01", phone="13700000001")
    police_gm02 = await user(app, Role.POLICE, node="GM02", openid="o_police_gm02", phone="13700000002")
    police_gm = await user(app, Role.POLICE, node="GM", openid="o_police_gm")
    bike = await register(client, owner, 1)  # kept at GM010101
    return Scene(owner, bike, police_gm01, police_gm02, police_gm, bike["credential"]["url"])


async def rows(template: str) -> list[Notification]:
    return list(await Notification.filter(template=template).order_by("id"))


async def bike_status(s: Scene) -> BikeStatus:
    return (await EBike.get(public_id=s.bike["id"])).status


def sent_to(wechat: WeChatFake, template_id: str) -> list[str]:
    return sorted(m["touser"] for m in wechat.sent_messages() if m["template_id"] == template_id)


# Raising an alarm -----------------------------------------------------------------------------------


async def test_alarm_tells_the_owner_and_the_responsible_police(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    s = await scene(app, client)
    # An inactive officer of the street and one without any contact are not told (and break nothing).
    retired = await user(app, Role.POLICE, node="GM01", openid="o_police_retired", phone="13700000009")
    await Account.filter(id=retired.account.id).update(is_active=False)
    await user(app, Role.POLICE, node="GM0101")

    response = await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["created"] is True
    alarm = answer["alarm"]
    assert (alarm["status"], alarm["location"], alarm["description"], alarm["sightings"]) == (
        "open",
        "光明大街与华夏路口",
        "锁在楼下",
        0,
    )
    assert dt.datetime.fromisoformat(alarm["lost_at"]) == dt.datetime.fromisoformat(ALARM["lost_at"])
    assert await bike_status(s) is BikeStatus.STOLEN
    stored = await Alarm.get(public_id=alarm["id"])
    assert (stored.owner_id, stored.node_path) == (s.owner.account.id, "/GM/GM01/GM0101/GM010101/")
    mine = (await client.get(f"/api/v1/ebikes/{s.bike['id']}", headers=s.owner.headers)).json()
    assert mine["status"] == "stolen" and mine["alarm"]["id"] == alarm["id"]

    # The outbox: the owner once, the street police once per channel, the district police on WeChat.
    outbox = await rows("ebike.stolen")
    assert len(outbox) == 4
    # Police rows carry their account (issue 12: an administrator sees the rows of their own staff).
    owner_rows = [r for r in outbox if r.account_id == s.owner.account.id]
    police_rows = {(r.account_id, r.channels) for r in outbox if r.account_id != s.owner.account.id}
    assert len(owner_rows) == 1
    assert police_rows == {
        (s.police_gm01.account.id, "wechat"),
        (s.police_gm01.account.id, "sms"),
        (s.police_gm.account.id, "wechat"),
    }

    await dispatcher.run_once()
    owner_openid = s.owner.account.wechat_openid
    assert owner_openid is not None
    assert sent_to(wechat, "TPL_STOLEN") == sorted([owner_openid, "o_police_gm01", "o_police_gm"])
    assert [m.phone for m in sms.sent] == ["+8613700000001"]
    police_message = next(m for m in wechat.sent_messages() if m["touser"] == "o_police_gm01")
    assert police_message["page"] == f"pages/ebike/alarm?id={alarm['id']}"
    assert police_message["data"]["thing3"] == {"value": "光明大街与华夏路口"}


async def test_a_repeated_press_answers_the_same_alarm(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    s = await scene(app, client)
    first = await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    assert first.status_code == 201
    await dispatcher.run_once()
    sent = len(wechat.sent_messages())

    for _ in range(3):
        again = await client.post(s.alarm_path, json={**ALARM, "location": "别处"}, headers=s.owner.headers)
        assert again.status_code == 200, again.text
        assert again.json()["created"] is False
        assert again.json()["alarm"]["id"] == first.json()["alarm"]["id"]
        assert again.json()["alarm"]["location"] == "光明大街与华夏路口"
    assert await Alarm.all().count() == 1
    assert len(await rows("ebike.stolen")) == 4
    await dispatcher.run_once()
    assert len(wechat.sent_messages()) == sent


async def test_a_press_after_ten_minutes_while_open_is_a_conflict(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    first = await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    alarm_id = first.json()["alarm"]["id"]
    await Alarm.filter(public_id=alarm_id).update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11))

    response = await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    assert response.status_code == 409, response.text
    assert error_of(response)["code"] == "alarm_open"
    assert error_of(response)["details"] == {"alarm": alarm_id}
    assert await Alarm.all().count() == 1
    assert len(await rows("ebike.stolen")) == 4


def _future() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()


async def test_refused_alarms_store_and_send_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**ALARM, "lost_at": _future()}, "lost_at"),
        ({**ALARM, "lost_at": "2026-01-05T09:30:00"}, "lost_at"),  # no offset: which 09:30?
        ({**ALARM, "lost_at": "yesterday"}, "lost_at"),
        ({**ALARM, "description": "描" * 501}, "description"),
        ({**ALARM, "location": "  "}, "location"),
        ({**ALARM, "location": "路" * 201}, "location"),
        ({**ALARM, "lat": 91}, "lat"),
        ({**ALARM, "lng": -181}, "lng"),
        ({**ALARM, "priority": "high"}, "priority"),
        ({"location": "光明大街"}, "lost_at"),
    ]
    for body, field in cases:
        response = await client.post(s.alarm_path, json=body, headers=s.owner.headers)
        assert response.status_code == 422, (body, response.text)
        assert field in [f["field"] for f in error_of(response)["details"]["fields"]], (body, response.text)
    assert await Alarm.all().count() == 0
    assert await Notification.all().count() == 0
    assert await bike_status(s) is BikeStatus.ACTIVE

    # The edges that are fine: 500 characters, a moment ago in another zone.
    near = (dt.datetime.now(dt.timezone(dt.timedelta(hours=-5))) - dt.timedelta(seconds=5)).isoformat()
    ok = await client.post(
        s.alarm_path, json={**ALARM, "lost_at": near, "description": "描" * 500}, headers=s.owner.headers
    )
    assert ok.status_code == 201, ok.text


async def test_another_residents_bike_cannot_be_alarmed_or_cancelled(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    mallory = await user(app, Role.RESIDENT)
    await register(client, mallory, 2)
    response = await client.post(s.alarm_path, json=ALARM, headers=mallory.headers)
    assert response.status_code == 404 and error_of(response)["code"] == "ebike_not_found"
    assert await bike_status(s) is BikeStatus.ACTIVE
    assert await Alarm.all().count() == 0 and await Notification.all().count() == 0

    assert (await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)).status_code == 201
    cancel = await client.delete(s.alarm_path, headers=mallory.headers)
    assert cancel.status_code == 404
    assert await bike_status(s) is BikeStatus.STOLEN
    for staff in (s.police_gm01, await user(app, Role.OFFICER)):
        assert (await client.post(s.alarm_path, json=ALARM, headers=staff.headers)).status_code == 403
        assert (await client.delete(s.alarm_path, headers=staff.headers)).status_code == 403
    assert (await client.post(s.alarm_path, json=ALARM)).status_code == 401


# Cancelling -----------------------------------------------------------------------------------------


async def test_cancel_closes_the_alarm_and_tells_the_police(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    s = await scene(app, client)
    raised = (await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)).json()["alarm"]

    cancelled = await client.delete(s.alarm_path, headers=s.owner.headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["id"], body["status"]) == (raised["id"], "found") and body["closed_at"] is not None
    assert await bike_status(s) is BikeStatus.ACTIVE
    assert (await Alarm.get(public_id=raised["id"])).status is AlarmStatus.FOUND
    mine = (await client.get(f"/api/v1/ebikes/{s.bike['id']}", headers=s.owner.headers)).json()
    assert (mine["status"], mine["alarm"]) == ("active", None)
    assert len(await rows("ebike.found")) == 3  # the street police on two channels, the district on one
    await dispatcher.run_once()
    assert sent_to(wechat, "TPL_FOUND") == ["o_police_gm", "o_police_gm01"]

    again = await client.delete(s.alarm_path, headers=s.owner.headers)
    assert again.status_code == 409 and error_of(again)["code"] == "no_open_alarm"
    # A new alarm after the bike was found is a new alarm.
    second = await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    assert second.status_code == 201 and second.json()["alarm"]["id"] != raised["id"]


async def test_cancel_without_an_alarm_is_a_conflict(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    response = await client.delete(s.alarm_path, headers=s.owner.headers)
    assert response.status_code == 409 and error_of(response)["code"] == "no_open_alarm"
    assert await Notification.all().count() == 0


async def test_an_owner_without_any_contact_still_raises_the_alarm(app: Sanic, client: httpx.AsyncClient) -> None:
    """The owner's own message cannot be queued (no address on any channel, set with the ORM): the
    alarm is still stored and the police are still told; nothing fails."""
    s = await scene(app, client)
    await Account.filter(id=s.owner.account.id).update(wechat_openid=None, phone_enc=None, phone_bidx=None)

    response = await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    assert response.status_code == 201, response.text
    assert await Alarm.all().count() == 1
    assert await bike_status(s) is BikeStatus.STOLEN
    assert await Notification.filter(account_id=s.owner.account.id).count() == 0
    assert await Notification.all().count() > 0  # the police


# Sightings ------------------------------------------------------------------------------------------


async def scan(client: httpx.AsyncClient, url: str, who: User | None = None, **where: float) -> dict[str, Any]:
    response = await client.post("/api/v1/scan", json={"payload": url, **where}, headers=who.headers if who else {})
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()["view"]
    return view


async def test_an_officer_scan_of_a_stolen_bike_is_a_sighting(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    s = await scene(app, client)
    officer = await user(app, Role.OFFICER, node="GM0101")
    other_officer = await user(app, Role.OFFICER, node="GM0101")
    raised = (await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)).json()["alarm"]
    await dispatcher.run_once()
    before = len(wechat.sent_messages())

    view = await scan(client, s.url, officer, lat=22.7489, lng=113.9354)
    assert view["sighting_recorded"] is True
    [sighting] = await Sighting.all()
    assert (sighting.actor, sighting.role, sighting.lat, sighting.lng) == (
        officer.account.public_id,
        "officer",
        22.7489,
        113.9354,
    )
    sighted = await rows("ebike.sighted")
    police_ids = {s.police_gm01.account.id, s.police_gm.account.id}
    assert [r.account_id for r in sighted if r.account_id not in police_ids] == [s.owner.account.id]
    await dispatcher.run_once()
    assert s.owner.account.wechat_openid in sent_to(wechat, "TPL_SIGHTED")
    sent = len(wechat.sent_messages())
    assert sent > before

    # The same officer again within 10 minutes: no second sighting, nothing new sent.
    again = await scan(client, s.url, officer, lat=22.75, lng=113.94)
    assert again["sighting_recorded"] is False
    assert await Sighting.all().count() == 1
    assert len(await rows("ebike.sighted")) == len(sighted)
    await dispatcher.run_once()
    assert len(wechat.sent_messages()) == sent

    # Another officer is another sighting; so is the first one after 10 minutes.
    assert (await scan(client, s.url, other_officer))["sighting_recorded"] is True
    await Sighting.filter(actor=officer.account.public_id).update(at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11))
    assert (await scan(client, s.url, officer))["sighting_recorded"] is True
    assert await Sighting.all().count() == 3
    mine = (await client.get(f"/api/v1/ebikes/{s.bike['id']}", headers=s.owner.headers)).json()
    assert mine["alarm"]["id"] == raised["id"] and mine["alarm"]["sightings"] == 3


async def test_residents_and_anonymous_scans_are_no_sightings(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    stranger = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF)
    await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    queued = await Notification.all().count()
    for who in (None, stranger, s.owner, grid):
        view = await scan(client, s.url, who, lat=22.7, lng=113.9)
        assert "sighting_recorded" not in view
    assert await Sighting.all().count() == 0
    assert await Notification.all().count() == queued


async def test_an_active_bike_scanned_by_an_officer_is_no_sighting(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    officer = await user(app, Role.OFFICER)
    view = await scan(client, s.url, officer)
    assert "sighting_recorded" not in view and view["stolen"] is False
    assert await Sighting.all().count() == 0 and await Notification.all().count() == 0


# What each role sees --------------------------------------------------------------------------------


def _no_personal_data(view: dict[str, Any]) -> None:
    text = json.dumps(view, ensure_ascii=False)
    for secret in ("张三", id_number(1), "13912340001"):
        assert secret not in text, secret


async def test_what_each_role_sees(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    stranger = await user(app, Role.RESIDENT)
    officer = await user(app, Role.OFFICER)
    admin = await user(app, Role.ADMIN)

    for who in (None, stranger, s.owner):
        view = await scan(client, s.url, who)
        assert view == {"kind": "ebike", "registered": True, "brand": "雅迪", "colour": "白色", "stolen": False}

    raised = (await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)).json()["alarm"]
    for who in (None, stranger):
        view = await scan(client, s.url, who)
        assert set(view) == PUBLIC_VIEW | {"alert", "message"}
        assert list(view)[:2] == ["alert", "message"] and view["alert"] == "stolen" and "110" in view["message"]
        assert view["stolen"] is True
        _no_personal_data(view)

    seen = await scan(client, s.url, officer)
    assert list(seen)[:2] == ["alert", "message"]
    assert seen["owner"] == {"name": "张*", "phone": "139****0001"}
    assert (seen["frame_no"], seen["status"], seen["alarm"]["id"]) == (s.bike["frame_no"], "stolen", raised["id"])
    assert "lookup" not in seen
    _no_personal_data(seen)

    police = await scan(client, s.url, s.police_gm01)
    assert police["owner"] == {"name": "张*", "phone": "139****0001"}
    assert police["lookup"] == {
        "href": f"/api/v1/police/ebikes?frame_no={s.bike['frame_no']}",
        "requires": ["reason", "case_no"],
    }
    _no_personal_data(police)

    by_admin = await scan(client, s.url, admin)
    assert by_admin["owner"] == {"name": "张*", "phone": "139****0001"} and "lookup" not in by_admin
    _no_personal_data(by_admin)


# At the same time -------------------------------------------------------------------------------------


async def test_presses_at_the_same_time_raise_one_alarm(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    answers = await asyncio.gather(*(client.post(s.alarm_path, json=ALARM, headers=s.owner.headers) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201], [a.text for a in answers]
    assert len({a.json()["alarm"]["id"] for a in answers}) == 1
    assert await Alarm.all().count() == 1
    assert len(await rows("ebike.stolen")) == 4


async def test_scans_at_the_same_time_are_one_sighting(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    officer = await user(app, Role.OFFICER)
    await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)
    views = await asyncio.gather(
        *(client.post("/api/v1/scan", json={"payload": s.url}, headers=officer.headers) for _ in range(20))
    )
    recorded = [v.json()["view"]["sighting_recorded"] for v in views]
    assert sorted(recorded) == [False] * 19 + [True]
    assert await Sighting.all().count() == 1
    assert len([r for r in await rows("ebike.sighted") if r.account_id == s.owner.account.id]) == 1


async def test_a_stolen_bike_cannot_be_deregistered(app: Sanic, client: httpx.AsyncClient) -> None:
    s = await scene(app, client)
    assert (await client.post(s.alarm_path, json=ALARM, headers=s.owner.headers)).status_code == 201
    response = await client.delete(s.alarm_path.removesuffix("/alarm"), headers=s.owner.headers)
    assert response.status_code == 409 and error_of(response)["code"] == "ebike_stolen"
    assert await bike_status(s) is BikeStatus.STOLEN
