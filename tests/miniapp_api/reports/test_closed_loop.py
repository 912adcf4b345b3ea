"""明心桥 over HTTP: submit, accept, dispatch, start, resolve, confirm, close, with the reporter told at
each step; the SLA escalation with a controllable clock; reopen; merge; scope; refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports.models import Report, ReportEvent, SlaTimer
from miniapp_api.reports.sla import SlaScheduler
from notify.dispatcher import Dispatcher
from notify.models import Notification
from tests.miniapp_api.ebikes.conftest import User, user
from tests.support.wechat_fake import WeChatFake

REPORT = {"category": "urban_construction", "text": "楼道灯坏了一个星期，晚上很黑", "node": "GM010101"}


async def move(client: httpx.AsyncClient, who: User, report_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/api/v1/reports/{report_id}/transitions", json=body, headers=who.headers)


async def submit(client: httpx.AsyncClient, who: User, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/reports", json={**REPORT, **changes}, headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_closed_loop_with_the_reporter_told_at_each_step(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    handler = await user(app, Role.OFFICER, node="GM0101")

    report = await submit(client, resident)
    assert report["state"] == "submitted" and report["report_no"].startswith("MXQ")
    assert report["allowed_actions"] == ["accept", "return", "merge"]
    assert report["due_at"] is not None  # dispatched within 30 minutes of submission

    feed = await client.get("/api/v1/grid/feed", headers=grid.headers)
    assert [r["id"] for r in feed.json()["items"]] == [report["id"]]

    assert (await move(client, grid, report["id"], action="accept")).json()["state"] == "accepted"
    detail = await client.get(f"/api/v1/reports/{report['id']}", headers=grid.headers)
    assert detail.json()["suggested_department"] == "zjj"
    # The codes a dispatch may name, with their names (what the console's chooser shows).
    departments = (await client.get("/api/v1/report-departments")).json()["items"]
    assert {"code": "zjj", "name": "光明区住房和建设局", "node": None} in departments
    assert len({d["code"] for d in departments}) == len(departments) >= 10
    dispatched = await move(client, grid, report["id"], action="dispatch")
    assert dispatched.json()["department"] == "光明区住房和建设局"
    assert (await move(client, handler, report["id"], action="start")).json()["state"] == "in_progress"
    resolved = await move(client, handler, report["id"], action="resolve", note="已更换灯具")
    assert resolved.json()["state"] == "resolved"
    confirmed = await move(client, resident, report["id"], action="confirm", satisfaction=5, comment="很快")
    assert confirmed.json()["state"] == "confirmed"
    assert (await move(client, grid, report["id"], action="close")).json()["state"] == "closed"

    mine = await client.get(f"/api/v1/reports/{report['id']}", headers=resident.headers)
    timeline = [(e["action"], e["to_state"]) for e in mine.json()["timeline"]]
    assert timeline == [
        ("submit", "submitted"),
        ("accept", "accepted"),
        ("dispatch", "dispatched"),
        ("start", "in_progress"),
        ("resolve", "resolved"),
        ("confirm", "confirmed"),
        ("close", "closed"),
    ]
    await dispatcher.run_once()
    mine_sent = [m for m in wechat.sent_messages() if m["touser"] == resident.account.wechat_openid]
    told = sorted(m["data"]["phrase2"]["value"] for m in mine_sent)
    assert told == sorted(["已提交", "已受理", "已派单", "处理中", "已办结", "已关闭"])  # not of their own confirm


async def test_a_transition_the_state_does_not_allow_is_409_with_the_allowed_ones(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, resident)
    refused = await move(client, grid, report["id"], action="resolve")
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"state": "submitted", "allowed": ["accept", "return", "merge"]}
    unknown = await move(client, grid, report["id"], action="teleport")
    assert unknown.status_code == 422
    # The reporter may not accept their own report; a rejection needs a reason.
    assert (await move(client, resident, report["id"], action="accept")).status_code == 403
    assert (await move(client, grid, report["id"], action="return")).status_code == 422
    assert (await Report.get(public_id=report["id"])).state == "submitted"


async def test_reports_of_another_grid_are_invisible(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    stranger = await user(app, Role.RESIDENT)
    report = await submit(client, resident)
    assert (await client.get(f"/api/v1/reports/{report['id']}", headers=other_grid.headers)).status_code == 404
    assert (await client.get(f"/api/v1/reports/{report['id']}", headers=stranger.headers)).status_code == 404
    assert (await move(client, other_grid, report["id"], action="accept")).status_code == 404
    assert (await client.get("/api/v1/grid/feed", headers=other_grid.headers)).json()["items"] == []


async def test_bad_input_is_refused_and_nothing_is_stored(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    for body, status in (
        ({**REPORT, "category": "no_such"}, 422),
        ({**REPORT, "node": "NOWHERE"}, 422),
        ({**REPORT, "text": "长" * 2001}, 422),
        ({**REPORT, "text": ""}, 422),
        ({**REPORT, "extra": 1}, 422),
        ({**REPORT, "lat": 91}, 422),
    ):
        response = await client.post("/api/v1/reports", json=body, headers=resident.headers)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert await Report.all().count() == 0


async def test_an_sla_breach_escalates_once_up_the_hierarchy(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    resident = await user(app, Role.RESIDENT)
    community = await user(app, Role.GRID_STAFF, node="GM0101", openid="o_community")
    street = await user(app, Role.ADMIN, node="GM01", openid="o_street")
    report = await submit(client, resident)
    now = dt.datetime.now(dt.UTC)
    first, second = SlaScheduler(worker="a"), SlaScheduler(worker="b")
    assert await first.run_once(now=now + dt.timedelta(minutes=29)) == 0  # not yet
    # Past the 30 minutes: two schedulers race; the timer fires once.
    later = now + dt.timedelta(minutes=31)
    assert await first.run_once(now=later) + await second.run_once(now=later) == 1
    stored = await Report.get(public_id=report["id"])
    assert stored.overdue and stored.escalation_level == 1
    escalations = await ReportEvent.filter(report_id=stored.id, action="escalate").count()
    assert escalations == 1
    notified = await Notification.filter(template="report.overdue").values_list("account_id", flat=True)
    assert notified == [community.account.id]
    # Still not dispatched 30 minutes later: the street hears of it.
    assert await first.run_once(now=later + dt.timedelta(minutes=31)) == 1
    notified = await Notification.filter(template="report.overdue").values_list("account_id", flat=True)
    assert sorted(notified) == sorted([community.account.id, street.account.id])
    # The feed puts it first; accepting it stops the clock (the timer is cancelled, not fired).
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    calm = await submit(client, resident, text="小区垃圾桶满了")
    feed = await client.get("/api/v1/grid/feed", headers=grid.headers)
    assert [r["id"] for r in feed.json()["items"]] == [report["id"], calm["id"]]
    await move(client, grid, calm["id"], action="accept")
    assert await SlaTimer.filter(report__public_id=calm["id"], cancelled=True).count() == 1
    del street


async def test_reopen_and_merge(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    first = await user(app, Role.RESIDENT)
    second = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    main = await submit(client, first)
    duplicate = await submit(client, second, text="楼道灯坏了")
    merged = await move(client, grid, duplicate["id"], action="merge", merge_into=main["id"])
    assert merged.json()["state"] == "merged" and merged.json()["merged_into"] == main["id"]
    for action, body in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": "修好了"})):
        assert (await move(client, grid, main["id"], action=action, **body)).status_code == 200
    await dispatcher.run_once()
    to_second = [m for m in wechat.sent_messages() if m["touser"] == second.account.wechat_openid]
    assert "已办结" in [m["data"]["phrase2"]["value"] for m in to_second]  # the duplicate's reporter follows along
    reopened = await move(client, first, main["id"], action="reopen", note="晚上又不亮了")
    assert reopened.json()["state"] == "reopened" and "dispatch" in reopened.json()["allowed_actions"]
    assert (await move(client, first, main["id"], action="reopen", note="x")).status_code == 409


async def test_a_report_cannot_be_merged_into_another_grids_report(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    mine = await submit(client, resident)
    theirs = await submit(client, resident, node="GM010102")
    refused = await move(client, grid, mine["id"], action="merge", merge_into=theirs["id"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_report"
    assert (await client.get(f"/api/v1/reports/{mine['id']}", headers=grid.headers)).json()["state"] == "submitted"


async def test_similar_open_reports_are_suggested_before_submitting(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    near = await submit(client, resident, lat=22.74890, lng=113.93540)
    far = await submit(client, resident, lat=22.75890, lng=113.93540)  # about 1.1 km north
    other_kind = await submit(client, resident, category="environment", lat=22.74890, lng=113.93540)
    found = await client.get(
        "/api/v1/reports/similar",
        params={"category": "urban_construction", "lat": 22.74920, "lng": 113.93540},
        headers=resident.headers,
    )
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert [i["id"] for i in items] == [near["id"]]
    # About 35 m away; told roughly (to 10 m, from the report's point rounded to about 100 m).
    assert items[0]["distance_m"] == 50
    assert far["id"] and other_kind["id"]
    bad = await client.get("/api/v1/reports/similar", params={"category": "nope"}, headers=resident.headers)
    assert bad.status_code == 422


async def test_bulk_accept_and_dispatch(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    mine = [await submit(client, resident, text=f"第{n}个问题") for n in range(3)]
    elsewhere = await submit(client, resident, node="GM010102")
    ids = [r["id"] for r in mine] + [elsewhere["id"]]
    accepted = await client.post(
        "/api/v1/grid/reports/bulk", json={"action": "accept", "ids": ids}, headers=grid.headers
    )
    results = accepted.json()["results"]
    assert [(r["ok"], r["state"], r["error"]) for r in results] == [(True, "accepted", None)] * 3 + [
        (False, None, "report_not_found")
    ]
    dispatched = await client.post(
        "/api/v1/grid/reports/bulk",
        json={"action": "dispatch", "ids": ids[:3], "department": "jd"},
        headers=grid.headers,
    )
    assert {r["state"] for r in dispatched.json()["results"]} == {"dispatched"}


async def test_bulk_ids_are_bounded_and_never_echoed(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, resident)
    huge = "x" * 100_000
    for ids in ([huge], [report["id"], "rp_" + "y" * 14], [report["id"]] * 101, []):
        refused = await client.post(
            "/api/v1/grid/reports/bulk", json={"action": "accept", "ids": ids}, headers=grid.headers
        )
        assert refused.status_code == 422, refused.text
        assert "xxxxxxxxxx" not in refused.text and "yyyyyyyyyy" not in refused.text
        assert len(refused.content) < 2000
    assert (await Report.get(public_id=report["id"])).state == "submitted"  # nothing moved


async def test_a_point_is_lat_and_lng_together(app: Sanic, client: httpx.AsyncClient) -> None:
    # One without the other is no point: 422 naming the missing one, everywhere a point is taken.
    resident = await user(app, Role.RESIDENT)
    for given, missing in (({"lat": "22.7"}, "lng"), ({"lng": "113.9"}, "lat")):
        similar = await client.get(
            "/api/v1/reports/similar", params={"category": "urban_construction", **given}, headers=resident.headers
        )
        assert similar.status_code == 422, similar.text
        assert [f["field"] for f in similar.json()["error"]["details"]["fields"]] == [missing]
        point = {k: float(v) for k, v in given.items()}
        filed = await client.post("/api/v1/reports", json={**REPORT, **point}, headers=resident.headers)
        assert filed.status_code == 422, filed.text
        scanned = await client.post("/api/v1/scan", json={"payload": "x", **point}, headers=resident.headers)
        assert scanned.status_code == 422 and missing in scanned.text, scanned.text
    assert await Report.all().count() == 0
    await submit(client, resident, lat=22.7, lng=113.9)
    whole = await client.get(
        "/api/v1/reports/similar",
        params={"category": "urban_construction", "lat": "22.7", "lng": "113.9"},
        headers=resident.headers,
    )
    assert whole.status_code == 200, whole.text


async def test_text_that_fails_wechat_content_check_is_refused(
    app: Sanic, client: httpx.AsyncClient, wechat: WeChatFake
) -> None:
    resident = await user(app, Role.RESIDENT)
    wechat.flag_content("违禁词")
    refused = await client.post(
        "/api/v1/reports", json={**REPORT, "text": "这里有违禁词内容"}, headers=resident.headers
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "content_refused"
    assert await Report.all().count() == 0
    [call] = wechat.calls_to("/wxa/msg_sec_check")
    assert call.json == {
        "version": 2,
        "openid": resident.account.wechat_openid,
        "scene": 2,
        "content": "这里有违禁词内容",
    }
    # WeChat down: the report is not lost.
    wechat.fail_next_http("/wxa/msg_sec_check", 502)
    assert (await client.post("/api/v1/reports", json=REPORT, headers=resident.headers)).status_code == 201
