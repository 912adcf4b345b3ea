"""The welfare calculator over HTTP: anonymous screening that explains and stores nothing, bounded profiles
refused with field paths, a date before a policy began, the policies and one result's trace."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from sanic import Sanic

from identity.roles import Role
from miniapp_api.welfare.models import WelfarePack, WelfareProfile
from notify.models import Notification
from tests.miniapp_api.ebikes.conftest import user

SCREEN = "/api/v1/welfare/screen"
POOR_FAMILY: dict[str, Any] = {
    "household": {"receiving": []},
    "members": [
        {"relation": "self", "age": 45, "hukou_city": "深圳", "incomes": {"wage": 2400}},
        {"relation": "spouse", "age": 43, "hukou_city": "深圳", "incomes": {}},
        {"relation": "child", "age": 10, "hukou_city": "深圳", "incomes": {}},
    ],
}


def by_id(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["policy_id"]: r for r in answer["results"]}


async def test_anonymous_screening_explains_each_result_and_stores_nothing(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    answer = await client.post(SCREEN, json={"profile": POOR_FAMILY, "date": "2024-06-01"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["date"] == "2024-06-01" and body["pack_version"] == 0
    results = by_id(body)
    dibao = results["dibao"]
    assert dibao["status"] == "eligible"
    assert dibao["amount"]["yuan"] == 2049 and dibao["amount"]["period"] == "monthly"
    assert dibao["amount"]["how"] == "(最低生活保障标准 1,483 − 人均月收入 800) × 家庭人数 3 = 2,049 元/月"
    assert "2,049 元/月" in dibao["explanation"] and "申请渠道" in dibao["explanation"]
    edge = results["dibao_edge"]
    assert edge["status"] == "near_miss"
    [failing] = edge["failing"]
    assert failing["id"] == "above_dibao" and failing["gap"] == 683 and failing["value"] == 800
    assert "只差一项条件" in edge["explanation"]
    # Unknown facts are asked, never counted as pass or fail; the questions come in the engine's order.
    unknown = [r for r in body["results"] if r["status"] == "unknown"]
    assert unknown and all(r["missing"] and r["missing"][0]["question"] for r in unknown)
    assert body["questions"] and [q["settles"] for q in body["questions"]] == sorted(
        (q["settles"] for q in body["questions"]), reverse=True
    )
    assert all(q["text"] for q in body["questions"])
    # Signed in or not, screening stores nothing.
    resident = await user(app, Role.RESIDENT, openid="o-screen")
    assert (await client.post(SCREEN, json={"profile": POOR_FAMILY}, headers=resident.headers)).status_code == 200
    assert not await WelfareProfile.exists() and not await Notification.exists()


async def test_a_date_before_a_policy_began_uses_that_day_s_rules(client: httpx.AsyncClient) -> None:
    single = {"household": {"receiving": []}, "members": [{"relation": "self", "age": 50, "hukou_city": "深圳"}]}
    single["members"][0]["incomes"] = {"pension": 1413}
    old = by_id((await client.post(SCREEN, json={"profile": single, "date": "2023-06-01"})).json())
    assert old["dibao"]["status"] == "near_miss" and old["dibao"]["failing"][0]["limit"] == 1413
    assert "dibao_edge" not in old  # not yet in force on that day
    assert "childcare" not in old  # 2025-01-01
    now = by_id((await client.post(SCREEN, json={"profile": single, "date": "2024-06-01"})).json())
    assert now["dibao"]["status"] == "eligible" and now["dibao"]["amount"]["yuan"] == 70
    far = await client.post(SCREEN, json={"profile": single, "date": "1999-12-31"})
    assert far.status_code == 422 and far.json()["error"]["details"]["fields"][0]["field"] == "date"


async def test_bad_profiles_get_field_errors_and_change_nothing(client: httpx.AsyncClient) -> None:
    member = {"relation": "self", "age": 30}
    cases: list[tuple[Any, str]] = [
        ({"members": [{**member, "age": -1}]}, "profile.members[0].age"),
        ({"members": [{**member, "age": "thirty"}]}, "profile.members[0].age"),
        ({"members": [{**member, "incomes": {"lottery": 5}}]}, "profile.members[0].incomes"),
        ({"members": [{**member, "income_total": 5}]}, "profile.members[0].income_total"),
        ({"members": [member] * 21}, "profile.members"),
        ({"household": []}, "profile.household"),
        ({"pets": 2}, "profile.pets"),
        ({"members": [{**member, "birth_date": "1950-02-30"}]}, "profile.members[0].birth_date"),
    ]
    for profile, field in cases:
        answer = await client.post(SCREEN, json={"profile": profile})
        assert answer.status_code == 422, (profile, answer.text)
        error = answer.json()["error"]
        fields = [f["field"] for f in error["details"]["fields"]]
        assert field in fields, (field, fields)
        assert all(f["message"] for f in error["details"]["fields"])
    # The body itself: not an object, unknown keys, too deep, too large.
    assert (await client.post(SCREEN, json={"profile": POOR_FAMILY, "extra": 1})).status_code == 422
    assert (await client.post(SCREEN, json={"profile": []})).status_code == 422
    deep: Any = 1
    for _ in range(40):
        deep = {"a": deep}
    too_deep = await client.post(SCREEN, json={"profile": {"household": deep}})
    assert too_deep.status_code == 400 and too_deep.json()["error"]["code"] == "json_too_deep"
    big = copy.deepcopy(POOR_FAMILY)
    big["members"][0]["hukou_city"] = "深" * 20000
    huge = await client.post(SCREEN, json={"profile": big})
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "profile_too_large"
    assert "深深深" not in huge.text


async def test_policies_list_detail_and_trace(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/api/v1/welfare/policies")).json()
    ids = [p["id"] for p in listed["items"]]
    assert {"dibao", "childcare", "unemployment", "ent_startup"} <= set(ids) and len(ids) >= 12
    one = await client.get("/api/v1/welfare/policies/dibao")
    assert one.status_code == 200
    dibao = one.json()
    assert dibao["legal_basis"]["document"] and dibao["legal_basis"]["url"].startswith("https://")
    assert dibao["documents"] and dibao["channel"] and dibao["no_application"] is False
    [standard] = [p for p in dibao["parameters"] if p["name"] == "dibao.standard"]
    assert standard["value"] >= 1483 and standard["source"]["url"]
    assert dibao["amount"]["period"] == "monthly"
    assert (await client.get("/api/v1/welfare/policies/nope")).status_code == 404
    assert (await client.get("/api/v1/welfare/policies/" + "x" * 300)).status_code == 404
    traced = await client.post(
        "/api/v1/welfare/policies/dibao/trace", json={"profile": POOR_FAMILY, "date": "2024-06-01"}
    )
    assert traced.status_code == 200, traced.text
    body = traced.json()
    assert body["status"] == "eligible" and body["amount"]["yuan"] == 2049
    steps = [s["step"] for s in body["trace"]]
    assert steps[0] == "date" and "parameter" in steps and steps[-1] == "amount"
    assert [s["id"] for s in body["trace"] if s["step"] == "condition"][:2] == ["hukou", "income"]
    gone = await client.post("/api/v1/welfare/policies/nope/trace", json={"profile": POOR_FAMILY})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "welfare_policy_not_found"
    bad = await client.post("/api/v1/welfare/policies/dibao/trace", json={"profile": {"members": 3}})
    assert bad.status_code == 422
    assert not await WelfarePack.exists()


async def test_enterprises_dates_and_policies_out_of_force(client: httpx.AsyncClient) -> None:
    firm = {"enterprise": {"enterprise_receiving": [], "district": "光明", "first_above_scale": True}}
    answer = (await client.post(SCREEN, json={"profile": firm, "date": "2025-06-01"})).json()
    results = by_id(answer)
    assert "dibao" not in results  # household policies are not screened for an enterprise
    above = results["ent_above_scale"]
    assert above["status"] == "eligible" and above["amount"]["yuan"] == 100000
    assert above["amount"]["period"] == "one_off" and "免申即享" in above["explanation"]
    early = await client.post(
        "/api/v1/welfare/policies/childcare/trace", json={"profile": POOR_FAMILY, "date": "2024-12-31"}
    )
    assert early.status_code == 200 and early.json()["status"] == "not_in_force"
    assert "尚未施行" in early.json()["explanation"]
    for bad in ("2024-13-01", "yesterday", 20240601, "2024-06-01T00:00:00+08:00"):
        refused = await client.post(SCREEN, json={"profile": POOR_FAMILY, "date": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["error"]["details"]["fields"][0]["field"] == "date"
