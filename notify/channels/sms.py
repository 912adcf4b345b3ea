"""The SMS channel over a provider interface; Tencent Cloud ``SendSms`` is the provider we ship
(:mod:`notify.sms_tencent`). Another gateway plugs in as an :class:`SmsProvider`."""

from __future__ import annotations

import re
from typing import Protocol

from notify import templates
from notify.channels.base import Message, Result
from notify.sms_tencent import SmsRequestError, TencentSmsClient, TencentSmsConfig
from server.settings import Settings

_DIGITS = re.compile(r"\+?\d{7,}")


def scrub(text: str) -> str:
    """Provider messages may quote the number: keep no run of 7+ digits."""
    return _DIGITS.sub("***", text)[:200]


class SmsProvider(Protocol):
    """Sends one template SMS to one number. Never raises for gateway or network failures."""

    async def send_one(self, phone: str, *, template_id: str, params: list[str], reference: str) -> Result:
        """``reference`` (the notification id) is echoed in delivery receipts where the gateway can."""

    async def aclose(self) -> None: ...


class TencentSmsProvider:
    def __init__(self, client: TencentSmsClient) -> None:
        self.client = client

    async def send_one(self, phone: str, *, template_id: str, params: list[str], reference: str) -> Result:
        try:
            report = await self.client.send([phone], template_id=template_id, params=params, session_context=reference)
        except SmsRequestError as exc:
            return Result.permanent("sms_bad_request", scrub(str(exc)))
        result = report.results[0]
        if result.ok:
            return Result.sent(result.serial_no)
        detail = scrub(result.message or result.code)
        if result.retryable:
            return Result.retry(
                result.code, detail, retry_after=result.retry_after, alert=result.alert, maybe_sent=result.maybe_sent
            )
        return Result.permanent(result.code, detail, alert=result.alert)

    async def aclose(self) -> None:
        await self.client.aclose()


class SmsChannel:
    name = "sms"

    def __init__(self, provider: SmsProvider, template_ids: dict[str, str]) -> None:
        self.provider = provider
        self.template_ids = template_ids

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsChannel | None:
        if not (settings.sms_secret_id and settings.sms_secret_key and settings.sms_sdk_app_id):
            return None
        config = TencentSmsConfig(
            secret_id=settings.sms_secret_id,
            secret_key=settings.sms_secret_key,
            sdk_app_id=settings.sms_sdk_app_id,
            sign_name=settings.sms_sign_name,
            region=settings.sms_region,
            endpoint=settings.sms_endpoint,
            timeout=float(settings.sms_timeout),
        )
        provider = TencentSmsProvider(TencentSmsClient(config))
        return cls(provider, templates.parse_id_map(settings.notify_sms_templates))

    def reaches(self, message: Message) -> bool:
        return bool(message.recipient.phone) and message.template in self.template_ids

    async def send(self, message: Message) -> Result:
        phone = message.recipient.phone
        if not phone:
            return Result.permanent("no_phone", "the recipient has no phone number")
        return await self.provider.send_one(
            phone,
            template_id=self.template_ids[message.template],
            params=templates.sms_params(templates.get(message.template), message.data),
            reference=message.notification_id,
        )

    async def aclose(self) -> None:
        await self.provider.aclose()
