"""The clinic's answers and the report scope (issue 12): one person with an anonymous and a named report
in the same ledger, export, Open311 answer, duplicate group and insight is named by none of them; the
category is set only on a report the caller covers and did not file."""

from __future__ import annotations

import csv
import io

import httpx
from openpyxl import load_workbook
from sanic import Sanic

from identity.roles import Role
from miniapp_api.clinic import analysis
from miniapp_api.clinic.ledgers import BEIJING
from miniapp_api.reports import events
from miniapp_api.reports.models import Report
from tests.miniapp_api.clinic.test_groups import HERE, NEXT_DOOR, NOISE, NOISE_AGAIN
from tests.miniapp_api.ebikes.conftest import user
from tests.miniapp_api.open311.test_open311 import BASE
from tests.miniapp_api.reports.test_closed_loop import move, submit


async def test_no_clinic_answer_names_a_reporter_with_an_anonymous_and_a_named_report(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    named = await submit(client, resident, text=NOISE, category="environment", **HERE)
    hidden = await submit(client, resident, text=NOISE_AGAIN, category="environment", anonymous=True, **NEXT_DOOR)
    await events.drain()
    await analysis.analyse_pending()
    me = resident.account.public_id

    groups = await client.get("/api/v1/clinic/groups", headers=grid.headers)
    assert [m["id"] for m in groups.json()["items"][0]["members"]] == [named["id"], hidden["id"]]
    answers = [groups, await client.get(f"/api/v1/clinic/groups/{hidden['id']}", headers=grid.headers)]
    for report in (named, hidden):
        answers.append(await client.get(f"/api/v1/clinic/reports/{report['id']}/insight", headers=grid.headers))
    today = (
        (await Report.get(public_id=named["id"])).created_at.astimezone(BEIJING).date().isoformat()
    )  # ledger days are Beijing's
    ledger = {"since": today, "until": today}
    answers.append(await client.get("/api/v1/clinic/ledger", params=ledger, headers=grid.headers))
    as_csv = await client.get("/api/v1/clinic/ledger", params={**ledger, "format": "csv"}, headers=grid.headers)
    as_xlsx = await client.get("/api/v1/clinic/ledger", params={**ledger, "format": "xlsx"}, headers=grid.headers)
    answers += [await client.get(f"{BASE}/requests.json"), await client.get(f"{BASE}/requests/{hidden['id']}.json")]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert me not in answer.text, answer.request.url
    lines = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert lines[1][5] == "2" and me not in as_csv.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    assert sheet is not None
    assert me not in str(list(sheet.iter_rows(values_only=True)))


async def test_the_category_is_set_only_on_a_report_the_caller_covers_and_did_not_file(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    resident = await user(app, Role.RESIDENT)
    grid = await user(app, Role.GRID_STAFF, node="GM010101")
    other_grid = await user(app, Role.GRID_STAFF, node="GM010102")
    theirs = await submit(client, resident)
    own = await submit(client, grid)
    body = {"category": "environment"}
    refused = await client.put(f"/api/v1/reports/{theirs['id']}/category", json=body, headers=other_grid.headers)
    assert refused.status_code == 404
    refused = await client.put(f"/api/v1/reports/{own['id']}/category", json=body, headers=grid.headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "own_report"
    for report in (theirs, own):
        assert (await Report.get(public_id=report["id"])).category_id == (
            await Report.get(public_id=theirs["id"])
        ).category_id
    # A merge of another grid's group, or into another grid's report, is refused and changes nothing.
    assert (
        await client.post(f"/api/v1/clinic/groups/{theirs['id']}/merge", json={}, headers=other_grid.headers)
    ).status_code == 404
    elsewhere = await submit(client, resident, node="GM010102")
    refused = await move(client, grid, theirs["id"], action="merge", merge_into=elsewhere["id"])
    assert refused.status_code == 422
    assert (await client.put(f"/api/v1/reports/{theirs['id']}/category", json=body, headers=grid.headers)).json()[
        "category"
    ] == "environment"
