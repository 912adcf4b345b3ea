"""Key areas over HTTP: anyone reads them; the district's administrators add, correct, withdraw and
import them from CSV (a report per row that never repeats a value), every change audited. Other
roles, administrators below the district and bad input change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from miniapp_api.wristbands import facts
from miniapp_api.wristbands.models import KeyArea
from server.settings import Settings
from tests.factories import load_demo_hierarchy
from tests.miniapp_api.ebikes.conftest import user
from tests.support.cli import gmid

AREAS = "/api/v1/health/key-areas"
SOURCE = "国务院联防联控机制公告 2026-91"


def area(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "area_code": "420106",
        "name": "武昌区",
        "risk_level": "high",
        "from": "2026-11-20",
        "until": "2026-12-01",
        "source": SOURCE,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def csv_headers(who: Any) -> dict[str, str]:
    return {**who.headers, "Content-Type": "text/csv; charset=utf-8"}


async def test_only_district_admins_change_key_areas(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    street_admin = await user(app, Role.ADMIN, node="GM01")
    health = await user(app, Role.HEALTH_STAFF, node="GM0101")
    admin = await user(app, Role.ADMIN, node="GM")
    made = await client.post(AREAS, json=area(), headers=admin.headers)
    assert made.status_code == 201, made.text
    area_id = made.json()["id"]
    for method, path, kwargs in (
        ("POST", AREAS, {"json": area()}),
        ("PATCH", f"{AREAS}/{area_id}", {"json": {"risk_level": "low"}}),
        ("DELETE", f"{AREAS}/{area_id}", {}),
        (
            "POST",
            f"{AREAS}/import",
            {"content": b"area_code,risk_level,from,source\n", "headers": csv_headers(street_admin)},
        ),
    ):
        kwargs.setdefault("headers", street_admin.headers)
        answer = await client.request(method, path, **kwargs)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "district_only", answer.text
        kwargs["headers"] = health.headers
        assert (await client.request(method, path, **kwargs)).status_code == 403
        kwargs.pop("headers")
        assert (await client.request(method, path, **kwargs)).status_code == 401
    assert await KeyArea.all().count() == 1
    assert (await KeyArea.get(public_id=area_id)).risk_level == "high"
    for bad in (
        area(area_code="999999"),
        area(area_code="4201"),
        area(risk_level="extreme"),
        area(until="2026-11-01"),
        area(source=""),
        area(name="联系 13800138000"),
        area(**{"from": "2026-13-01"}),
        {**area(), "extra": {"x": [1]}},
    ):
        answer = await client.post(AREAS, json=bad, headers=admin.headers)
        assert answer.status_code == 422, (bad, answer.text)
        assert "13800138000" not in answer.text
    for path in (f"{AREAS}/ka_nope", f"{AREAS}/{'k' * 200}"):
        assert (await client.patch(path, json={"risk_level": "low"}, headers=admin.headers)).status_code == 404
        assert (await client.delete(path, headers=admin.headers)).status_code == 404
    assert await KeyArea.all().count() == 1


async def test_admins_add_correct_and_withdraw_anyone_reads(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    admin = await user(app, Role.ADMIN, node="GM")
    made = (await client.post(AREAS, json=area(until=None), headers=admin.headers)).json()
    assert made["until"] is None and made["from"] == "2026-11-20" and made["withdrawn_at"] is None
    public = await client.get(AREAS)
    assert public.status_code == 200 and [a["id"] for a in public.json()["items"]] == [made["id"]]
    patched = await client.patch(
        f"{AREAS}/{made['id']}", json={"risk_level": "medium", "until": "2026-12-03"}, headers=admin.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["risk_level"] == "medium" and patched.json()["until"] == "2026-12-03"
    same = await client.patch(f"{AREAS}/{made['id']}", json={"risk_level": "medium"}, headers=admin.headers)
    assert same.status_code == 200 and same.json() == patched.json()  # no change: nothing audited (below)
    bad = await client.patch(f"{AREAS}/{made['id']}", json={"until": "2026-11-01"}, headers=admin.headers)
    assert bad.status_code == 422
    nulled = await client.patch(f"{AREAS}/{made['id']}", json={"source": None}, headers=admin.headers)
    assert nulled.status_code == 422
    assert [a.until_date.isoformat() for a in await facts.key_areas() if a.until_date] == ["2026-12-03"]
    withdrawn = await client.delete(f"{AREAS}/{made['id']}", headers=admin.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    assert (await client.delete(f"{AREAS}/{made['id']}", headers=admin.headers)).status_code == 409
    assert (await client.patch(f"{AREAS}/{made['id']}", json={"name": "x"}, headers=admin.headers)).status_code == 409
    assert (await client.get(AREAS)).json()["items"] == []
    assert [a["id"] for a in (await client.get(AREAS, params={"state": "all"})).json()["items"]] == [made["id"]]
    assert await facts.key_areas() == []
    entries = await AuditEntry.filter(action__startswith="health.key_area").order_by("seq")
    assert [(e.action, e.target, e.details) for e in entries] == [
        ("health.key_area_created", made["id"], {"area_code": "420106", "risk_level": "high"}),
        ("health.key_area_updated", made["id"], {"area_code": "420106", "risk_level": "medium"}),
        ("health.key_area_withdrawn", made["id"], {"area_code": "420106", "risk_level": "medium"}),
    ]
    assert all(e.actor == admin.account.public_id for e in entries)


async def test_csv_import_reports_each_bad_row_without_its_value(app: Sanic, client: httpx.AsyncClient) -> None:
    await load_demo_hierarchy()
    admin = await user(app, Role.ADMIN, node="GM")
    text = (
        "\ufeffarea_code,name,risk_level,from,until,source\n"
        "420106,武昌区,high,2026-11-20,2026-12-01,公告 1\n"
        "310115,浦东新区,Medium,2026-11-25,,公告 2\n"
        "\n"
        "999999,某地,high,2026-11-20,,公告 3\n"
        "440311,电话13800138000,low,2026-11-20,2026-11-01,公告 4\n"
        "440311,光明区,severe,20261120,,\n"
    )
    answer = await client.post(f"{AREAS}/import", content=text.encode(), headers=csv_headers(admin))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["created"] == 2
    assert [(r["line"], r["column"]) for r in body["rejected"]] == [
        (5, "area_code"),
        (6, "name"),
        (6, "until"),
        (7, "risk_level"),
        (7, "from"),
        (7, "source"),
    ]
    assert "13800138000" not in answer.text and "999999" not in answer.text and "severe" not in answer.text
    rows = await KeyArea.all().order_by("area_code")
    assert [(r.area_code, r.risk_level, r.until_date) for r in rows] == [
        ("310115", "medium", None),
        ("420106", "high", rows[1].until_date),
    ]
    entry = await AuditEntry.get(action="health.key_areas_imported")
    assert entry.details == {"created": 2, "rejected": 6}
    # Files that cannot be used at all: nothing imported.
    for content, headers, status in (
        (b"area_code,name\n420106,x\n", csv_headers(admin), 422),
        (b"", csv_headers(admin), 422),
        (b"\xff\xfe\x00", csv_headers(admin), 400),
        (text.encode(), admin.headers, 415),
        (b"area_code,risk_level,from,source\n" + b"420106,high,2026-11-20,x\n" * 5001, csv_headers(admin), 422),
        (b"area_code,risk_level,from,source\n" + b"4" * 200_000 + b",high,2026-11-20,x\n", csv_headers(admin), 422),
    ):
        refused = await client.post(f"{AREAS}/import", content=content, headers=headers)
        assert refused.status_code == status, refused.text
    assert await KeyArea.all().count() == 2


async def test_command_imports_a_file_with_the_same_report(
    app: Sanic, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await load_demo_hierarchy()
    path = tmp_path / "areas.csv"
    path.write_text(
        "area_code,name,risk_level,from,until,source\n"
        "420106,武昌区,high,2026-11-20,,公告 1\n"
        "999999,x,high,2026-11-20,,公告\n",
        encoding="utf-8",
    )
    code, out, err = await gmid(settings, "import", "key-areas", str(path))
    assert code == 1, (out, err)
    assert "line 3, area_code" in out and "999999" not in out + err
    assert [a.area_code for a in await KeyArea.all()] == ["420106"]
    assert (await AuditEntry.get(action="health.key_areas_imported")).actor == "cli"
    empty = tmp_path / "empty.csv"
    empty.write_text("name\n", encoding="utf-8")
    code, out, err = await gmid(settings, "import", "key-areas", str(empty))
    assert code == 2 and "nothing was imported" in err
