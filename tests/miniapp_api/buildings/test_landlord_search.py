"""A building search by a landlord's mobile (``GET /buildings?q=<mobile>``) answers "which buildings does
the holder of this number let out?": a person lookup. Police need a reason and a case number for it, it
is audited like the landlord read and counts against their owner-lookup limit (GMID_POLICE_LOOKUP_RATE,
one budget with the e-bike owner lookup). Grid staff, officers and administrators search by phone as
before, audited. A search by code or address is no person lookup; every list stays in the caller's area."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.audit import AuditEntry
from identity.roles import Role
from notify.models import Notification
from server.settings import Settings
from tests.miniapp_api.buildings.conftest import NAME, PHONE, import_rows, row, user

WHY = {"reason": "走访核查出租屋", "case_no": "深公光(刑)2026-0042"}
POLICE_ACTION = "police.building_landlord_search"
STAFF_ACTION = "building.landlord_search"
# Building 1 of grid GM010101 (street GM01) and building 1 of grid GM020101 (street GM02): same landlord.
MINE, ELSEWHERE = "GM0101010001", "GM0201010001"


async def setup(tmp_path: Path) -> None:
    await import_rows(tmp_path, [row(1), row(2, landlord_phone="13700001111"), row(1, grid="GM020101")])


async def search(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> httpx.Response:
    return await client.get("/api/v1/buildings", params=params, headers=headers)


def entry_text(entry: AuditEntry) -> str:
    return json.dumps([entry.target, entry.reason, entry.details], ensure_ascii=False)


async def test_police_search_by_a_mobile_needs_a_reason_and_a_case_number_and_is_audited(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await setup(tmp_path)
    police = await user(app, Role.POLICE, "GM01")
    for typed in (PHONE, "+86 139-1234-0001"):
        refused = await search(client, police.headers, q=typed)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "reason_required"
        assert MINE not in refused.text and PHONE not in refused.text
    half = await search(client, police.headers, q=PHONE, reason="走访核查")
    assert half.status_code == 422 and half.json()["error"]["code"] == "reason_required"

    found = await search(client, police.headers, q=PHONE, **WHY)
    assert found.status_code == 200, found.text
    assert [b["code"] for b in found.json()["items"]] == [MINE]  # the other street's building is not theirs

    audited = await AuditEntry.filter(action=POLICE_ACTION, actor=police.account.public_id).order_by("seq")
    assert [e.details["outcome"] for e in audited] == ["refused_no_reason"] * 3 + ["ok"]
    ok = audited[-1]
    assert (ok.reason, ok.details["case_no"], ok.details["result_count"]) == (WHY["reason"], WHY["case_no"], 1)
    assert ok.target == MINE and ok.scope == "/GM/GM01/"
    assert ok.details["query"] == "139****0001"
    assert all(PHONE not in entry_text(e) for e in audited)


async def test_police_search_by_code_or_address_is_no_person_lookup(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await setup(tmp_path)
    police = await user(app, Role.POLICE, "GM01")
    for q in ("GM010101", "华夏路2号"):
        response = await search(client, police.headers, q=q)
        assert response.status_code == 200, response.text
        assert response.json()["items"]
    assert await AuditEntry.filter(action=POLICE_ACTION).count() == 0


async def test_staff_search_by_phone_as_before_and_audited(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await setup(tmp_path)
    for role, node in ((Role.GRID_STAFF, "GM010101"), (Role.OFFICER, "GM01"), (Role.ADMIN, "GM01")):
        staff = await user(app, role, node)
        response = await search(client, staff.headers, q=PHONE)
        assert response.status_code == 200, response.text
        assert [b["code"] for b in response.json()["items"]] == [MINE]
        [entry] = await AuditEntry.filter(action=STAFF_ACTION, actor=staff.account.public_id)
        assert (entry.role, entry.target, entry.details["result_count"]) == (role.value, MINE, 1)
        assert entry.details["query"] == "139****0001" and PHONE not in entry_text(entry)
        # A search by address is not audited.
        assert (await search(client, staff.headers, q="华夏路")).status_code == 200
        assert await AuditEntry.filter(actor=staff.account.public_id).count() == 1
    neighbour = await user(app, Role.GRID_STAFF, "GM010102")
    nothing = await search(client, neighbour.headers, q=PHONE)
    assert nothing.status_code == 200 and nothing.json()["items"] == []


async def test_a_search_is_real_text_as_a_reason_is(app: Sanic, client: httpx.AsyncClient, tmp_path: Path) -> None:
    # Bytes that are not UTF-8 (decoded to U+FFFD) or invisible characters are no search: 422 naming q,
    # as identity.purpose refuses them in a reason.
    await setup(tmp_path)
    worker = await user(app, Role.GRID_STAFF, "GM010101")
    for raw in ("q=%ff%fe", "q=%E5%8D%8E%FF", "q=%E5%8D%8E%E2%80%8B", "q=%07"):
        response = await client.get(f"/api/v1/buildings?{raw}", headers=worker.headers)
        assert response.status_code == 422, (raw, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_failed" and [f["field"] for f in error["details"]["fields"]] == ["q"]
    assert (await search(client, worker.headers, q="华夏路")).json()["items"]


class TestPoliceLimit:
    @pytest.fixture
    def app(self, settings: Settings) -> Sanic:
        from server.app import create_app

        return create_app(settings.replace(police_lookup_rate="2/hour"))

    async def test_phone_searches_count_against_the_owner_lookup_limit(
        self, app: Sanic, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        await setup(tmp_path)
        police = await user(app, Role.POLICE, "GM01")
        owner_lookup = await client.get(
            "/api/v1/police/ebikes", params={"frame_no": "LYD20260007X", **WHY}, headers=police.headers
        )
        assert owner_lookup.status_code == 200, owner_lookup.text
        assert (await search(client, police.headers, q=PHONE, **WHY)).status_code == 200
        refused = await search(client, police.headers, q="13700001111", **WHY)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited" and "GM0101010002" not in refused.text
        # A search by address costs nothing.
        assert (await search(client, police.headers, q="华夏路")).status_code == 200
        outcomes = [e.details["outcome"] for e in await AuditEntry.filter(action=POLICE_ACTION).order_by("seq")]
        assert outcomes == ["ok", "refused_rate_limit"]

    async def test_each_full_landlord_read_spends_a_lookup_and_is_refused_past_the_limit(
        self, app: Sanic, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        # Building codes are printed and sequential: reading landlords one by one is a person lookup
        # like any other, from the same budget, and past it nothing personal comes back.
        await setup(tmp_path)
        admin = await user(app, Role.ADMIN, "GM")
        admin.account.wechat_openid = "o_district_admin"
        await admin.account.save()
        police = await user(app, Role.POLICE, "GM01")
        detail = f"/api/v1/buildings/{MINE}"
        masked = await client.get(detail, headers=police.headers)  # the masked view costs nothing
        assert masked.status_code == 200 and masked.json()["landlord"]["masked"] is True
        for code in (MINE, "GM0101010002"):
            full = await client.get(f"/api/v1/buildings/{code}", params=WHY, headers=police.headers)
            assert full.status_code == 200, full.text
            assert full.json()["landlord"]["masked"] is False
        for _ in range(2):
            refused = await client.get(detail, params=WHY, headers=police.headers)
            assert refused.status_code == 429, refused.text
            assert refused.json()["error"]["code"] == "rate_limited"
            assert NAME not in refused.text and PHONE not in refused.text
        assert await Notification.filter(template="police.lookup_limit").count() == 1
        # The budget is one: the phone search and the e-bike owner lookup are refused too.
        assert (await search(client, police.headers, q=PHONE, **WHY)).status_code == 429
        owner_lookup = await client.get(
            "/api/v1/police/ebikes", params={"frame_no": "LYD20260007X", **WHY}, headers=police.headers
        )
        assert owner_lookup.status_code == 429, owner_lookup.text
        # Still the masked view, for nothing.
        assert (await client.get(detail, headers=police.headers)).json()["landlord"]["masked"] is True
        reads = await AuditEntry.filter(action="police.building_landlord").order_by("seq")
        assert [e.details["outcome"] for e in reads] == ["ok", "ok", "refused_rate_limit", "refused_rate_limit"]
        assert all(PHONE not in entry_text(e) and NAME not in entry_text(e) for e in reads)

    async def test_an_owner_lookup_spends_the_budget_of_the_landlord_read(
        self, app: Sanic, client: httpx.AsyncClient, tmp_path: Path
    ) -> None:
        await setup(tmp_path)
        police = await user(app, Role.POLICE, "GM01")
        for _ in range(2):
            owner_lookup = await client.get(
                "/api/v1/police/ebikes", params={"frame_no": "LYD20260007X", **WHY}, headers=police.headers
            )
            assert owner_lookup.status_code == 200, owner_lookup.text
        refused = await client.get(f"/api/v1/buildings/{MINE}", params=WHY, headers=police.headers)
        assert refused.status_code == 429, refused.text
        assert NAME not in refused.text and PHONE not in refused.text
