"""How hard and how often the dispatcher tries: :class:`Policy` (batch size, concurrency, lease,
retries, backoff, dedup window, per-recipient limits per channel), read from the settings, and
:func:`backoff`, the pause before a retry."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from server.ratelimit import Rate
from server.settings import Settings, SettingsError


@dataclass(frozen=True)
class Policy:
    batch_size: int = 50
    concurrency: int = 16
    lease_seconds: int = 60
    poll_seconds: float = 5
    max_attempts: int = 5
    backoff_base: float = 2
    backoff_cap: float = 900
    dedup_seconds: int = 86400
    sms_indoubt_seconds: int = 120
    # A subscribe message in doubt waits this long for WeChat's send-result push (0: resend at once).
    wechat_indoubt_seconds: int = 0
    limits: Mapping[str, Rate] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        longest = max(settings.wechat_timeout * 2, settings.sms_timeout, settings.smtp_timeout)
        if settings.notify_lease_seconds < 3 * longest:
            raise SettingsError(
                "invalid setting GMID_NOTIFY_LEASE_SECONDS: must be at least 3x the longest send timeout "
                f"({3 * longest})"
            )
        return cls(
            batch_size=settings.notify_batch_size,
            concurrency=settings.notify_concurrency,
            lease_seconds=settings.notify_lease_seconds,
            poll_seconds=settings.notify_poll_seconds,
            max_attempts=settings.notify_max_attempts,
            backoff_base=settings.notify_backoff_base,
            backoff_cap=settings.notify_backoff_cap,
            dedup_seconds=settings.notify_dedup_seconds,
            sms_indoubt_seconds=settings.notify_sms_indoubt_seconds,
            # Without the mini-program's push token no send result can arrive: nothing to wait for.
            wechat_indoubt_seconds=settings.notify_wechat_indoubt_seconds if settings.wechat_mp_token else 0,
            limits=parse_limits(settings.notify_recipient_limits),
        )


def parse_limits(raw: str) -> dict[str, Rate]:
    """``sms=5/hour,email=30/hour`` (``GMID_NOTIFY_RECIPIENT_LIMITS``) -> a :class:`Rate` per channel."""
    result: dict[str, Rate] = {}
    for part in raw.split(","):
        if part.strip():
            channel, _, rate = part.replace(" ", "").partition("=")
            result[channel] = Rate.parse(rate)
    return result


def backoff(attempts: int, policy: Policy, *, rand: Callable[[], float] = random.random) -> float:
    """Seconds before retry number ``attempts`` (1-based): capped doubling, "equal jitter" (half fixed,
    half random) so retries of many rows spread out but never come sooner than half the step."""
    step = min(policy.backoff_cap, policy.backoff_base * (2 ** max(0, attempts - 1)))
    return step / 2 + rand() * step / 2
