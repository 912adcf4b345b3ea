"""The whole e-bike story over HTTP: register, the code decodes, anonymous scan, one-key alarm, the
police hear it on WeChat and SMS, an officer scans, the owner hears of the sighting, the police look
the owner up with a reason, the lookup is audited, the owner cancels."""

from __future__ import annotations

import io

import httpx
import zxingcpp
from PIL import Image
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from notify.dispatcher import Dispatcher
from tests.factories import id_number
from tests.miniapp_api.ebikes.conftest import register, user
from tests.support.sms_fake import SmsFake
from tests.support.wechat_fake import WeChatFake


async def test_register_scan_alarm_sighting_lookup_cancel(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake, sms: SmsFake
) -> None:
    owner = await user(app, Role.RESIDENT)
    police = await user(app, Role.POLICE, node="GM01", openid="o_police_gm01", phone="13700000001")
    other_police = await user(app, Role.POLICE, node="GM02", openid="o_police_gm02", phone="13700000002")
    officer = await user(app, Role.OFFICER, node="GM0101")
    admin = await user(app, Role.ADMIN)

    # Register: the answer holds the code and its images.
    bike = await register(client, owner, 7, frame_no="lyd 2026-0007 x")
    assert bike["frame_no"] == "LYD20260007X"
    assert bike["status"] == "active"
    credential = bike["credential"]
    assert credential["url"].startswith("https://eid.example.cn/q/")

    # The PNG decodes (zxing-cpp) to exactly the code's URL.
    png = await client.get(credential["images"]["png"], headers=owner.headers)
    assert png.status_code == 200
    # zxing-cpp now and then also reports a phantom symbol (a stray short text, once "B8-A"); only QR
    # symbols that carry a code URL count, and there must be exactly one: this bike's.
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)), formats=zxingcpp.BarcodeFormat.QRCode)
    decoded = [b.text for b in found if "/q/" in b.text]
    assert decoded == [credential["url"]]

    # Anyone scanning: a registered bike, its make and colour, nothing personal.
    scan = await client.post("/api/v1/scan", json={"payload": decoded[0]})
    assert scan.status_code == 200, scan.text
    view = scan.json()["view"]
    assert view == {"kind": "ebike", "registered": True, "brand": "雅迪", "colour": "白色", "stolen": False}

    # One-key alarm.
    alarm_body = {"lost_at": "2026-11-25T09:30:00+08:00", "location": "光明大街与华夏路口", "description": "锁在楼下"}
    raised = await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=alarm_body, headers=owner.headers)
    assert raised.status_code == 201, raised.text
    alarm = raised.json()["alarm"]
    again = await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=alarm_body, headers=owner.headers)
    assert (again.status_code, again.json()["created"], again.json()["alarm"]["id"]) == (200, False, alarm["id"])

    await dispatcher.run_once()
    to_police = [m for m in wechat.sent_messages("subscribe") if m["touser"] == "o_police_gm01"]
    assert len(to_police) == 1
    assert to_police[0]["data"]["thing3"] == {"value": "光明大街与华夏路口"}
    assert to_police[0]["page"] == f"pages/ebike/alarm?id={alarm['id']}"
    assert [s.phone for s in sms.sent] == ["+8613700000001"]  # WeChat and SMS both, for the police
    assert [m["touser"] for m in wechat.sent_messages()].count(owner.account.wechat_openid) == 1
    assert not [m for m in wechat.sent_messages() if m["touser"] == "o_police_gm02"]  # another street
    del other_police

    # Anyone scanning now is told first that it is stolen.
    scan = await client.post("/api/v1/scan", json={"payload": decoded[0]})
    view = scan.json()["view"]
    assert list(view)[:2] == ["alert", "message"] and view["stolen"] is True and "110" in view["message"]
    assert "owner" not in view

    # An officer scans it: a sighting, and the owner and police hear of it.
    scan = await client.post(
        "/api/v1/scan", json={"payload": decoded[0], "lat": 22.7489, "lng": 113.9354}, headers=officer.headers
    )
    view = scan.json()["view"]
    assert view["alert"] == "stolen" and view["sighting_recorded"] is True
    assert view["owner"] == {"name": "张*", "phone": "139****0007"}
    assert "lookup" not in view
    await dispatcher.run_once()
    sighted = [m for m in wechat.sent_messages("subscribe") if m["template_id"] == "TPL_SIGHTED"]
    assert sorted(m["touser"] for m in sighted) == sorted([owner.account.wechat_openid, "o_police_gm01"])
    assert sighted[0]["data"]["thing3"] == {"value": "22.74890,113.93540"}

    # Police scan: a link to the lookup. Police look the owner up with a reason and case number.
    scan = await client.post("/api/v1/scan", json={"payload": decoded[0]}, headers=police.headers)
    assert scan.json()["view"]["lookup"]["requires"] == ["reason", "case_no"]
    found = await client.get(
        "/api/v1/police/ebikes",
        params={"frame_no": "LYD20260007X", "reason": "盗窃案件侦查", "case_no": "GM2026-1125-01"},
        headers=police.headers,
    )
    assert found.status_code == 200, found.text
    assert "no-store" in found.headers["cache-control"]
    [result] = found.json()["results"]
    assert result["owner"]["name"] == "张三"
    assert result["owner"]["id_number"] == id_number(7)
    assert result["owner"]["phone"] == "13912340007"
    assert result["bikes"][0]["alarms"][0]["id"] == alarm["id"]
    assert result["bikes"][0]["alarms"][0]["sightings"] == 2  # the officer's scan and the police scan

    # The audit log has it, and the admin reads it back.
    entry = await AuditEntry.get(seq=found.json()["audit_seq"])
    assert (entry.action, entry.actor, entry.reason) == (
        "police.ebike_lookup",
        police.account.public_id,
        "盗窃案件侦查",
    )
    assert entry.details["case_no"] == "GM2026-1125-01" and entry.details["result_count"] == 1
    listed = await client.get("/api/v1/admin/audit", params={"actor": police.account.public_id}, headers=admin.headers)
    assert any(e["action"] == "police.ebike_lookup" for e in listed.json()["items"])

    # The owner found it: the alarm is closed and the police hear so.
    cancelled = await client.delete(f"/api/v1/ebikes/{bike['id']}/alarm", headers=owner.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "found"
    mine = await client.get(f"/api/v1/ebikes/{bike['id']}", headers=owner.headers)
    assert mine.json()["status"] == "active" and mine.json()["alarm"] is None
    await dispatcher.run_once()
    found_sent = [m["touser"] for m in wechat.sent_messages() if m["template_id"] == "TPL_FOUND"]
    assert found_sent == ["o_police_gm01"]
    scan = await client.post("/api/v1/scan", json={"payload": decoded[0]})
    assert scan.json()["view"]["stolen"] is False
