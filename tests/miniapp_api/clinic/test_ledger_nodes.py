"""The ledger of one part of the caller's scope (``node=``), the base of its rates (``kept``) and its ratings
added up (``satisfaction_points``): what the console's ledger page filters by and adds rows up with."""

from __future__ import annotations

import csv
import io

import httpx
from sanic import Sanic

from identity.roles import Role
from tests.miniapp_api.clinic.test_ledgers import MONDAY, filed, resolve
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.reports.test_closed_loop import move

WEEK = {"since": "2026-11-16", "until": "2026-11-22"}


async def test_a_node_under_yours_narrows_the_ledger_and_its_downloads(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    community = await user(app, Role.GRID_STAFF, node="GM0101")
    first = await filed(client, resident, MONDAY)
    duplicate = await filed(client, resident, MONDAY)
    await filed(client, resident, MONDAY, category="environment", node="GM010102")
    merged = await move(client, community, duplicate["id"], action="merge", merge_into=first["id"])
    assert merged.status_code == 200

    everything = await client.get("/api/v1/clinic/ledger", params=WEEK, headers=community.headers)
    assert [(r["node"], r["count"], r["kept"]) for r in everything.json()["items"]] == [
        ("GM010101", 2, 1),
        ("GM010102", 1, 1),
    ]
    one_grid = await client.get("/api/v1/clinic/ledger", params={**WEEK, "node": "GM010102"}, headers=community.headers)
    assert one_grid.status_code == 200, one_grid.text
    assert [(r["node"], r["category"], r["count"]) for r in one_grid.json()["items"]] == [
        ("GM010102", "environment", 1)
    ]
    as_csv = await client.get(
        "/api/v1/clinic/ledger", params={**WEEK, "node": "GM010102", "format": "csv"}, headers=community.headers
    )
    lines = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [line[1] for line in lines[1:]] == ["GM010102"]
    assert "kept" not in lines[0]  # the download's columns are the ledger's own


async def test_a_node_outside_your_own_is_refused_and_counts_nothing(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    await filed(client, resident, MONDAY, node="GM010102")
    for node in ("GM010102", "GM0101", "GM"):  # a neighbour, the community above, the district
        for fmt in ("json", "csv", "xlsx"):
            response = await client.get(
                "/api/v1/clinic/ledger", params={**WEEK, "node": node, "format": fmt}, headers=grid.headers
            )
            assert response.status_code == 403, (node, fmt, response.text)
            assert response.json()["error"]["code"] == "node_out_of_scope"
    for node in ("NOPE", "GM01<script>", "x" * 33, "GM/../GM"):
        response = await client.get("/api/v1/clinic/ledger", params={**WEEK, "node": node}, headers=grid.headers)
        assert response.status_code == 422, (node, response.text)
    repeated = await client.get(
        "/api/v1/clinic/ledger", params=[*WEEK.items(), ("node", "GM010101"), ("node", "GM010102")],
        headers=grid.headers,
    )  # fmt: skip
    assert repeated.status_code in (403, 422)  # never the neighbour's figures
    own = await client.get("/api/v1/clinic/ledger", params={**WEEK, "node": "GM010101"}, headers=grid.headers)
    assert own.status_code == 200 and own.json()["items"] == []


async def test_rows_carry_the_sums_their_rates_and_average_come_from(app: Sanic, client: httpx.AsyncClient) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    for score in (5, 4, 4):
        report = await filed(client, resident, MONDAY)
        await resolve(client, grid, report["id"], hours=1)
        assert (await move(client, resident, report["id"], action="confirm", satisfaction=score)).status_code == 200
    await filed(client, resident, MONDAY)
    [row] = (await client.get("/api/v1/clinic/ledger", params=WEEK, headers=grid.headers)).json()["items"]
    assert (row["count"], row["kept"], row["completed"], row["completion_rate"]) == (4, 4, 3, 0.75)
    # 13 / 3 is 4.33 rounded: the points let rows be added up without the rounding.
    assert (row["avg_satisfaction"], row["rated"], row["satisfaction_points"]) == (4.33, 3, 13)
