"""Every police read of a person's data takes a reason and a case number, and both are real text: the
landlord of a rental building like the e-bike owner lookup, through one check (identity.purpose) with
one error code. Zero-width and format characters, punctuation or symbols alone, whitespace alone,
bytes that are not UTF-8 and over-long values are not a reason."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sanic import Sanic

from identity.audit import AuditEntry
from identity.purpose import case_no_problem, reason_problem
from identity.roles import Role
from tests.miniapp_api.buildings.conftest import NAME, PHONE, import_rows, row, user

CODE = "GM0101010001"
GOOD = {"reason": "走访核查出租屋", "case_no": "深公光(刑)2026-0042"}

# (reason, case_no): each is refused, and answers reason_required.
NOT_A_PURPOSE: list[tuple[str | None, str | None]] = [
    ("走访核查", None),  # no case number
    (None, "GM2026-0001"),  # no reason
    ("\u200b\u200b\u200b", "GM2026-0001"),  # zero-width spaces
    ("走访\u200d核查", "GM2026-0001"),  # a zero-width joiner inside words
    ("走访\u202e核查", "GM2026-0001"),  # a direction override
    ("\ufeff\ufeff", "GM2026-0001"),  # byte-order marks
    ("走访\x07核查", "GM2026-0001"),  # a control character
    ("？！。，……", "GM2026-0001"),  # punctuation alone
    ("★☆♥♥", "GM2026-0001"),  # symbols alone
    ("😀😀😀", "GM2026-0001"),  # emoji alone
    ("12345", "GM2026-0001"),  # digits are not words
    ("   \u3000  ", "GM2026-0001"),  # whitespace alone
    ("走" * 201, "GM2026-0001"),  # over-long
    ("走访核查", "---"),  # punctuation alone
    ("走访核查", "\u200b\u200b1"),
    ("走访核查", "案号未定"),  # no digit
    ("走访核查", "GM-2026-" + "1" * 60),  # over-long
    ("走访核查", "GM\u00a02026 1"),  # a no-break space is not a plain space
    ("走访核查", "GM2026😀1"),
]


@pytest.mark.parametrize(("reason", "case_no"), NOT_A_PURPOSE)
def test_the_shared_check_refuses(reason: str | None, case_no: str | None) -> None:
    assert reason_problem(reason) or case_no_problem(case_no)


def test_the_shared_check_accepts_real_text() -> None:
    for reason in ("盗窃案件侦查", "走访核查出租屋", "fraud investigation", "查案"):
        assert reason_problem(reason) is None, reason
    for case_no in ("GM2026-1125-01", "深公光(刑)2026-0042", "深公（光）立字〔2026〕1234号", "A12", "２０２６-１"):
        assert case_no_problem(case_no) is None, case_no


async def setup(tmp_path: Path) -> None:
    result = await import_rows(tmp_path, [row(1)])
    assert result.created == 1


async def test_a_landlord_is_read_in_full_only_with_a_real_reason_and_case_number(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await setup(tmp_path)
    police = await user(app, Role.POLICE, "GM01")
    url = f"/api/v1/buildings/{CODE}"

    masked = await client.get(url, headers=police.headers)  # no reason: the masked view, and how to ask
    assert masked.status_code == 200, masked.text
    assert masked.json()["landlord"]["masked"] is True and NAME not in masked.text and PHONE not in masked.text
    assert masked.json()["landlord_access"]["requires"] == ["reason", "case_no"]

    for reason, case_no in NOT_A_PURPOSE:
        params = {k: v for k, v in (("reason", reason), ("case_no", case_no)) if v is not None}
        response = await client.get(url, params=params, headers=police.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == "reason_required", params
        assert NAME not in response.text and PHONE not in response.text
    # Bytes that are not UTF-8, sent as they are.
    for raw in ("reason=%FF%FE%FD&case_no=GM2026-1", "reason=%E8%B5%B0%FF%E8%AE%BF&case_no=GM2026-1"):
        response = await client.get(f"{url}?{raw}", headers=police.headers)
        assert response.status_code == 422 and response.json()["error"]["code"] == "reason_required", raw

    refused = await AuditEntry.filter(action="police.building_landlord", actor=police.account.public_id)
    assert len(refused) == len(NOT_A_PURPOSE) + 2
    assert {e.details["outcome"] for e in refused} == {"refused_no_reason"}

    full = await client.get(url, params=GOOD, headers=police.headers)
    assert full.status_code == 200, full.text
    assert full.json()["landlord"] == {"name": NAME, "phone": PHONE, "masked": False}
    entry = await AuditEntry.get(seq=full.json()["audit_seq"])
    assert (entry.reason, entry.details["case_no"], entry.details["outcome"]) == (
        GOOD["reason"],
        GOOD["case_no"],
        "ok",
    )
    assert entry.scope == "/GM/GM01/GM0101/GM010101/"

    # Staff who are not police see the masked landlord whatever they send, and no way to ask.
    worker = await user(app, Role.GRID_STAFF, "GM010101")
    response = await client.get(url, params=GOOD, headers=worker.headers)
    assert response.json()["landlord"]["masked"] is True and response.json()["landlord_access"] is None


async def test_the_owner_lookup_refuses_the_same_inputs_with_the_same_code(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    police = await user(app, Role.POLICE, "GM01")
    for reason, case_no in NOT_A_PURPOSE:
        params = {"frame_no": "LYD20260007X"}
        params.update({k: v for k, v in (("reason", reason), ("case_no", case_no)) if v is not None})
        response = await client.get("/api/v1/police/ebikes", params=params, headers=police.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == "reason_required", params
    response = await client.get(
        "/api/v1/police/ebikes?frame_no=LYD20260007X&reason=%FF%FF%FF&case_no=GM2026-1", headers=police.headers
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "reason_required"
    entries = await AuditEntry.filter(action="police.ebike_lookup", actor=police.account.public_id)
    assert {e.details["outcome"] for e in entries} == {"refused_no_reason"}
    ok = await client.get("/api/v1/police/ebikes", params={"frame_no": "LYD20260007X", **GOOD}, headers=police.headers)
    assert ok.status_code == 200, ok.text
