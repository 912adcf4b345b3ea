"""Open311 GeoReport v2 over HTTP: services, reading requests with each filter, filing with an API key
(form and JSON), tokens, the Open311 error shape, no personal data in any answer, the status mapping,
and the administration of API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.open311 import routes as open311_routes
from miniapp_api.open311.models import Open311Client, Open311Request
from miniapp_api.open311.schemas import MAX_IDS_LENGTH
from miniapp_api.reports import service as reports
from miniapp_api.reports.models import Report, ReportEvent
from server.ratelimit import Rate
from tests.factories import id_number
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import User, user

BASE = "/open311/v2"
ADMIN = "/api/v1/admin/open311/clients"
REPORT = {"category": "urban_construction", "text": "楼道灯坏了一个星期，晚上很黑", "node": "GM010101"}
WHERE = {"lat": "22.7489", "long": "113.9354"}
# What a civic app sends about its user: none of it may be stored or come back.
REPORTER_FIELDS = {
    "email": "wang.xiaoming@example.cn",
    "phone": "13987654321",
    "first_name": "小明",
    "last_name": "王",
    "device_id": "device-7f3a9c",
    "account_id": "fms-user-4242",
}


def assert_open311_error(response: httpx.Response, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    body: list[dict[str, Any]] = response.json()
    assert isinstance(body, list) and body, body
    for item in body:
        assert set(item) == {"code", "description"} and item["code"] == status and item["description"]
    return body


async def make_key(client: httpx.AsyncClient, admin: User, name: str, node: str | None = None) -> str:
    body = {"name": name} if node is None else {"name": name, "node": node}
    response = await client.post(ADMIN, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


async def file_report(client: httpx.AsyncClient, who: User, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/reports", json={**REPORT, **changes}, headers=who.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def move(client: httpx.AsyncClient, who: User, report_id: str, **body: Any) -> None:
    response = await client.post(f"/api/v1/reports/{report_id}/transitions", json=body, headers=who.headers)
    assert response.status_code == 200, response.text


async def requested_days_ago(report_id: str, days: int) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    await Report.filter(public_id=report_id).update(created_at=at, updated_at=at)


async def listed(client: httpx.AsyncClient, **params: str) -> list[str]:
    response = await client.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


# Services ------------------------------------------------------------------------------------------


async def test_services_and_a_service_definition(app: Sanic, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/services.json")
    assert response.status_code == 200, response.text
    services = response.json()
    assert len(services) == 8  # the eleven categories but public order (a police matter), health and labour
    first = services[0]
    assert first == {
        "service_code": "urban_construction",
        "service_name": "城乡建设",
        "description": first["description"],
        "metadata": False,
        "type": "realtime",
        "keywords": "",
        "group": "光明区住房和建设局",
    }
    assert {s["service_code"] for s in services} >= {"fire_safety", "rental_housing", "other"}
    ours = await client.get(f"{BASE}/services.json", params={"jurisdiction_id": "guangming.shenzhen.gov.cn"})
    assert ours.json() == services

    definition = await client.get(f"{BASE}/services/fire_safety.json")
    assert definition.status_code == 200, definition.text
    assert definition.json() == {"service_code": "fire_safety", "attributes": []}

    assert_open311_error(await client.get(f"{BASE}/services/no_such_thing.json"), 404)
    assert_open311_error(await client.get(f"{BASE}/services.json", params={"jurisdiction_id": "sf.gov"}), 404)
    # JSON only: the XML addresses say so, in Open311's shape.
    for path in ("/services.xml", "/requests.xml", "/services/fire_safety.xml", "/services/fire_safety"):
        errors = assert_open311_error(await client.get(BASE + path), 400)
        assert "JSON" in errors[0]["description"]
    assert_open311_error(await client.get(f"{BASE}/discovery.json"), 404)


# Filing with an API key ----------------------------------------------------------------------------


async def test_a_client_files_by_form_and_by_json_and_the_grid_sees_it(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    admin = await user(app, Role.ADMIN)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    await import_rows(tmp_path, [row(1)])
    key = await make_key(client, admin, "光明区12345热线", node="GM010101")

    # Form-encoded, as the spec has it, with a point only: the key's area places it.
    form = {
        "api_key": key,
        "service_code": "urban_construction",
        "description": "华夏路路灯不亮",
        "jurisdiction_id": "guangming.shenzhen.gov.cn",
        **WHERE,
        **REPORTER_FIELDS,
    }
    filed = await client.post(f"{BASE}/requests.json", data=form)
    assert filed.status_code == 201, filed.text
    [answer] = filed.json()
    assert set(answer) == {"service_request_id", "token", "service_notice", "account_id"}
    assert answer["account_id"] is None and "MXQ" in answer["service_notice"]
    first = await Report.get(public_id=answer["service_request_id"])
    assert (first.channel, first.reporter_id, first.node_path) == ("open311", None, "/GM/GM01/GM0101/GM010101/")
    assert (first.lat, first.lng, first.building_code) == (22.7489, 113.9354, None)
    event = await ReportEvent.get(report_id=first.id, action="submit")
    assert (event.actor, event.role) == ("open311:光明区12345热线", "system")

    # JSON, at a building: its grid and its address.
    body = {
        "api_key": key,
        "service_code": "fire_safety",
        "description": "楼道堆放杂物堵住了消防通道",
        "address_id": "GM0101010001",
        "address_string": "华夏路1号",
        "lat": 22.7491,
        "long": 113.9356,
        **REPORTER_FIELDS,
    }
    filed_json = await client.post(f"{BASE}/requests.json", json=body)
    assert filed_json.status_code == 201, filed_json.text
    [second_answer] = filed_json.json()
    second = await Report.get(public_id=second_answer["service_request_id"])
    assert (second.building_code, second.node_path) == ("GM0101010001", "/GM/GM01/GM0101/GM010101/")
    assert (second.lat, second.lng) == (22.7491, 113.9356)
    assert "华夏路1号" in second.text

    # Nothing of the reporter was kept, anywhere it could have gone.
    stored = [r.text for r in await Report.all()] + [e.actor + e.note for e in await ReportEvent.all()]
    for value in REPORTER_FIELDS.values():
        assert not any(value in text for text in stored), value
        assert value not in filed.text + filed_json.text

    # The grid sees both in its feed, as any report.
    feed = await client.get("/api/v1/grid/feed", headers=grid.headers)
    assert {r["id"] for r in feed.json()["items"]} == {first.public_id, second.public_id}

    # The tokens resolve; reading back shows the building's address and code.
    for answer_item in (answer, second_answer):
        resolved = await client.get(f"{BASE}/tokens/{answer_item['token']}.json")
        assert resolved.status_code == 200, resolved.text
        assert resolved.json() == [
            {"service_request_id": answer_item["service_request_id"], "token": answer_item["token"]}
        ]
    one = await client.get(f"{BASE}/requests/{second.public_id}.json")
    assert one.status_code == 200, one.text
    [view] = one.json()
    assert view["address_id"] == "GM0101010001"
    assert view["address"] == "深圳市光明区光明街道光明社区华夏路1号"
    assert (view["description"], view["media_url"]) == ("楼道堆放杂物堵住了消防通道", None)  # not the 地址 line
    assert (view["status"], view["service_code"], view["service_name"]) == ("open", "fire_safety", "消防安全")
    assert await Open311Request.filter(client__name="光明区12345热线").count() == 2
    assert (await Open311Client.get(name="光明区12345热线")).last_used_at is not None


async def test_refusals_answer_in_open311_shape(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    admin = await user(app, Role.ADMIN)
    await import_rows(tmp_path, [row(1), row(2, grid="GM010102")])
    bounded = await make_key(client, admin, "社区App", node="GM010101")
    unbounded = await make_key(client, admin, "区级热线")
    revoked = await make_key(client, admin, "旧系统", node="GM010101")
    revoked_id = (await Open311Client.get(name="旧系统")).public_id
    assert (await client.post(f"{ADMIN}/{revoked_id}/revoke", headers=admin.headers)).status_code == 200
    good = {"api_key": bounded, "service_code": "transport", "description": "公交站牌倒了", **WHERE}

    async def post(**changes: Any) -> httpx.Response:
        data = {k: v for k, v in {**good, **changes}.items() if v is not None}
        return await client.post(f"{BASE}/requests.json", data=data)

    for key in ("o311_not-a-key", None, revoked, "x" * 500):
        errors = assert_open311_error(await post(api_key=key), 403)
        assert "api_key" in errors[0]["description"]
    errors = assert_open311_error(await post(service_code=None), 400)
    assert errors[0]["description"].startswith("service_code")
    assert_open311_error(await post(lat=None, long=None), 400)  # no location at all
    assert_open311_error(await post(long=None), 400)  # lat without long
    assert_open311_error(await post(lat="95"), 400)
    assert_open311_error(await post(media_url="javascript:alert(1)"), 400)
    assert_open311_error(await post(service_code="no_such_thing"), 404)
    assert_open311_error(await post(jurisdiction_id="sf.gov"), 404)
    assert_open311_error(await post(address_id="NOSUCHBUILDING"), 400)
    # A key bound to one grid files nowhere else; an unbounded key needs a building to place a point.
    assert_open311_error(await post(address_id="GM0101020002"), 403)
    assert_open311_error(await post(api_key=unbounded), 400)
    placed = await post(api_key=unbounded, address_id="GM0101020002", lat=None, long=None)
    assert placed.status_code == 201, placed.text
    # Bodies the API cannot read.
    bad_json = await client.post(
        f"{BASE}/requests.json", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_open311_error(bad_json, 400)
    assert_open311_error(await client.post(f"{BASE}/requests.json", json=["a", "list"]), 400)
    text = await client.post(f"{BASE}/requests.json", content=b"hello", headers={"content-type": "text/plain"})
    assert_open311_error(text, 400)
    assert_open311_error(await post(description="a\x00b"), 400)
    # Only the one good request was filed.
    assert await Report.all().count() == 1

    assert_open311_error(await client.get(f"{BASE}/requests/rp_doesnotexist.json"), 404)
    assert_open311_error(await client.get(f"{BASE}/tokens/not-a-token.json"), 404)
    assert_open311_error(await client.get(f"{BASE}/requests.json", params={"jurisdiction_id": "sf.gov"}), 404)


async def test_a_point_alone_is_placed_at_the_nearest_building(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    admin = await user(app, Role.ADMIN)
    resident = await user(app, Role.RESIDENT)
    await import_rows(tmp_path, [row(1), row(2, grid="GM010102")])
    # Buildings are where reports filed at them were made: building 1 here, building 2 about 2 km away.
    await file_report(client, resident, building="GM0101010001", lat=22.7489, lng=113.9354)
    await file_report(client, resident, building="GM0101020002", node="GM010102", lat=22.7600, lng=113.9500)
    district = await make_key(client, admin, "区级热线")
    bounded = await make_key(client, admin, "社区App", node="GM010101")

    async def post(key: str, **place: str) -> httpx.Response:
        data = {"api_key": key, "service_code": "transport", "description": "公交站牌倒了", **place}
        return await client.post(f"{BASE}/requests.json", data=data)

    async def grid_of(response: httpx.Response) -> tuple[str, str | None]:
        assert response.status_code == 201, response.text
        report = await Report.get(public_id=response.json()[0]["service_request_id"])
        return report.node_path, report.building_code

    # About 75 m from building 1: its grid (the report is near it, not said to be about it).
    assert await grid_of(await post(district, lat="22.7495", long="113.9358")) == ("/GM/GM01/GM0101/GM010101/", None)
    assert await grid_of(await post(district, lat="22.7601", long="113.9501")) == ("/GM/GM01/GM0101/GM010102/", None)
    assert await grid_of(await post(district, address_string="华夏路2号")) == ("/GM/GM01/GM0101/GM010102/", None)
    # Nothing known within 200 m, or an address no building (or several) has: refused, saying why.
    far = assert_open311_error(await post(district, lat="22.7530", long="113.9354"), 400)  # about 450 m
    assert "200 m" in far[0]["description"]
    assert_open311_error(await post(district, address_string="华夏路"), 400)
    assert_open311_error(await post(district, address_string="长安街1号"), 400)
    assert_open311_error(await post(district, lat="91", long="113.9"), 400)
    assert_open311_error(await post(district, lat="22.7", long="-181"), 400)
    # A key bound to a grid files there (near building 1, or nowhere known), never near another grid's building.
    assert await grid_of(await post(bounded, lat="22.7490", long="113.9355")) == ("/GM/GM01/GM0101/GM010101/", None)
    assert await grid_of(await post(bounded, lat="22.7530", long="113.9354")) == ("/GM/GM01/GM0101/GM010101/", None)
    assert_open311_error(await post(bounded, lat="22.7601", long="113.9501"), 403)
    assert_open311_error(await post(bounded, address_string="华夏路2号"), 403)


async def test_a_client_that_files_too_fast_is_slowed_down(
    app: Sanic, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(open311_routes, "POST_RATE", Rate(2, 60))
    admin = await user(app, Role.ADMIN)
    key = await make_key(client, admin, "急躁的App", node="GM010101")
    data = {"api_key": key, "service_code": "other", "description": "路面有坑", **WHERE}
    for _ in range(2):
        assert (await client.post(f"{BASE}/requests.json", data=data)).status_code == 201
    refused = await client.post(f"{BASE}/requests.json", data=data)
    assert_open311_error(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    # Another key has its own budget.
    other = await make_key(client, admin, "另一个App", node="GM010101")
    assert (await client.post(f"{BASE}/requests.json", data={**data, "api_key": other})).status_code == 201


# Reading requests -----------------------------------------------------------------------------------


async def test_requests_with_each_filter_and_the_90_day_default(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    handler = await user(app, Role.OFFICER, node="GM0101")
    light = await file_report(client, resident)
    smoke = await file_report(client, resident, category="fire_safety", text="楼下有人烧垃圾，烟很大")
    old = await file_report(client, resident, text="三个月前的问题")
    ancient = await file_report(client, resident, text="很久以前的问题")
    await requested_days_ago(old["id"], 60)
    await requested_days_ago(ancient["id"], 120)
    for action, extra in (("accept", {}), ("dispatch", {}), ("start", {}), ("resolve", {"note": "已处理"})):
        await move(client, grid if action in ("accept", "dispatch") else handler, smoke["id"], action=action, **extra)

    # By default: the last 90 days, newest first.
    assert await listed(client) == [smoke["id"], light["id"], old["id"]]
    assert await listed(client, service_code="fire_safety") == [smoke["id"]]
    assert await listed(client, service_code="fire_safety,urban_construction") == [smoke["id"], light["id"], old["id"]]
    assert await listed(client, service_code="no_such_thing") == []
    assert await listed(client, status="closed") == [smoke["id"]]
    assert await listed(client, status="open") == [light["id"], old["id"]]
    assert await listed(client, status="open,closed") == [smoke["id"], light["id"], old["id"]]
    # Ids: the other filters are ignored, and the window too.
    assert await listed(client, service_request_id=f"{ancient['id']},{light['id']}", status="closed") == [
        light["id"],
        ancient["id"],
    ]
    # A span: from a start (90 days on), up to an end (90 days back), or both.
    now = dt.datetime.now(dt.UTC)
    iso = lambda days: (now - dt.timedelta(days=days)).isoformat()  # noqa: E731
    assert await listed(client, start_date=iso(130), end_date=iso(100)) == [ancient["id"]]
    assert await listed(client, start_date=iso(130)) == [old["id"], ancient["id"]]
    assert await listed(client, start_date=iso(100)) == [old["id"]]
    assert await listed(client, end_date=iso(50)) == [old["id"], ancient["id"]]
    assert await listed(client, end_date=iso(100)) == [ancient["id"]]
    assert await listed(client, start_date=iso(1)) == [smoke["id"], light["id"]]
    beijing_date = (now + dt.timedelta(hours=8) - dt.timedelta(days=61)).date().isoformat()  # no offset: Beijing
    assert await listed(client, start_date=beijing_date, end_date=iso(59)) == [old["id"]]
    # Refused: too long a span, an end before the start, an unknown status, a date that is none.
    assert_open311_error(
        await client.get(f"{BASE}/requests.json", params={"start_date": iso(200), "end_date": iso(1)}), 400
    )
    assert_open311_error(
        await client.get(f"{BASE}/requests.json", params={"start_date": iso(1), "end_date": iso(2)}), 400
    )
    assert_open311_error(await client.get(f"{BASE}/requests.json", params={"status": "pending"}), 400)
    assert_open311_error(await client.get(f"{BASE}/requests.json", params={"start_date": "yesterday"}), 400)
    # Unknown parameters (extensions some clients send) are ignored.
    assert await listed(client, extensions="true", page="1") == [smoke["id"], light["id"], old["id"]]


async def test_dates_outside_the_years_2000_to_2100_are_refused(app: Sanic, client: httpx.AsyncClient) -> None:
    # 90 days before year 1 or after year 9999 is no date at all: refused, not a 500.
    for params in (
        {"end_date": "0001-01-05T00:00:00"},
        {"start_date": "9999-12-30T00:00:00"},
        {"start_date": "0001-01-01T00:00:00+14:00", "end_date": "0001-01-02T00:00:00"},
        {"start_date": "1999-12-31T23:59:59+08:00"},
        {"end_date": "2101-01-01"},
    ):
        errors = assert_open311_error(await client.get(f"{BASE}/requests.json", params=params), 400)
        assert "2000 to 2100" in errors[0]["description"], params
    assert await listed(client, start_date="2000-01-01T00:00:00", end_date="2000-03-01T00:00:00") == []
    assert await listed(client, start_date="2100-12-31T00:00:00+08:00") == []


async def test_a_long_id_list_is_refused_in_open311_shape_within_the_documented_limit(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    ids = ",".join(["rp_abcdefghijklm"] * 500)
    assert await listed(client, service_request_id=ids[:MAX_IDS_LENGTH]) == []  # the documented limit is served
    errors = assert_open311_error(
        await client.get(f"{BASE}/requests.json", params={"service_request_id": ids[: MAX_IDS_LENGTH + 1]}), 400
    )
    assert errors[0]["description"].startswith("service_request_id")
    # Past 8 KiB of request line the server refuses it before any handler (the documented 413).
    assert (await client.get(f"{BASE}/requests.json", params={"service_request_id": ids * 2})).status_code == 413
    doc = (await client.get("/docs/openapi.json")).json()
    [param] = [
        p for p in doc["paths"]["/open311/v2/requests.json"]["get"]["parameters"] if p["name"] == "service_request_id"
    ]
    assert "8 KiB" in param["description"] and "413" in param["description"]


async def test_at_most_1000_requests_are_answered(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    first = await file_report(client, resident)
    template = await Report.get(public_id=first["id"])
    now = dt.datetime.now(dt.UTC)
    await Report.bulk_create(
        [
            Report(
                public_id=f"rp_bulk{n:06d}",
                report_no=f"MXQBULK{n:07d}",
                category_id=template.category_id,
                text="批量",
                channel="miniapp",
                node_path=template.node_path,
                state=template.state,
                state_since=now,
                created_at=now - dt.timedelta(minutes=n + 1),
                updated_at=now,
            )
            for n in range(1000)
        ]
    )
    ids = await listed(client)
    assert len(ids) == 1000 and ids[0] == first["id"]


async def test_no_personal_data_leaves(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    resident = await user(app, Role.RESIDENT, phone="13700001111")
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    await import_rows(tmp_path, [row(1)])
    number = id_number(7)
    text = (
        f"我叫张三，电话13812345678，也可以打+86 139-1234-5678，"
        f"身份证{number}，老身份证440311880301123，邮箱zhangsan@qq.com，门口的灯坏了"
    )
    named = await file_report(client, resident, text=text, building="GM0101010001", lat=22.748912, lng=113.935437)
    hidden = await file_report(client, resident, text="楼上噪音很大", anonymous=True)
    # A message left on a party board: anonymous, with the author known only to the system.
    board = await reports.submit(
        reporter=resident.account,
        principal=None,
        category_key="other",
        text="希望小区多装几个路灯",
        node_code="GM010101",
        channel="board",
        anonymous=True,
        source="board",
    )
    await move(client, grid, hidden["id"], action="merge", merge_into=named["id"])

    answers = [await client.get(f"{BASE}/requests.json")]
    answers += [await client.get(f"{BASE}/requests/{i}.json") for i in (named["id"], hidden["id"], board.public_id)]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        for secret in (
            "13812345678", "139-1234-5678", number, "440311880301123", "zhangsan@qq.com", "13700001111",
            resident.account.public_id, grid.account.public_id, "anonymous", "reporter", "channel", "board",
            # A resident did not write for publication: not even the redacted text, nor the building, leaves.
            "张三", "门口的灯坏了", "楼上噪音很大", "希望小区多装几个路灯", "华夏路", "GM0101010001",
        ):  # fmt: skip
            assert secret not in answer.text, (secret, answer.text)
    views = {v["service_request_id"]: v for v in answers[0].json()}
    assert set(views) == {named["id"], hidden["id"], board.public_id}
    for view in views.values():
        assert view["description"] == f"居民反映：{view['service_name']}"
        assert (view["address"], view["address_id"], view["media_url"]) == ("光明区光明街道光明社区", None, None)
    assert views[board.public_id]["description"] == "居民反映：其他"
    assert (views[named["id"]]["lat"], views[named["id"]]["long"]) == (22.749, 113.935)
    assert set(views[named["id"]]) == {
        "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
        "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
        "address", "address_id", "zipcode", "lat", "long", "media_url",
    }  # fmt: skip
    # The stored text is the citizen's own: the grid reads it all.
    assert "13812345678" in (await Report.get(public_id=named["id"])).text


async def test_a_request_filed_through_open311_is_published_redacted_with_its_media_url(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    admin = await user(app, Role.ADMIN)
    await import_rows(tmp_path, [row(1)])
    key = await make_key(client, admin, "civic-app", node="GM010101")
    photo = "https://img.example.cn/p/7f3a9c.jpg"
    description = (
        "路灯坏了，联系王先生0755-27123456，身份证440306-19900101-123X，车牌粤B12345挡住消防通道，邮箱 张三@例子.中国"
    )
    form = {
        "api_key": key, "service_code": "urban_construction", "description": description,
        "address_string": "华夏路1号旁，电话13812345678", "media_url": photo, **WHERE,
    }  # fmt: skip
    filed = await client.post(f"{BASE}/requests.json", data=form)
    assert filed.status_code == 201, filed.text
    [answer] = filed.json()
    # The grid reads everything the client sent, the picture's link too.
    stored = await Report.get(public_id=answer["service_request_id"])
    assert photo in stored.text and "0755-27123456" in stored.text

    [view] = (await client.get(f"{BASE}/requests/{answer['service_request_id']}.json")).json()
    assert view["description"] == (
        "路灯坏了，联系王先生[电话已隐去]，身份证[证件号已隐去]，车牌[车牌已隐去]挡住消防通道，邮箱 [邮箱已隐去]"
    )
    assert view["media_url"] == photo and photo not in view["description"]
    assert (view["address"], view["address_id"]) == ("华夏路1号旁，电话[手机号已隐去]", None)
    [listed_view] = (await client.get(f"{BASE}/requests.json")).json()
    assert listed_view == view


# What the reviewer typed (the README's own examples among them), and what Open311 publishes of it.
WRITTEN_FORMS = [
    ("座机(0755)26123456", "座机[电话已隐去]"),
    ("座机（0755）26123456", "座机[电话已隐去]"),
    ("座机0755 2612 3456", "座机[电话已隐去]"),
    ("座机(010)12345678", "座机[电话已隐去]"),
    ("座机 +86 755 2612 3456", "座机 [电话已隐去]"),
    ("座机(0755)2612 3456", "座机[电话已隐去]"),
    ("电话1 3 6 1 2 3 4 5 6 7 8", "电话[手机号已隐去]"),
    ("手机 +86 136-1234-5678", "手机 [手机号已隐去]"),
    ("邮箱wang(at)example.com", "邮箱[邮箱已隐去]"),
    ("邮箱 wang [at] example [dot] com", "邮箱 [邮箱已隐去]"),
]


async def test_every_written_form_of_a_phone_or_e_mail_is_published_redacted(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    admin = await user(app, Role.ADMIN)
    await import_rows(tmp_path, [row(1)])
    key = await make_key(client, admin, "civic-app", node="GM010101")
    ordinary = "2024年3月15日起华夏路114号3栋路灯不亮，8:00-18:00有人，"
    for typed, published in WRITTEN_FORMS:
        form = {"api_key": key, "service_code": "transport", "description": ordinary + typed, **WHERE}
        filed = await client.post(f"{BASE}/requests.json", data=form)
        assert filed.status_code == 201, filed.text
        request_id = filed.json()[0]["service_request_id"]
        [view] = (await client.get(f"{BASE}/requests/{request_id}.json")).json()
        assert view["description"] == ordinary + published, typed


def test_redaction_keeps_ordinary_numbers() -> None:
    from identity.redaction import redact

    assert redact("3号楼2单元501室，2024年5月1日起，共12户") == "3号楼2单元501室，2024年5月1日起，共12户"
    assert redact("电话：１３８１２３４５６７８") == "电话：[手机号已隐去]"
    assert redact("0086 13812345678 或 138 1234 5678") == "[手机号已隐去] 或 [手机号已隐去]"
    assert redact("订单号A13812345678B") == "订单号A13812345678B"
    assert redact("卡号 6222 0212 3456 7890 123") == "卡号 [证件号已隐去]"
    assert redact(f"ID {id_number(3)[:17]}x.") == "ID [证件号已隐去]."
    assert redact("2024-05-01 12:00，QQ群 123456789，3栋502") == "2024-05-01 12:00，QQ群 123456789，3栋502"


def test_redaction_masks_landlines_spaced_ids_plates_and_other_emails() -> None:
    from identity.redaction import redact

    assert redact("固话0755-27123456，或010 12345678") == "固话[电话已隐去]，或[电话已隐去]"
    assert redact("身份证 440306-19900101-123X，440306 19900101 1234") == "身份证 [证件号已隐去]，[证件号已隐去]"
    assert redact("车牌粤B12345、粤BD12345和京A·12345") == "车牌[车牌已隐去]、[车牌已隐去]和[车牌已隐去]"
    assert redact("邮箱 张三@例子.中国 或 li@qq.com") == "邮箱 [邮箱已隐去] 或 [邮箱已隐去]"


async def test_status_follows_the_report(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    handler = await user(app, Role.OFFICER, node="GM0101")
    report = await file_report(client, resident)

    async def view() -> dict[str, Any]:
        response = await client.get(f"{BASE}/requests/{report['id']}.json")
        assert response.status_code == 200, response.text
        [item] = response.json()
        return item

    submitted = await view()
    assert (submitted["status"], submitted["status_notes"], submitted["agency_responsible"]) == ("open", "已提交", None)
    # Times as everywhere in the API: UTC with the numeric offset and microseconds (server/wire.py).
    assert submitted["expected_datetime"] is not None and submitted["requested_datetime"].endswith("+00:00")
    await move(client, grid, report["id"], action="accept")
    await move(client, grid, report["id"], action="dispatch")
    dispatched = await view()
    assert (dispatched["status"], dispatched["agency_responsible"]) == ("open", "光明区住房和建设局")
    await move(client, handler, report["id"], action="start")
    await move(client, handler, report["id"], action="reject", note="不属于本部门")
    assert ((await view())["status"], (await view())["status_notes"]) == ("open", "已退单")
    await move(client, grid, report["id"], action="dispatch")
    await move(client, handler, report["id"], action="start")
    await move(client, handler, report["id"], action="resolve", note="已更换灯具")
    resolved = await view()
    assert (resolved["status"], resolved["status_notes"], resolved["expected_datetime"]) == ("closed", "已办结", None)
    await move(client, grid, report["id"], action="close")
    closed = await view()
    assert (closed["status"], closed["status_notes"]) == ("closed", "已关闭")
    assert closed["updated_datetime"] >= resolved["updated_datetime"]

    returned = await file_report(client, resident, text="说不清楚的问题")
    await move(client, grid, returned["id"], action="return", note="请补充地址")
    duplicate = await file_report(client, resident, text="楼道灯坏了")
    main = await file_report(client, resident, text="楼道灯不亮")
    await move(client, grid, duplicate["id"], action="merge", merge_into=main["id"])
    views = {
        v["service_request_id"]: v
        for v in (
            await client.get(
                f"{BASE}/requests.json", params={"service_request_id": f"{returned['id']},{duplicate['id']}"}
            )
        ).json()
    }
    assert views[returned["id"]]["status"] == "open"
    assert views[duplicate["id"]]["status"] == "closed"
    assert views[duplicate["id"]]["status_notes"] == f"已合并（merged into {main['id']}）"


# Administration of API keys ---------------------------------------------------------------------------


async def test_only_administrators_manage_keys_and_a_key_is_shown_once(app: Sanic, client: httpx.AsyncClient) -> None:
    admin = await user(app, Role.ADMIN)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    for who in (None, grid):
        headers = who.headers if who else {}
        assert (await client.post(ADMIN, json={"name": "x"}, headers=headers)).status_code == (403 if who else 401)
        assert (await client.get(ADMIN, headers=headers)).status_code == (403 if who else 401)
    assert not await Open311Client.exists()

    made = await client.post(ADMIN, json={"name": "光明区12345热线", "node": "GM01"}, headers=admin.headers)
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    created = made.json()
    key = created["api_key"]
    assert key.startswith("o311_") and len(key) > 40
    assert (created["name"], created["node"], created["active"], created["last_used_at"]) == (
        "光明区12345热线", "GM01", True, None,
    )  # fmt: skip
    stored = await Open311Client.get(public_id=created["id"])
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest() and key not in stored.key_hash
    audit = await AuditEntry.filter(action="open311.client.create").values_list("actor", "target")
    assert audit == [(admin.account.public_id, created["id"])]

    listing = await client.get(ADMIN, headers=admin.headers)
    assert listing.status_code == 200
    [item] = listing.json()["items"]
    assert "api_key" not in item and key not in listing.text and stored.key_hash not in listing.text
    assert item["id"] == created["id"]

    assert (await client.post(ADMIN, json={"name": "光明区12345热线"}, headers=admin.headers)).status_code == 409
    assert (
        await client.post(ADMIN, json={"name": "某系统", "node": "NOWHERE"}, headers=admin.headers)
    ).status_code == 404
    assert (await client.post(ADMIN, json={"name": ""}, headers=admin.headers)).status_code == 422

    revoked = await client.post(f"{ADMIN}/{created['id']}/revoke", headers=admin.headers)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    again = await client.post(f"{ADMIN}/{created['id']}/revoke", headers=admin.headers)
    assert again.status_code == 200 and again.json()["active"] is False
    assert await AuditEntry.filter(action="open311.client.revoke").count() == 1
    assert (await client.post(f"{ADMIN}/oc_nosuchclient/revoke", headers=admin.headers)).status_code == 404
    refused = await client.post(f"{BASE}/requests.json", data={"api_key": key, "service_code": "other", **WHERE})
    assert_open311_error(refused, 403)


async def test_a_street_administrator_manages_keys_of_its_street_only(app: Sanic, client: httpx.AsyncClient) -> None:
    district = await user(app, Role.ADMIN)
    street = await user(app, Role.ADMIN, node="GM01")
    other_street = await user(app, Role.ADMIN, node="GM02")
    assert (await client.post(ADMIN, json={"name": "全区"}, headers=street.headers)).status_code == 403
    assert (await client.post(ADMIN, json={"name": "邻街", "node": "GM02"}, headers=street.headers)).status_code == 403
    mine = await client.post(ADMIN, json={"name": "社区App", "node": "GM0101"}, headers=street.headers)
    assert mine.status_code == 201, mine.text
    await client.post(ADMIN, json={"name": "全区热线"}, headers=district.headers)

    assert [c["name"] for c in (await client.get(ADMIN, headers=street.headers)).json()["items"]] == ["社区App"]
    assert (await client.get(ADMIN, headers=other_street.headers)).json()["items"] == []
    assert len((await client.get(ADMIN, headers=district.headers)).json()["items"]) == 2
    revoke = f"{ADMIN}/{mine.json()['id']}/revoke"
    assert (await client.post(revoke, headers=other_street.headers)).status_code == 404
    assert (await client.post(revoke, headers=street.headers)).status_code == 200


async def test_the_routes_are_in_the_openapi_document(app: Sanic, client: httpx.AsyncClient) -> None:
    doc = (await client.get("/docs/openapi.json")).json()
    paths = doc["paths"]
    for path in (
        "/open311/v2/services.json",
        "/open311/v2/services/{service_code}.json",  # as clients write them: the .json is part of the path
        "/open311/v2/requests.json",
        "/open311/v2/requests/{service_request_id}.json",
        "/open311/v2/tokens/{token}.json",
        "/api/v1/admin/open311/clients",
        "/api/v1/admin/open311/clients/{public_id}/revoke",
    ):
        assert path in paths, path
    # A URL built from the document reaches the route.
    assert (
        await client.get("/open311/v2/services/{service_code}.json".format(service_code="environment"))
    ).status_code == 200
    create = paths["/open311/v2/requests.json"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RequestIn")
    assert create["responses"]["403"]["content"]["application/json"]["schema"]["$ref"].endswith("/Open311Errors")
    listing = paths["/open311/v2/requests.json"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"service_request_id", "service_code", "start_date", "status"}


async def test_police_matters_are_not_public_and_points_are_rounded(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    admin = await user(app, Role.ADMIN, node="GM")
    police_matter = await file_report(client, resident, category="public_order", text="楼下有人聚众赌博")
    at_home = await file_report(client, resident, lat=22.748912, lng=113.935437)
    services = (await client.get(f"{BASE}/services.json")).json()
    assert "public_order" not in {s["service_code"] for s in services}
    assert_open311_error(await client.get(f"{BASE}/services/public_order.json"), 404)
    assert police_matter["id"] not in await listed(client)
    assert await listed(client, service_request_id=police_matter["id"]) == []
    assert_open311_error(await client.get(f"{BASE}/requests/{police_matter['id']}.json"), 404)
    key = await make_key(client, admin, "civic-app", node="GM010101")
    filed = await client.post(
        f"{BASE}/requests.json", data={"api_key": key, "service_code": "public_order", "description": "x", **WHERE}
    )
    assert_open311_error(filed, 404)

    [shown] = (await client.get(f"{BASE}/requests/{at_home['id']}.json")).json()
    assert (shown["lat"], shown["long"]) == (22.749, 113.935)  # about 100 m, not the doorstep
