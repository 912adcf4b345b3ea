"""A code drawn as PNG, SVG or a printable sticker, and kept in Redis (drawing takes tens of ms)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from qr import kinds, render, service
from qr.models import Credential
from server import product


def draw_image(*, fmt: str, url: str, size: int, credential: Credential, font: str) -> bytes:
    if fmt == "svg":
        return render.svg(url, size)
    if fmt == "sticker":
        spec = kinds.by_name(credential.kind)
        title = spec.title if spec else product.NAME_ZH
        caption = service.printable_label(credential.label)
        return render.sticker_png(url, title=title, public_id=credential.public_id, caption=caption, font=font)
    return render.png(url, size)


async def cached_image(*, redis: aioredis.Redis, key: str, ttl: int, draw: Callable[[], bytes]) -> bytes:
    """A rendered image from Redis, or drawn (in a thread: tens of milliseconds of CPU) and kept."""
    cache_key = f"qrimg:{key}"
    try:
        cached = await redis.get(cache_key)
    except RedisError:
        cached = None
    if isinstance(cached, bytes):
        return cached
    body = await asyncio.to_thread(draw)
    with contextlib.suppress(RedisError):  # a cache that is down only costs speed
        await redis.set(cache_key, body, ex=ttl)
    return body
