"""Who reads what of a report (issue 12): suggestions in the caller's scope and with nothing personal,
following only what one may see and reading only its public view, anonymity decided per report in
every answer, and the reporter's feedback comment for the staff in scope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports.models import Report, ReportFollower
from notify.dispatcher import Dispatcher
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_closed_loop import move, submit
from tests.miniapp_api.reports.test_photos import jpeg
from tests.support.wechat_fake import WeChatFake

HERE = {"lat": 22.748912, "lng": 113.935437}
NEAR = {"lat": 22.74920, "lng": 113.93540}  # about 35 m away
PRIVATE = "我叫张三，电话13812345678，住3栋502，楼道灯坏了"
STAFF_NOTE = "已联系业主王五13900001111"
COMMUNITY = "光明区光明街道光明社区"


def similar_params(**changes: Any) -> dict[str, Any]:
    params = {"category": "urban_construction", **NEAR, **changes}
    return {k: v for k, v in params.items() if v is not None}


async def similar(client: httpx.AsyncClient, who: User, **changes: Any) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/reports/similar", params=similar_params(**changes), headers=who.headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def assert_nothing_personal(body: Any, *secrets: str) -> None:
    text = str(body)
    for secret in (*secrets, "13812345678", "张三", "22.748912", "113.935437"):
        assert secret not in text, secret


async def test_suggestions_stay_in_scope_and_show_nothing_personal(app: Sanic, client: httpx.AsyncClient) -> None:
    reporter = await user(app, Role.RESIDENT)
    neighbour = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    other_street = await user(app, Role.OFFICER, node="GM02")
    named = await submit(client, reporter, text=PRIVATE, **HERE)
    hidden = await submit(client, reporter, text=PRIVATE, anonymous=True, **HERE)
    police = await submit(client, reporter, text="楼下有人聚众赌博", category="public_order", **HERE)

    items = await similar(client, neighbour)
    assert {i["id"] for i in items} == {named["id"], hidden["id"]}
    for item in items:
        assert set(item) == {
            "id", "report_no", "category", "category_name", "state", "state_name", "building", "place",
            "created_at", "distance_m",
        }  # fmt: skip
        assert (item["building"], item["place"]) == (None, COMMUNITY)
        # Rough: from the report's point rounded to about 100 m, to 10 m (the exact one is ~35 m away).
        assert item["distance_m"] % 10 == 0 and item["distance_m"] <= 100
    assert_nothing_personal(items, reporter.account.public_id)
    # A police matter is never suggested to a resident, nor found by naming its place.
    assert await similar(client, neighbour, category="public_order") == []
    by_node = await similar(client, neighbour, category="public_order", lat=None, lng=None, node="GM010101")
    assert by_node == []

    # Staff: only under their own node, whatever node or place they name.
    assert {i["id"] for i in await similar(client, grid)} == {named["id"], hidden["id"]}
    assert [i["id"] for i in await similar(client, grid, category="public_order")] == [police["id"]]
    for outsider in (other_grid, other_street):
        assert await similar(client, outsider) == []
        assert await similar(client, outsider, lat=None, lng=None, node="GM010101") == []


async def test_a_follower_reads_only_the_public_view_of_a_report(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    reporter = await user(app, Role.RESIDENT)
    neighbour = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    report = await submit(client, reporter, text=PRIVATE, anonymous=True, **HERE)
    upload = await client.post(
        f"/api/v1/reports/{report['id']}/photos",
        content=jpeg(),
        headers={**reporter.headers, "Content-Type": "image/jpeg"},
    )
    assert upload.status_code == 201, upload.text
    assert (await client.put(f"/api/v1/reports/{report['id']}/follow", headers=neighbour.headers)).status_code == 200
    for action, body in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": STAFF_NOTE})):
        assert (await move(client, grid, report["id"], action=action, **body)).status_code == 200
    confirmed = await move(client, reporter, report["id"], action="confirm", satisfaction=2, comment="王五还没来修")
    assert confirmed.status_code == 200

    detail = await client.get(f"/api/v1/reports/{report['id']}", headers=neighbour.headers)
    assert detail.status_code == 200, detail.text
    seen = detail.json()
    assert seen["redacted"] is True and seen["following"] is True
    assert (seen["text"], seen["lat"], seen["lng"], seen["building"], seen["reporter"]) == ("", None, None, None, None)
    assert (seen["satisfaction"], seen["comment"], seen["anonymous"], seen["channel"]) == (None, None, None, "")
    assert (seen["node"], seen["place"], seen["state"]) == ("/GM/GM01/GM0101/", COMMUNITY, "confirmed")
    assert [(e["action"], e["actor"], e["role"], e["note"]) for e in seen["timeline"]] == [
        (action, "", "", "") for action in ("submit", "accept", "dispatch", "start", "resolve", "confirm")
    ]
    assert_nothing_personal(seen, STAFF_NOTE, "王五", reporter.account.public_id, grid.account.public_id)
    listed = (await client.get("/api/v1/reports/following", headers=neighbour.headers)).json()["items"]
    assert [i["id"] for i in listed] == [report["id"]] and listed[0]["redacted"] is True
    assert_nothing_personal(listed, STAFF_NOTE, "王五", reporter.account.public_id)
    # Its photos are the reporter's and the staff's: a follower is told they do not exist.
    assert (await client.get(f"/api/v1/reports/{report['id']}/photos", headers=neighbour.headers)).status_code == 404
    photo_url = upload.json()["url"]
    assert (await client.get(photo_url, headers=neighbour.headers)).status_code == 404

    # Told of each step, but the staff's note goes to the reporter only.
    await dispatcher.run_once()
    notes = {
        m["touser"]: m["data"]["thing4"]["value"]
        for m in wechat.sent_messages()
        if m["data"]["phrase2"]["value"] == "已办结"
    }
    assert notes[reporter.account.wechat_openid] == STAFF_NOTE[:20]
    assert notes[neighbour.account.wechat_openid] == "请在小程序查看详情"

    # The reporter still reads all of it, and the staff in scope too.
    mine = (await client.get(f"/api/v1/reports/{report['id']}", headers=reporter.headers)).json()
    assert (mine["text"], mine["redacted"], mine["reporter"]) == (PRIVATE, False, reporter.account.public_id)
    staff = (await client.get(f"/api/v1/reports/{report['id']}", headers=grid.headers)).json()
    assert (staff["text"], staff["lat"], staff["reporter"]) == (PRIVATE, HERE["lat"], None)


async def test_only_what_one_may_see_can_be_followed(app: Sanic, client: httpx.AsyncClient) -> None:
    reporter = await user(app, Role.RESIDENT)
    neighbour = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    community = await user(app, Role.GRID_STAFF, node="GM0101")
    outsiders = [
        await user(app, Role.GRID_STAFF, node="GM010102"),
        await user(app, Role.OFFICER, node="GM02"),
        await user(app, Role.PARTY_MEMBER, node="GM010102"),
        await user(app, Role.POLICE, node="GM02"),
    ]
    report = await submit(client, reporter, text=PRIVATE, **HERE)
    police = await submit(client, reporter, text="楼下有人聚众赌博", category="public_order", **HERE)
    for outsider in outsiders:
        refused = await client.put(f"/api/v1/reports/{report['id']}/follow", headers=outsider.headers)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "report_not_found"
        assert (await client.get(f"/api/v1/reports/{report['id']}", headers=outsider.headers)).status_code == 404
    refused = await client.put(f"/api/v1/reports/{police['id']}/follow", headers=neighbour.headers)
    assert refused.status_code == 404
    assert (await client.get("/api/v1/reports/following", headers=neighbour.headers)).json()["items"] == []
    # A follow of a police matter left from before such follows were refused opens nothing either.
    stored = await Report.get(public_id=police["id"])
    await ReportFollower.create(report_id=stored.id, account_id=neighbour.account.id, created_at=stored.created_at)
    assert (await client.get(f"/api/v1/reports/{police['id']}", headers=neighbour.headers)).status_code == 404
    assert (await client.get("/api/v1/reports/following", headers=neighbour.headers)).json()["items"] == []
    # Staff in scope follow (and read all of it, as before); a resident follows the public view.
    for who in (grid, community, neighbour):
        assert (await client.put(f"/api/v1/reports/{report['id']}/follow", headers=who.headers)).status_code == 200
    seen = (await client.get(f"/api/v1/reports/{report['id']}", headers=community.headers)).json()
    assert (seen["text"], seen["redacted"], seen["following"]) == (PRIVATE, False, True)


async def test_the_reporter_of_a_merged_report_reads_the_main_reports_public_view(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    first, second = await user(app, Role.RESIDENT), await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    main = await submit(client, first, text=PRIVATE, **HERE)
    duplicate = await submit(client, second, text="楼道灯坏了", **NEAR)
    assert (await move(client, grid, duplicate["id"], action="merge", merge_into=main["id"])).status_code == 200
    seen = await client.get(f"/api/v1/reports/{main['id']}", headers=second.headers)
    assert seen.status_code == 200 and seen.json()["redacted"] is True
    assert_nothing_personal(seen.json(), first.account.public_id)
    refused = await move(client, second, main["id"], action="confirm", satisfaction=5)
    assert refused.status_code == 403


async def test_an_anonymous_report_hides_its_reporter_in_every_answer_beside_a_named_one(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    named = await submit(client, resident, text="小区门口垃圾没人清")
    hidden = await submit(client, resident, text="楼上邻居装修噪音", anonymous=True)
    board = await client.put(
        "/api/v1/boards",
        json={
            "code": "GM010101-B05",
            "title": "第一网格",
            "node": "GM010101",
            "members": [{"name": "李红", "duty": "党建"}],
        },
        headers=grid.headers,
    )
    assert board.status_code == 200
    message = await client.post(
        "/api/v1/boards/GM010101-B05/messages", json={"text": "希望多装路灯"}, headers=resident.headers
    )
    on_board = message.json()["report"]
    me = resident.account.public_id

    feed = (await client.get("/api/v1/grid/feed", headers=grid.headers)).json()["items"]
    reporters = {i["id"]: i["reporter"] for i in feed}
    assert reporters == {named["id"]: me, hidden["id"]: None, on_board: None}
    for page_size in (1, 2):  # the same on every page shape
        first = (await client.get("/api/v1/grid/feed", params={"limit": page_size}, headers=grid.headers)).json()
        assert all(reporters[i["id"]] == i["reporter"] for i in first["items"])
    for report_id in (hidden["id"], on_board):
        detail = (await client.get(f"/api/v1/reports/{report_id}", headers=grid.headers)).json()
        assert detail["reporter"] is None
        assert me not in str(detail["timeline"])
        moved = await move(client, grid, report_id, action="accept")
        assert moved.json()["reporter"] is None
    # The reporter's own list names them in each (it is theirs).
    mine = (await client.get("/api/v1/reports/mine", headers=resident.headers)).json()["items"]
    assert {i["reporter"] for i in mine} == {me}


async def test_an_anonymous_reporter_is_only_reporter_in_each_of_their_steps(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    member = await user(app, Role.PARTY_MEMBER, node="GM010101")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    hidden = await submit(client, member, anonymous=True)
    assert (await move(client, grid, hidden["id"], action="return", note="请补充位置")).status_code == 200
    assert (await move(client, member, hidden["id"], action="resubmit")).status_code == 200
    for action, body in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": "修好了"})):
        assert (await move(client, grid, hidden["id"], action=action, **body)).status_code == 200
    assert (await move(client, member, hidden["id"], action="reopen", note="没修好")).status_code == 200
    detail = (await client.get(f"/api/v1/reports/{hidden['id']}", headers=grid.headers)).json()
    by_reporter = [(e["action"], e["actor"], e["role"]) for e in detail["timeline"] if e["role"] != "grid_staff"]
    assert by_reporter == [(a, "reporter", "reporter") for a in ("submit", "resubmit", "reopen")]
    assert member.account.public_id not in str(detail)


async def test_the_reporters_feedback_comment_reaches_the_staff_in_scope_and_nobody_else(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    reporter = await user(app, Role.RESIDENT)
    follower = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    report = await submit(client, reporter)
    assert (await client.put(f"/api/v1/reports/{report['id']}/follow", headers=follower.headers)).status_code == 200
    for action, body in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": "已更换灯具"})):
        assert (await move(client, grid, report["id"], action=action, **body)).status_code == 200
    confirmed = await move(client, reporter, report["id"], action="confirm", satisfaction=3, comment="修得慢，但修好了")
    assert confirmed.json()["comment"] == "修得慢，但修好了"

    staff = (await client.get(f"/api/v1/reports/{report['id']}", headers=grid.headers)).json()
    assert (staff["comment"], staff["satisfaction"]) == ("修得慢，但修好了", 3)
    feed = (await client.get("/api/v1/grid/feed", headers=grid.headers)).json()["items"]
    assert [(i["id"], i["comment"]) for i in feed] == [(report["id"], "修得慢，但修好了")]
    mine = (await client.get(f"/api/v1/reports/{report['id']}", headers=reporter.headers)).json()
    assert mine["comment"] == "修得慢，但修好了"
    followed = (await client.get(f"/api/v1/reports/{report['id']}", headers=follower.headers)).json()
    assert followed["comment"] is None and "修得慢" not in str(followed)
    assert (await client.get(f"/api/v1/reports/{report['id']}", headers=other_grid.headers)).status_code == 404


async def test_a_resident_never_learns_the_building_of_anothers_report(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Building codes are sequential and printed on stickers: walking them through `similar` must not
    tell a resident which building has an open report. A named building counts as its grid for a
    resident, and the answer never carries a building; personal matters are never suggested to one."""
    await import_rows(tmp_path, [row(1), row(2), row(3, grid="GM010102")])
    first, second, other_grid = "GM0101010001", "GM0101010002", "GM0101020003"
    reporter = await user(app, Role.RESIDENT)
    walker = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    lamp = await submit(client, reporter, text=PRIVATE, building=second, node=None, anonymous=True, **HERE)
    personal = {
        category: await submit(
            client, reporter, category=category, text="我家老人确诊肺结核，需要社区医生上门", building=second,
            node=None, anonymous=True, **HERE,
        )
        for category in ("health_family_planning", "labour_social_security")
    }  # fmt: skip

    # Every building of the grid gives the same answer, and none says which building.
    answers = [await similar(client, walker, lat=None, lng=None, building=code) for code in (first, second)]
    assert answers[0] == answers[1] and [i["id"] for i in answers[0]] == [lamp["id"]]
    assert answers[0][0]["building"] is None and answers[0][0]["place"] == COMMUNITY
    assert await similar(client, walker, lat=None, lng=None, building=other_grid) == []
    with_point = await similar(client, walker, building=second)
    assert [(i["id"], i["building"]) for i in with_point] == [(lamp["id"], None)]
    assert await similar(client, walker, lat=None, lng=None, building="GM0101019999") == []
    # A personal matter (health, labour and social security) is never suggested to a resident, however asked.
    for category in personal:
        for asked in ({"building": second}, {"building": second, "lat": None, "lng": None}, {}):
            assert await similar(client, walker, category=category, **asked) == [], (category, asked)
        assert await similar(client, walker, category=category, lat=None, lng=None, node="GM010101") == []

    # Staff in scope: as before, the very building, and named.
    assert await similar(client, grid, lat=None, lng=None, building=first) == []
    staff = await similar(client, grid, lat=None, lng=None, building=second)
    assert [(i["id"], i["building"]) for i in staff] == [(lamp["id"], second)]
    for category, report in personal.items():
        found = await similar(client, grid, category=category, lat=None, lng=None, building=second)
        assert [(i["id"], i["building"]) for i in found] == [(report["id"], second)]


