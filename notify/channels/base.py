"""What every channel speaks: a rendered message in, a classified result out."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # transient: the same channel again after a backoff
    PERMANENT = "permanent"  # this channel cannot deliver it: fall back to the next one


@dataclass(frozen=True)
class Recipient:
    """Where a message can go. Phone and email are personal data: never logged or put in errors."""

    openid: str | None = None
    oa_openid: str | None = None
    phone: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Message:
    """One notification about to go out on one channel."""

    notification_id: str  # public id; providers echo it where they can (SMS session context)
    template: str
    data: dict[str, str] = field(repr=False)
    recipient: Recipient
    attempt: int  # 1-based, across all channels
    in_doubt: bool = False  # an earlier attempt on this channel may have been delivered (crash, timeout)

    @property
    def dedup_token(self) -> str:
        """Stable per notification: providers that deduplicate (WeChat ``client_msg_id``, email
        ``Message-ID``) get the same value on every attempt."""
        return self.notification_id


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    code: str = ""
    detail: str = ""  # English, no personal data
    provider_message_id: str | None = None
    retry_after: float | None = None
    alert: bool = False  # an operator must fix configuration or the account
    # A failure after which the provider may still deliver (timeout, connection lost mid-request):
    # the dispatcher treats the row as in doubt, as after a crash.
    maybe_sent: bool = False

    @classmethod
    def sent(cls, provider_message_id: str | None = None, detail: str = "") -> Result:
        return cls(Outcome.SENT, "ok", detail, provider_message_id)

    @classmethod
    def retry(
        cls,
        code: str,
        detail: str = "",
        *,
        retry_after: float | None = None,
        alert: bool = False,
        maybe_sent: bool = False,
    ) -> Result:
        return cls(Outcome.RETRY, code, detail[:255], retry_after=retry_after, alert=alert, maybe_sent=maybe_sent)

    @classmethod
    def permanent(cls, code: str, detail: str = "", *, alert: bool = False) -> Result:
        return cls(Outcome.PERMANENT, code, detail[:255], alert=alert)


class Channel(Protocol):
    name: str

    def reaches(self, message: Message) -> bool:
        """Whether this channel has an address for the recipient and a template for the message."""

    async def send(self, message: Message) -> Result:
        """Send once. Never raises for provider or network failures: they become a Result."""

    async def aclose(self) -> None: ...
