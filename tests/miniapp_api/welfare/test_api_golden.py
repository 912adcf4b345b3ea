"""Every golden case through the HTTP API (as the mini-program sends it: dates as text): the same status,
amount, period, months, failing conditions, gap, missing facts and Chinese explanation as the engine's; a
policy not in force on the case's day is left out of the screening."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from sanic import Sanic

from server.settings import Settings
from tests.miniapp_api.welfare.test_golden import CASES

SCREEN = "/api/v1/welfare/screen"


@pytest.fixture
def app(settings: Settings) -> Sanic:
    from server.app import create_app

    # Many screenings from one address in one test: the per-address limit is tested in test_api_attacks.
    return create_app(settings.replace(rate_limit_enabled=False), name="gmid_welfare_golden")


def _texts(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=lambda v: v.isoformat()))


async def test_every_golden_case_over_http(client: httpx.AsyncClient) -> None:
    for param in CASES:
        case = param.values[0]
        day = case["date"].isoformat() if isinstance(case["date"], dt.date) else case["date"]
        answer = await client.post(SCREEN, json={"profile": _texts(case["profile"]), "date": day})
        assert answer.status_code == 200, (case["name"], answer.text)
        body = answer.json()
        got = {r["policy_id"]: r for r in body["results"]}
        for policy_id, want in case["expect"].items():
            where = (case["name"], policy_id)
            if want["status"] == "not_in_force":  # a screening leaves out what is not in force on its day
                assert policy_id not in got, where
                continue
            result = got[policy_id]
            assert result["status"] == want["status"], where
            assert any("\u4e00" <= ch <= "\u9fff" for ch in result["explanation"]), where
            if "amount" in want:
                assert result["amount"]["yuan"] == pytest.approx(want["amount"]), where
                assert result["amount"]["period_name"], where
            if "period" in want:
                assert result["amount"]["period"] == want["period"], where
            if "months" in want:
                assert result["amount"]["months"] == want["months"], where
            if "failing" in want:
                assert [c["id"] for c in result["failing"]] == want["failing"], where
            if "gap" in want:
                assert [c["gap"] for c in result["failing"]] == [pytest.approx(want["gap"])], where
            if "missing" in want:
                assert set(want["missing"]) <= {m["fact"] for m in result["missing"]}, where
                assert all(m["question"] for m in result["missing"]), where
            if "says" in want:
                assert want["says"] in result["explanation"], where
        settles = [q["settles"] for q in body["questions"]]
        assert settles == sorted(settles, reverse=True), case["name"]
