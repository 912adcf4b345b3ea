"""Each police account's budget of person lookups: GMID_POLICE_LOOKUP_RATE in any window of its period,
one budget for every route that shows police a person's data in full (the e-bike owner lookup, a
building's landlord read with a reason, a building search by the landlord's mobile). Going past it
is refused and the district's administrators hear of it once an hour; when the budget cannot be
checked the lookup is refused too."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from redis.exceptions import RedisError

from identity import service as identity_service
from identity.models import Account, Node
from identity.roles import Role
from notify import outbox
from server.auth import Principal
from server.errors import RateLimited, ServiceUnavailable
from server.ratelimit import Rate, RateLimiter
from server.wire import wire_time

log = logging.getLogger("gmid.identity")


async def spend(
    *, limiter: RateLimiter, rate_text: str, viewer: Principal, refused: Callable[[str], Awaitable[object]]
) -> None:
    """Take one lookup from the viewer's budget, or audit the refusal (``refused(outcome)``) and raise
    429 (past the limit) or 503 (the limit cannot be checked: fail closed)."""
    rate = Rate.parse(rate_text)
    try:
        decision = await limiter.hit_window(f"police-lookup:{viewer.account_id}", rate)
    except RedisError:
        await refused("refused_limit_unavailable")
        raise ServiceUnavailable(
            "Lookups of people are unavailable for a moment; try again shortly.", code="lookup_limit_unavailable"
        ) from None
    if not decision.allowed:
        await refused("refused_rate_limit")
        await tell_admins_about_limit(viewer=viewer, count=rate.count)
        raise RateLimited(
            "You have reached the limit of lookups of people; an administrator has been told.",
            retry_after=max(1, int(decision.retry_after + 0.999)),
        )


async def tell_admins_about_limit(*, viewer: Principal, count: int) -> None:
    """The officer went past the lookup limit: district administrators hear once an hour."""
    now = datetime.now(UTC)
    hour = now.strftime("%Y%m%d%H")
    admins = await Account.filter(role=Role.ADMIN, is_active=True).prefetch_related("node")
    for admin in admins:
        node = admin.node if isinstance(admin.node, Node) else None
        if node is not None and node.path.count("/") != 2:
            continue  # only the district level reviews police lookups
        profile = identity_service.read_profile(admin)
        address: dict[str, str] = {}
        if admin.wechat_openid:
            address["openid"] = admin.wechat_openid
        if profile.phone:
            address["phone"] = profile.phone
        if not address:
            log.warning("admin without a contact cannot be told of a lookup limit admin=%s", admin.public_id)
            continue
        await outbox.enqueue(
            template="police.lookup_limit",
            data={"officer": viewer.account_id, "count": str(count), "at": wire_time(now)},
            idempotency_key=f"lookup-limit:{viewer.account_id}:{hour}:{admin.public_id}",
            account=admin,
            **address,  # type: ignore[arg-type]
        )
