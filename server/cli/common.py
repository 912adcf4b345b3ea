"""What the command modules share: a command's signature, its one-line error, and running a coroutine
with the database open.

Imports here stay light (no app, no ORM at import time): ``gmid --help`` imports every command module.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeAlias

from server.settings import Settings

if TYPE_CHECKING:
    from qr.keys import KeyringCache

    # argparse has no public name for what add_subparsers() returns.
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

# A command: the parsed arguments and the settings in, the exit code out.
Command = Callable[[argparse.Namespace, Settings], int]


class CLIError(Exception):
    """A mistake the operator can fix: printed as one line ``gmid: ...``, exit code 2."""


def group(commands: Subparsers, name: str, help_text: str) -> Subparsers:
    """The subcommands of ``gmid NAME``, made by the first module that needs them (several modules add
    to ``gmid import``)."""
    parser = commands.choices.get(name)
    if parser is None:
        return commands.add_parser(name, help=help_text).add_subparsers(dest=f"{name}_cmd", required=True)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise ValueError(f"gmid {name} has no subcommands")


def run_with_db(coro_factory: Callable[[], Awaitable[int]], settings: Settings, *, scan_cache: bool = False) -> int:
    """Run a coroutine with the database (and the PII vault) open; with ``scan_cache``, also with the
    Redis of the running servers, so that what the command changes is seen by their next scan."""

    async def wrapper() -> int:
        from identity import pii
        from server import db

        await db.open_db(settings)
        client = await _scan_cache_client(settings) if scan_cache else None
        try:
            pii.set_vault(pii.Vault(pii.PiiKeyRing.from_settings(settings)))
            return await coro_factory()
        finally:
            pii.set_vault(None)
            if client is not None:
                from qr import scancache

                scancache.set_client(None)
                await client.aclose()
            await db.close_db()

    return asyncio.run(wrapper())


async def _scan_cache_client(settings: Settings) -> Any:
    """The servers' Redis, when one answers (an embedded one only while a server runs): the scan
    cache's entries of what a command changes must not outlive the change."""
    from redis.exceptions import RedisError

    from qr import scancache
    from server import redis as gmid_redis

    if settings.uses_embedded_redis and not gmid_redis.embedded_for(settings).is_running():
        return None  # no server, no cache
    client = gmid_redis.make_client(gmid_redis.redis_url_for(settings))
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        print("gmid: warning: Redis does not answer; scans may show the old state for a minute", file=sys.stderr)
        return None
    scancache.set_client(client)
    return client


@contextlib.contextmanager
def qr_keyring(settings: Settings) -> Iterator[KeyringCache]:
    """The QR signing keys, for the commands that verify or sign codes while the block runs."""
    from qr import service as qr_service
    from qr.keys import KeyringCache

    cache = KeyringCache(settings.keys_path)
    qr_service.set_keyring(cache)
    try:
        yield cache
    finally:
        qr_service.set_keyring(None)
