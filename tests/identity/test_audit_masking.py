"""Numbers shaped like a mainland ID number, a mobile or a landline are masked in every audited value,
whatever field they were typed into and however deep in ``details`` (one place: ``audit.record``)."""

from __future__ import annotations

import json

import httpx
import pytest
from sanic import Sanic

from identity import audit
from identity.audit import AuditEntry
from identity.pii import mask_embedded
from identity.roles import Role
from tests.factories import auth, id_number, make_account, token_for

ID = id_number(3)  # 18 characters, valid check digit
ID_X = "11010519491231002X"  # a real-shaped number ending in X
MOBILE = "13912345678"
LANDLINE = "075526123456"

# (as typed, what must not survive, what the masked form keeps)
SHAPES = [
    (ID, ID, ID[:3] + "*" * 11 + ID[-4:]),
    (f"{ID[:6]} {ID[6:14]} {ID[14:]}", ID, ID[:3] + "*" * 11 + ID[-4:]),
    (f"{ID[:6]}-{ID[6:14]}-{ID[14:]}", ID, ID[:3] + "*" * 11 + ID[-4:]),
    (ID_X.lower(), ID_X[6:14], "110***********002X"),
    ("".join(chr(0xFF10 + int(c)) for c in ID), ID[6:14], ID[:3] + "*" * 11 + ID[-4:]),  # full-width digits
    ("12345678901234567X", "5678901234", "123***********567X"),  # a wrong check digit is still someone's
    (MOBILE, MOBILE, "139****5678"),
    ("+86 139 1234 5678", "1234", "139****5678"),
    ("+86-139-1234-5678", "1234", "139****5678"),
    ("008613912345678", MOBILE, "139****5678"),
    ("8613912345678", MOBILE, "139****5678"),
    ("139-1234-5678", "1234", "139****5678"),
    ("0755-26123456", "26123456", "075*****3456"),
    ("(0755) 2612 3456", "2612", "075*****3456"),
    ("（0755）26123456", "26123456", "075*****3456"),
    ("010-12345678", "12345678", "010****5678"),
    (LANDLINE, LANDLINE, "075*****3456"),
    ("+86 755 2612 3456", "2612", "755****3456"),
    # review 3 (F3): dots, underscores, slashes, groups of two or four, digit words, spelt-out e-mail
    ("139.1234.5678", "1234", "139****5678"),
    ("139_1234_5678", "1234", "139****5678"),
    ("139/1234/5678", "1234", "139****5678"),
    ("0755.2612.3456", "2612", "075*****3456"),
    (" ".join(ID[i : i + 2] for i in range(0, 18, 2)), ID[8:10] + " " + ID[10:12], ID[:3] + "*" * 11 + ID[-4:]),
    ("-".join(ID[i : i + 4] for i in range(0, 18, 4)), ID[4:8] + "-" + ID[8:12], ID[:3] + "*" * 11 + ID[-4:]),
    ("一三九一二三四五六七八", "二三四五", "139****5678"),
    ("Tel13912345678", MOBILE, "139****5678"),
    ("wang at example dot com", "wang", "w***@example.com"),
]


@pytest.mark.parametrize(("typed", "secret", "kept"), SHAPES)
def test_each_shape_is_masked_inside_other_text(typed: str, secret: str, kept: str) -> None:
    for text in (typed, f"车主{typed}号", f"query: {typed}; again {typed}"):
        masked = mask_embedded(text)
        assert secret not in masked, (text, masked)
        assert kept in masked, (text, masked)


def test_what_is_not_a_personal_number_is_kept() -> None:
    for text in (
        "GM0101010001",  # a building code: the digits of a landline inside a word
        "GM0103010001",
        "eb_Ab12Cd34Ef56G",
        "2026-11-25T09:30:00.123456+00:00",
        "1764000000000",  # a millisecond timestamp
        "A2026110512345678",
        "GM2026-1125-01",
        "粤B12345",
        "盗窃案件侦查",
        "",
    ):
        assert mask_embedded(text) == text


