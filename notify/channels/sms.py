"""The SMS channel: Tencent Cloud ``SendSms`` (see :mod:`notify.sms_tencent`)."""

from __future__ import annotations

import re

from notify import templates
from notify.channels.base import Message, Result
from notify.sms_tencent import SmsRequestError, TencentSmsClient, TencentSmsConfig
from server.settings import Settings

_DIGITS = re.compile(r"\+?\d{7,}")


def scrub(text: str) -> str:
    """Provider messages may quote the number: keep no run of 7+ digits."""
    return _DIGITS.sub("***", text)[:200]


class SmsChannel:
    name = "sms"

    def __init__(self, client: TencentSmsClient, template_ids: dict[str, str]) -> None:
        self.client = client
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
        return cls(TencentSmsClient(config), templates.parse_id_map(settings.notify_sms_templates))

    def reaches(self, message: Message) -> bool:
        return bool(message.recipient.phone) and message.template in self.template_ids

    async def send(self, message: Message) -> Result:
        template = templates.get(message.template)
        phone = message.recipient.phone
        if not phone:
            return Result.permanent("no_phone", "the recipient has no phone number")
        try:
            report = await self.client.send(
                [phone],
                template_id=self.template_ids[message.template],
                params=templates.sms_params(template, message.data),
                session_context=message.notification_id,
            )
        except SmsRequestError as exc:
            return Result.permanent("sms_bad_request", scrub(str(exc)))
        result = report.results[0]
        if result.ok:
            return Result.sent(result.serial_no)
        detail = scrub(result.message or result.code)
        if result.retryable:
            return Result.retry(result.code, detail, retry_after=result.retry_after, alert=result.alert)
        return Result.permanent(result.code, detail, alert=result.alert)

    async def aclose(self) -> None:
        await self.client.aclose()
