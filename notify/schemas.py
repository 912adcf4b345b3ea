"""Request and response schemas of the notification admin API and the receipt callbacks."""

from __future__ import annotations

from pydantic import BaseModel, Field

from notify.models import Status
from server.validation import StrictModel, TextCursor
from server.wire import WireTime


class NotificationQuery(StrictModel):
    status: Status | None = Field(default=None, description="pending, sending, sent, failed or dead.")
    template: str | None = Field(default=None, max_length=48, description="A template key, e.g. ebike.stolen.")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: TextCursor | None = Field(default=None, description="`next_cursor` of the previous page.")


class RecipientOut(BaseModel):
    account: str | None = Field(description="The account's public id, when the message is for an account.")
    wechat: bool | None = Field(description="Whether the recipient has a WeChat openid (null when hidden).")
    phone: str | None = Field(description="Masked phone number.")
    email: str | None = Field(description="Masked email address (domain only).")
    hidden: str | None = Field(
        default=None,
        description=(
            "Why the recipient is not shown (account, WeChat, phone and email all null): `anonymous_report`, "
            "a message about an anonymous report, whose recipient would name its reporter. Null otherwise."
        ),
    )


class NotificationOut(BaseModel):
    id: str
    template: str
    title: str
    status: Status
    channels: list[str] = Field(description="The channels to try, in order.")
    channel: str = Field(description="The channel of the last attempt.")
    attempts: int = Field(description="Attempts on the current channel.")
    total_attempts: int
    next_attempt_at: WireTime
    in_doubt: bool = Field(description="A dispatcher died while sending it; the next send is guarded.")
    last_error: str
    provider_message_id: str | None
    receipt_status: str
    receipt_at: WireTime | None
    created_at: WireTime
    sent_at: WireTime | None
    recipient: RecipientOut


class AttemptOut(BaseModel):
    at: WireTime
    channel: str
    outcome: str = Field(
        description=(
            "sent, retry, permanent, in_doubt (taken again after a send had started), retaken (taken again "
            "before any send), waiting (behind the same event still being sent), limited, receipt or admin."
        )
    )
    code: str
    detail: str
    provider_message_id: str | None
    worker: str
    elapsed_ms: int | None


class NotificationDetail(NotificationOut):
    history: list[AttemptOut]


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    counts: dict[str, int] = Field(description="How many notifications are in each status.")


class WeChatEventQuery(BaseModel):
    signature: str = Field(max_length=64)
    timestamp: str = Field(max_length=16)
    nonce: str = Field(max_length=64)
    echostr: str | None = Field(default=None, max_length=256)


class SmsCallbackQuery(BaseModel):
    token: str = Field(max_length=256, description="The secret set in GMID_SMS_CALLBACK_TOKEN.")


class SmsCallbackAck(BaseModel):
    result: int = Field(description="0: received.")
    errmsg: str
