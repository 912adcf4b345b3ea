"""WeChat's server API through wechatpy, off the event loop.

wechatpy is blocking (requests), so every call runs in a worker thread. Its base URLs live on the
client and on some API groups (``wxa`` uses the bare host); ``rebase`` points all of them at
``GMID_WECHAT_API_BASE_URL`` so tests can use a loopback fake. The access token comes from
``cgi-bin/stable_token`` (the same token for every caller until it nears expiry, where ``cgi-bin/token``
would knock out the other servers' tokens) and is shared through Redis.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import redis
import requests
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from server.errors import AppError, BadGateway, RateLimited, ServiceUnavailable, Unauthorized
from server.settings import Settings

log = logging.getLogger("gmid.wechat")


class StableTokenClient(WeChatClient):
    """A wechatpy client whose token comes from ``cgi-bin/stable_token`` on a configurable host."""

    def __init__(
        self,
        appid: str,
        secret: str,
        *,
        base_url: str,
        timeout: int,
        session: Any = None,
        auto_retry: bool = True,
    ) -> None:
        super().__init__(appid, secret, session=session, timeout=timeout, auto_retry=auto_retry)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        rebase(self, self.base_url)

    def _single_flight(self) -> Any:
        """A Redis lock when the token store is Redis: one caller in the whole cluster refreshes, the
        others wait and then read its token. Without Redis (a test's memory store) no lock."""
        store = getattr(self.session, "redis", None)
        if store is None or not hasattr(store, "lock"):
            return contextlib.nullcontext()
        return store.lock(
            f"wechatpy:refresh:{self.appid}", timeout=self.timeout * 3 + 5, blocking_timeout=self.timeout * 2 + 5
        )

    def fetch_access_token(self) -> dict[str, Any]:
        with self._single_flight():
            current = self.session.get(self.access_token_key)
            if current:  # another caller refreshed while this one waited for the lock
                return {"access_token": current}
            return self._fetch_stable(force=False)

    def refresh_after_failure(self, failed_token: str | None) -> str:
        """WeChat refused ``failed_token`` (40001/42001): get a working one, once for the cluster.

        If another caller already stored a different token, use it. Otherwise ask ``stable_token``; if
        it hands back the very token WeChat refused, force a new one (WeChat allows that 20 times a day).
        """
        with self._single_flight():
            current = self.session.get(self.access_token_key)
            if current and current != failed_token:
                return str(current)
            result = self._fetch_stable(force=False)
            if result["access_token"] == failed_token:
                result = self._fetch_stable(force=True)
            return str(result["access_token"])

    def _fetch_stable(self, *, force: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        if force:
            body["force_refresh"] = True
        res = self._http.post(url=f"{self.base_url}cgi-bin/stable_token", json=body, timeout=self.timeout)
        res.raise_for_status()
        result: dict[str, Any] = res.json()
        if result.get("errcode"):
            raise WeChatClientException(result["errcode"], result.get("errmsg", ""), client=self)
        expires_in = int(result.get("expires_in", 7200))
        # Stored a minute short of WeChat's expiry so nobody uses a token in its last seconds.
        self.session.set(self.access_token_key, result["access_token"], max(60, expires_in - 60))
        self.expires_at = None  # a shared token: trust the store's expiry, not this process's clock
        return result


def rebase(client: WeChatClient, base_url: str) -> None:
    """Point a wechatpy client and each of its API groups at ``base_url`` (ending in ``/``)."""
    client.API_BASE_URL = f"{base_url}cgi-bin/"
    # vars(), not dir(): dir() would read the access_token property and fetch a token.
    for api in list(vars(client).values()):
        if isinstance(api, BaseWeChatAPI) and getattr(type(api), "API_BASE_URL", None):
            # Groups with their own base use the bare host (wxa) or another prefix.
            original: str = type(api).API_BASE_URL
            suffix = original.split("api.weixin.qq.com/", 1)[1] if "api.weixin.qq.com/" in original else ""
            api.API_BASE_URL = f"{base_url}{suffix}"


@dataclass(frozen=True)
class WeChatSession:
    openid: str
    unionid: str | None


# What code2session answers, checked before anything is stored: openids and unionids are 28-29
# characters of base64url in practice (the columns hold 64); the session key is the base64 of a
# 16-byte AES key (WeChat's "开放数据校验与解密": aeskey = Base64_Decode(session_key), 16 bytes).
_WECHAT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SESSION_KEY = re.compile(r"^[A-Za-z0-9+/]{22}==$")


def _bad_answer(what: str) -> BadGateway:
    log.warning("wechat code2session answered unusably problem=%s", what)
    return BadGateway("WeChat answered the login with something unusable; try again.", code="wechat_bad_answer")


def session_from_answer(data: object) -> WeChatSession:
    """The openid and unionid of a code2session answer; 502 ``wechat_bad_answer`` unless it has the
    shape WeChat documents (an object with an openid, a 16-byte session key, maybe a unionid)."""
    if not isinstance(data, dict):
        raise _bad_answer("not_an_object")
    openid, unionid, session_key = data.get("openid"), data.get("unionid"), data.get("session_key")
    if not isinstance(openid, str) or not _WECHAT_ID.fullmatch(openid):
        raise _bad_answer("openid")
    if unionid is not None and (not isinstance(unionid, str) or not _WECHAT_ID.fullmatch(unionid)):
        raise _bad_answer("unionid")
    if not isinstance(session_key, str) or not _SESSION_KEY.fullmatch(session_key):
        raise _bad_answer("session_key")
    try:
        if len(base64.b64decode(session_key, validate=True)) != 16:
            raise _bad_answer("session_key")
    except binascii.Error:
        raise _bad_answer("session_key") from None
    return WeChatSession(openid, unionid)


# WeChat error codes of jscode2session and what they mean for the caller.
_LOGIN_ERRORS: dict[int, tuple[type[AppError], str, str]] = {
    40029: (Unauthorized, "wechat_code_invalid", "The WeChat login code is invalid or was already used."),
    40163: (Unauthorized, "wechat_code_invalid", "The WeChat login code was already used."),
    40226: (Unauthorized, "wechat_user_blocked", "WeChat reports this user as high-risk; login refused."),
}


class WeChatGateway:
    """One per worker: the blocking client plus the thread hop."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.configured = bool(settings.wechat_appid and settings.wechat_secret)
        self._client: StableTokenClient | None = None
        self._redis: redis.Redis | None = None
        if self.configured:
            self._redis = redis.Redis.from_url(redis_url)
            storage = RedisStorage(self._redis, prefix="wechatpy")
            self._client = StableTokenClient(
                settings.wechat_appid,
                settings.wechat_secret,
                base_url=settings.wechat_api_base_url,
                timeout=settings.wechat_timeout,
                session=storage,
            )

    def close(self) -> None:
        if self._client is not None:
            self._client._http.close()
        if self._redis is not None:
            self._redis.close()

    @property
    def client(self) -> StableTokenClient:
        if self._client is None:
            raise ServiceUnavailable(
                "WeChat login is not configured on this server (GMID_WECHAT_APPID / GMID_WECHAT_SECRET).",
                code="wechat_not_configured",
            )
        return self._client

    async def content_check(self, *, openid: str, content: str, scene: int = 2) -> str:
        """WeChat's content security check (``wxa/msg_sec_check`` v2): ``pass``, ``review`` or ``risky``.

        Raises ServiceUnavailable when WeChat cannot answer; callers decide whether to go on without it.
        """
        client = self.client
        body = {"version": 2, "openid": openid, "scene": scene, "content": content[:2500]}
        try:
            data = await asyncio.to_thread(client.post, f"{client.base_url}wxa/msg_sec_check", data=body)
        except Exception as exc:  # unreachable, refused, or an answer wechatpy cannot parse
            log.warning("wechat msg_sec_check failed error=%s", exc.__class__.__name__)
            raise ServiceUnavailable("WeChat cannot check the text now.", code="wechat_unavailable") from None
        result = data.get("result") if isinstance(data, dict) else None
        suggest = result.get("suggest") if isinstance(result, dict) else None
        return str(suggest) if suggest in ("pass", "review", "risky") else "review"

    async def code_to_session(self, code: str) -> WeChatSession:
        client = self.client
        try:
            data = await asyncio.to_thread(client.wxa.code_to_session, code)
        except WeChatClientException as exc:
            errcode = int(exc.errcode) if isinstance(exc.errcode, int | str) and str(exc.errcode).isdigit() else None
            log.warning("wechat code2session failed errcode=%s", errcode)
            if errcode in _LOGIN_ERRORS:
                cls, code_name, message = _LOGIN_ERRORS[errcode]
                raise cls(message, code=code_name) from None
            if errcode == 45011:
                raise RateLimited("WeChat is limiting logins; try again in a minute.", retry_after=60) from None
            raise ServiceUnavailable("WeChat did not accept the login; try again.", code="wechat_unavailable") from None
        except requests.RequestException as exc:
            log.warning("wechat code2session unreachable error=%s", exc.__class__.__name__)
            raise ServiceUnavailable("WeChat cannot be reached; try again.", code="wechat_unavailable") from None
        except Exception as exc:  # wechatpy failing on an odd answer (int(errcode), JSON nesting...)
            raise _bad_answer(exc.__class__.__name__) from None
        return session_from_answer(data)
