"""E-bike tests: the app with notifications going to the loopback fakes, and a few helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity import service as identity_service
from identity.models import Account
from identity.roles import Role
from server.settings import Settings
from tests.factories import auth, id_number, make_account, token_for
from tests.support.notify_fixtures import app_with_channels


@pytest.fixture
def app(notify_settings: Settings) -> Sanic:
    return app_with_channels(notify_settings)


@dataclass
class User:
    account: Account
    headers: dict[str, str]


async def user(
    app: Sanic, role: Role, *, node: str | None = None, phone: str | None = None, openid: str | None = None
) -> User:
    account = await make_account(role, node=node)
    if openid is not None:
        account.wechat_openid = openid
        await account.save(update_fields=["wechat_openid"])
    if phone is not None:
        await identity_service.update_profile(account=account, name=None, phone=phone, id_number=None)
    return User(account, auth(await token_for(app, account)))


def registration(n: int = 1, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner": {"name": "张三", "id_number": id_number(n), "phone": f"1391234{n:04d}"},
        "brand": "雅迪",
        "model": "DE2",
        "colour": "白色",
        "frame_no": f"yd-2026 {n:06d}",
        "motor_no": f"M{n:08d}",
        "purchase_date": "2025-03-01",
        "node": "GM010101",
    }
    body.update(changes)
    return body


async def register(client: httpx.AsyncClient, owner: User, n: int = 1, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/ebikes", json=registration(n, **changes), headers=owner.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