async def test_only_those_who_may_still_read_a_report_hear_of_its_steps(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    """Once a report becomes a police matter, a resident who followed it, and the reporter of a report
    merged into it, may no longer read it (404): they are no longer told of its steps either. Its own
    reporter and the staff in scope still are; a disabled account is told nothing. Who is told is who
    reads it (``GET /reports/{id}``)."""
    reporter, follower, duplicate_reporter, disabled, early = [await user(app, Role.RESIDENT) for _ in range(5)]
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    watcher = await user(app, Role.GRID_STAFF, node="GM010101")
    volunteer = await user(app, Role.PARTY_MEMBER, node="GM010101", openid="o_volunteer_follows")
    admin = await user(app, Role.ADMIN, node="GM")
    report = await submit(client, reporter, text="楼下有人半夜吵闹", **HERE)
    duplicate = await submit(client, duplicate_reporter, text="楼下半夜很吵", **NEAR)
    # Followed the duplicate before it was merged: it does not read the main report, nor hears of it.
    assert (await client.put(f"/api/v1/reports/{duplicate['id']}/follow", headers=early.headers)).status_code == 200
    assert (await move(client, grid, duplicate["id"], action="merge", merge_into=report["id"])).status_code == 200
    assert (await client.get(f"/api/v1/reports/{report['id']}", headers=early.headers)).status_code == 404
    for who in (follower, watcher, volunteer, disabled):
        assert (await client.put(f"/api/v1/reports/{report['id']}/follow", headers=who.headers)).status_code == 200
    patched = await client.patch(
        f"/api/v1/accounts/{disabled.account.public_id}", json={"is_active": False}, headers=admin.headers
    )
    assert patched.status_code == 200, patched.text

    def told(state: str) -> set[str]:
        return {m["touser"] for m in wechat.sent_messages() if m["data"]["phrase2"]["value"] == state}

    def openids(*users: User) -> set[str]:
        return {u.account.wechat_openid for u in users if u.account.wechat_openid}

    assert (await move(client, grid, report["id"], action="accept")).status_code == 200
    await dispatcher.run_once()
    assert told("已受理") == openids(reporter, follower, duplicate_reporter, watcher, volunteer)
    for who in (follower, duplicate_reporter, watcher, volunteer):  # each one told reads it
        assert (await client.get(f"/api/v1/reports/{report['id']}", headers=who.headers)).status_code == 200

    recategorised = await client.put(
        f"/api/v1/reports/{report['id']}/category", json={"category": "public_order"}, headers=grid.headers
    )
    assert recategorised.status_code == 200, recategorised.text
    for who in (follower, duplicate_reporter, volunteer):  # a party member reads no police matter either
        assert (await client.get(f"/api/v1/reports/{report['id']}", headers=who.headers)).status_code == 404
    assert (await move(client, grid, report["id"], action="dispatch")).status_code == 200
    await dispatcher.run_once()
    assert told("已派单") == openids(reporter, watcher)