async def test_every_audited_value_is_masked_nested_json_too(running: object) -> None:
    entry = await audit.record(
        actor="acc_x",
        role="police",
        action="police.ebike_lookup",
        target=f"frame:{ID}",
        reason=f"车主电话 {MOBILE}，身份证 {ID[:6]} {ID[6:14]} {ID[14:]}",
        client_addr="127.0.0.1",
        request_id=f"req-{MOBILE}",
        details={
            "case_no": f"案{LANDLINE}",
            "query": ID,
            "nested": {"list": ["+86 139 1234 5678", {"deep": f"(0755) 2612 3456 / {ID_X}"}], MOBILE: "as a key"},
            "as_number": 13912345678,
            "count": 2,
            "flag": True,
        },
    )
    stored = await AuditEntry.get(seq=entry.seq)
    everything = json.dumps(
        [stored.actor, stored.target, stored.reason, stored.request_id, stored.details], ensure_ascii=False
    )
    for secret in (ID, ID[6:14], MOBILE, "1234 5678", "26123456", "2612 3456", ID_X, LANDLINE):
        assert secret not in everything, secret
    assert stored.target == f"frame:{ID[:3]}{'*' * 11}{ID[-4:]}"
    assert stored.details["as_number"] == "139****5678"
    assert (stored.details["count"], stored.details["flag"]) == (2, True)  # other values as given
    assert "139****5678" in stored.details["nested"]  # the key is masked too
    assert (await audit.verify()).ok  # the chain covers what is stored


async def test_a_police_reason_with_a_number_in_any_writing_is_stored_and_shown_masked(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    police = await make_account(Role.POLICE, node="GM01")
    headers = auth(await token_for(app, police))
    pairs = " ".join(ID[i : i + 2] for i in range(0, 18, 2))
    for typed, secret in (
        ("139.1234.5678", "1234.5678"),
        ("139_1234_5678", "1234_5678"),
        ("0755.2612.3456", "2612.3456"),
        (pairs, pairs),
        ("wang at example dot com", "wang at"),
        ("壹叁玖壹贰叁肆伍陆柒捌", "贰叁肆伍"),
    ):
        params = {"frame_no": "LYD2026000123", "reason": f"嫌疑人电话{typed}", "case_no": "GM-1"}
        response = await client.get("/api/v1/police/ebikes", params=params, headers=headers)
        assert response.status_code in (200, 404), response.text
        stored = await AuditEntry.filter(action="police.ebike_lookup").order_by("-seq").first()
        assert stored is not None and stored.reason.startswith("嫌疑人电话")
        assert secret not in stored.reason, (typed, stored.reason)


async def test_our_request_ids_are_kept_as_made(running: object) -> None:
    made = "13912345678abcdef0123456789abcde"  # uuid4().hex can hold such a run: it is not a phone
    entry = await audit.record(actor="a", role="admin", action="x", request_id=made)
    assert (await AuditEntry.get(seq=entry.seq)).request_id == made


async def test_a_police_lookup_with_an_id_number_typed_as_a_frame_number_is_masked(
    app: Sanic, client: httpx.AsyncClient
) -> None:
    police = await make_account(Role.POLICE, node="GM01")
    headers = auth(await token_for(app, police))
    params = {
        "frame_no": ID,
        "reason": f"车主来电 {MOBILE} 称车辆被盗",
        "case_no": f"{ID[:6]}-{ID[6:14]}-{ID[14:]}",
    }
    response = await client.get("/api/v1/police/ebikes", params=params, headers=headers)
    assert response.status_code in (200, 422), response.text
    [stored] = await AuditEntry.filter(action="police.ebike_lookup")
    text = json.dumps([stored.target, stored.reason, stored.details], ensure_ascii=False)
    assert ID not in text and ID[6:14] not in text and MOBILE not in text
    assert stored.details["query"] == ID[:3] + "*" * 11 + ID[-4:]
