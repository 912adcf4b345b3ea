"""Party members (volunteers) read neither police matters nor a person's own matters (health, labour),
and never whose a report is (review 3, F9): not in the feed, the detail, photos, moves, similar, the
ledger or hot topics; the reports they may read show no reporter."""

from __future__ import annotations

import datetime as dt

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.clinic.ledgers import BEIJING
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import move, submit

CLOSED = ("public_order", "health_family_planning", "labour_social_security")


async def test_a_party_member_reads_no_closed_category_and_no_reporter(app: Sanic, client: httpx.AsyncClient) -> None:
    party = await user(app, Role.PARTY_MEMBER, node="GM010101")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    resident = await user(app, Role.RESIDENT)
    open_one = await submit(client, resident, text="楼道灯坏了")
    closed = [await submit(client, resident, category=key, text="我家孩子疫苗接种有问题") for key in CLOSED]
    assert (await move(client, grid, open_one["id"], action="accept")).status_code == 200

    feed = (await client.get("/api/v1/grid/feed", params={"limit": 50}, headers=party.headers)).json()["items"]
    assert [r["id"] for r in feed] == [open_one["id"]]
    assert feed[0]["reporter"] is None and resident.account.public_id not in str(feed)
    for key in CLOSED:
        filtered = await client.get("/api/v1/grid/feed", params={"category": key}, headers=party.headers)
        assert filtered.status_code == 200 and filtered.json()["items"] == []
    detail = await client.get(f"/api/v1/reports/{open_one['id']}", headers=party.headers)
    assert detail.status_code == 200 and detail.json()["reporter"] is None
    assert resident.account.public_id not in detail.text
    for report in closed:
        for path in (f"/api/v1/reports/{report['id']}", f"/api/v1/reports/{report['id']}/photos"):
            assert (await client.get(path, headers=party.headers)).status_code == 404
        assert (await move(client, party, report["id"], action="accept")).status_code == 404
        similar = await client.get(
            "/api/v1/reports/similar",
            params={"category": report["category"], "node": "GM010101"},
            headers=party.headers,
        )
        assert similar.status_code == 200 and similar.json()["items"] == []
    # Grid staff still read them all, with the reporter.
    staff_feed = (await client.get("/api/v1/grid/feed", params={"limit": 50}, headers=grid.headers)).json()["items"]
    assert len(staff_feed) == 4
    staff_detail = await client.get(f"/api/v1/reports/{closed[0]['id']}", headers=grid.headers)
    assert staff_detail.json()["reporter"] == resident.account.public_id

    today = dt.datetime.now(BEIJING).date().isoformat()  # ledger days are Beijing's, not the machine's
    ledger = await client.get("/api/v1/clinic/ledger", params={"since": today, "until": today}, headers=party.headers)
    assert ledger.status_code == 200, ledger.text
    for key in CLOSED:
        assert key not in ledger.text
    assert (
        key
        in (
            await client.get("/api/v1/clinic/ledger", params={"since": today, "until": today}, headers=grid.headers)
        ).text
    )
    hot = await client.get("/api/v1/clinic/hot", headers=party.headers)
    assert hot.status_code == 200 and "疫苗" not in hot.text
