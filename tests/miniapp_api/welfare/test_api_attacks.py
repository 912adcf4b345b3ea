"""The welfare API from the outside, as an attacker would use it: hostile input is refused with a clear
4xx JSON error that echoes nothing of the profile; the CPU-heavy public routes have their own tighter
per-address limit; a withdrawn consent or an erased profile leaves no push waiting to go out."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.roles import Role
from miniapp_api.welfare.models import WelfareProfile
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.welfare.test_api import SCREEN
from tests.server.test_rate_settings import check
from tests.server.test_ratelimit import assert_rate_limited

TRACE = "/api/v1/welfare/policies/dibao/trace"
PROFILE = "/api/v1/me/welfare/profile"


def raw(text: str, headers: dict[str, str]) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {**headers, "content-type": "application/json"}}


def member(**fields: Any) -> dict[str, Any]:
    return {"members": [{"relation": "self", "age": 45, "hukou_city": "深圳", **fields}]}


async def test_hostile_numbers_strings_and_unicode_are_refused_with_field_errors(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    bodies: list[tuple[str, str]] = [
        ('{"profile": {"members": [{"age": NaN}]}}', "malformed_json"),
        ('{"profile": {"members": [{"age": Infinity}]}}', "malformed_json"),
        ('{"profile": {"members": [{"age": 1e308}]}}', "validation_failed"),
        ('{"profile": {"members": [{"incomes": {"wage": 1e308}}]}}', "validation_failed"),
        ('{"profile": {"members": [{"incomes": {"wage": -1e-300}}]}}', "validation_failed"),
        ('{"profile": {"members": [{"age": "45"}]}}', "validation_failed"),
        ('{"profile": {"members": [{"age": 45.5}]}}', "validation_failed"),
        ('{"profile": {"members": [{"hukou_city": "\\ud800"}]}}', "validation_failed"),
        ('{"profile": {"members": [{"hukou_city": "\\u6df1\\u200b\\u5733"}]}}', "validation_failed"),
        ('{"profile": {"members": [{"hukou_city": "\\u202e\\u5733\\u6df1"}]}}', "validation_failed"),
        ('{"profile": {"members": [{"hukou_city": "\\u6df1\\u5733\\n"}]}}', "validation_failed"),
        ('{"profile": {"members": [{"hukou_city": " "}]}}', "validation_failed"),
        ('{"profile": {"household": {"receiving": ["\\ud83d"]}}}', "validation_failed"),
        ('{"profile": {"members": [{"\\ud800": 1}]}}', "validation_failed"),
        ('{"profile": {"members": [{}]}, "date": "0001-01-01"}', "date_out_of_range"),
        ('{"profile": {"members": [{}]}, "date": "9999-12-31"}', "date_out_of_range"),
        ('{"profile": {"members": [{}]}, "date": "+12024-01-01"}', "validation_failed"),
        ('{"profile": {"members": [{}]}, "date": null, "nope": 1}', "validation_failed"),
    ]
    for route in (SCREEN, TRACE, PROFILE):
        for text, code in bodies:
            if route == PROFILE and "date" in text:
                continue
            call = client.put if route == PROFILE else client.post
            answer = await call(route, **raw(text, resident.headers))
            assert 400 <= answer.status_code < 500, (route, text, answer.status_code, answer.text)
            error = answer.json()["error"]
            assert error["code"] == code, (route, text, error)
            assert error["message"]
    assert not await WelfareProfile.exists()


async def test_ten_thousand_members_and_huge_bodies_are_refused_cheaply(app: Sanic, client: httpx.AsyncClient) -> None:
    many = {"profile": {"members": [{"age": 1}] * 10_000}}
    for route in (SCREEN, TRACE):
        answer = await client.post(route, json=many)
        assert answer.status_code in (413, 422) and answer.json()["error"]["code"] in (
            "profile_too_large",
            "payload_too_large",
            "validation_failed",
        )
    nulls = {"profile": {"members": [None] * 21}}
    assert (await client.post(SCREEN, json=nulls)).status_code == 422


SECRETS = {"wage": 2417, "age": 87, "grade": 3}


def secret_profile() -> dict[str, Any]:
    return {
        "members": [
            # 2417.61: a value no timestamp or id in Redis or a log line holds by chance (2417 alone did, once).
            {"relation": "self", "age": 87, "hukou_city": "深圳", "incomes": {"wage": 2417.61}},
            {"relation": "spouse", "disability_grade": 3, "disability_type": "视力", "incomes": {"lottery": 99}},
        ]
    }


async def test_errors_logs_and_redis_never_hold_a_profile_s_values(
    app: Sanic, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused profile echoes none of its values; a screening (anonymous, or signed in without consent)
    leaves nothing in the database, the logs or Redis."""
    caplog.set_level(logging.DEBUG)
    resident = await user(app, Role.RESIDENT)
    bad = await client.post(SCREEN, json={"profile": secret_profile()})
    assert bad.status_code == 422
    for value in ("2417.61", "87", "视力", "lottery99"):
        assert value not in bad.text.replace('"lottery"', ""), value
    good = secret_profile()
    del good["members"][1]["incomes"]
    for headers in ({}, resident.headers):
        for route in (SCREEN, TRACE):
            answer = await client.post(route, json={"profile": good}, headers=headers)
            assert answer.status_code == 200, answer.text
    assert not await WelfareProfile.exists()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "2417.61" not in logged and "视力" not in logged
    redis = app.ctx.redis
    for key in await redis.keys("*"):
        kind = await redis.type(key)
        value = await redis.get(key) if kind == b"string" else b""
        blob = key + (value or b"")
        assert b"2417.61" not in blob and "视力".encode() not in blob, key


