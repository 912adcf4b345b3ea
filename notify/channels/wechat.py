"""The WeChat channel: mini-program subscribe messages and official-account template messages.

wechatpy is blocking, so each send runs in a worker thread. The access token of each account is shared
by every process through Redis and refreshed by one caller at a time (``StableTokenClient``); when
WeChat says the token is invalid or expired (40001, 40014, 42001) the channel gets a fresh one and
sends again once, right away.

Template messages carry ``client_msg_id`` = the notification's id: WeChat drops a repeat for the
same user within 10 minutes, so a resend after a dispatcher crash cannot deliver twice. Subscribe
messages have no such key; a one-time subscription is used up by a delivery, so a resend that WeChat
refuses with 43101 is taken as delivered by the earlier attempt, but only when there is evidence
that an earlier attempt on WeChat may have gone out (``Message.in_doubt``: the dispatcher recorded
that it started a send whose result it never wrote, or WeChat's answer was lost to a timeout or a
broken connection). Without that evidence 43101 means no subscription: on to the next channel.
A timeout or a connection lost mid-request is a retry with ``maybe_sent``, which sets that evidence.

A long-term subscription (政务民生 services have them) is not used up, so a resend in doubt would be
delivered a second time. WeChat pushes the result of each subscribe message to the mini-program's message
push URL (``subscribe_msg_sent_event``, :mod:`notify.wechat_push`, route
``/api/v1/notify/wechat/miniprogram/events``); the answer's ``msgid`` is recorded as the provider id. A
subscribe message in doubt (dispatcher died mid-send, answer lost) waits
``GMID_NOTIFY_WECHAT_INDOUBT_SECONDS`` for that push before it is sent again: a success settles the row
(matched by MsgID, or for a send nobody recorded by openid, template and the send's start) and it is not
resent; a failure moves it to its next channel. The trade: when no push came within the wait (push URL
down, WeChat slow, push lost), the message is sent again, so a push slower than the wait still means a
duplicate. Resending is chosen over dropping because these are alarms and notices a person must get:
twice is a nuisance, never is a failure. Template messages do not wait (``client_msg_id`` dedups).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import requests
import urllib3
from requests.adapters import HTTPAdapter
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from identity.wechat import StableTokenClient
from notify import templates
from notify.channels.base import Message, Result
from server.settings import Settings

log = logging.getLogger("gmid.notify.wechat")

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# errcode -> (retryable, alert, retry_after)
_ERRORS: dict[int, tuple[bool, bool, float | None]] = {
    -1: (True, False, None),  # system busy
    45009: (True, True, 3600.0),  # daily API quota: later, and tell an operator
    45011: (True, False, 60.0),  # minute quota
    45047: (True, False, 60.0),  # too many messages to this user
    43101: (False, False, None),  # the user refused, or no subscription left
    40003: (False, False, None),  # invalid openid
    43004: (False, False, None),  # does not follow the official account
    43019: (False, False, None),  # the user blocked the account
    47003: (False, True, None),  # template data invalid: our template registry is wrong
    40037: (False, True, None),  # template id invalid
    41030: (False, True, None),  # page not published
}


def _classify(errcode: int | None, errmsg: str, *, in_doubt: bool) -> Result:
    code = f"wechat_{errcode}"
    detail = errmsg.split(" rid:")[0][:200]
    if errcode == 43101 and in_doubt:
        # The earlier attempt (whose result was never seen) used the subscription.
        return Result.sent(None, "43101 on a resend of an attempt in doubt: the earlier attempt was delivered")
    if errcode in _ERRORS:
        retryable, alert, retry_after = _ERRORS[errcode]
        if retryable:
            return Result.retry(code, detail, retry_after=retry_after, alert=alert)
        return Result.permanent(code, detail, alert=alert)
    if errcode in TOKEN_ERRORS:
        return Result.retry(code, "access token refused after a refresh")
    return Result.permanent(code, detail or "unknown WeChat error", alert=True)


class WeChatChannel:
    name = "wechat"

    def __init__(
        self,
        *,
        miniprogram: StableTokenClient | None,
        official_account: StableTokenClient | None,
        template_ids: dict[str, str],
        miniprogram_appid: str,
        miniprogram_state: str = "formal",
        store: redis.Redis | None = None,
        concurrency: int = 16,
    ) -> None:
        self.miniprogram = miniprogram
        self.official_account = official_account
        self.template_ids = template_ids
        self.miniprogram_appid = miniprogram_appid
        self.miniprogram_state = miniprogram_state
        self._store = store
        # Our own pool, as large as the sends in flight: the loop's default executor has cpu + 4 threads.
        self._executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wechat-send")
        for client in (miniprogram, official_account):
            if client is not None:
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=concurrency)
                client._http.mount("https://", adapter)
                client._http.mount("http://", adapter)

    @classmethod
    def from_settings(cls, settings: Settings, redis_url: str) -> WeChatChannel | None:
        mp = bool(settings.wechat_appid and settings.wechat_secret)
        oa = bool(settings.wechat_oa_appid and settings.wechat_oa_secret)
        if not (mp or oa):
            return None
        store = redis.Redis.from_url(redis_url)
        storage = RedisStorage(store, prefix="wechatpy")

        def client(appid: str, secret: str) -> StableTokenClient:
            return StableTokenClient(
                appid,
                secret,
                base_url=settings.wechat_api_base_url,
                timeout=settings.wechat_timeout,
                session=storage,
                auto_retry=False,  # token errors are handled here, with the single-flight refresh
            )

        return cls(
            miniprogram=client(settings.wechat_appid, settings.wechat_secret) if mp else None,
            official_account=client(settings.wechat_oa_appid, settings.wechat_oa_secret) if oa else None,
            template_ids=templates.parse_id_map(settings.notify_wechat_templates),
            miniprogram_appid=settings.wechat_appid,
            miniprogram_state=settings.wechat_miniprogram_state,
            store=store,
            concurrency=settings.notify_concurrency,
        )

    def _route(self, message: Message) -> tuple[StableTokenClient, str, str] | None:
        """(client, API path, openid) for this message, or None when WeChat cannot carry it."""
        template_id = self.template_ids.get(message.template)
        if not template_id:
            return None
        kind = templates.get(message.template).wechat.kind
        if kind == "subscribe" and self.miniprogram is not None and message.recipient.openid:
            return self.miniprogram, "message/subscribe/send", message.recipient.openid
        if kind == "template" and self.official_account is not None and message.recipient.oa_openid:
            return self.official_account, "message/template/send", message.recipient.oa_openid
        return None

    def reaches(self, message: Message) -> bool:
        return self._route(message) is not None

    def payload(self, message: Message, openid: str) -> dict[str, Any]:
        template = templates.get(message.template)
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": self.template_ids[message.template],
            "data": templates.wechat_data(template, message.data),
        }
        page = templates.wechat_page(template, message.data)
        if template.wechat.kind == "subscribe":
            if page:
                body["page"] = page
            body["miniprogram_state"] = self.miniprogram_state
            body["lang"] = "zh_CN"
        else:
            if page and self.miniprogram_appid:
                body["miniprogram"] = {"appid": self.miniprogram_appid, "pagepath": page}
            body["client_msg_id"] = message.dedup_token
        return body

    async def send(self, message: Message) -> Result:
        route = self._route(message)
        if route is None:
            return Result.permanent("wechat_unreachable", "no WeChat account, template id or openid for this message")
        client, path, openid = route
        body = self.payload(message, openid)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._send_blocking, client, path, body, message.in_doubt)

    def _send_blocking(self, client: StableTokenClient, path: str, body: dict[str, Any], in_doubt: bool) -> Result:
        token: str | None = None
        for attempt in range(2):
            try:
                token = client.access_token if attempt == 0 else client.refresh_after_failure(token)
                answer = client.post(path, params={"access_token": token}, data=body)
            except WeChatClientException as exc:
                errcode = _errcode(exc)
                if errcode in TOKEN_ERRORS and attempt == 0:
                    log.info("wechat token refused errcode=%s: refreshing once", errcode)
                    continue
                if errcode is None:
                    return _http_failure(exc)
                return _classify(errcode, str(exc.errmsg or ""), in_doubt=in_doubt)
            except requests.ConnectTimeout:
                # Never connected: nothing reached WeChat.
                return Result.retry("wechat_timeout", "could not connect to WeChat in time")
            except requests.Timeout:
                # The request went out; WeChat may have delivered it and its answer is lost.
                return Result.retry("wechat_timeout", "no answer from WeChat in time", maybe_sent=True)
            except requests.RequestException as exc:
                return Result.retry("wechat_network", exc.__class__.__name__, maybe_sent=not _never_connected(exc))
            except redis.RedisError as exc:  # the shared token store (or its refresh lock)
                return Result.retry("wechat_token_store", exc.__class__.__name__)
            msgid = answer.get("msgid") if isinstance(answer, dict) else None
            return Result.sent(str(msgid) if msgid is not None else None)
        return Result.retry("wechat_token", "access token refused after a refresh")

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for client in (self.miniprogram, self.official_account):
            if client is not None:
                client._http.close()
        if self._store is not None:
            self._store.close()


def _errcode(exc: WeChatClientException) -> int | None:
    try:
        return int(exc.errcode) if exc.errcode is not None else None
    except (TypeError, ValueError):
        return None


def _never_connected(exc: requests.RequestException) -> bool:
    """A connection that could not be opened (refused, DNS, TLS handshake): the request never left."""
    if isinstance(exc, requests.exceptions.SSLError | requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError):
            return True
        reason = getattr(current, "reason", None)
        inner = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = reason if isinstance(reason, BaseException) else inner or current.__cause__ or current.__context__
    return False


def _http_failure(exc: WeChatClientException) -> Result:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status is None or status >= 500 or status in (408, 429):
        return Result.retry(f"wechat_http_{status or 'error'}", "WeChat answered with an HTTP error")
    return Result.permanent(f"wechat_http_{status}", "WeChat refused the request", alert=True)
