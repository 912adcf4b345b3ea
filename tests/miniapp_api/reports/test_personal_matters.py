"""A person's own matters (卫生计生, 劳动和社会保障) are nobody else's (review 3, F2): another resident
can neither follow such a report nor read its public view, whether they learnt its id or followed it
before it became one, and is not told of its steps. Its reporter and the staff in scope read it as before."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports.models import Report, ReportFollower
from notify.dispatcher import Dispatcher
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_closed_loop import move, submit
from tests.support.wechat_fake import WeChatFake

HERE = {"lat": 22.7601, "lng": 113.9402}
PERSONAL = {
    "health_family_planning": "我家孩子疫苗接种有问题想咨询",
    "labour_social_security": "公司拖欠工资三个月了",
}


async def assert_hidden_from(client: httpx.AsyncClient, who: User, report_id: str) -> None:
    followed = await client.put(f"/api/v1/reports/{report_id}/follow", headers=who.headers)
    assert followed.status_code == 404 and followed.json()["error"]["code"] == "report_not_found", followed.text
    read = await client.get(f"/api/v1/reports/{report_id}", headers=who.headers)
    assert read.status_code == 404 and read.json()["error"]["code"] == "report_not_found", read.text
    moved = await move(client, who, report_id, action="confirm", satisfaction=5)
    assert moved.status_code == 404, moved.text
    assert (await client.get("/api/v1/reports/following", headers=who.headers)).json()["items"] == []


async def test_another_resident_can_neither_follow_nor_read_a_personal_report(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    reporter, neighbour = await user(app, Role.RESIDENT), await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    for category, text in PERSONAL.items():
        for anonymous in (False, True):
            report = await submit(client, reporter, category=category, text=text, anonymous=anonymous, **HERE)
            await assert_hidden_from(client, neighbour, report["id"])
            # Its reporter reads all of it; the staff in scope read and follow it.
            mine = (await client.get(f"/api/v1/reports/{report['id']}", headers=reporter.headers)).json()
            assert (mine["text"], mine["redacted"]) == (text, False)
            assert (await client.put(f"/api/v1/reports/{report['id']}/follow", headers=grid.headers)).status_code == 200
            staff = (await client.get(f"/api/v1/reports/{report['id']}", headers=grid.headers)).json()
            assert (staff["text"], staff["following"]) == (text, True)


async def test_a_follow_from_before_opens_nothing_and_tells_nothing(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    """Followed before such follows were refused, or while the report was of another kind: no public
    view, no news of its steps; the reporter is still told."""
    reporter, early, later = [await user(app, Role.RESIDENT) for _ in range(3)]
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    personal = await submit(client, reporter, category="health_family_planning", text="疫苗接种", **HERE)
    stored = await Report.get(public_id=personal["id"])
    await ReportFollower.create(report_id=stored.id, account_id=early.account.id, created_at=stored.created_at)
    ordinary = await submit(client, reporter, text="我想咨询一下医保报销的问题", **HERE)
    assert (await client.put(f"/api/v1/reports/{ordinary['id']}/follow", headers=later.headers)).status_code == 200
    recategorised = await client.put(
        f"/api/v1/reports/{ordinary['id']}/category", json={"category": "labour_social_security"}, headers=grid.headers
    )
    assert recategorised.status_code == 200, recategorised.text

    for who, report in ((early, personal), (later, ordinary)):
        await assert_hidden_from(client, who, report["id"])
        assert (await move(client, grid, report["id"], action="accept")).status_code == 200
    await dispatcher.run_once()
    told = [m["touser"] for m in wechat.sent_messages() if m["data"]["phrase2"]["value"] == "已受理"]
    assert sorted(told) == [reporter.account.wechat_openid] * 2


async def test_the_reporter_of_a_report_merged_into_a_personal_one_does_not_read_it(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    """As with a police matter: a report merged into someone else's personal report is the only thing
    its reporter reads (its state says merged); the other person's report stays theirs."""
    first, second = await user(app, Role.RESIDENT), await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    main = await submit(client, first, category="labour_social_security", text="工厂拖欠工资", **HERE)
    duplicate = await submit(client, second, category="labour_social_security", text="厂里欠薪", **HERE)
    assert (await move(client, grid, duplicate["id"], action="merge", merge_into=main["id"])).status_code == 200
    own = (await client.get(f"/api/v1/reports/{duplicate['id']}", headers=second.headers)).json()
    assert own["state"] == "merged"
    assert (await client.get(f"/api/v1/reports/{main['id']}", headers=second.headers)).status_code == 404
