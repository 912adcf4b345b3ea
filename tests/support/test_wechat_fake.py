"""The WeChat fake, exercised through real clients: wechatpy 1.8.18 (requests) and httpx."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from wechatpy import WeChatClient, parse_message
from wechatpy.events import TemplateSendJobFinishEvent
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import check_signature

from tests.support.wechat_fake import (
    WeChatFake,
    build_template_finish_event,
    point_wechatpy_at,
)

SUBSCRIBE = "/cgi-bin/message/subscribe/send"
TEMPLATE = "/cgi-bin/message/template/send"
GOOD_DATA = {"thing1": {"value": "电动车登记已通过"}, "time2": {"value": "2025-01-02 10:00"}}


@pytest.fixture
def wx() -> Iterator[WeChatFake]:
    with WeChatFake() as fake:
        yield fake
    assert fake.server_errors == []


@pytest.fixture
def client(wx: WeChatFake) -> WeChatClient:
    return point_wechatpy_at(WeChatClient(wx.appid, wx.secret, timeout=5), wx.base_url)


def subscribe(client: WeChatClient, openid: str = "o_user", data: Any = None) -> Any:
    return client.wxa.send_subscribe_message(openid, "tmpl_sub", GOOD_DATA if data is None else data)


# ------------------------------------------------------------------ wiring


def test_base_url_and_rewiring(wx: WeChatFake, client: WeChatClient) -> None:
    assert wx.base_url == f"http://127.0.0.1:{wx.port}/"
    base = wx.base_url
    urls = {"client": client.API_BASE_URL, "wxa": client.wxa.API_BASE_URL, "dc": client.datacube.API_BASE_URL}
    assert urls == {"client": f"{base}cgi-bin/", "wxa": base, "dc": f"{base}datacube/"}
    # other clients and the classes keep the real host
    assert WeChatClient.API_BASE_URL == "https://api.weixin.qq.com/cgi-bin/"
    assert WeChatClient("a", "b").wxa.API_BASE_URL == "https://api.weixin.qq.com/"


def test_stop_is_prompt_and_frees_the_port(client: WeChatClient) -> None:
    fake = WeChatFake().start()
    point_wechatpy_at(client, fake.base_url)
    subscribe(client)  # leaves a keep-alive connection open
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(requests.ConnectionError):
        subscribe(client)


# ------------------------------------------------------------------ login


def test_code2session_success_fetches_token_first(wx: WeChatFake, client: WeChatClient) -> None:
    grant = wx.add_login_code("code123", openid="o_abc")
    wx.add_login_code("code456", openid="o_def", unionid="u_def")

    session = client.wxa.code_to_session("code123")

    assert session == {"session_key": grant.session_key, "openid": "o_abc"}
    assert client.wxa.code_to_session("code456")["unionid"] == "u_def"
    # wechatpy adds access_token to every request, jscode2session included
    assert [c.path for c in wx.calls] == ["/cgi-bin/token", "/sns/jscode2session", "/sns/jscode2session"]
    call = wx.calls[1]
    assert call.method == "GET" and call.json is None
    assert call.query["js_code"] == "code123"
    assert call.query["appid"] == wx.appid and call.query["grant_type"] == "authorization_code"
    assert wx.token_fetches == 1


def test_reused_or_unknown_code_is_40029(wx: WeChatFake, client: WeChatClient) -> None:
    wx.add_login_code("once", openid="o_abc")
    client.wxa.code_to_session("once")

    for code in ("once", "never-issued"):
        with pytest.raises(WeChatClientException) as info:
            client.wxa.code_to_session(code)
        assert info.value.errcode == 40029
        assert info.value.errmsg.startswith("invalid code")


def test_login_code_expires_after_five_minutes(wx: WeChatFake, client: WeChatClient) -> None:
    wx.add_login_code("late", openid="o_abc")
    wx.advance_time(301)
    with pytest.raises(WeChatClientException) as info:
        client.wxa.code_to_session("late")
    assert info.value.errcode == 40029


def test_wrong_secret_fails_at_token_fetch(wx: WeChatFake) -> None:
    bad = point_wechatpy_at(WeChatClient(wx.appid, "wrong"), wx.base_url)
    wx.add_login_code("c", openid="o_abc")
    with pytest.raises(WeChatClientException) as info:
        bad.wxa.code_to_session("c")
    assert info.value.errcode == 40125


def test_scripted_login_failure_then_success_keeps_the_code(wx: WeChatFake, client: WeChatClient) -> None:
    wx.add_login_code("c", openid="o_abc")
    wx.fail_next("/sns/jscode2session", 40226, times=2)
    for _ in range(2):
        with pytest.raises(WeChatClientException) as info:
            client.wxa.code_to_session("c")
        assert (info.value.errcode, info.value.errmsg) == (40226, "high risk user")
    assert client.wxa.code_to_session("c")["openid"] == "o_abc"


# ------------------------------------------------------------------ tokens


def test_superseded_token_is_refetched_and_resent(wx: WeChatFake, client: WeChatClient) -> None:
    subscribe(client)
    assert wx.token_fetches == 1
    wx.issue_token()  # another server fetched: ours stays valid for 300 s
    subscribe(client)
    wx.issue_token()  # and again: ours is now older than the previous one -> 40001
    subscribe(client)

    sends = wx.calls_to(SUBSCRIBE)
    assert [c.errcode for c in sends] == [0, 0, 40001, 0]
    assert sends[2].query["access_token"] != sends[3].query["access_token"]
    assert wx.token_fetches == 2
    assert len(wx.sent_messages("subscribe")) == 3


def test_previous_token_grace_ends_after_300_seconds(wx: WeChatFake, client: WeChatClient) -> None:
    subscribe(client)
    wx.issue_token()
    wx.advance_time(299)
    subscribe(client)
    wx.advance_time(2)
    subscribe(client)
    assert [c.errcode for c in wx.calls_to(SUBSCRIBE)] == [0, 0, 40001, 0]


def test_expired_token_42001_is_refetched(wx: WeChatFake, client: WeChatClient) -> None:
    client.message.send_template("o_user", "tmpl_oa", {"thing1": {"value": "x"}})
    wx.expire_tokens()
    client.message.send_template("o_user", "tmpl_oa", {"thing1": {"value": "y"}})

    assert [c.errcode for c in wx.calls_to(TEMPLATE)] == [0, 42001, 0]
    assert wx.calls_to(TEMPLATE)[1].response["errmsg"].startswith("access_token expired rid: ")
    assert [m["data"]["thing1"]["value"] for m in wx.sent_messages("template")] == ["x", "y"]
    assert wx.token_fetches == 2


def test_token_expires_after_7200_seconds(wx: WeChatFake) -> None:
    token = wx.issue_token()
    body = {"code": "p"}
    wx.add_phone_code("p", "13800138000")
    wx.advance_time(7200)
    answer = httpx.post(wx.url("/wxa/business/getuserphonenumber"), params={"access_token": token}, json=body)
    assert answer.json()["errcode"] == 42001


async def test_stable_token_shared_until_forced(wx: WeChatFake) -> None:
    creds = {"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret}
    async with httpx.AsyncClient(base_url=wx.base_url) as http:
        first = (await http.post("cgi-bin/stable_token", json=creds)).json()
        again = (await http.post("cgi-bin/stable_token", json={**creds, "force_refresh": False})).json()
        forced = (await http.post("cgi-bin/stable_token", json={**creds, "force_refresh": True})).json()
        bad = (await http.post("cgi-bin/stable_token", json={**creds, "secret": "nope"})).json()

        assert first["access_token"] == again["access_token"] != forced["access_token"]
        assert 7190 < first["expires_in"] <= 7200
        assert bad["errcode"] == 40125
        assert wx.token_fetches == 4

        # the superseded stable token keeps working for its grace period
        wx.add_phone_code("p1", "13800138000")
        wx.add_phone_code("p2", "13800138001")
        ok = await http.post(
            "wxa/business/getuserphonenumber",
            params={"access_token": first["access_token"]},
            json={"code": "p1"},
        )
        assert ok.json()["errcode"] == 0
        wx.advance_time(301)
        stale = await http.post(
            "wxa/business/getuserphonenumber",
            params={"access_token": first["access_token"]},
            json={"code": "p2"},
        )
        assert stale.json()["errcode"] == 40001


async def test_stable_token_renews_five_minutes_before_expiry(wx: WeChatFake) -> None:
    creds = {"grant_type": "client_credential", "appid": wx.appid, "secret": wx.secret}
    async with httpx.AsyncClient(base_url=wx.base_url) as http:
        first = (await http.post("cgi-bin/stable_token", json=creds)).json()
        wx.advance_time(7200 - 301)
        same = (await http.post("cgi-bin/stable_token", json=creds)).json()
        wx.advance_time(2)
        renewed = (await http.post("cgi-bin/stable_token", json=creds)).json()
    assert same["access_token"] == first["access_token"] and same["expires_in"] == 301
    assert renewed["access_token"] != first["access_token"] and renewed["expires_in"] == 7200


# ------------------------------------------------------------------ phone numbers


async def test_getuserphonenumber(wx: WeChatFake) -> None:
    token = wx.issue_token(stable=True)
    wx.add_phone_code("pc", "13800138000")
    async with httpx.AsyncClient(base_url=wx.base_url) as http:
        url = "wxa/business/getuserphonenumber"
        ok = await http.post(url, params={"access_token": token}, json={"code": "pc"})
        reused = await http.post(url, params={"access_token": token}, json={"code": "pc"})
        no_token = await http.post(url, json={"code": "pc"})
        bad_token = await http.post(url, params={"access_token": "forged"}, json={"code": "pc"})

    info = ok.json()["phone_info"]
    assert ok.json()["errcode"] == 0
    assert info["purePhoneNumber"] == info["phoneNumber"] == "13800138000"
    assert info["countryCode"] == "86"
    assert info["watermark"]["appid"] == wx.appid
    assert reused.json()["errcode"] == 40029
    assert no_token.json()["errcode"] == 41001
    assert bad_token.status_code == 200 and bad_token.json()["errcode"] == 40001


# ------------------------------------------------------------------ messages


def test_subscribe_message_recorded(wx: WeChatFake, client: WeChatClient) -> None:
    result = client.wxa.send_subscribe_message("o_user", "tmpl_sub", GOOD_DATA, page="pages/ebike/detail?id=1")
    assert result["errcode"] == 0 and isinstance(result["msgid"], int)
    assert wx.sent_messages("subscribe") == [
        {"touser": "o_user", "template_id": "tmpl_sub", "page": "pages/ebike/detail?id=1", "data": GOOD_DATA}
    ]
    assert wx.sent_messages("template") == []
    assert wx.messages[0].msgid == result["msgid"]


def test_template_message_with_miniprogram(wx: WeChatFake, client: WeChatClient) -> None:
    mini = {"appid": "wx_mini", "pagepath": "pages/index"}
    result = client.message.send_template("o_user", "tmpl_oa", {"thing1": {"value": "x"}}, mini_program=mini)
    assert result["errmsg"] == "ok"
    (body,) = wx.sent_messages("template")
    assert body["miniprogram"] == mini and body["touser"] == "o_user"


def test_template_client_msg_id_dedup(wx: WeChatFake) -> None:
    token = wx.issue_token()
    body = {"touser": "o_user", "template_id": "t", "data": {"a": {"value": "1"}}, "client_msg_id": "k1"}
    url = wx.url(TEMPLATE)
    first = httpx.post(url, params={"access_token": token}, json=body).json()
    repeat = httpx.post(url, params={"access_token": token}, json=body).json()
    wx.advance_time(601)
    later = httpx.post(url, params={"access_token": token}, json=body).json()
    assert first["msgid"] == repeat["msgid"] != later["msgid"]
    assert len(wx.sent_messages("template")) == 2


def test_refused_subscription_43101(wx: WeChatFake, client: WeChatClient) -> None:
    wx.refuse_subscription("o_refuser")
    with pytest.raises(WeChatClientException) as info:
        subscribe(client, "o_refuser")
    assert info.value.errcode == 43101
    subscribe(client, "o_other")
    assert [m["touser"] for m in wx.sent_messages("subscribe")] == ["o_other"]


def test_one_time_subscription_quota(wx: WeChatFake, client: WeChatClient) -> None:
    wx.grant_subscription("o_user", "tmpl_sub", times=1)
    subscribe(client)
    with pytest.raises(WeChatClientException) as info:
        subscribe(client)
    assert info.value.errcode == 43101


def test_invalid_openid_unfollowed_and_unknown_template(wx: WeChatFake, client: WeChatClient) -> None:
    wx.set_invalid_openid("o_gone")
    wx.set_unfollowed("o_unfollowed")
    wx.allow_templates("tmpl_sub")
    cases = [
        (lambda: subscribe(client, "o_gone"), 40003),
        (lambda: client.message.send_template("o_unfollowed", "tmpl_sub", GOOD_DATA), 43004),
        (lambda: client.wxa.send_subscribe_message("o_user", "tmpl_other", GOOD_DATA), 40037),
    ]
    for call, errcode in cases:
        with pytest.raises(WeChatClientException) as info:
            call()
        assert info.value.errcode == errcode
    assert wx.sent_messages() == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"thing1": "not an object"}, "thing1"),
        ({"thing1": {"val": "x"}}, "thing1"),
        ({"number2": {"value": 5}}, "number2"),
        ({"thing1": {"value": "超" * 21}}, "thing1"),
        ({"phrase3": {"value": "六个字的短语"}}, "phrase3"),
        ({"thing1": {"value": ""}}, "thing1"),
    ],
)
def test_bad_subscribe_data_47003(wx: WeChatFake, client: WeChatClient, data: Any, field: str) -> None:
    with pytest.raises(WeChatClientException) as info:
        subscribe(client, data=data)
    assert info.value.errcode == 47003
    assert info.value.errmsg.startswith(f"argument invalid! data.{field}.value invalid")


def test_subscribe_state_and_lang_checked(wx: WeChatFake) -> None:
    token = wx.issue_token()
    base = {"touser": "o_user", "template_id": "t", "data": GOOD_DATA}
    url = wx.url(SUBSCRIBE)
    for extra in ({"miniprogram_state": "beta"}, {"lang": "fr_FR"}):
        assert httpx.post(url, params={"access_token": token}, json={**base, **extra}).json()["errcode"] == 47003
    ok = {**base, "miniprogram_state": "trial", "lang": "en_US"}
    assert httpx.post(url, params={"access_token": token}, json=ok).json()["errcode"] == 0


# ------------------------------------------------------------------ scripting


def test_scripted_failure_then_success(wx: WeChatFake, client: WeChatClient) -> None:
    wx.fail_next(SUBSCRIBE, -1)
    wx.fail_next(SUBSCRIBE, 45011, "slow down")
    with pytest.raises(WeChatClientException) as info:
        subscribe(client)
    assert (info.value.errcode, info.value.errmsg) == (-1, "system error")
    with pytest.raises(WeChatClientException) as info:
        subscribe(client)
    assert (info.value.errcode, info.value.errmsg) == (45011, "slow down")
    assert subscribe(client)["errcode"] == 0
    assert len(wx.sent_messages("subscribe")) == 1


def test_scripted_40001_is_retried_transparently(wx: WeChatFake, client: WeChatClient) -> None:
    wx.fail_next(SUBSCRIBE, 40001, times=2)
    assert subscribe(client)["errcode"] == 0
    assert wx.token_fetches == 3
    assert [c.errcode for c in wx.calls_to(SUBSCRIBE)] == [40001, 40001, 0]


def test_http_500_scripting(wx: WeChatFake, client: WeChatClient) -> None:
    wx.fail_next_http(SUBSCRIBE, 500)
    wx.fail_next_http(SUBSCRIBE, 502)
    for status in (500, 502):
        with pytest.raises(WeChatClientException) as info:
            subscribe(client)
        assert info.value.errcode is None
        assert info.value.response.status_code == status
    assert subscribe(client)["errcode"] == 0
    assert [c.status for c in wx.calls_to(SUBSCRIBE)] == [500, 502, 200]


def test_delay_makes_blocking_client_time_out(wx: WeChatFake) -> None:
    impatient = point_wechatpy_at(WeChatClient(wx.appid, wx.secret, timeout=0.3), wx.base_url)
    wx.delay_next(SUBSCRIBE, 3)
    started = time.monotonic()
    # wechatpy does not wrap transport errors: requests' own exception comes through
    with pytest.raises(requests.Timeout):
        subscribe(impatient)
    assert time.monotonic() - started < 2
    assert subscribe(impatient)["errcode"] == 0


async def test_delay_makes_async_client_time_out(wx: WeChatFake) -> None:
    token = wx.issue_token()
    wx.delay_next(SUBSCRIBE, 0.5, times=2)
    body = {"touser": "o_user", "template_id": "t", "data": GOOD_DATA}
    async with httpx.AsyncClient(base_url=wx.base_url, timeout=0.1) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(SUBSCRIBE, params={"access_token": token}, json=body)
        started = time.monotonic()
        slow = await http.post(SUBSCRIBE, params={"access_token": token}, json=body, timeout=5)
        assert slow.json()["errcode"] == 0 and time.monotonic() - started >= 0.45
    # the timed-out call was still answered (and delivered) by the server: at-least-once territory
    calls = await asyncio.to_thread(wx.wait_for_calls, SUBSCRIBE, 2)
    assert [c.errcode for c in calls] == [0, 0]


def test_fail_next_rejects_unknown_paths(wx: WeChatFake) -> None:
    with pytest.raises(ValueError, match="not an endpoint"):
        wx.fail_next("/cgi-bin/message/subscribe/sned", 45009)
    wx.fail_next("cgi-bin/message/subscribe/send", 45009)  # leading slash optional


def test_unknown_path_and_wrong_method(wx: WeChatFake) -> None:
    missing = httpx.get(wx.url("/cgi-bin/nope"))
    assert missing.status_code == 404 and missing.json()["errcode"] == 404
    wrong = httpx.get(wx.url(SUBSCRIBE), params={"access_token": wx.issue_token()})
    assert wrong.status_code == 200 and wrong.json()["errcode"] == 43002


# ------------------------------------------------------------------ recording and concurrency


def test_concurrent_senders_get_unique_msgids(wx: WeChatFake) -> None:
    token = wx.issue_token()
    msgids: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=wx.base_url) as http:
            for i in range(10):
                body = {"touser": f"o_{n}", "template_id": "t", "data": {"thing1": {"value": str(i)}}}
                answer = http.post(SUBSCRIBE, params={"access_token": token}, json=body).json()
                with lock:
                    msgids.append(answer["msgid"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(msgids)) == 80
    assert len(wx.sent_messages("subscribe")) == 80
    assert len(wx.calls) == 80


# ------------------------------------------------------------------ push callbacks


def test_template_finish_event_is_signed_and_parses() -> None:
    params, body = build_template_finish_event(
        "cb_token",
        to_user="gh_abc",
        from_user="o_user",
        msg_id=2925563736543494144,
        status="failed:user block",
    )
    check_signature("cb_token", params["signature"], params["timestamp"], params["nonce"])
    event = parse_message(body)
    assert isinstance(event, TemplateSendJobFinishEvent)
    assert (event.id, event.status, event.source, event.target) == (
        2925563736543494144,
        "failed:user block",
        "o_user",
        "gh_abc",
    )
    assert params["openid"] == "o_user"


def test_a_push_not_answered_200_is_tried_again_three_times_in_all(wx: WeChatFake, client: WeChatClient) -> None:
    # A callback server that is away (503) twice, then answers: WeChat tries a push three times.
    import http.server

    answers = [503, 503, 200]
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.path)
            self.send_response(answers.pop(0) if answers else 500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wx.set_push(f"http://127.0.0.1:{server.server_address[1]}/events", "tok")
        client.wxa.send_subscribe_message("o_user", "TPL", {"thing1": {"value": "x"}})
        wx.wait_for_pushes(10.0)
        assert len(seen) == 3 and [p.status for p in wx.pushes] == [200]
    finally:
        server.shutdown()
        server.server_close()
