"""Review 3 (F3): what an Open311 client files is published with every written form of a phone, ID
number, e-mail or plate redacted (dots, underscores, slashes, pairs and fours, digit words, spelt-out
e-mails, a mobile run into a word, new-energy plates), and ordinary numbers stay."""

from __future__ import annotations

from pathlib import Path

import httpx
from sanic import Sanic

from identity.roles import Role
from tests.factories import id_number
from tests.miniapp_api.buildings.conftest import import_rows, row
from tests.miniapp_api.ebikes.conftest import user

BASE = "/open311/v2"
ID = id_number(5)
# (as filed, what must not be published)
LEAKS = [
    ("手机139.1234.5678", "1234.5678"),
    ("手机139_1234_5678", "1234_5678"),
    ("手机139/1234/5678", "1234/5678"),
    ("座机0755.2612.3456", "2612.3456"),
    ("身份证" + " ".join(ID[i : i + 2] for i in range(0, 18, 2)), ID[6:8] + " " + ID[8:10]),
    ("身份证" + "-".join(ID[i : i + 4] for i in range(0, 18, 4)) + "。", "-" + ID[-2:]),
    ("电话一三九一二三四五六七八", "二三四五六七八"),
    ("电话幺三九幺二三四五六七八", "二三四五六七八"),
    ("电话壹叁玖壹贰叁肆伍陆柒捌", "贰叁肆伍陆柒捌"),
    ("邮箱wang at example dot com", "wang at"),
    ("Tel13912345678", "13912345678"),
    ("mobile13912345678", "13912345678"),
    ("vx13912345678", "13912345678"),
    ("车牌粤B·D12345乱停", "D12345"),
]
ORDINARY = "2024.03.15 华夏路114号3栋，版本1.2.3，罚款12.50元，GM0101010001"


async def test_every_written_form_is_redacted_when_published(
    app: Sanic, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await import_rows(tmp_path, [row(1)])
    admin = await user(app, Role.ADMIN)
    body = {"name": "civic-app", "node": "GM010101"}
    made = await client.post("/api/v1/admin/open311/clients", json=body, headers=admin.headers)
    assert made.status_code == 201, made.text
    key = made.json()["api_key"]
    for typed, secret in [*LEAKS, (ORDINARY, "")]:
        form = {
            "api_key": key,
            "service_code": "transport",
            "description": f"路灯坏了 {typed}",
            "lat": "22.7489",
            "long": "113.9354",
        }
        filed = await client.post(f"{BASE}/requests.json", data=form)
        assert filed.status_code == 201, filed.text
        request_id = filed.json()[0]["service_request_id"]
        shown = await client.get(f"{BASE}/requests/{request_id}.json")
        assert shown.status_code == 200, shown.text
        description = shown.json()[0]["description"]
        if secret:
            assert secret not in description and "已隐去]" in description, (typed, description)
        else:
            assert description == f"路灯坏了 {ORDINARY}", description
