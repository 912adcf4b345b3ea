"""A loopback fake of WeChat's server API (``api.weixin.qq.com``) for tests.

Real HTTP on ``127.0.0.1`` (ephemeral port), from :class:`tests.support.fake_base.LoopbackFake`
(the server, call recording, fake clock and scripting it shares with the SMS fake), so it answers
blocking clients (wechatpy uses ``requests``) and async ones (httpx) alike, from any thread
or event loop. It speaks WeChat's wire format: errors are HTTP 200 with
``{"errcode": N, "errmsg": "... rid: ..."}``; successes look like the real ones.

Quick start::

    with WeChatFake() as wx:                       # appid "wx_test_appid", secret "test_secret"
        wx.add_login_code("code123", openid="o_abc")
        client = point_wechatpy_at(WeChatClient(wx.appid, wx.secret), wx.base_url)
        client.wxa.code_to_session("code123")      # {"openid": "o_abc", "session_key": ...}
        wx.fail_next("/cgi-bin/message/subscribe/send", 45009)
        ...
        assert wx.sent_messages("subscribe") == [...]

Endpoints (paths are given with a leading slash everywhere in this API):

``GET /cgi-bin/token``
    ``grant_type=client_credential&appid&secret`` -> ``{"access_token", "expires_in": 7200}``.
    Each fetch supersedes the previous token: the newest is valid, the previous one
    stays valid for 300 s (WeChat's grace), older ones answer 40001.
``POST /cgi-bin/stable_token``
    JSON ``{grant_type, appid, secret, force_refresh}``: the same token for every
    caller until 300 s before it expires (``expires_in`` counts down); ``force_refresh``
    rotates it (the previous one keeps its 300 s grace). Isolated from ``/cgi-bin/token``
    tokens, as on the real platform: both kinds are accepted as ``access_token``.
``GET /sns/jscode2session``
    ``appid&secret&js_code&grant_type=authorization_code`` -> ``{"session_key", "openid",
    "unionid"?}``. Codes come from :meth:`WeChatFake.add_login_code`; each works once and
    for 300 s, otherwise 40029. No access token needed (wechatpy sends one anyway).
    Like the real one it answers with ``Content-Type: text/plain``.
``POST /cgi-bin/message/template/send?access_token=``
    Official-account template message -> ``{"errcode": 0, "errmsg": "ok", "msgid"}``.
    ``client_msg_id``: a repeat for the same openid within 600 s is answered with the
    first msgid and not delivered again (the real answer to a repeat is not documented).
``POST /cgi-bin/message/subscribe/send?access_token=``
    Mini-program subscribe message -> ``{"errcode": 0, "errmsg": "ok", "msgid"}``. ``data``
    must be ``{key: {"value": str}}`` and values respect the documented limits for keys
    named ``thing1``, ``number2``, ``phrase3`` ... (else 47003 ``argument invalid!
    data.KEY.value invalid``); ``miniprogram_state`` and ``lang`` are checked too.
``POST /wxa/business/getuserphonenumber?access_token=``
    JSON ``{code}`` -> ``{"errcode": 0, "errmsg": "ok", "phone_info": {...}}`` for codes
    registered with :meth:`WeChatFake.add_phone_code`; one use each, 300 s.

Access tokens: missing 41001, unknown or superseded 40001, expired 42001 (after 7200 s
of fake time, see :meth:`WeChatFake.advance_time`, or :meth:`WeChatFake.expire_tokens`).
Unknown path: HTTP 404 with ``{"errcode": 404, ...}``; wrong method: 43001 / 43002.

Scripting: :meth:`~WeChatFake.fail_next`, :meth:`~WeChatFake.fail_next_http`,
:meth:`~WeChatFake.answer_next` (any body, for answers WeChat should never give; one FIFO
queue per path, so they interleave in the order given), :meth:`~WeChatFake.delay_next`
(applies on top of whatever the answer is), :meth:`~WeChatFake.refuse_subscription`,
:meth:`~WeChatFake.grant_subscription`, :meth:`~WeChatFake.set_invalid_openid`,
:meth:`~WeChatFake.set_unfollowed`, :meth:`~WeChatFake.allow_templates`.

Recording: :attr:`~WeChatFake.calls` (every request, answered or not yet),
:meth:`~WeChatFake.calls_to`, :meth:`~WeChatFake.sent_messages`,
:attr:`~WeChatFake.token_fetches`, :meth:`~WeChatFake.wait_for_calls` (for background
senders). All state is guarded by one lock.

Pointing wechatpy 1.8.18 at the fake: see :func:`point_wechatpy_at`.

Push callbacks: :func:`build_template_finish_event` builds a signed
``TEMPLATESENDJOBFINISH`` event as WeChat would POST it to our receipt endpoint, and
:func:`build_subscribe_sent_event` a signed ``subscribe_msg_sent_event`` (the mini-program's message
push). Told a push URL and token (:meth:`~WeChatFake.set_push`), the fake itself POSTs that event for each
subscribe message it accepts, after a delay, from a background thread, as WeChat does;
:meth:`~WeChatFake.drop_pushes` and :meth:`~WeChatFake.fail_pushes` script lost pushes and failed
deliveries; :attr:`~WeChatFake.pushes` records what was pushed and how our server answered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support import fake_base
from tests.support.fake_base import LoopbackFake, Request, Scripted, html_page

__all__ = [
    "ERRMSG",
    "LoginGrant",
    "RecordedCall",
    "SentMessage",
    "WeChatFake",
    "build_subscribe_sent_event",
    "build_template_finish_event",
    "point_wechatpy_at",
    "wechat_signature",
]

DEFAULT_APPID = "wx_test_appid"
DEFAULT_SECRET = "test_secret"

TOKEN_TTL = 7200
"""Seconds an access token lives (``expires_in``)."""
TOKEN_GRACE = 300
"""Seconds a superseded token keeps working; also the stable token's early-refresh window."""
CODE_TTL = 300
"""Seconds a login or phone code stays usable."""
DEDUP_WINDOW = 600
"""Seconds ``client_msg_id`` deduplicates template messages."""

