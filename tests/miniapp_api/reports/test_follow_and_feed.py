"""Following someone else's report instead of filing it again, and the grid feed's order and cursor:
most urgent first, and every report exactly once across pages even while reports move."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports import feed as feed_service
from miniapp_api.reports import service
from miniapp_api.reports.models import Report, ReportFollower
from miniapp_api.reports.states import State
from notify.dispatcher import Dispatcher
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import move, submit
from tests.support.wechat_fake import WeChatFake


async def test_a_resident_follows_a_similar_report_reads_it_and_hears_each_step(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    reporter = await user(app, Role.RESIDENT)
    neighbour = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, reporter, lat=22.74890, lng=113.93540)

    # Before following, a neighbour sees only the public view among the similar reports.
    assert (await client.get(f"/api/v1/reports/{report['id']}", headers=neighbour.headers)).status_code == 404
    similar = await client.get(
        "/api/v1/reports/similar",
        params={"category": "urban_construction", "lat": 22.74895, "lng": 113.93540},
        headers=neighbour.headers,
    )
    assert [i["id"] for i in similar.json()["items"]] == [report["id"]]

    followed = await client.put(f"/api/v1/reports/{report['id']}/follow", headers=neighbour.headers)
    assert followed.status_code == 200, followed.text
    assert followed.json() == {"id": report["id"], "report_no": report["report_no"], "following": True, "followers": 1}
    again = await client.put(f"/api/v1/reports/{report['id']}/follow", headers=neighbour.headers)
    assert again.json()["followers"] == 1  # following twice is the same as once

    detail = (await client.get(f"/api/v1/reports/{report['id']}", headers=neighbour.headers)).json()
    assert detail["following"] is True and detail["followers"] == 1
    assert detail["reporter"] is None and detail["allowed_actions"] == [] and detail["redacted"] is True
    assert {e["actor"] for e in detail["timeline"]} == {""}  # states and times, not actors
    listed = (await client.get("/api/v1/reports/following", headers=neighbour.headers)).json()["items"]
    assert [r["id"] for r in listed] == [report["id"]]

    # A follower reads; it does not move the report (nor confirm it for the reporter).
    for action, body in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": "已修复"})):
        assert (await move(client, grid, report["id"], action=action, **body)).status_code == 200
    assert (await move(client, neighbour, report["id"], action="confirm", satisfaction=1)).status_code == 403
    await dispatcher.run_once()
    openid = neighbour.account.wechat_openid
    told = [m["data"]["phrase2"]["value"] for m in wechat.sent_messages() if m["touser"] == openid]
    assert sorted(told) == sorted(["已受理", "已派单", "处理中", "已办结"])

    assert (await client.delete(f"/api/v1/reports/{report['id']}/follow", headers=neighbour.headers)).status_code == 204
    assert (await client.get(f"/api/v1/reports/{report['id']}", headers=neighbour.headers)).status_code == 404
    assert await ReportFollower.all().count() == 0


async def test_following_a_merged_report_follows_its_main_report_and_closed_ones_cannot_be(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    first, second, third = [await user(app, Role.RESIDENT) for _ in range(3)]
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    main = await submit(client, first)
    duplicate = await submit(client, second)
    assert (await move(client, grid, duplicate["id"], action="merge", merge_into=main["id"])).status_code == 200
    followed = await client.put(f"/api/v1/reports/{duplicate['id']}/follow", headers=third.headers)
    assert followed.status_code == 200 and followed.json()["id"] == main["id"]

    # The reporter following their own report changes nothing; unknown ids are 404.
    own = await client.put(f"/api/v1/reports/{main['id']}/follow", headers=first.headers)
    assert own.status_code == 200 and own.json()["followers"] == 1
    assert (await client.put("/api/v1/reports/rp_nosuchreport/follow", headers=third.headers)).status_code == 404
    assert (await client.put(f"/api/v1/reports/{'x' * 300}/follow", headers=third.headers)).status_code == 404

    await Report.filter(public_id=main["id"]).update(state="closed")
    refused = await client.put(f"/api/v1/reports/{main['id']}/follow", headers=second.headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "report_closed"
    assert await ReportFollower.all().count() == 1


async def test_a_grid_worker_of_another_grid_can_neither_follow_nor_move_a_report(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    # Issue 12: following used to open another grid's report to its staff; now it is not theirs to find.
    resident = await user(app, Role.RESIDENT)
    outsider = await user(app, Role.GRID_STAFF, node="GM010102")
    report = await submit(client, resident)
    assert (await client.put(f"/api/v1/reports/{report['id']}/follow", headers=outsider.headers)).status_code == 404
    assert (await client.get(f"/api/v1/reports/{report['id']}", headers=outsider.headers)).status_code == 404
    refused = await move(client, outsider, report["id"], action="accept")
    assert refused.status_code == 404
    assert (await Report.get(public_id=report["id"])).state == "submitted"
    assert await ReportFollower.all().count() == 0


async def feed_pages(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/grid/feed", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([r["id"] for r in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def flat(pages: list[list[str]]) -> list[str]:
    return list(itertools.chain.from_iterable(pages))


async def test_the_feed_is_most_urgent_first_and_its_cursor_pages_through_each_report_once(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    reports = [await submit(client, resident, text=f"第{n}件事") for n in range(9)]
    ids = [r["id"] for r in reports]
    now = dt.datetime.now(dt.UTC)
    # Deadlines set by hand: two overdue, four ahead (two sharing one deadline), three returned to
    # their reporter (no deadline: they wait on someone else and come last, the newest first).
    due = {0: -30, 1: -90, 2: 50, 3: 20, 4: 20, 5: 200}
    for index, minutes in due.items():
        await Report.filter(public_id=ids[index]).update(
            due_at=now + dt.timedelta(minutes=minutes), overdue=minutes < 0
        )
    for index in (6, 7, 8):
        await Report.filter(public_id=ids[index]).update(
            state="returned", due_at=None, created_at=now - dt.timedelta(minutes=10 - index)
        )
    expected = [ids[1], ids[0], ids[3], ids[4], ids[2], ids[5], ids[8], ids[7], ids[6]]

    assert flat(await feed_pages(client, grid.headers, limit=50)) == expected
    for size in (1, 2, 4):
        pages = await feed_pages(client, grid.headers, limit=size)
        assert flat(pages) == expected, size
        assert all(len(page) == size for page in pages[:-1])

    # A report resolved between two pages does not make the next page skip or repeat another.
    first = await client.get("/api/v1/grid/feed", params={"limit": 3}, headers=grid.headers)
    await Report.filter(public_id=ids[1]).update(state="closed", due_at=None, overdue=False)  # as a move leaves it
    rest = await feed_pages(client, grid.headers, limit=3, cursor=first.json()["next_cursor"])
    assert [r["id"] for r in first.json()["items"]] + flat(rest) == expected

    overdue = await feed_pages(client, grid.headers, overdue="true", limit=1)
    assert flat(overdue) == [ids[0]]


async def test_a_cursor_the_api_did_not_give_out_is_422(app: Sanic, client: httpx.AsyncClient) -> None:
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    for cursor in ("o:10", "bm9wZQ", "MTEuYWJjLjE", "MDEuMS4x", "%%%", "x" * 97):
        response = await client.get("/api/v1/grid/feed", params={"cursor": cursor}, headers=grid.headers)
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["error"]["code"] in ("bad_cursor", "validation_failed")


def test_every_state_with_a_deadline_is_in_the_feed() -> None:
    # The feed reads reports with a deadline without a state filter (its partial index, in order).
    assert set(service._DEADLINES) <= feed_service.FEED_STATES
    assert State.CONFIRMED in feed_service.FEED_STATES  # grid staff close what reporters confirmed
