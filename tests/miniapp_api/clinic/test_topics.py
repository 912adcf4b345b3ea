"""Hot topics over HTTP: real citizen messages filed as reports in two grids; the district sees the
car-park bundling campaign rise in its week, a grid sees only its own reports."""

from __future__ import annotations

import datetime as dt
import secrets

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.reports import catalogue
from miniapp_api.reports.models import Category, Report
from tests.miniapp_api.clinic.test_hot import BUNDLING_WEEK, SAMPLE, read_messages
from tests.miniapp_api.ebikes.conftest import user

BEIJING = dt.timezone(dt.timedelta(hours=8))
GRIDS = ("/GM/GM01/GM0101/GM010101/", "/GM/GM01/GM0101/GM010102/")


async def file_the_sample() -> None:
    await catalogue.ensure_defaults()
    category = await Category.get(key="urban_construction")
    rows = []
    for n, message in enumerate(read_messages(SAMPLE)):
        at = message.at.replace(tzinfo=BEIJING)
        rows.append(
            Report(
                public_id=f"rp_{secrets.token_hex(6)}",
                report_no=f"MXQ{n:012d}",
                category_id=category.id,
                text=message.text,
                channel="miniapp",
                node_path=GRIDS[n % 2],
                state="closed",
                state_since=at,
                created_at=at,
                updated_at=at,
            )
        )
    await Report.bulk_create(rows, batch_size=500)


async def test_hot_topics_of_a_week_under_the_callers_node(app: Sanic, client: httpx.AsyncClient) -> None:
    district = await user(app, Role.ADMIN, node="GM")
    grid = await user(app, Role.GRID_STAFF, node="GM010102")
    await file_the_sample()

    response = await client.get(
        "/api/v1/clinic/hot", params={"week": BUNDLING_WEEK.isoformat(), "top": 5}, headers=district.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["week"] == BUNDLING_WEEK.isoformat() and body["reports"] > 50
    top = body["groups"][0]
    assert top["size"] >= 10 and top["change"] > 0
    texts = await Report.filter(public_id__in=top["reports"]).values_list("text", flat=True)
    assert all("伊景园" in t or "滨河苑" in t or "车位" in t for t in texts)
    assert body["terms"] and all(t["count"] >= t["previous"] for t in body["terms"][:3])

    # A grid sees the reports of its own grid only.
    mine = await client.get("/api/v1/clinic/hot", params={"week": BUNDLING_WEEK.isoformat()}, headers=grid.headers)
    ids = [i for g in mine.json()["groups"] for i in g["reports"]]
    assert ids and set(await Report.filter(public_id__in=ids).values_list("node_path", flat=True)) == {GRIDS[1]}
    assert mine.json()["reports"] < body["reports"]

    # An empty week, bad input, and residents.
    quiet = await client.get("/api/v1/clinic/hot", params={"week": "2001-01-01"}, headers=district.headers)
    assert quiet.json() == {"week": "2001-01-01", "reports": 0, "terms": [], "groups": []}
    assert (await client.get("/api/v1/clinic/hot", params={"top": 0}, headers=grid.headers)).status_code == 422
    assert (await client.get("/api/v1/clinic/hot", params={"week": "soon"}, headers=grid.headers)).status_code == 422
    for edge in ("0001-01-01", "9999-12-31"):  # off the calendar's ends: refused, not a 500
        assert (await client.get("/api/v1/clinic/hot", params={"week": edge}, headers=grid.headers)).status_code == 422
    resident = await user(app, Role.RESIDENT)
    assert (await client.get("/api/v1/clinic/hot", headers=resident.headers)).status_code == 403


async def test_an_anonymous_report_is_a_voice_of_its_own(app: Sanic, client: httpx.AsyncClient) -> None:
    """Nothing in hot topics ties an anonymous report to its reporter's account: neither a group's voices
    nor the voices a rising term needs count it as the same person as a named report."""
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010102")
    texts = (
        "伊景园滨河苑停车场强制捆绑销售车位，不买车位不给停车，请尽快处理",
        "伊景园滨河苑停车场强制捆绑销售车位，不买不让停，请尽快处理",
        "伊景园滨河苑停车场强制捆绑销售车位，请相关部门尽快处理",
    )
    for n, text in enumerate(texts):
        body = {"category": "urban_construction", "text": text, "node": "GM010102", "anonymous": n > 0}
        response = await client.post("/api/v1/reports", json=body, headers=resident.headers)
        assert response.status_code == 201, response.text

    hot = await client.get("/api/v1/clinic/hot", headers=grid.headers)
    assert hot.status_code == 200, hot.text
    group = hot.json()["groups"][0]
    assert (group["size"], group["voices"]) == (3, 3)
    # Three voices say 伊景园滨河苑 (one person by name, two nobody knows): a rising term.
    assert any("伊景园" in t["term"] for t in hot.json()["terms"]), hot.json()["terms"]