async def test_screening_and_traces_have_their_own_tighter_limit_per_address(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    """Each screening costs CPU: an address gets SCREEN_RATE of them a minute (the default is far higher),
    and the trace its own budget; the policies list is not held to it."""
    from miniapp_api.welfare.routes import SCREEN_RATE, TRACE_RATE
    from server.ratelimit import Rate

    limits = app.ctx.limits
    for rate in (SCREEN_RATE, TRACE_RATE):
        assert Rate.parse(rate).count * limits.default_ip.period < limits.default_ip.count * Rate.parse(rate).period
    body = {"profile": {"members": [{"age": 30}]}}
    for route, rate in ((SCREEN, SCREEN_RATE), (TRACE, TRACE_RATE)):
        # Until refused: the budget refills while the screenings run (one a second at 60 a minute), so
        # a slow machine gets a few more than the budget, never more than the refills in that time.
        started, answers = time.monotonic(), list[httpx.Response]()
        while len(answers) <= limits.default_ip.count and (not answers or answers[-1].status_code == 200):
            answers.append(await client.post(route, json=body))
        assert answers[-1].status_code == 429, answers[-1].text
        check(rate, answers, time.monotonic() - started, "address")
        assert_rate_limited(answers[-1], limit=rate, scope="address", period=Rate.parse(rate).period)
    assert (await client.get("/api/v1/welfare/policies")).status_code == 200


@pytest.mark.parametrize("stop", ["withdraw", "erase"])
async def test_withdrawing_consent_or_erasing_stops_a_push_not_yet_sent(
    app: Sanic, client: httpx.AsyncClient, stop: str
) -> None:
    """A match told by the background screening waits in the outbox; withdrawing consent (or erasing the
    profile) before it goes out means it never goes out. Other residents' messages stay."""
    from miniapp_api.welfare import push
    from notify.models import Notification, Status
    from tests.miniapp_api.welfare.test_saved import family

    resident = await user(app, Role.RESIDENT, openid=f"o-welfare-stop-{stop}")
    neighbour = await user(app, Role.RESIDENT, openid=f"o-welfare-keep-{stop}")
    for who in (resident, neighbour):
        await client.put(PROFILE, json={"profile": family(9000)}, headers=who.headers)
        await client.put("/api/v1/me/welfare/consent", json={"proactive": True}, headers=who.headers)
    await push.rescreen_due()
    for who in (resident, neighbour):
        await client.put(PROFILE, json={"profile": family(2400)}, headers=who.headers)
    assert (await push.rescreen_due()).told == 2
    waiting = Notification.filter(template=push.TEMPLATE, status__in=[Status.PENDING, Status.FAILED])
    assert await waiting.filter(account_id=resident.account.id).count() == 1
    if stop == "withdraw":
        answer = await client.put("/api/v1/me/welfare/consent", json={"proactive": False}, headers=resident.headers)
        assert answer.status_code == 200
    else:
        assert (await client.delete(PROFILE, headers=resident.headers)).status_code == 204
    assert not await Notification.filter(template=push.TEMPLATE, account_id=resident.account.id).exists()
    assert await Notification.filter(template=push.TEMPLATE, account_id=neighbour.account.id).count() == 1


def worst_profile() -> dict[str, Any]:
    """Twenty members with every field given, and the household's lists as long as the size bound allows."""
    m = {
        "relation": "child",
        "age": 70,
        "birth_date": "1955-01-01",
        "hukou_city": "深圳",
        "incomes": {"wage": 100, "pension": 100},
        "able_to_work": True,
        "has_capable_supporter": False,
        "disability_certificate": True,
        "disability_grade": 1,
        "disability_type": "肢体",
        "disabled_soldier": False,
        "student_level": "小学",
        "seriously_ill": True,
        "insured_years": 10,
        "involuntary_job_loss": True,
        "registered_unemployed": True,
    }
    household = {"receiving": [f"policy_{i:03d}" for i in range(50)], "sudden_expense": True}
    return {"household": household, "members": [dict(m, relation="self")] + [m] * 19}


async def test_one_worst_case_screening_stays_cheap(app: Sanic, client: httpx.AsyncClient) -> None:
    import time

    from miniapp_api.welfare.service import MAX_PROFILE_BYTES

    profile = worst_profile()
    assert len(json.dumps(profile, ensure_ascii=False).encode()) < MAX_PROFILE_BYTES
    assert (await client.post(SCREEN, json={"profile": member()})).status_code == 200  # the served pack is read
    for route in (SCREEN, TRACE):
        started = time.perf_counter()
        answer = await client.post(route, json={"profile": profile, "date": "2025-06-01"})
        took = time.perf_counter() - started
        assert answer.status_code == 200, answer.text
        print(f"{route}: worst case {took * 1000:.1f} ms")
        assert took < 0.5  # measured ~10 ms on the 2-core test machine; a generous bound for a busy one
    bigger = await client.post(SCREEN, json={"profile": profile, "pad": "x" * 2_000_000})
    assert bigger.status_code in (400, 413, 422) and bigger.json()["error"]["code"]


async def test_only_signed_in_active_residents_reach_a_saved_profile(app: Sanic, client: httpx.AsyncClient) -> None:
    from identity.models import Account

    resident = await user(app, Role.RESIDENT)
    assert (await client.put(PROFILE, json={"profile": member()}, headers=resident.headers)).status_code == 200
    for role in (Role.GRID_STAFF, Role.OFFICER, Role.POLICE, Role.HEALTH_STAFF, Role.ADMIN):
        staff = await user(app, role)
        for call in (client.get(PROFILE, headers=staff.headers), client.delete(PROFILE, headers=staff.headers)):
            assert (await call).status_code == 403
    await Account.filter(id=resident.account.id).update(is_active=False)
    await app.ctx.redis.delete(*(await app.ctx.redis.keys("acct-active:*")) or ["none"])
    for answer in (
        await client.get(PROFILE, headers=resident.headers),
        await client.put(PROFILE, json={"profile": member(age=50)}, headers=resident.headers),
        await client.put("/api/v1/me/welfare/consent", json={"proactive": True}, headers=resident.headers),
        await client.delete(PROFILE, headers=resident.headers),
    ):
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "account_disabled"
    row = await WelfareProfile.get(account_id=resident.account.id)
    assert row.proactive is False and row.revision == 0


async def test_unknown_or_malformed_policy_ids_are_404(client: httpx.AsyncClient) -> None:
    for pid in ("DIBAO", "dibao%20", "%E4%BD%8E%E4%BF%9D", "..%2Fdibao", "dibao%00", "%ud800", "0", "-1", "dibao.yaml"):
        got = await client.get(f"/api/v1/welfare/policies/{pid}")
        assert got.status_code in (400, 404), (pid, got.status_code)
        assert got.json()["error"]["code"], pid
        traced = await client.post(f"/api/v1/welfare/policies/{pid}/trace", json={"profile": member()})
        assert traced.status_code in (400, 404), (pid, traced.status_code)


async def test_answers_are_explained_in_chinese_ordered_and_dated(client: httpx.AsyncClient) -> None:
    unknown_family = {"members": [{"relation": "self"}, {"relation": "child"}]}
    body = (await client.post(SCREEN, json={"profile": unknown_family, "date": "2025-06-01"})).json()
    settles = [q["settles"] for q in body["questions"]]
    assert settles == sorted(settles, reverse=True) and len({q["fact"] for q in body["questions"]}) == len(settles)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in q["text"]) for q in body["questions"])
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r["explanation"]) for r in body["results"])
    assert {r["status"] for r in body["results"]} <= {"eligible", "near_miss", "unknown", "not_eligible"}
    # Policies not in force on the day are left out, both before they begin and after they end.
    listed = (await client.get("/api/v1/welfare/policies")).json()["items"]
    for policy in listed:
        before = dt.date.fromisoformat(policy["effective_from"]) - dt.timedelta(days=1)
        if before < dt.date(2000, 1, 1):
            continue
        earlier = (await client.post(SCREEN, json={"profile": unknown_family, "date": before.isoformat()})).json()
        assert policy["id"] not in {r["policy_id"] for r in earlier["results"]}, policy["id"]
        if policy["effective_until"]:
            after = dt.date.fromisoformat(policy["effective_until"]) + dt.timedelta(days=1)
            later = (await client.post(SCREEN, json={"profile": unknown_family, "date": after.isoformat()})).json()
            assert policy["id"] not in {r["policy_id"] for r in later["results"]}, policy["id"]


