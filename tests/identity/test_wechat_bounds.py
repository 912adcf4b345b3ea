"""WeChat sign-in with what a client should never send and what WeChat should never answer.

What a client sends is bounded by the schema (WeChat is not even asked); what WeChat answers is
checked before anything is stored: an answer of the wrong shape is a 502 ``wechat_bad_answer``,
never a 500, and no account is created.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx
import pytest
from sanic import Sanic

from identity.models import Account
from server.settings import Settings
from tests.server.test_errors import assert_error
from tests.support.notify_fixtures import app_with_channels
from tests.support.wechat_fake import PATH_CODE2SESSION, WeChatFake


@pytest.fixture
def app(notify_settings: Settings) -> Sanic:
    return app_with_channels(notify_settings)  # WeChat configured, pointing at the loopback fake


def _session_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


async def _login(client: httpx.AsyncClient, code: str) -> httpx.Response:
    return await client.post("/api/v1/auth/wechat", json={"code": code})


async def test_codes_no_wechat_could_have_issued_are_422_and_wechat_is_not_asked(
    client: httpx.AsyncClient, wechat: WeChatFake
) -> None:
    for code in ("A" * 65, "A" * 128, "A" * 5000, "code with spaces", "code&js_code=other", "码" * 10, "a/../b"):
        r = await _login(client, code)
        assert_error(r, 422, "validation_failed")
    assert wechat.calls_to(PATH_CODE2SESSION) == []
    assert await Account.all().count() == 0


async def test_a_real_looking_code_still_signs_in(client: httpx.AsyncClient, wechat: WeChatFake) -> None:
    code = "0716AVll20uHk94SLDml27etM946AVlq"  # the shape wx.login() gives: 32 letters and digits
    wechat.add_login_code(code, openid="oT3xN5Qm1bJ8-kLp_2Zr4cVw6yHs", unionid="oU9aB2cD3eF4gH5iJ6kL7mN8oP9q")
    r = await _login(client, code)
    assert r.status_code == 200, r.text
    account = await Account.get(public_id=r.json()["account"]["id"])
    assert account.wechat_openid == "oT3xN5Qm1bJ8-kLp_2Zr4cVw6yHs"
    assert account.wechat_unionid == "oU9aB2cD3eF4gH5iJ6kL7mN8oP9q"


async def test_an_openid_too_long_for_its_column_is_502_not_500(client: httpx.AsyncClient, wechat: WeChatFake) -> None:
    # What the outside test saw: WeChat (here the fake) answering an openid that does not fit.
    wechat.add_login_code("code-long-openid", openid="o" * 100)
    r = await _login(client, "code-long-openid")
    assert_error(r, 502, "wechat_bad_answer")
    assert await Account.all().count() == 0


ODD_ANSWERS: list[dict[str, Any]] = [
    {"payload": {"openid": "o" * 65, "session_key": _session_key()}},
    {"payload": {"openid": 12345, "session_key": _session_key()}},
    {"payload": {"openid": ["o_x"], "session_key": _session_key()}},
    {"payload": {"openid": "o x; drop", "session_key": _session_key()}},
    {"payload": {"openid": "", "session_key": _session_key()}},
    {"payload": {"openid": "o_ok", "unionid": "u" * 200, "session_key": _session_key()}},
    {"payload": {"openid": "o_ok", "unionid": {"a": 1}, "session_key": _session_key()}},
    {"payload": {"openid": "o_ok"}},  # no session key
    {"payload": {"openid": "o_ok", "session_key": 42}},
    {"payload": {"openid": "o_ok", "session_key": "not base64 at all!!!!!=="}},
    {"payload": {"openid": "o_ok", "session_key": base64.b64encode(b"x" * 40).decode()}},
    {"payload": ["openid", "o_ok"]},
    {"payload": {"errcode": "not-a-number", "errmsg": "?"}},
    {"raw": b"<html><body>gateway</body></html>"},
    {"raw": b"[" * 3000 + b"]" * 3000},
    {"raw": b'{"openid": "o_ok", "session_key": "' + b"A" * 100_000 + b'"}'},
]


async def test_odd_answers_from_wechat_are_502_and_store_nothing(client: httpx.AsyncClient, wechat: WeChatFake) -> None:
    for n, answer in enumerate(ODD_ANSWERS):
        wechat.answer_next(PATH_CODE2SESSION, answer.get("payload"), raw=answer.get("raw"))
        r = await _login(client, f"code-odd-{n}")
        assert_error(r, 502, "wechat_bad_answer")
        assert "o_ok" not in r.text  # nothing WeChat said is echoed
    assert await Account.all().count() == 0
    assert wechat.server_errors == []
