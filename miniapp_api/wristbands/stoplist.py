"""The offline stop list: which bands must stop, kept as a change feed for checkpoint apps.

(Being built: the functions below are the interface the rest of the feature calls after each change
that can move a band's stop windows; they are filled in by the stop-list work.)"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient


async def person_changed(account_id: int, *, conn: BaseDBAsyncClient | None = None) -> None:
    """A person's status, quarantine orders or trips changed, or their band did."""


async def band_changed(band_id: int, *, conn: BaseDBAsyncClient | None = None) -> None:
    """A band was bound, revoked or unbound."""


async def everyone_changed() -> None:
    """Key areas or rule sets changed: every person's windows may have moved."""
