"""After a registration, an alarm, its notifications and a police lookup by ID number, a copy of the
database holds no owner's name, ID number or phone in plain text (audit entries included)."""

from __future__ import annotations

import httpx
from sanic import Sanic

from identity.roles import Role
from notify.dispatcher import Dispatcher
from server.settings import Settings
from tests.factories import id_number
from tests.identity.test_profile_pii import raw_database_dump
from tests.miniapp_api.ebikes.conftest import registration, user


async def test_nothing_personal_in_plain_text_at_rest(
    app: Sanic, client: httpx.AsyncClient, dispatcher: Dispatcher, settings: Settings
) -> None:
    owner = await user(app, Role.RESIDENT)
    police = await user(app, Role.POLICE, node="GM01", phone="13700000009")
    identity = {"name": "欧阳娜娜", "id_number": id_number(31), "phone": "13912340031"}
    answer = await client.post("/api/v1/ebikes", json=registration(31, owner=identity), headers=owner.headers)
    assert answer.status_code == 201, answer.text
    bike = answer.json()
    alarm = {"lost_at": "2026-11-25T09:30:00+08:00", "location": "光明大街"}
    raised = await client.post(f"/api/v1/ebikes/{bike['id']}/alarm", json=alarm, headers=owner.headers)
    assert raised.status_code == 201
    await dispatcher.run_once()
    found = await client.post(
        "/api/v1/police/ebikes/lookup",
        json={"owner_id_number": id_number(31), "reason": "案件侦查", "case_no": "C-31"},
        headers=police.headers,
    )
    assert found.status_code == 200 and found.json()["count"] == 1
    dump = await raw_database_dump(settings)
    assert bike["frame_no"].encode() in dump  # the dump does see the bike
    for secret in ("欧阳娜娜", id_number(31), "13912340031", "13700000009"):
        assert secret.encode("utf-8") not in dump, f"plaintext {secret[:3]}… found in the database"
