"""The ``SendSms`` client (API 2021-01-11) over httpx: its configuration, the HTTP exchange, and
how every way a call can go wrong becomes a code of :mod:`notify.sms_tencent.codes`.

``send`` never raises for provider or network failures: every outcome becomes a
:class:`~notify.sms_tencent.results.SmsResult` per number (a top-level error is copied to every
number). It raises :class:`~notify.sms_tencent.request.SmsRequestError` before sending anything when
the request itself is wrong. Requests are signed by :mod:`notify.sms_tencent.signing`.

Phone numbers never reach logs or exception messages unmasked (:func:`identity.pii.mask_phone`);
the secret key is never logged and is hidden from ``repr``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from notify.sms_tencent.codes import (
    TRANSPORT_BAD_RESPONSE,
    TRANSPORT_CONNECT_FAILED,
    TRANSPORT_HTTP_STATUS,
    TRANSPORT_NETWORK_ERROR,
    TRANSPORT_TIMEOUT,
)
from notify.sms_tencent.request import encode_send_request
from notify.sms_tencent.results import SendReport, failed_results, opt_str, read_status_set
from notify.sms_tencent.signing import CONTENT_TYPE, sign_tc3

log = logging.getLogger("gmid.notify.sms")

SERVICE = "sms"
ACTION = "SendSms"
API_VERSION = "2021-01-11"
DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com/"
DEFAULT_REGION = "ap-guangzhou"


@dataclass(frozen=True)
class TencentSmsConfig:
    """Credentials and defaults; ``secret_key`` never appears in ``repr``."""

    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    region: str = DEFAULT_REGION
    endpoint: str = DEFAULT_ENDPOINT
    timeout: float = 10.0
    sign_action_header: bool = True

    def __post_init__(self) -> None:
        for name in ("secret_id", "secret_key", "sdk_app_id", "region"):
            if not getattr(self, name):
                raise ValueError(f"TencentSmsConfig.{name} is required")
        url = httpx.URL(self.endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("TencentSmsConfig.endpoint must be an http(s) URL")
        if url.path not in ("", "/") or url.query:
            raise ValueError("TencentSmsConfig.endpoint must be the service root (API 3.0 signs the path '/')")
        if self.timeout <= 0:
            raise ValueError("TencentSmsConfig.timeout must be positive")

    @property
    def host(self) -> str:
        """The ``Host`` header value, signed as sent (``host[:port]``, port only when not the default)."""
        url = httpx.URL(self.endpoint)
        default_port = 443 if url.scheme == "https" else 80
        return url.host if url.port in (None, default_port) else f"{url.host}:{url.port}"


class TencentSmsClient:
    """Async ``SendSms`` client. Pass ``http_client`` to share a pool (it is then not closed here);
    ``clock`` (seconds since the epoch) is for tests of clock skew."""

    def __init__(
        self,
        config: TencentSmsConfig,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._http = http_client
        self._owns_http = http_client is None
        self._clock = clock

    def __repr__(self) -> str:
        return f"TencentSmsClient(secret_id={self.config.secret_id!r}, endpoint={self.config.endpoint!r})"

    async def __aenter__(self) -> TencentSmsClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(self.config.timeout))
        return self._http

    def build_request(
        self,
        phones: Sequence[str],
        *,
        template_id: str,
        params: Sequence[str] = (),
        session_context: str | None = None,
        extend_code: str | None = None,
        sender_id: str | None = None,
        sign_name: str | None = None,
    ) -> tuple[list[str], bytes]:
        """Validate and encode a request body: the E.164 numbers and the JSON bytes to sign and send."""
        return encode_send_request(
            phones,
            sdk_app_id=self.config.sdk_app_id,
            sign_name=self.config.sign_name if sign_name is None else sign_name,
            template_id=template_id,
            params=params,
            session_context=session_context,
            extend_code=extend_code,
            sender_id=sender_id,
        )

    def sign_headers(self, payload: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        """Every header of a signed ``SendSms`` request for ``payload``."""
        ts = int(self._clock()) if timestamp is None else timestamp
        cfg = self.config
        signed = sign_tc3(
            secret_id=cfg.secret_id,
            secret_key=cfg.secret_key,
            service=SERVICE,
            host=cfg.host,
            timestamp=ts,
            payload=payload,
            action=ACTION if cfg.sign_action_header else None,
        )
        return {
            "Authorization": signed.authorization,
            "Content-Type": CONTENT_TYPE,
            "Host": cfg.host,
            "X-TC-Action": ACTION,
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(ts),
            "X-TC-Region": cfg.region,
        }

    async def send(
        self,
        phones: Sequence[str],
        *,
        template_id: str,
        params: Sequence[str] = (),
        session_context: str | None = None,
        extend_code: str | None = None,
        sender_id: str | None = None,
        sign_name: str | None = None,
    ) -> SendReport:
        """Send one template SMS to up to 200 numbers (all mainland or all international).

        ``phones``: E.164 (``+8613812345678``) or 11-digit mainland mobiles. ``session_context``
        (< 512 bytes) is echoed in every result: put the notification id there.
        """
        numbers, payload = self.build_request(
            phones,
            template_id=template_id,
            params=params,
            session_context=session_context,
            extend_code=extend_code,
            sender_id=sender_id,
            sign_name=sign_name,
        )
        headers = self.sign_headers(payload)
        started = time.monotonic()
        try:
            response = await self._client().post(self.config.endpoint, content=payload, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return self._failed(numbers, TRANSPORT_CONNECT_FAILED, type(exc).__name__, session_context)
        except httpx.TimeoutException as exc:
            return self._failed(numbers, TRANSPORT_TIMEOUT, type(exc).__name__, session_context)
        except httpx.TransportError as exc:
            return self._failed(numbers, TRANSPORT_NETWORK_ERROR, type(exc).__name__, session_context)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        if response.status_code != 200:
            return self._failed(
                numbers,
                TRANSPORT_HTTP_STATUS,
                f"HTTP {response.status_code}",
                session_context,
                http_status=response.status_code,
            )
        try:
            data = response.json()
            body = data["Response"]
            if not isinstance(body, dict):
                raise TypeError("Response is not an object")
        except (ValueError, KeyError, TypeError):
            return self._failed(numbers, TRANSPORT_BAD_RESPONSE, "unreadable answer", session_context)
        request_id = opt_str(body.get("RequestId"))
        error = body.get("Error")
        if error is not None:
            code = opt_str(error.get("Code")) if isinstance(error, dict) else None
            message = opt_str(error.get("Message")) if isinstance(error, dict) else None
            return self._failed(
                numbers, code or TRANSPORT_BAD_RESPONSE, message or "", session_context, request_id=request_id
            )
        report = SendReport(
            results=read_status_set(numbers, body.get("SendStatusSet"), session_context),
            request_id=request_id,
        )
        self._log(report, elapsed_ms)
        return report

    # -- helpers

    def _failed(
        self,
        numbers: list[str],
        code: str,
        message: str,
        session_context: str | None,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> SendReport:
        results = failed_results(numbers, code, message, session_context, http_status=http_status)
        report = SendReport(results=results, request_id=request_id, error_code=code, error_message=message)
        c = results[0].classification
        level = logging.WARNING if c.alert else logging.INFO
        log.log(
            level,
            "sms send failed numbers=%d code=%s http_status=%s outcome=%s alert=%s maybe_sent=%s request_id=%s",
            len(numbers),
            code,
            http_status,
            c.outcome.value,
            c.alert,
            c.maybe_sent,
            request_id,
        )
        return report

    def _log(self, report: SendReport, elapsed_ms: int) -> None:
        sent = sum(1 for r in report.results if r.ok)
        log.info(
            "sms sent numbers=%d ok=%d failed=%d request_id=%s elapsed_ms=%d",
            len(report.results),
            sent,
            len(report.results) - sent,
            report.request_id,
            elapsed_ms,
        )
        for r in report.results:
            if not r.ok:
                log.log(
                    logging.WARNING if r.alert else logging.INFO,
                    "sms to %s failed code=%s outcome=%s alert=%s request_id=%s",
                    r.masked_phone,
                    r.code,
                    r.classification.outcome.value,
                    r.alert,
                    report.request_id,
                )