PATH_TOKEN = "/cgi-bin/token"
PATH_STABLE_TOKEN = "/cgi-bin/stable_token"
PATH_CODE2SESSION = "/sns/jscode2session"
PATH_TEMPLATE_SEND = "/cgi-bin/message/template/send"
PATH_SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"
PATH_PHONE_NUMBER = "/wxa/business/getuserphonenumber"
PATH_MSG_SEC_CHECK = "/wxa/msg_sec_check"

ROUTES: dict[str, str] = {
    PATH_TOKEN: "GET",
    PATH_STABLE_TOKEN: "POST",
    PATH_CODE2SESSION: "GET",
    PATH_TEMPLATE_SEND: "POST",
    PATH_SUBSCRIBE_SEND: "POST",
    PATH_PHONE_NUMBER: "POST",
    PATH_MSG_SEC_CHECK: "POST",
}
"""Path -> HTTP method of every endpoint the fake implements."""

ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40014: "invalid access_token",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40226: "high risk user",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    41030: "invalid page",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}
"""Default ``errmsg`` per ``errcode`` (what WeChat says, without the ``rid`` suffix)."""

# Subscribe-message value limits by key kind (keys look like "thing1", "phone_number3").
_SUBSCRIBE_LIMITS: dict[str, int] = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
    "amount": 11,
}
_SUBSCRIBE_KEY = re.compile(r"^([a-z_]+?)(\d+)$")
_MINIPROGRAM_STATES = frozenset({"developer", "trial", "formal"})
_LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})
_MSGID_BASE = 2_900_000_000_000_000_000


# --------------------------------------------------------------------------- records


@dataclass
class RecordedCall(fake_base.RecordedCall):
    """One request the fake received. ``status``/``response`` are filled once answered."""

    @property
    def errcode(self) -> int | None:
        """The answered ``errcode`` (0 for success bodies without one), None if not JSON/unanswered."""
        if isinstance(self.response, dict):
            return int(self.response.get("errcode", 0))
        return None


@dataclass
class SentMessage:
    """A message the fake accepted (``kind`` is "subscribe" or "template")."""

    kind: str
    msgid: int
    body: dict[str, Any]
    time: float


@dataclass
class Push:
    """A ``subscribe_msg_sent_event`` the fake POSTed (``status`` is our server's HTTP answer, 0 when
    the connection failed)."""

    msgid: int
    openid: str
    error_code: int
    status: int


@dataclass
class LoginGrant:
    """What :meth:`WeChatFake.add_login_code` registered; ``session_key`` is what login returns."""

    code: str
    openid: str
    unionid: str | None
    session_key: str
    created_at: float
    used: bool = False


@dataclass
class _PhoneGrant:
    code: str
    phone: str
    country_code: str
    created_at: float
    used: bool = False


@dataclass
class _Token:
    value: str
    kind: str  # "token" | "stable"
    issued_at: float
    expires_at: float
    invalid_after: float | None = None
    force_expired: bool = False


