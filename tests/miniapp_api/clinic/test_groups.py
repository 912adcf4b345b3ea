"""Duplicate groups over HTTP: reports that say the same thing about the same place within 7 days are
grouped after they are filed (off the request path); grid staff see the group, merge it with one
action, and every reporter in the group then hears of each step of the main report."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.clinic import analysis
from miniapp_api.clinic.models import ReportInsight
from miniapp_api.reports import events
from notify.dispatcher import Dispatcher
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import move, submit
from tests.support.wechat_fake import WeChatFake

HERE = {"lat": 22.74890, "lng": 113.93540}
NEXT_DOOR = {"lat": 22.74920, "lng": 113.93550}  # about 35 m away
ACROSS_TOWN = {"lat": 22.78890, "lng": 113.93540}  # about 4.4 km away
NOISE = "光明大道和华夏路交叉口的搅拌站每天晚上施工到凌晨两点，噪音太大，附近居民无法休息"
NOISE_AGAIN = "华夏路口那个搅拌站晚上一直施工到凌晨，噪音扰民严重，我们根本睡不着觉，请管一管"
OTHER = "华夏路口的路灯坏了好几盏，晚上路面很黑，行人过马路很危险"


async def test_the_same_complaint_nearby_is_grouped_and_merged_with_one_action(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    first, second, third, fourth = [await user(app, Role.RESIDENT) for _ in range(4)]
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    outsider = await user(app, Role.GRID_STAFF, node="GM010102")
    main = await submit(client, first, text=NOISE, category="environment", **HERE)
    again = await submit(client, second, text=NOISE_AGAIN, category="environment", **NEXT_DOOR)
    other = await submit(client, third, text=OTHER, category="urban_construction", **NEXT_DOOR)
    far = await submit(client, fourth, text=NOISE, category="environment", **ACROSS_TOWN)
    await events.drain()
    assert await analysis.analyse_pending() == 0  # the submits analysed them already

    groups = (await client.get("/api/v1/clinic/groups", headers=grid.headers)).json()["items"]
    assert len(groups) == 1
    group = groups[0]
    assert (group["id"], group["size"], group["main"]) == (main["id"], 2, main["id"])
    assert [m["id"] for m in group["members"]] == [main["id"], again["id"]]
    assert group["members"][1]["similarity"] > 0
    assert other["id"] and far["id"]  # a different problem next door, the same one far away: alone
    by_member = await client.get(f"/api/v1/clinic/groups/{again['id']}", headers=grid.headers)
    assert by_member.json()["id"] == main["id"]
    assert (await client.get(f"/api/v1/clinic/groups/{other['id']}", headers=grid.headers)).status_code == 404
    # Another grid sees nothing of it.
    assert (await client.get("/api/v1/clinic/groups", headers=outsider.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/clinic/groups/{again['id']}", headers=outsider.headers)).status_code == 404

    insight = await client.get(f"/api/v1/clinic/reports/{again['id']}/insight", headers=grid.headers)
    assert insight.json()["group"] == main["id"] and insight.json()["group_size"] == 2

    merged = await client.post(f"/api/v1/clinic/groups/{again['id']}/merge", json={}, headers=grid.headers)
    assert merged.status_code == 200, merged.text
    assert merged.json() == {"main": main["id"], "results": [{"id": again["id"], "ok": True, "error": None}]}
    detail = await client.get(f"/api/v1/reports/{again['id']}", headers=second.headers)
    assert detail.json()["state"] == "merged" and detail.json()["merged_into"] == main["id"]
    # A second merge has nothing left to merge.
    assert (await client.post(f"/api/v1/clinic/groups/{main['id']}/merge", json={}, headers=grid.headers)).json()[
        "results"
    ] == []

    # The main report moves: both reporters hear of it.
    assert (await move(client, grid, main["id"], action="accept")).status_code == 200
    await dispatcher.run_once()
    for reporter in (first, second):
        openid = reporter.account.wechat_openid
        told = [m["data"]["phrase2"]["value"] for m in wechat.sent_messages() if m["touser"] == openid]
        assert "已受理" in told, reporter


async def test_merging_a_group_is_for_grid_staff_of_its_place(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])  # a report's building must exist (issue 12)
    first, second = [await user(app, Role.RESIDENT) for _ in range(2)]
    officer = await user(app, Role.OFFICER, node="GM010101")
    main = await submit(client, first, text=NOISE, category="environment", building="GM0101010001")
    again = await submit(client, second, text=NOISE_AGAIN, category="environment", building="GM0101010001")
    await events.drain()
    await analysis.analyse_pending()
    assert await ReportInsight.filter(group_id__not_isnull=True).count() == 2
    refused = await client.post(f"/api/v1/clinic/groups/{main['id']}/merge", json={}, headers=officer.headers)
    assert refused.status_code == 403
    resident_view = await client.get(f"/api/v1/clinic/groups/{again['id']}", headers=first.headers)
    assert resident_view.status_code == 403
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    bad = await client.post(
        f"/api/v1/clinic/groups/{main['id']}/merge", json={"into": "rp_nosuchthing"}, headers=grid.headers
    )
    assert bad.status_code == 409
    assert (
        await client.post(f"/api/v1/clinic/groups/{main['id']}/merge", json={"x": 1}, headers=grid.headers)
    ).status_code == 422


async def test_a_group_across_two_grids_shows_each_grid_only_its_own_members(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    # The same complaint filed at the boundary, once in each grid: one group, but a grid's staff are
    # neither told of nor counted the other grid's report.
    first, second, third = [await user(app, Role.RESIDENT) for _ in range(3)]
    grid_a = await user(app, Role.GRID_STAFF, node="GM010101")
    grid_b = await user(app, Role.GRID_STAFF, node="GM010102")
    community = await user(app, Role.GRID_STAFF, node="GM0101")
    theirs = await submit(client, first, text=NOISE, category="environment", node="GM010102", **HERE)
    mine = await submit(client, second, text=NOISE_AGAIN, category="environment", **NEXT_DOOR)
    await events.drain()
    await analysis.analyse_pending()
    seen_a = (await client.get(f"/api/v1/clinic/reports/{mine['id']}/insight", headers=grid_a.headers)).json()
    assert (seen_a["group"], seen_a["group_size"]) == (None, 0)
    seen_b = (await client.get(f"/api/v1/clinic/reports/{theirs['id']}/insight", headers=grid_b.headers)).json()
    assert (seen_b["group"], seen_b["group_size"]) == (None, 0)
    seen_above = await client.get(f"/api/v1/clinic/reports/{mine['id']}/insight", headers=community.headers)
    assert (seen_above.json()["group"], seen_above.json()["group_size"]) == (theirs["id"], 2)
    again = await submit(client, third, text=NOISE, category="environment", **HERE)
    await events.drain()
    await analysis.analyse_pending()
    seen_a = (await client.get(f"/api/v1/clinic/reports/{again['id']}/insight", headers=grid_a.headers)).json()
    assert (seen_a["group"], seen_a["group_size"]) == (mine["id"], 2)
