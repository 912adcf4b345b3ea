"""No staff view of the outbox ties an anonymous report to its reporter (review 3, F1): the rows that
tell the reporter (and anyone else) of an anonymous report's steps show no recipient in the admin's
list, detail or retry, are outside a lower administrator's scope, and still go out as before."""

from __future__ import annotations

from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from notify.dispatcher import Dispatcher
from notify.models import Notification, Status
from tests.miniapp_api.ebikes.conftest import User, user
from tests.miniapp_api.reports.test_boards import BOARD
from tests.miniapp_api.reports.test_closed_loop import move, submit
from tests.support.wechat_fake import WeChatFake

ADMIN = "/api/v1/admin/notifications"
PHONE, MASKED = "13800000001", "138****0001"
HIDDEN = {"account": None, "wechat": None, "phone": None, "email": None, "hidden": "anonymous_report"}


async def outbox(client: httpx.AsyncClient, admin: User) -> list[dict[str, Any]]:
    answer = await client.get(ADMIN, params={"template": "report.updated", "limit": 500}, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_the_outbox_does_not_show_who_hears_of_an_anonymous_report(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, wechat: WeChatFake
) -> None:
    admin = await user(app, Role.ADMIN)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    reporter = await user(app, Role.RESIDENT, phone=PHONE)
    follower = await user(app, Role.RESIDENT)
    named_reporter = await user(app, Role.RESIDENT)
    hidden = await submit(client, reporter, anonymous=True)
    assert (await client.put(f"/api/v1/reports/{hidden['id']}/follow", headers=follower.headers)).status_code == 200
    named = await submit(client, named_reporter)
    for action in ("accept", "dispatch"):
        assert (await move(client, grid, hidden["id"], action=action)).status_code == 200
    assert (await move(client, grid, named["id"], action="accept")).status_code == 200

    rows = await outbox(client, admin)
    shown = [r["recipient"] for r in rows if r["recipient"]["hidden"] is None]
    # The named report's two rows (submit, accept) name its reporter; nothing else does.
    assert [r["account"] for r in shown] == [named_reporter.account.public_id] * 2
    assert [r["recipient"] for r in rows if r["recipient"]["hidden"]] == [
        HIDDEN
    ] * 5  # 3 to the reporter, 2 to the follower
    text = str(rows)
    for secret in (reporter.account.public_id, follower.account.public_id, MASKED, PHONE):
        assert secret not in text
    for row in rows:
        detail = await client.get(f"{ADMIN}/{row['id']}", headers=admin.headers)
        assert detail.status_code == 200 and detail.json()["recipient"] == row["recipient"]

    # Delivery is as before: the reporter and the follower hear of each step.
    await dispatcher.run_once()
    told = [m["touser"] for m in wechat.sent_messages()]
    assert told.count(reporter.account.wechat_openid) == 3 and told.count(follower.account.wechat_openid) == 2
    assert all(r["status"] == "sent" for r in await outbox(client, admin))

    # A retry (an admin's action on the row) shows and audits no recipient either.
    one = next(r for r in rows if r["recipient"]["hidden"])
    await Notification.filter(public_id=one["id"]).update(status=Status.DEAD)
    retried = await client.post(f"{ADMIN}/{one['id']}/retry", headers=admin.headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["recipient"] == HIDDEN
    audit = await client.get("/api/v1/admin/audit", params={"action": "notification.retry"}, headers=admin.headers)
    assert audit.status_code == 200, audit.text
    [entry] = audit.json()["items"]
    assert entry["target"] == one["id"] and entry["scope"] in ("", None)  # not the reporter's node
    assert reporter.account.public_id not in audit.text


async def test_a_board_message_and_a_merged_anonymous_report_stay_unnamed(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    admin = await user(app, Role.ADMIN)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    author = await user(app, Role.RESIDENT, phone=PHONE)
    named_reporter = await user(app, Role.RESIDENT)
    assert (await client.put("/api/v1/boards", json=BOARD, headers=grid.headers)).status_code == 200
    sent = await client.post(
        f"/api/v1/boards/{BOARD['code']}/messages", json={"text": "楼下电动车乱停放"}, headers=author.headers
    )
    assert sent.status_code == 201, sent.text
    # An anonymous report merged into a named one: the main report's steps reach its reporter too.
    duplicate = await submit(client, author, anonymous=True)
    main = await submit(client, named_reporter)
    assert (await move(client, grid, duplicate["id"], action="merge", merge_into=main["id"])).status_code == 200
    assert (await move(client, grid, main["id"], action="accept")).status_code == 200

    rows = await outbox(client, admin)
    assert author.account.public_id not in str(rows) and MASKED not in str(rows)
    shown = [r["recipient"]["account"] for r in rows if r["recipient"]["hidden"] is None]
    assert set(shown) == {named_reporter.account.public_id}
    assert sum(1 for r in rows if r["recipient"]["hidden"]) >= 3  # board message, duplicate, main's accept


async def test_a_lower_administrator_sees_no_row_of_an_anonymous_report(app: Sanic, client: httpx.AsyncClient) -> None:
    street_admin = await user(app, Role.ADMIN, node="GM01")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    party = await user(app, Role.PARTY_MEMBER, node="GM010101", phone=PHONE)
    named = await submit(client, party)
    hidden = await submit(client, party, anonymous=True)
    for report in (named, hidden):
        assert (await move(client, grid, report["id"], action="accept")).status_code == 200
    rows = await outbox(client, street_admin)
    assert [r["recipient"]["account"] for r in rows] == [party.account.public_id] * 2  # the named report's
    counts = (await client.get(ADMIN, headers=street_admin.headers)).json()["counts"]
    assert sum(counts.values()) == 2
    district = await outbox(client, await user(app, Role.ADMIN))
    hidden_ids = [r["id"] for r in district if r["recipient"]["hidden"]]
    assert len(hidden_ids) == 2
    for public_id in hidden_ids:
        assert (await client.get(f"{ADMIN}/{public_id}", headers=street_admin.headers)).status_code == 404