@dataclass
class _Scripted(Scripted):
    errcode: int | None = None
    errmsg: str | None = None
    answer: bytes | None = None
    content_type: str = "text/plain"


@dataclass
class _Response(fake_base.Response):
    content_type: str = "application/json; encoding=utf-8"


class _WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg if errmsg is not None else ERRMSG.get(errcode, "error")


# --------------------------------------------------------------------------- the fake


class WeChatFake(LoopbackFake[RecordedCall]):
    """Loopback WeChat API server. Use ``with WeChatFake() as wx:`` or ``start()``/``stop()``."""

    thread_name = "wechat-fake"
    call_type = RecordedCall

    def __init__(self, appid: str = DEFAULT_APPID, secret: str = DEFAULT_SECRET) -> None:
        super().__init__()
        self.appid = appid
        self.secret = secret
        self._tokens: list[_Token] = []
        self._login_codes: dict[str, LoginGrant] = {}
        self._phone_codes: dict[str, _PhoneGrant] = {}
        self._messages: list[SentMessage] = []
        self._dedup: dict[tuple[str, str], tuple[int, float]] = {}
        self._msgid = _MSGID_BASE
        self._scripts: dict[str, deque[_Scripted]] = {}
        self._refused: set[str] = set()
        self._quota: dict[tuple[str, str], int] = {}
        self._invalid_openids: set[str] = set()
        self._risky_words: dict[str, tuple[str, int]] = {}
        self._unfollowed: set[str] = set()
        self._templates: set[str] | None = None
        self._push: tuple[str, str, float, str] | None = None  # url, token, delay, format
        self._push_drops = 0
        self._push_failures: deque[tuple[int, str]] = deque()
        self.pushes: list[Push] = []
        """Subscribe-message results pushed to :meth:`set_push`'s URL, in order."""

    # ------------------------------------------------------------------ test set-up

    def set_push(self, url: str, token: str, *, delay: float = 0.0, fmt: str = "xml") -> None:
        """Push a ``subscribe_msg_sent_event`` to ``url`` (signed with ``token``) ``delay`` seconds after
        each subscribe message is accepted; ``fmt`` "xml" (the console's default) or "json"."""
        if fmt not in ("xml", "json"):
            raise ValueError("fmt is xml or json")
        with self.lock:
            self._push = (url, token, delay, fmt)

    def drop_pushes(self, times: int = 1) -> None:
        """The next ``times`` send results are never pushed (WeChat's push lost)."""
        with self.lock:
            self._push_drops += times

    def fail_pushes(self, times: int = 1, *, error_code: int = 10005, status: str = "fail: user refused") -> None:
        """The next ``times`` accepted subscribe messages are not delivered: their pushed result says so."""
        with self.lock:
            self._push_failures.extend([(error_code, status)] * times)

    def _schedule_push(self, msgid: int, body: dict[str, Any]) -> None:
        # Called under the lock when a subscribe message is accepted.
        if self._push is None:
            return
        if self._push_drops > 0:
            self._push_drops -= 1
            return
        url, token, delay, fmt = self._push
        error_code, status = self._push_failures.popleft() if self._push_failures else (0, "success")
        openid, template_id = str(body["touser"]), str(body["template_id"])

        params, payload = build_subscribe_sent_event(
            token,
            to_user="gh_fake_miniprogram",
            from_user=openid,
            template_id=template_id,
            msg_id=msgid,
            error_code=error_code,
            error_status=status,
            fmt=fmt,
        )
        content_type = "application/json" if fmt == "json" else "text/xml"

        def post() -> int:
            answer = httpx.post(url, params=params, content=payload, headers={"Content-Type": content_type}, timeout=5)
            return answer.status_code

        self.push_later(delay, post, lambda code: self.pushes.append(Push(msgid, openid, error_code, code)))

    def add_login_code(
        self,
        code: str,
        *,
        openid: str | None = None,
        unionid: str | None = None,
        session_key: str | None = None,
    ) -> LoginGrant:
        """Register a ``wx.login()`` code: works once, within 300 s. Missing values are generated."""
        grant = LoginGrant(
            code=code,
            openid=openid or _new_openid(),
            unionid=unionid,
            session_key=session_key or base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
            created_at=self.now(),
        )
        with self.lock:
            self._login_codes[code] = grant
        return grant

    def add_phone_code(self, code: str, phone: str, *, country_code: str = "86") -> None:
        """Register a ``getPhoneNumber`` code for ``phone`` (digits without country code)."""
        with self.lock:
            self._phone_codes[code] = _PhoneGrant(code, phone, country_code, self.now())

    def issue_token(self, *, stable: bool = False) -> str:
        """A valid access token without an HTTP round trip (not counted in :attr:`token_fetches`)."""
        with self.lock:
            if stable:
                return self._stable_token(force=False).value
            return self._new_token().value

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 42001; fresh fetches work again."""
        with self.lock:
            for tok in self._tokens:
                tok.force_expired = True

    def fail_next(self, path: str, errcode: int, errmsg: str | None = None, *, times: int = 1) -> None:
        """The next ``times`` calls to ``path`` answer ``{"errcode", "errmsg"}`` (HTTP 200).

        ``errmsg`` defaults to WeChat's wording for the code (see :data:`ERRMSG`). Scripted
        answers come before any other check, so a scripted failure consumes no login code.
        """
        self._enqueue(self._scripts, _route(path), _Scripted(times, errcode=errcode, errmsg=errmsg))

    def fail_next_http(self, path: str, status: int = 500, *, times: int = 1) -> None:
        """The next ``times`` calls to ``path`` answer HTTP ``status`` with a non-JSON body."""
        self._enqueue(self._scripts, _route(path), _Scripted(times, http_status=status))

    def answer_next(
        self,
        path: str,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "text/plain",
        times: int = 1,
    ) -> None:
        """The next ``times`` calls to ``path`` answer HTTP 200 with ``payload`` as JSON (or the bytes
        ``raw``), whatever they asked: to play a WeChat that answers oddly (an openid of 200
        characters, a number for a session key, JSON nested 2,000 levels deep, not JSON at all)."""
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._enqueue(self._scripts, _route(path), _Scripted(times, answer=body, content_type=content_type))

    def delay_next(self, path: str, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` calls to ``path`` sleep ``seconds`` before answering (cut short by stop())."""
        self._delay(_route(path), seconds, times)

    def cut_next(self, path: str, *, times: int = 1) -> None:
        """The next ``times`` calls to ``path`` are carried out (a message is delivered), then the
        connection is closed without an answer: the sender cannot tell whether it went."""
        self._cut(_route(path), times)

    def refuse_subscription(self, openid: str) -> None:
        """Subscribe messages to ``openid`` answer 43101 (user refused / no subscription left)."""
        with self.lock:
            self._refused.add(openid)

    def grant_subscription(self, openid: str, template_id: str, times: int = 1) -> None:
        """Model one-time subscriptions: ``times`` more sends of ``template_id`` to ``openid``
        succeed, later ones answer 43101. Pairs never granted are unlimited."""
        with self.lock:
            key = (openid, template_id)
            self._quota[key] = self._quota.get(key, 0) + times
            self._refused.discard(openid)

    def set_invalid_openid(self, openid: str) -> None:
        """Messages to ``openid`` answer 40003 (invalid openid)."""
        with self.lock:
            self._invalid_openids.add(openid)

    def set_unfollowed(self, openid: str) -> None:
        """Template messages to ``openid`` answer 43004 (user does not follow the official account)."""
        with self.lock:
            self._unfollowed.add(openid)

    def flag_content(self, word: str, suggest: str = "risky", label: int = 20001) -> None:
        """``msg_sec_check`` answers ``suggest`` (risky or review) for content containing ``word``."""
        with self.lock:
            self._risky_words[word] = (suggest, label)

    def allow_templates(self, *template_ids: str) -> None:
        """Only these template ids are accepted (others 40037); by default any non-empty id is."""
        with self.lock:
            self._templates = set(self._templates or ()) | set(template_ids)

    # ------------------------------------------------------------------ inspection

    @property
    def token_fetches(self) -> int:
        """Requests to ``/cgi-bin/token`` and ``/cgi-bin/stable_token`` (successful or not)."""
        with self.lock:
            return sum(1 for c in self.calls if c.path in (PATH_TOKEN, PATH_STABLE_TOKEN))

    def calls_to(self, path: str) -> list[RecordedCall]:
        with self.lock:
            path = _norm(path)
            return [c for c in self.calls if c.path == path]

    def sent_messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Bodies of accepted messages, in order; ``kind`` is "subscribe", "template" or None (both)."""
        if kind not in (None, "subscribe", "template"):
            raise ValueError(f"unknown message kind {kind!r}")
        with self.lock:
            return [m.body for m in self._messages if kind is None or m.kind == kind]

    @property
    def messages(self) -> list[SentMessage]:
        """Accepted messages with their msgid, kind and time."""
        with self.lock:
            return list(self._messages)

    def wait_for_calls(self, path: str, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until ``count`` answered calls to ``path`` exist; returns them. For background senders
        (in async tests, run it via ``asyncio.to_thread``)."""
        path = _norm(path)
        return self.wait_for(count, timeout, lambda c: c.path == path, f"calls to {path}")

    # ------------------------------------------------------------------ request handling

    def delay_key(self, request: Request) -> str:
        return request.path

    def bug_response(self) -> _Response:
        return _Response(500, {"errcode": -1, "errmsg": "fake internal error"})

    def answer(self, request: Request, call: RecordedCall) -> fake_base.Response:
        method, path, query, body, parsed = request.method, request.path, request.query, request.body, request.json
        if path not in ROUTES:
            return _Response(404, {"errcode": 404, "errmsg": f"Not Found: {path}"})
        scripted = self._take(self._scripts, path)
        if scripted is not None:
            if scripted.answer is not None:
                return _Response(200, None, scripted.content_type, scripted.answer)
            if scripted.http_status is not None:
                return html_page(scripted.http_status)
            assert scripted.errcode is not None
            return self._error(_WeChatError(scripted.errcode, scripted.errmsg), rid=False)
        if method != ROUTES[path]:
            return self._error(_WeChatError(43001 if ROUTES[path] == "GET" else 43002))
        handler: Callable[[dict[str, str], bytes, Any], _Response] = {
            PATH_TOKEN: self._ep_token,
            PATH_STABLE_TOKEN: self._ep_stable_token,
            PATH_CODE2SESSION: self._ep_code2session,
            PATH_TEMPLATE_SEND: self._ep_template_send,
            PATH_SUBSCRIBE_SEND: self._ep_subscribe_send,
            PATH_PHONE_NUMBER: self._ep_phone_number,
            PATH_MSG_SEC_CHECK: self._ep_msg_sec_check,
        }[path]
        try:
            return handler(query, body, parsed)
        except _WeChatError as exc:
            return self._error(exc, content_type="text/plain" if path == PATH_CODE2SESSION else None)

    def _error(self, exc: _WeChatError, *, rid: bool = True, content_type: str | None = None) -> _Response:
        errmsg = f"{exc.errmsg} rid: {_rid()}" if rid else exc.errmsg
        resp = _Response(200, {"errcode": exc.errcode, "errmsg": errmsg})
        if content_type:
            resp.content_type = content_type
        return resp

    # -- credentials

    def _check_app(self, appid: str | None, secret: str | None) -> None:
        if not appid:
            raise _WeChatError(41002)
        if appid != self.appid:
            raise _WeChatError(40013)
        if not secret:
            raise _WeChatError(41004)
        if secret != self.secret:
            raise _WeChatError(40125)

    def _check_token(self, query: dict[str, str]) -> None:
        value = query.get("access_token")
        if not value:
            raise _WeChatError(41001)
        now = self.now()
        for tok in self._tokens:
            if tok.value == value:
                if tok.force_expired or now >= tok.expires_at:
                    raise _WeChatError(42001)
                if tok.invalid_after is not None and now >= tok.invalid_after:
                    raise _WeChatError(40001)
                return
        raise _WeChatError(40001)

    def _new_token(self) -> _Token:
        return self._supersede("token", self.now())

    def _stable_token(self, *, force: bool) -> _Token:
        now = self.now()
        stable = [t for t in self._tokens if t.kind == "stable"]
        current = stable[-1] if stable else None
        if current is not None and not force and not current.force_expired and current.expires_at - now > TOKEN_GRACE:
            return current
        return self._supersede("stable", now)

    def _supersede(self, kind: str, now: float) -> _Token:
        """A new token of ``kind``: the newest before it keeps working ``TOKEN_GRACE`` s, older ones stop."""
        previous = [t for t in self._tokens if t.kind == kind]
        for i, tok in enumerate(previous):
            limit = now + TOKEN_GRACE if i == len(previous) - 1 else now
            tok.invalid_after = limit if tok.invalid_after is None else min(tok.invalid_after, limit)
        tok = _Token(_new_token_value(), kind, now, now + TOKEN_TTL)
        self._tokens.append(tok)
        return tok

    # -- endpoints

    def _ep_token(self, query: dict[str, str], body: bytes, parsed: Any) -> _Response:
        if query.get("grant_type") != "client_credential":
            raise _WeChatError(40002)
        self._check_app(query.get("appid"), query.get("secret"))
        tok = self._new_token()
        return _Response(200, {"access_token": tok.value, "expires_in": TOKEN_TTL})

    def _ep_stable_token(self, query: dict[str, str], body: bytes, parsed: Any) -> _Response:
        if not isinstance(parsed, dict):
            raise _WeChatError(47001)
        if parsed.get("grant_type") != "client_credential":
            raise _WeChatError(40002)
        self._check_app(parsed.get("appid"), parsed.get("secret"))
        force = parsed.get("force_refresh", False)
        if not isinstance(force, bool):
            raise _WeChatError(47001)
        tok = self._stable_token(force=force)
        return _Response(200, {"access_token": tok.value, "expires_in": round(tok.expires_at - self.now())})

    def _ep_code2session(self, query: dict[str, str], body: bytes, parsed: Any) -> _Response:
        self._check_app(query.get("appid"), query.get("secret"))
        if query.get("grant_type") != "authorization_code":
            raise _WeChatError(40002)
        code = query.get("js_code")
        if not code:
            raise _WeChatError(41008)
        grant = self._login_codes.get(code)
        if grant is None or grant.used or self.now() - grant.created_at > CODE_TTL:
            raise _WeChatError(40029)
        grant.used = True
        payload: dict[str, Any] = {"session_key": grant.session_key, "openid": grant.openid}
        if grant.unionid is not None:
            payload["unionid"] = grant.unionid
        return _Response(200, payload, "text/plain")

    def _message_common(self, query: dict[str, str], parsed: Any) -> tuple[dict[str, Any], str, str]:
        self._check_token(query)
        if not isinstance(parsed, dict):
            raise _WeChatError(47001)
        touser = parsed.get("touser")
        if not isinstance(touser, str) or not touser or touser in self._invalid_openids:
            raise _WeChatError(40003)
        template_id = parsed.get("template_id")
        if (
            not isinstance(template_id, str)
            or not template_id
            or (self._templates is not None and template_id not in self._templates)
        ):
            raise _WeChatError(40037)
        data = parsed.get("data")
        if not isinstance(data, dict):
            raise _WeChatError(47003, "argument invalid! data invalid")
        for key, item in data.items():
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                raise _WeChatError(47003, f"argument invalid! data.{key}.value invalid")
        return parsed, touser, template_id

    def _accept(self, kind: str, body: dict[str, Any]) -> int:
        self._msgid += 1
        self._messages.append(SentMessage(kind, self._msgid, body, self.now()))
        return self._msgid

    def _ep_template_send(self, query: dict[str, str], body: bytes, parsed: Any) -> _Response:
        msg, touser, _template_id = self._message_common(query, parsed)
        mini = msg.get("miniprogram")
        if mini is not None and (not isinstance(mini, dict) or not mini.get("appid")):
            raise _WeChatError(47003, "argument invalid! miniprogram.appid invalid")
        if touser in self._unfollowed:
            raise _WeChatError(43004)
        now = self.now()
        client_msg_id = msg.get("client_msg_id")
        if client_msg_id:
            seen = self._dedup.get((touser, str(client_msg_id)))
            if seen is not None and now - seen[1] < DEDUP_WINDOW:
                return _Response(200, {"errcode": 0, "errmsg": "ok", "msgid": seen[0]})
        msgid = self._accept("template", msg)
        if client_msg_id:
            self._dedup[(touser, str(client_msg_id))] = (msgid, now)
        return _Response(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def _ep_subscribe_send(self, query: dict[str, str], body: bytes, parsed: Any) -> _Response:
        msg, touser, template_id = self._message_common(query, parsed)
        for key, item in msg["data"].items():
            m = _SUBSCRIBE_KEY.match(str(key))
            limit = _SUBSCRIBE_LIMITS.get(m.group(1)) if m else None
            value = item["value"]
            if not value or (limit is not None and len(value) > limit):
                raise _WeChatError(47003, f"argument invalid! data.{key}.value invalid")
        state = msg.get("miniprogram_state", "formal")
        if state not in _MINIPROGRAM_STATES:
            raise _WeChatError(47003, "argument invalid! miniprogram_state invalid")
        if msg.get("lang", "zh_CN") not in _LANGS:
            raise _WeChatError(47003, "argument invalid! lang invalid")
        page = msg.get("page")
        if page is not None and not isinstance(page, str):
            raise _WeChatError(47003, "argument invalid! page invalid")
        if touser in self._refused:
            raise _WeChatError(43101)
        quota_key = (touser, template_id)
        if quota_key in self._quota:
            if self._quota[quota_key] <= 0:
                raise _WeChatError(43101)
            self._quota[quota_key] -= 1
        msgid = self._accept("subscribe", msg)
        self._schedule_push(msgid, msg)
        return _Response(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def _ep_msg_sec_check(self, query: dict[str, str], body: bytes, parsed: Any) -> _Response:
        # Content security v2: {version: 2, openid, scene 1-4, content <= 2500} -> result.suggest.
        self._check_token(query)
        if not isinstance(parsed, dict) or parsed.get("version") != 2:
            raise _WeChatError(47001, "data format error: version must be 2")
        content, openid, scene = parsed.get("content"), parsed.get("openid"), parsed.get("scene")
        if not isinstance(content, str) or len(content) > 2500 or scene not in (1, 2, 3, 4):
            raise _WeChatError(47001)
        if not isinstance(openid, str) or not openid or openid in self._invalid_openids:
            raise _WeChatError(40003)
        suggest, label = "pass", 100
        for word, (verdict, word_label) in self._risky_words.items():
            if word in content:
                suggest, label = verdict, word_label
                break
        result = {"suggest": suggest, "label": label}
        detail = [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}]
        return _Response(200, {"errcode": 0, "errmsg": "ok", "result": result, "detail": detail, "trace_id": _rid()})

    def _ep_phone_number(self, query: dict[str, str], body: bytes, parsed: Any) -> _Response:
        self._check_token(query)
        if not isinstance(parsed, dict) or not isinstance(parsed.get("code"), str) or not parsed["code"]:
            raise _WeChatError(47001)
        grant = self._phone_codes.get(parsed["code"])
        now = self.now()
        if grant is None or grant.used or now - grant.created_at > CODE_TTL:
            raise _WeChatError(40029)
        grant.used = True
        full = grant.phone if grant.country_code == "86" else f"+{grant.country_code}{grant.phone}"
        phone_info = {
            "phoneNumber": full,
            "purePhoneNumber": grant.phone,
            "countryCode": grant.country_code,
            "watermark": {"timestamp": int(now), "appid": self.appid},
        }
        return _Response(200, {"errcode": 0, "errmsg": "ok", "phone_info": phone_info})


# --------------------------------------------------------------------------- helpers


def _norm(path: str) -> str:
    return "/" + path.split("?", 1)[0].lstrip("/")


def _route(path: str) -> str:
    """``path`` normalised, when it is an endpoint of the fake (scripting another path is a test's mistake)."""
    path = _norm(path)
    if path not in ROUTES:
        raise ValueError(f"{path!r} is not an endpoint of the fake; known: {sorted(ROUTES)}")
    return path


def _rid() -> str:
    return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def _new_openid() -> str:
    return "o" + secrets.token_urlsafe(21)[:27]


def _new_token_value() -> str:
    return f"86_{secrets.token_urlsafe(96)}"


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's push signature: sha1 of the sorted concatenation of token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode("utf-8")).hexdigest()  # noqa: S324


def build_template_finish_event(
    token: str,
    *,
    to_user: str,
    from_user: str,
    msg_id: int,
    status: str = "success",
    timestamp: int | None = None,
    nonce: str | None = None,
    create_time: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """A signed ``TEMPLATESENDJOBFINISH`` push (plaintext mode) as WeChat POSTs it to the OA's URL.

    ``to_user`` is the official account's original id (``gh_...``), ``from_user`` the user's
    openid, ``status`` ``success`` | ``failed:user block`` | ``failed: system failed``. Returns the
    query parameters (``signature``, ``timestamp``, ``nonce`` and, like the real push, ``openid``)
    and the XML body::

        params, body = build_template_finish_event("cb_token", to_user="gh_x", from_user=openid,
                                                   msg_id=msgid, status="failed:user block")
        await client.post("/wechat/callback", params=params, content=body)
    """
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce if nonce is not None else str(secrets.randbelow(10**10))
    created = int(ts) if create_time is None else create_time
    for text in (to_user, from_user, status):
        if "]]>" in text:
            raise ValueError("value cannot contain ']]>'")
    xml = (
        "<xml>"
        f"<ToUserName><![CDATA[{to_user}]]></ToUserName>"
        f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{int(msg_id)}</MsgID>"
        f"<Status><![CDATA[{status}]]></Status>"
        "</xml>"
    )
    params = {
        "signature": wechat_signature(token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": from_user,
    }
    return params, xml.encode("utf-8")


def build_subscribe_sent_event(
    token: str,
    *,
    to_user: str,
    from_user: str,
    template_id: str,
    msg_id: int | str,
    error_code: int = 0,
    error_status: str = "success",
    fmt: str = "xml",
    timestamp: int | None = None,
    nonce: str | None = None,
    create_time: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """A signed ``subscribe_msg_sent_event`` (the mini-program's message push, plaintext mode): the
    query (``signature``, ``timestamp``, ``nonce``) and the body, XML or JSON (``fmt``), with one
    ``SubscribeMsgSentEvent.List`` item (an object, as WeChat sends a single one)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce if nonce is not None else str(secrets.randbelow(10**10))
    created = int(ts) if create_time is None else create_time
    item = {"TemplateId": template_id, "MsgID": str(msg_id), "ErrorCode": str(error_code), "ErrorStatus": error_status}
    if fmt == "json":
        doc = {
            "ToUserName": to_user,
            "FromUserName": from_user,
            "CreateTime": str(created),
            "MsgType": "event",
            "Event": "subscribe_msg_sent_event",
            "SubscribeMsgSentEvent": {"List": item},
        }
        body = json.dumps(doc).encode("utf-8")
    else:
        for text in (to_user, from_user, template_id, error_status):
            if "]]>" in text:
                raise ValueError("value cannot contain ']]>'")
        fields = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in item.items())
        body = (
            "<xml>"
            f"<ToUserName><![CDATA[{to_user}]]></ToUserName>"
            f"<FromUserName><![CDATA[{from_user}]]></FromUserName>"
            f"<CreateTime>{created}</CreateTime>"
            "<MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[subscribe_msg_sent_event]]></Event>"
            f"<SubscribeMsgSentEvent><List>{fields}</List></SubscribeMsgSentEvent>"
            "</xml>"
        ).encode()
    params = {"signature": wechat_signature(token, ts, nonce), "timestamp": ts, "nonce": nonce}
    return params, body


_REAL_API_HOST = "https://api.weixin.qq.com/"


def point_wechatpy_at(client: Any, base_url: str) -> Any:
    """Rewire a wechatpy 1.8.18 ``WeChatClient`` (and its API groups) to ``base_url``; returns it.

    How wechatpy builds URLs, and what this changes (instance attributes only, so other
    clients and the classes are untouched):

    * ``client.API_BASE_URL`` (``https://api.weixin.qq.com/cgi-bin/``) prefixes relative
      endpoints of groups without their own base: ``message.send_template`` posts
      ``message/template/send`` -> ``{base}cgi-bin/message/template/send``.
    * Some groups carry their own ``API_BASE_URL`` class attribute, passed per request:
      ``wxa`` uses the bare host, so ``wxa.code_to_session`` gets ``sns/jscode2session`` and
      ``wxa.send_subscribe_message`` posts ``cgi-bin/message/subscribe/send``. Also datacube,
      device, card, invoice, marketing, scan, shakearound, wifi, cloud, merchant. Each group
      instance is created per client in ``__new__``, so an instance attribute is enough.
    * ``fetch_access_token`` ignores every base URL: ``https://api.weixin.qq.com/cgi-bin/token``
      is hard-coded, so it is replaced here by an instance attribute that calls the
      client's own ``_fetch_access_token`` with the fake's URL.
    * Not rewired (absolute URLs inside methods): customservice, semantic, media
      ``get_url`` and the ``mp.weixin.qq.com`` ones (qrcode, subscribe-message auth).
    """
    from wechatpy.client import WeChatClient, WeChatComponentClient
    from wechatpy.client.api.base import BaseWeChatAPI

    if not isinstance(client, WeChatClient) or isinstance(client, WeChatComponentClient):
        raise TypeError("point_wechatpy_at() handles wechatpy.WeChatClient only")
    base = base_url if base_url.endswith("/") else base_url + "/"

    def rebase(url: str) -> str:
        return base + url[len(_REAL_API_HOST) :] if url.startswith(_REAL_API_HOST) else url

    client.API_BASE_URL = rebase(type(client).API_BASE_URL)
    for api in list(vars(client).values()):  # not dir(): the access_token property would fetch a token
        if isinstance(api, BaseWeChatAPI):
            cls_url = getattr(type(api), "API_BASE_URL", None)
            if isinstance(cls_url, str) and cls_url:
                api.API_BASE_URL = rebase(cls_url)

    def fetch_access_token() -> Any:
        return client._fetch_access_token(
            url=base + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": client.appid, "secret": client.secret},
        )

    client.fetch_access_token = fetch_access_token
    return client