async def test_a_member_born_after_the_day_or_with_a_contradicting_age_is_refused(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    """A child born after the screening day is not a child of 0 (it was "eligible" for the childcare
    subsidy); an age that contradicts the birth date is not silently overridden by it."""
    resident = await user(app, Role.RESIDENT)
    parent = {"relation": "self", "age": 30, "hukou_city": "深圳", "incomes": {"wage": 9000}}
    unborn = {"members": [parent, {"relation": "child", "birth_date": "2030-01-01", "hukou_city": "深圳"}]}
    contradicting = {"members": [parent, {"relation": "child", "age": 2, "birth_date": "1950-01-01"}]}
    for profile in (unborn, contradicting):
        for route in (SCREEN, TRACE):
            answer = await client.post(route, json={"profile": profile, "date": "2025-06-01"})
            assert answer.status_code == 422, (route, answer.text)
            assert [f["field"] for f in answer.json()["error"]["details"]["fields"]] == [
                "profile.members[1].birth_date"
            ]
    assert (await client.put(PROFILE, json={"profile": unborn}, headers=resident.headers)).status_code == 422
    assert not await WelfareProfile.exists()
    # Consistent facts still pass, and an earlier day than the birth of a member is refused in turn.
    born = {"members": [parent, {"relation": "child", "age": 1, "birth_date": "2024-01-15", "hukou_city": "深圳"}]}
    ok = await client.post(SCREEN, json={"profile": born, "date": "2025-06-01"})
    assert ok.status_code == 200, ok.text
    assert (await client.post(SCREEN, json={"profile": born, "date": "2023-06-01"})).status_code == 422


async def test_impossible_ages_grades_and_years_are_refused(client: httpx.AsyncClient) -> None:
    """An age of 200 was "eligible" for the 100+ old-age allowance; grade 7 or 500 insured years are typos."""
    for field, value in (("age", 131), ("age", 10**9), ("disability_grade", 5), ("insured_years", 81)):
        answer = await client.post(SCREEN, json={"profile": member(**{field: value})})
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["error"]["details"]["fields"][0]["field"] == f"profile.members[0].{field}"
        assert value < 100 or str(value) not in answer.text  # the message gives the bound, not the value
    for field, value in (("age", 130), ("disability_grade", 4), ("insured_years", 80), ("age", 0)):
        assert (await client.post(SCREEN, json={"profile": member(**{field: value})})).status_code == 200


async def test_a_refused_key_is_named_by_its_place_not_echoed_in_the_message(client: httpx.AsyncClient) -> None:
    """What a resident typed where a name goes (an income kind) may be anything personal: the message lists
    what is allowed and does not repeat it."""
    typed = "张三工资4402"
    answer = await client.post(SCREEN, json={"profile": member(incomes={typed: 5})})
    assert answer.status_code == 422
    [field] = answer.json()["error"]["details"]["fields"]
    assert field["field"] == "profile.members[0].incomes" and "wage" in field["message"]
    assert typed not in answer.text and "4402" not in answer.text


async def test_an_operator_sets_the_screening_rate_by_route_name(settings: Any) -> None:
    """GMID_RATE_LIMITS names the routes as the README does (welfare.screen, welfare.trace)."""
    from server.app import create_app
    from tests.support.app_server import RunningApp

    tighter = settings.replace(rate_limits="welfare.screen=ip:2/minute;welfare.trace=ip:1/minute")
    app = create_app(tighter, name="gmid_welfare_limited")
    body = {"profile": {"members": [{"age": 30}]}}
    async with RunningApp(app) as server, httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        assert [(await client.post(SCREEN, json=body)).status_code for _ in range(3)] == [200, 200, 429]
        assert [(await client.post(TRACE, json=body)).status_code for _ in range(2)] == [200, 429]
