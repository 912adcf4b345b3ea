"""How many live feed streams one account holds open at once, across every app instance, and how many
one worker serves: each open stream holds a blocking Redis read, so without a bound one account could
starve every other account's feed (review 3, F13).

An account's slots are a Redis sorted set (member: the stream, score: when its lease ends). A stream
renews its lease at each keep-alive; a stream whose worker died lets its slot go when the lease ends.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass, field

from redis import asyncio as aioredis
from redis.exceptions import RedisError

STREAMS_PER_ACCOUNT = 5
STREAMS_PER_WORKER = 400
LEASE_SECONDS = 60.0  # four keep-alives: a live stream renews long before

# Drop ended leases, refuse past the cap, else take a slot; all at once, so racing connects count once.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""

_open_here = 0  # this worker's open streams


class StreamsFull(Exception):
    """No slot: ``account`` (the account holds its cap) or ``worker`` (this worker serves its cap)."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


def _key(account_id: str) -> str:
    return f"gmid:feed-streams:{account_id}"


@dataclass
class Slot:
    redis: aioredis.Redis
    account_id: str
    member: str = field(default_factory=lambda: secrets.token_hex(8))

    async def renew(self) -> None:
        await self.redis.zadd(_key(self.account_id), {self.member: time.time() + LEASE_SECONDS}, xx=True)

    async def release(self) -> None:
        global _open_here
        _open_here -= 1
        with contextlib.suppress(RedisError):  # Redis away: the lease ends by itself
            await self.redis.zrem(_key(self.account_id), self.member)


async def take(redis: aioredis.Redis, account_id: str, *, cap: int = STREAMS_PER_ACCOUNT) -> Slot:
    """A slot for one more stream of this account; StreamsFull when it holds ``cap`` already or this
    worker serves as many streams as it may; RedisError when Redis is unreachable."""
    global _open_here
    if _open_here >= STREAMS_PER_WORKER:
        raise StreamsFull("worker")
    slot = Slot(redis, account_id)
    now = time.time()
    taken = await redis.eval(
        _TAKE, 1, _key(account_id), now, cap, now + LEASE_SECONDS, slot.member, int(LEASE_SECONDS * 1000)
    )
    if not taken:
        raise StreamsFull("account")
    _open_here += 1
    return slot
